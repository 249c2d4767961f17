"""Importing this module registers every built-in model and model source."""
from . import hf, resnet_cifar, text_cnn, transformer, vision_hubs  # noqa: F401
