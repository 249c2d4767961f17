"""Importing this module registers every built-in model and model source."""
from . import causal_lm, hf, masked_lm, mobilenet_v1, resnet_cifar, text_cnn, transformer, vision_hubs  # noqa: F401
