"""Compute accounting: FLOPs per phase of a run, the machine's peak FLOP/s (for MFU), budgets."""
from .flops import FlopMeter, count_flops, ensure_attention_formulas, shape_key
from .peak import measure_peak_flops, peak_flops

__all__ = ["FlopMeter", "count_flops", "ensure_attention_formulas", "measure_peak_flops", "peak_flops", "shape_key"]
