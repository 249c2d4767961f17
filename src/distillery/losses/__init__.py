"""Distillation loss terms: pure functions in :mod:`functional`, trainable modules in :mod:`terms`."""
