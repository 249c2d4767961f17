"""FLOPs of every part of a run, measured with ``torch.utils.flop_counter.FlopCounterMode``.

Counting every step through the counter would slow training, so :class:`FlopMeter` counts a computation once per
input shape (phase, shapes and batch size) and afterwards adds the remembered count. Counted spans nest: a live
teacher's forward pass inside a student training step is booked to the teacher, and the step keeps the rest.
A FLOP is one multiply or one add (a multiply-add is 2), as FlopCounterMode counts; ops it has no formula for
(normalisation, activations, optimiser updates) count zero, which is the usual convention (Kaplan et al. 2020).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

_SDPA_OPS = {
    # forward ops taking (query, key, value, ...) and backward ops taking (grad_out, query, key, value, ...)
    "forward": ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
                "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention"),
    "backward": ("_scaled_dot_product_flash_attention_for_cpu_backward", "_scaled_dot_product_flash_attention_backward",
                 "_scaled_dot_product_efficient_attention_backward", "_scaled_dot_product_cudnn_attention_backward"),
}


def ensure_attention_formulas() -> list[str]:
    """Register FLOP formulas for the fused attention (SDPA) ops that this torch's FlopCounterMode lacks (some
    versions count SDPA on CPU as zero). Returns the names of the ops it registered."""
    from torch.utils import flop_counter as fc

    added = []
    for kind, names in _SDPA_OPS.items():
        for name in names:
            op = getattr(torch.ops.aten, name, None)
            if op is None or op in fc.flop_registry:
                continue
            if kind == "forward":
                def formula(q, k, v, *args, out_shape=None, **kwargs) -> int:
                    return fc.sdpa_flop_count(q, k, v)
            else:
                def formula(g, q, k, v, *args, out_shape=None, **kwargs) -> int:
                    return fc.sdpa_backward_flop_count(g, q, k, v)
            fc.register_flop_formula(op)(formula)
            added.append(name)
    return added


def shape_key(obj: Any) -> tuple:
    """The shapes (and dtypes) of every tensor in a nested structure of dicts, lists and tuples."""
    if isinstance(obj, torch.Tensor):
        return (tuple(obj.shape), str(obj.dtype))
    if isinstance(obj, dict):
        return tuple((k, shape_key(v)) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0])))
    if isinstance(obj, (list, tuple)):
        return tuple(shape_key(v) for v in obj)
    return ()


def count_flops(fn: Callable[[], Any]) -> tuple[int, Any]:
    """FLOPs of one call of ``fn`` (everything it runs, forward and backward), and its result."""
    ensure_attention_formulas()
    with FlopCounterMode(display=False) as mode:
        out = fn()
    return int(mode.get_total_flops()), out


@dataclass
class _Span:
    phase: str
    key: tuple
    mode: FlopCounterMode | None = None
    children: float = 0.0


@dataclass
class FlopMeter:
    """Accumulates FLOPs per phase (``teacher_head``, ``cache_build``, ``teacher_live``, ``student_train``...),
    counting each distinct computation once with FlopCounterMode."""

    by_phase: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    phase: str | None = None  # the phase attached networks' forward passes count into; None: not counted
    _memo: dict[tuple, float] = field(default_factory=dict)
    _stack: list[_Span | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        ensure_attention_formulas()

    @property
    def total(self) -> float:
        return float(sum(self.by_phase.values()))

    def start(self, phase: str, key: tuple) -> None:
        """Open a counted span (e.g. one training step); ``key`` must determine its FLOPs (input shapes)."""
        span = _Span(phase, (phase, key))
        if span.key not in self._memo:
            span.mode = FlopCounterMode(display=False)
            span.mode.__enter__()
        self._stack.append(span)

    def stop(self) -> float:
        """Close the innermost span; returns its FLOPs (without those of nested spans, booked to their phases)."""
        span = self._stack.pop()
        if span is None:
            return 0.0
        if span.mode is not None:
            span.mode.__exit__(None, None, None)
            own = max(0.0, float(span.mode.get_total_flops()) - span.children)
            self._memo[span.key] = own
        else:
            own = self._memo[span.key]
        self.by_phase[span.phase] += own
        parent = next((s for s in reversed(self._stack) if s is not None), None)
        if parent is not None:
            parent.children += own + span.children
        return own

    def close_all(self) -> None:
        """Close every open span (after an error inside one), so that no counter stays active."""
        while self._stack:
            self.stop()

    @contextmanager
    def span(self, phase: str, key: tuple) -> Iterator[None]:
        self.start(phase, key)
        try:
            yield
        finally:
            self.stop()

    @contextmanager
    def in_phase(self, phase: str | None) -> Iterator[None]:
        """Forward passes of attached networks inside this block count into ``phase`` (None: not counted)."""
        prev, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = prev

    def attach(self, net: nn.Module) -> Callable[[], None]:
        """Count every forward pass of ``net`` into the current :attr:`phase`; returns a function that detaches."""

        def pre(module, args, kwargs):
            if self.phase is None:
                self._stack.append(None)
            else:
                self.start(self.phase, ("forward", type(module).__name__, id(module), module.training,
                                        torch.is_grad_enabled(), torch.is_autocast_enabled("cpu"), shape_key(args),
                                        shape_key(kwargs)))

        def post(module, args, kwargs, output):
            self.stop()

        h1 = net.register_forward_pre_hook(pre, with_kwargs=True)
        h2 = net.register_forward_hook(post, with_kwargs=True, always_call=True)  # closes the span on errors too

        def detach() -> None:
            h1.remove()
            h2.remove()

        return detach
