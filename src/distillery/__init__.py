"""distillery: train small models without pre-training them."""
__version__ = "0.1.0"
