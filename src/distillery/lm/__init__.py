"""Causal language models (task ``clm``): next-token distillation of a causal LM teacher into a smaller causal LM
student, or supervised pre-training without a teacher (Busbridge et al. 2025's setting)."""
