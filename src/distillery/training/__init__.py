"""Training engine: a LightningModule holding student + loss terms, and the Lightning Trainer around it."""
from .engine import fit
from .module import DistillationModule

__all__ = ["DistillationModule", "fit"]
