"""Synthetic labelled images from a text-to-image diffusion model (`distillery synth`), Farhat & Chen 2024."""
from .generate import SynthReport, synthesize
from .prompts import default_prompts

__all__ = ["SynthReport", "default_prompts", "synthesize"]
