"""Regenerate ``fixtures/loss_values.json``: every loss evaluated once on fixed, seeded inputs.

    .venv/bin/python tests/losses/make_fixtures.py

Inputs come from ``numpy.random.default_rng`` (PCG64; its stream is stable across numpy versions), in
float64, so the stored values do not depend on torch's RNG. ``test_regression.py`` loads this file, recomputes
every case and compares (atol 1e-5). Only regenerate after an *intended* change of a formula, and say
so in the change description.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from distillery.losses import functional as LF
from distillery.losses.crd import CRDLoss

FIXTURE_PATH = Path(__file__).parent / "fixtures" / "loss_values.json"
TERM_FIXTURE_PATH = Path(__file__).parent / "fixtures" / "term_values.json"


def _inputs(seed: int, *shapes: tuple[int, ...], scale: float = 1.0) -> list[torch.Tensor]:
    r = np.random.default_rng(seed)
    return [torch.from_numpy(r.normal(size=s) * scale) for s in shapes]


def _pad_mask(lengths: list[int], seq: int) -> torch.Tensor:
    return torch.tensor([[i < n for i in range(seq)] for n in lengths])


def _bert_scores(seed: int, mask: torch.Tensor, heads: int) -> torch.Tensor:
    (x,) = _inputs(seed, (mask.shape[0], heads, mask.shape[1], mask.shape[1]), scale=3.0)
    return x + (~mask)[:, None, None, :].double() * -10000.0


def _set_crd_state(crd: CRDLoss, seed: int) -> None:
    r = np.random.default_rng(seed)
    with torch.no_grad():
        for p in crd.parameters():
            p.copy_(torch.from_numpy(r.normal(size=tuple(p.shape)) * 0.3))
        if crd.mode == "memory":
            for buf in (crd.memory_s, crd.memory_t):
                buf.copy_(torch.from_numpy(r.uniform(-0.5, 0.5, size=tuple(buf.shape))))


def _crd_memory() -> list[float]:
    crd = CRDLoss(6, 10, feat_dim=4, num_negatives=5, num_data=16, mode="memory").double()
    _set_crd_state(crd, 100)
    r = np.random.default_rng(101)
    out = []
    for _ in range(2):
        fs, ft = torch.from_numpy(r.normal(size=(3, 6))), torch.from_numpy(r.normal(size=(3, 10)))
        index = torch.from_numpy(r.choice(16, size=3, replace=False))
        cidx = torch.from_numpy(r.integers(0, 16, size=(3, 6)))
        cidx[:, 0] = index
        out.append(float(crd(fs, ft, index, cidx).detach()))
    return out


def _crd_queue() -> list[float]:
    crd = CRDLoss(6, 10, feat_dim=4, num_negatives=5, mode="queue").double()
    _set_crd_state(crd, 200)
    r = np.random.default_rng(201)
    out = []
    for _ in range(3):
        fs, ft = torch.from_numpy(r.normal(size=(3, 6))), torch.from_numpy(r.normal(size=(3, 10)))
        out.append(float(crd(fs, ft).detach()))
    return out


def _cases() -> dict[str, Callable[[], float | list[float]]]:
    z_s, z_t = _inputs(1, (8, 10), (8, 10), scale=3.0)
    y = torch.from_numpy(np.random.default_rng(2).integers(0, 10, size=8))
    e_s, e_t = _inputs(3, (8, 6), (8, 12))
    hint_s, hint_t = _inputs(4, (2, 3, 4, 4), (2, 3, 4, 4))
    f_s, f_t, l_s, l_t = _inputs(5, (8, 12), (8, 12), (8, 10), (8, 10))
    h_s, h_t = _inputs(6, (3, 7, 16), (3, 7, 16))
    mask = _pad_mask([7, 4, 2], 7)
    att_s, att_t = _bert_scores(7, mask, 4), _bert_scores(8, mask, 4)
    q_s, q_t = _inputs(9, (3, 7, 16), (3, 7, 24))
    v_s, v_t = _inputs(10, (2, 5, 30), (2, 5, 30), scale=2.0)
    mlm_mask = torch.from_numpy(np.random.default_rng(11).random((2, 5)) < 0.4)
    return {
        "kd_T4": lambda: float(LF.kd_loss(z_s, z_t)),
        "kd_T1": lambda: float(LF.kd_loss(z_s, z_t, temperature=1.0)),
        "dkd_default": lambda: float(LF.dkd_loss(z_s, z_t, y)),
        "dkd_a0.5_b2_T1": lambda: float(LF.dkd_loss(z_s, z_t, y, alpha=0.5, beta=2.0, temperature=1.0)),
        "align": lambda: float(LF.align_loss(e_s, e_s + 0.3 * e_t[:, :6])),
        "uniform": lambda: float(LF.uniform_loss(e_s)),
        "rkd_distance": lambda: float(LF.rkd_distance_loss(e_s, e_t)),
        "rkd_angle": lambda: float(LF.rkd_angle_loss(e_s, e_t)),
        "pkt": lambda: float(LF.pkt_loss(e_s, e_t)),
        "fitnet": lambda: float(LF.fitnet_loss(hint_s, hint_t)),
        "srrl": lambda: float(LF.srrl_loss(f_s, f_t, l_s, l_t)),
        "tinybert_hidden": lambda: float(LF.tinybert_hidden_loss(h_s, h_t)),
        "tinybert_hidden_masked": lambda: float(LF.tinybert_hidden_loss(h_s, h_t, mask)),
        "tinybert_embedding_masked": lambda: float(LF.tinybert_embedding_loss(h_t, h_s, mask)),
        "tinybert_attention": lambda: float(LF.tinybert_attention_loss(att_s, att_t)),
        "tinybert_attention_masked": lambda: float(LF.tinybert_attention_loss(att_s, att_t, mask)),
        "minilm_4heads": lambda: float(LF.minilm_relation_loss(q_s, q_t, 4)),
        "minilm_4heads_masked": lambda: float(LF.minilm_relation_loss(q_s, q_t, 4, mask)),
        "minilm_same_width_2heads": lambda: float(LF.minilm_relation_loss(h_s, h_t, 2)),
        "mlm_kd_elementwise_masked": lambda: float(LF.mlm_kd_loss(v_s, v_t, mlm_mask)),
        "mlm_kd_token_T2": lambda: float(LF.mlm_kd_loss(v_s, v_t, temperature=2.0, reduction="token")),
        "crd_memory_2calls": _crd_memory,
        "crd_queue_3calls": _crd_queue,
    }


def compute_all() -> dict[str, float | list[float]]:
    return {name: fn() for name, fn in _cases().items()}


def term_value(name: str) -> float:
    """The registered term ``name`` (its default parameters) on fixed transformer-shaped Features, with every
    trainable part set from a seeded numpy stream (so the value does not depend on torch's initialisation)."""
    from distillery.features import Features
    from distillery.losses import TERMS, TermContext

    b, seq, heads, classes = 4, 6, 2, 5
    r = np.random.default_rng(7)
    torch.manual_seed(0)  # anything a term draws (none of the defaults should) is drawn the same way

    def t32(*shape, scale=1.0):
        return torch.from_numpy((r.normal(size=shape) * scale).astype(np.float32))

    def side(width: int, layers: int) -> Features:
        d = width // heads
        return Features(logits=t32(b, classes, scale=2.0), embedding=t32(b, width),
                        hidden_states=tuple(t32(b, seq, width) for _ in range(layers + 1)),
                        qkv=tuple(tuple(t32(b, heads, seq, d) for _ in range(3)) for _ in range(layers)))

    s, t = side(16, 1), side(32, 2)
    mask = torch.ones(b, seq, dtype=torch.long)
    mask[0, -2:] = 0
    inputs = {"input_ids": torch.zeros(b, seq, dtype=torch.long), "attention_mask": mask}
    batch = {"student": inputs, "teacher": inputs, "label": torch.arange(b) % classes, "index": torch.arange(b)}
    head = torch.nn.Linear(32, classes)
    ctx = TermContext(student_dim=16, teacher_dim=32, num_classes=classes, proj_dim=8, num_train=16,
                      teacher_head=head.requires_grad_(False))
    term = TERMS[name](ctx)
    if hasattr(term, "prepare"):
        term.prepare(s, t, batch)
    with torch.no_grad():
        for p in [*term.parameters(), *head.parameters()]:
            p.copy_(torch.from_numpy((r.normal(size=tuple(p.shape)) * 0.3).astype(np.float32)))
    return float(term(s, t, batch).detach())


def compute_terms() -> dict[str, float]:
    from distillery.losses import TERMS

    return {name: term_value(name) for name in sorted(TERMS)}


def main() -> int:
    payload = {
        "_meta": {
            "generator": "tests/losses/make_fixtures.py",
            "inputs": "numpy default_rng(seed), float64",
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "values": compute_all(),
    }
    FIXTURE_PATH.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE_PATH.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(payload['values'])} values to {FIXTURE_PATH}")
    terms = {**payload, "_meta": {**payload["_meta"], "inputs": "numpy default_rng(7), float32, every registered "
                                  "term with its default parameters"}, "values": compute_terms()}
    TERM_FIXTURE_PATH.write_text(json.dumps(terms, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(terms['values'])} term values to {TERM_FIXTURE_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
