"""The method zoo: loss terms beyond CE / KD / align-uniform, each a thin ``nn.Module`` around a pure function of
:mod:`.functional` (or :class:`.crd.CRDLoss`) that holds what is trainable (regressors, connectors, projections,
CRD memory) and declares the Features it needs. Registered by name in :data:`.terms.TERMS`; the method presets
that use them are registered with each term (``PRESETS`` in :mod:`.registry`).

Every term here may implement :meth:`ZooTerm.prepare`, which the run calls once **before training** with the
Features of a real two-sample batch: terms whose trainable parts depend on shapes only known then (FitNet's
regressor) build them there, and every term checks what it can (layer indices, head counts, a shared tokenizer)
so that a configuration that cannot work fails with one clear :class:`~distillery.errors.DistilleryError` instead
of a traceback in the middle of an epoch.

Layer maps (``tinybert``, ``minilm``): transformer layers are numbered ``1..L`` (``hidden_states[0]`` is the
embedding-layer output, ``hidden_states[l]`` and ``qkv[l - 1]`` belong to layer ``l``); a map is ``"uniform"``
(TinyBERT: student layer ``l`` <- teacher layer ``l * N // M``), ``"last"`` (MiniLM: last <- last) or an explicit
list of ``[student_layer, teacher_layer]`` pairs (negative numbers count from the end, ``-1`` = last).
"""
from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DistilleryError
from ..features import Features
from . import functional as LF
from .crd import CRDLoss
from .registry import LossTerm, TermContext, register_term

__all__ = ["ZooTerm", "DKD", "RKD", "PKT", "FitNet", "SRRL", "CRD", "TinyBERT", "MiniLM", "resolve_layer_map"]


class ZooTerm(LossTerm):
    """A :class:`LossTerm` with a :meth:`prepare` hook, called once before training."""

    def prepare(self, s: Features, t: Features | None, batch: dict[str, Any]) -> None:
        """Build shape-dependent parts and validate, from the Features of a real (small) batch."""


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------


def _attention_mask(batch: dict[str, Any]) -> torch.Tensor | None:
    inputs = batch.get("student")
    return inputs.get("attention_mask") if isinstance(inputs, dict) else None


def _check_shared_tokens(name: str, batch: dict[str, Any]) -> None:
    """Token-level terms compare position ``i`` of the student with position ``i`` of the teacher."""
    s_in, t_in = batch.get("student"), batch.get("teacher")
    if not isinstance(s_in, dict) or not isinstance(t_in, dict) or s_in is t_in:
        return
    a, b = s_in.get("input_ids"), t_in.get("input_ids")
    if a is None or b is None:
        return
    if a.shape != b.shape or not torch.equal(a, b):
        raise DistilleryError(f"loss term {name!r} compares token positions, so the student and the teacher must "
                              "share the tokenizer; set student.tokenizer to the teacher's")


def _zero(x: torch.Tensor) -> torch.Tensor:
    return x.sum() * 0.0


def _exact(fn, *args: Any) -> torch.Tensor:
    """``fn(*args)`` outside autocast, on float32 copies of half-precision tensors: the trainable parts run under
    whatever autocast the run uses, the loss formulas (similarity relations, softmaxes, score MSEs) do not, since
    bf16 matmuls make e.g. a KL of near-identical relations come out negative."""
    device = next(a.device.type for a in args if isinstance(a, torch.Tensor))
    with torch.autocast(device_type=device, enabled=False):
        return fn(*(a.float() if isinstance(a, torch.Tensor) and a.dtype in (torch.float16, torch.bfloat16) else a
                    for a in args))


def _check_layer_map_spec(name: str, layer_map: Any) -> None:
    if layer_map in ("uniform", "last"):
        return
    ok = isinstance(layer_map, (list, tuple)) and len(layer_map) > 0 and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(i, int) and not isinstance(i, bool)
                                                             for i in p) for p in layer_map)
    if not ok:
        raise DistilleryError(f"distill.terms.{name}.params.layer_map: expected 'uniform', 'last' or a list of "
                              f"[student_layer, teacher_layer] pairs, got {layer_map!r}")


def resolve_layer_map(layer_map: Any, num_student: int, num_teacher: int, name: str = "term") -> list[tuple[int, int]]:
    """``(student_layer, teacher_layer)`` pairs over transformer layers ``1..L`` (see the module docstring)."""
    _check_layer_map_spec(name, layer_map)
    if num_student < 1 or num_teacher < 1:
        raise DistilleryError(f"loss term {name!r}: needs at least one transformer layer on each side "
                              f"(student {num_student}, teacher {num_teacher})")
    if layer_map == "last":
        return [(num_student, num_teacher)]
    if layer_map == "uniform":
        if num_student > num_teacher:
            raise DistilleryError(f"loss term {name!r}: layer_map 'uniform' needs a student with at most as many "
                                  f"layers as the teacher ({num_student} > {num_teacher}); give an explicit list")
        return [(lay, lay * num_teacher // num_student) for lay in range(1, num_student + 1)]
    pairs = []
    for s_l, t_l in layer_map:
        s_r = s_l if s_l > 0 else num_student + 1 + s_l
        t_r = t_l if t_l > 0 else num_teacher + 1 + t_l
        if not (1 <= s_r <= num_student and 1 <= t_r <= num_teacher):
            raise DistilleryError(f"loss term {name!r}: layer pair [{s_l}, {t_l}] is out of range (student layers "
                                  f"1..{num_student}, teacher layers 1..{num_teacher})")
        pairs.append((s_r, t_r))
    return pairs


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``[B, heads, L, d]`` -> ``[B, L, heads*d]``."""
    b, h, seq, d = x.shape
    return x.transpose(1, 2).reshape(b, seq, h * d)


def _raw_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Pre-softmax attention scores ``Q K^T / sqrt(d)``, ``[B, heads, L, L]`` (no additive mask)."""
    return q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])


def _attention_loss(qs, ks, qt, kt, mask) -> torch.Tensor:
    return LF.tinybert_attention_loss(_raw_scores(qs, ks), _raw_scores(qt, kt), mask)


def _num_layers(f: Features, side: str, name: str) -> int:
    if f.qkv is not None:
        return len(f.qkv)
    if f.hidden_states is not None:
        return len(f.hidden_states) - 1
    raise DistilleryError(f"loss term {name!r}: the {side} has no transformer layers")


# ---------------------------------------------------------------------------------------------------------
# logit and embedding terms
# ---------------------------------------------------------------------------------------------------------


# preset weights: mdistiller: CE 1 + DKD (alpha 1, beta 8, T 4)
@register_term("dkd", presets={"dkd": (
    {"ce": 1.0, "dkd": 1.0},
    "Zhao et al. 2022 (DKD): CE + decoupled KD, target/non-target parts (alpha 1, beta 8, T 4)")})
class DKD(ZooTerm):
    """Decoupled KD: ``alpha * TCKD + beta * NCKD`` (:func:`~.functional.dkd_loss`), mdistiller's CIFAR defaults
    (alpha 1, beta 8, T 4). ``warmup_steps`` > 0 scales the loss linearly from ``1/warmup_steps`` to 1 over that
    many training steps (mdistiller warms up over 20 epochs); 0 = off."""

    reference = "Zhao, Cui, Song, Qiu & Liang 2022, Decoupled Knowledge Distillation (CVPR)"
    needs_student = frozenset({"logits"})
    needs_teacher = frozenset({"logits"})

    def __init__(self, ctx: TermContext, alpha: float = 1.0, beta: float = 8.0, temperature: float | None = None,
                 warmup_steps: int = 0):
        super().__init__()
        self.alpha, self.beta = alpha, beta
        self.temperature = temperature if temperature is not None else ctx.temperature
        self.warmup_steps = int(warmup_steps)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def forward(self, s, t, batch):
        # an unlabelled transfer example (label -1) takes the teacher's prediction as its target class; a mixed
        # image (data.mixup) the label of the view that weighs more
        label = batch["label"]
        if "lam" in batch:
            label = torch.where(batch["lam"] >= 0.5, label, batch["label_mix"])
        target = torch.where(label >= 0, label, t.logits.argmax(-1))
        loss = _exact(LF.dkd_loss, s.logits, t.logits, target, self.alpha, self.beta, self.temperature)
        if self.warmup_steps > 0:
            loss = loss * min(1.0, float(self.step.item() + 1) / self.warmup_steps)
            if self.training:
                self.step += 1
        return loss


# preset weights: RepDistiller -a 0 -b 1; distance 25 / angle 50 inside the term
@register_term("rkd", presets={"rkd": (
    {"ce": 1.0, "rkd": 1.0},
    "Park et al. 2019 (RKD): CE + distance (x25) and angle (x50) relations of the embeddings")})
class RKD(ZooTerm):
    """Relational KD on the pooled embeddings: ``distance_weight * L_dist + angle_weight * L_angle`` with the
    paper's weights 25 and 50 (:func:`~.functional.rkd_distance_loss`, :func:`~.functional.rkd_angle_loss`).
    Widths may differ; no trainable part. A batch of one sample contributes 0."""

    reference = "Park, Kim, Lu & Cho 2019, Relational Knowledge Distillation (CVPR)"
    needs_student = frozenset({"embedding"})
    needs_teacher = frozenset({"embedding"})

    def __init__(self, ctx: TermContext, distance_weight: float = 25.0, angle_weight: float = 50.0):
        super().__init__()
        self.distance_weight, self.angle_weight = distance_weight, angle_weight

    def forward(self, s, t, batch):
        if s.embedding.shape[0] < 2:
            return _zero(s.embedding)
        loss = _zero(s.embedding)
        if self.distance_weight:
            loss = loss + self.distance_weight * _exact(LF.rkd_distance_loss, s.embedding, t.embedding)
        if self.angle_weight:
            loss = loss + self.angle_weight * _exact(LF.rkd_angle_loss, s.embedding, t.embedding)
        return loss


# preset weights: RepDistiller -a 0 -b 30000
@register_term("pkt", presets={"pkt": (
    {"ce": 1.0, "pkt": 30000.0},
    "Passalis & Tefas 2018 (PKT): CE + 30000 x KL of cosine-similarity distributions of the embeddings")})
class PKT(ZooTerm):
    """Probabilistic knowledge transfer on the pooled embeddings (:func:`~.functional.pkt_loss`): KL between the
    teacher's and the student's cosine-similarity distributions over the batch. Widths may differ."""

    reference = "Passalis & Tefas 2018, Learning Deep Representations with Probabilistic Knowledge Transfer (ECCV)"
    needs_student = frozenset({"embedding"})
    needs_teacher = frozenset({"embedding"})

    def __init__(self, ctx: TermContext, eps: float = 1e-7):
        super().__init__()
        self.eps = eps

    def forward(self, s, t, batch):
        return _exact(LF.pkt_loss, s.embedding, t.embedding, self.eps)


# preset weights: DAPT distill.py --distill crd: l1 = l2 = l3 = 1
@register_term("crd", presets={"crd": (
    {"ce": 1.0, "kd": 1.0, "crd": 1.0},
    "Tian, Krishnan & Isola 2020 (CRD), weights as Farhat & Chen 2024's code: CE + KD + contrastive "
    "representation distillation on embeddings (queue mode; params.mode: memory for the original banks)")})
class CRD(ZooTerm):
    """Contrastive representation distillation on the pooled embeddings (:class:`~.crd.CRDLoss`, embedding heads
    to ``feat_dim`` = ``distill.proj_dim`` by default, 128 as CRD/DAPT). ``mode: queue`` (default) keeps FIFO
    queues of ``num_negatives`` embeddings (symmetric InfoNCE, no dataset-size memory); ``mode: memory`` is the
    original NCE with two memory banks of the training-set size, indexed by ``batch["index"]``."""

    reference = "Tian, Krishnan & Isola 2020, Contrastive Representation Distillation (ICLR)"
    needs_student = frozenset({"embedding"})
    needs_teacher = frozenset({"embedding"})

    def __init__(self, ctx: TermContext, mode: str = "queue", feat_dim: int | None = None, num_negatives: int = 4096,
                 temperature: float = 0.07, momentum: float = 0.5):
        super().__init__()
        if mode not in ("queue", "memory"):
            raise DistilleryError(f"distill.terms.crd.params.mode: 'queue' or 'memory', got {mode!r}")
        if mode == "memory" and ctx.num_train < 1:
            raise DistilleryError("crd mode 'memory' needs the training-set size (a memory bank row per sample)")
        self.mode = mode
        self.crd = CRDLoss(ctx.student_dim, ctx.teacher_dim or ctx.student_dim, feat_dim or ctx.proj_dim,
                           num_negatives=num_negatives, temperature=temperature, momentum=momentum,
                           num_data=ctx.num_train if mode == "memory" else None, mode=mode)  # type: ignore[arg-type]

    def cost_state(self) -> int:
        """Queue mode: the contrast grows with the queue (``B + n`` keys) until it is full; memory mode: fixed."""
        return int(self.crd.queue_len.item()) if self.mode == "queue" else 0

    def forward(self, s, t, batch):
        index = batch["index"] if self.mode == "memory" else None
        return self.crd(s.embedding, t.embedding, index=index)


# preset weights: DAPT --distill srrl: CE 1, feature MSE 1, logit MSE 1, KD 0
@register_term("srrl", presets={"srrl": (
    {"ce": 1.0, "srrl": 1.0},
    "Yang et al. 2021 (SRRL), as Farhat & Chen 2024's code: CE + connector feature MSE + MSE of the teacher's "
    "frozen head on the connected student features (no KD)")})
class SRRL(ZooTerm):
    """Softmax regression representation learning (:func:`~.functional.srrl_loss`):
    ``MSE(c(f_s), f_t) + MSE(W_t c(f_s), z_t)``, with a trainable connector ``c`` and the teacher's frozen task
    head ``W_t``. ``connector``: ``mlp2`` (DAPT: Linear(s,(s+t)/2)-ReLU-Linear(.,t)-ReLU, default), ``mlp`` (the
    same without the last ReLU, for embeddings that can be negative, e.g. mean-pooled transformer states) or
    ``linear``. The teacher head is copied as frozen, non-persistent buffers (not trained, not checkpointed)."""

    reference = ("Yang, Martinez, Bulat & Tzimiropoulos 2021, Knowledge Distillation via Softmax Regression "
                 "Representation Learning (ICLR); as in Farhat & Chen 2024 (DAPT)")
    needs_student = frozenset({"embedding"})
    needs_teacher = frozenset({"embedding", "logits"})

    def __init__(self, ctx: TermContext, connector: str = "mlp2"):
        super().__init__()
        if ctx.teacher_head is None:
            raise DistilleryError("loss term 'srrl' needs the teacher's task head; set the teacher section")
        s_dim, t_dim = ctx.student_dim, ctx.teacher_dim or ctx.student_dim
        mid = (s_dim + t_dim) // 2
        if connector == "mlp2":
            self.connector: nn.Module = nn.Sequential(nn.Linear(s_dim, mid), nn.ReLU(), nn.Linear(mid, t_dim),
                                                      nn.ReLU())
        elif connector == "mlp":
            self.connector = nn.Sequential(nn.Linear(s_dim, mid), nn.ReLU(), nn.Linear(mid, t_dim))
        elif connector == "linear":
            self.connector = nn.Linear(s_dim, t_dim)
        else:
            raise DistilleryError(f"distill.terms.srrl.params.connector: 'mlp2', 'mlp' or 'linear', got {connector!r}")
        head = ctx.teacher_head
        if isinstance(head, nn.Linear):
            self.register_buffer("head_weight", head.weight.detach().clone(), persistent=False)
            self.register_buffer("head_bias", None if head.bias is None else head.bias.detach().clone(),
                                 persistent=False)
            self.teacher_head = None
        else:  # a non-linear head: a frozen copy
            self.teacher_head = copy.deepcopy(head).requires_grad_(False).eval()

    def _head(self, x: torch.Tensor) -> torch.Tensor:
        if self.teacher_head is not None:
            return self.teacher_head(x)
        return F.linear(x, self.head_weight.to(x.dtype),
                        None if self.head_bias is None else self.head_bias.to(x.dtype))

    def forward(self, s, t, batch):
        c = self.connector(s.embedding)
        return _exact(LF.srrl_loss, c, t.embedding, self._head(c), t.logits)


# ---------------------------------------------------------------------------------------------------------
# hidden-state and attention terms
# ---------------------------------------------------------------------------------------------------------


def _pick_layer(spec: Any, n: int, side: str) -> int:
    if spec == "middle":
        return n // 2
    if spec == "last":
        return n - 1
    if isinstance(spec, int) and not isinstance(spec, bool) and -n <= spec < n:
        return spec % n
    raise DistilleryError(f"loss term 'fitnet': {side}_layer must be 'middle', 'last' or an index into the "
                          f"{n} {side} hidden states, got {spec!r}")


# preset weights: RepDistiller --distill hint -a 0 -b 100
@register_term("fitnet", presets={"fitnet": (
    {"ce": 1.0, "fitnet": 100.0},
    "Romero et al. 2015 (FitNets): CE + 100 x MSE of a regressed middle hidden state (needs hidden states)")})
class FitNet(ZooTerm):
    """FitNets hint loss ``MSE(r(h_s), h_t)`` (:func:`~.functional.fitnet_loss`) between one student hidden state
    and one teacher hidden state (``student_layer`` / ``teacher_layer``: ``middle`` (default, FitNets'
    middle "hint" layer, as RepDistiller's ``hint_layer``), ``last`` or an index into ``hidden_states``).

    The regressor ``r`` is built before training from the real shapes: CNN feature maps ``[B, C, H, W]`` get a
    1x1 convolution + BatchNorm to the teacher's channels and a spatial resize (average pooling down, bilinear
    up) when the sizes differ; token states ``[B, L, H]`` a linear layer (the MSE runs over real tokens only, and
    the student and teacher must share the tokenizer)."""

    reference = "Romero, Ballas, Kahou, Chassang, Gatta & Bengio 2015, FitNets: Hints for Thin Deep Nets (ICLR)"
    needs_student = frozenset({"hidden_states"})
    needs_teacher = frozenset({"hidden_states"})

    def __init__(self, ctx: TermContext, student_layer: int | str = "middle", teacher_layer: int | str = "middle"):
        super().__init__()
        self.student_layer, self.teacher_layer = student_layer, teacher_layer
        self.regressor: nn.Module | None = None
        self._si = self._ti = -1
        self._size: tuple[int, int] | None = None

    def prepare(self, s, t, batch):
        assert t is not None
        self._si = _pick_layer(self.student_layer, len(s.hidden_states), "student")
        self._ti = _pick_layer(self.teacher_layer, len(t.hidden_states), "teacher")
        hs, ht = s.hidden_states[self._si], t.hidden_states[self._ti]
        if hs.dim() == 4 and ht.dim() == 4:
            self.regressor = nn.Sequential(nn.Conv2d(hs.shape[1], ht.shape[1], 1, bias=False),
                                           nn.BatchNorm2d(ht.shape[1]))
            self._size = (int(ht.shape[-2]), int(ht.shape[-1]))
        elif hs.dim() == 3 and ht.dim() == 3:
            _check_shared_tokens("fitnet", batch)
            self.regressor = nn.Linear(hs.shape[-1], ht.shape[-1])
        elif hs.dim() == 2 and ht.dim() == 2:
            self.regressor = nn.Linear(hs.shape[-1], ht.shape[-1])
        else:
            raise DistilleryError(f"loss term 'fitnet': student hidden state {self._si} has shape "
                                  f"{list(hs.shape[1:])} and teacher hidden state {self._ti} {list(ht.shape[1:])}: "
                                  "pick layers of the same kind (feature maps with feature maps, tokens with tokens)")
        self.regressor.to(device=hs.device)

    def forward(self, s, t, batch):
        if self.regressor is None:
            raise RuntimeError("FitNet.prepare(student_features, teacher_features, batch) must run before training "
                               "(it builds the regressor from the real shapes)")
        hs, ht = s.hidden_states[self._si], t.hidden_states[self._ti]
        h = self.regressor(hs)
        if h.dim() == 4 and tuple(h.shape[-2:]) != self._size:
            if h.shape[-2] >= self._size[0] and h.shape[-1] >= self._size[1]:
                h = F.adaptive_avg_pool2d(h, self._size)
            else:
                h = F.interpolate(h, size=self._size, mode="bilinear", align_corners=False)
        if h.dim() == 3:
            mask = _attention_mask(batch)
            if mask is not None:
                keep = mask.to(torch.bool)
                h, ht = h[keep], ht[keep]
        return _exact(LF.fitnet_loss, h, ht)


# preset weights: intermediate layers + prediction-layer KD, plus CE
@register_term("tinybert", presets={"tinybert": (
    {"ce": 1.0, "kd": 1.0, "tinybert": 1.0},
    "Jiao et al. 2020 (TinyBERT): CE + KD + embedding, hidden-state and raw attention-score MSE over a "
    "uniform layer map (transformers, shared tokenizer)")})
class TinyBERT(ZooTerm):
    """TinyBERT intermediate-layer distillation (Jiao et al. 2020; :func:`~.functional.tinybert_hidden_loss`,
    :func:`~.functional.tinybert_attention_loss`, :func:`~.functional.tinybert_embedding_loss`):

    ``embedding_weight * MSE(W h_s^0, h_t^0) + sum over (l, g(l)) in layer_map of
    [hidden_weight * MSE(W h_s^l, h_t^g(l)) + attention_weight * MSE(A_s^l, A_t^g(l))]``

    with ``A = Q K^T / sqrt(d)`` the raw (pre-softmax) attention scores, computed from the captured per-layer
    queries and keys (the official code's form; works with SDPA attention), and ``W`` one learned projection
    shared by all layers (TinyBERT's ``fit_dense``; the identity when the widths are equal). MSEs over real
    tokens only. ``layer_map`` defaults to TinyBERT's uniform mapping. The attention loss needs the same number
    of heads on both sides; the student and teacher must share the tokenizer."""

    reference = "Jiao et al. 2020, TinyBERT: Distilling BERT for Natural Language Understanding (Findings of EMNLP)"
    needs_student = frozenset({"hidden_states", "qkv"})
    needs_teacher = frozenset({"hidden_states", "qkv"})

    def __init__(self, ctx: TermContext, layer_map: str | list = "uniform", hidden_weight: float = 1.0,
                 attention_weight: float = 1.0, embedding_weight: float = 1.0):
        super().__init__()
        _check_layer_map_spec("tinybert", layer_map)
        self.layer_map = layer_map
        self.hidden_weight, self.attention_weight, self.embedding_weight = hidden_weight, attention_weight, \
            embedding_weight
        self.fit_dense = self._projection(ctx.student_dim, ctx.teacher_dim or ctx.student_dim)

    @staticmethod
    def _projection(s_dim: int, t_dim: int) -> nn.Module:
        return nn.Identity() if s_dim == t_dim else nn.Linear(s_dim, t_dim)

    def _pairs(self, s: Features, t: Features) -> list[tuple[int, int]]:
        return resolve_layer_map(self.layer_map, _num_layers(s, "student", "tinybert"),
                                 _num_layers(t, "teacher", "tinybert"), "tinybert")

    def prepare(self, s, t, batch):
        assert t is not None
        _check_shared_tokens("tinybert", batch)
        s_dim, t_dim = s.hidden_states[-1].shape[-1], t.hidden_states[-1].shape[-1]
        current = (self.fit_dense.in_features, self.fit_dense.out_features) \
            if isinstance(self.fit_dense, nn.Linear) else None
        if (s_dim != t_dim and current != (s_dim, t_dim)) or (s_dim == t_dim and current is not None):
            self.fit_dense = self._projection(s_dim, t_dim).to(s.hidden_states[-1].device)
        for i, j in self._pairs(s, t):
            hs, ht = s.qkv[i - 1][0].shape[1], t.qkv[j - 1][0].shape[1]
            if self.attention_weight and hs != ht:
                raise DistilleryError(f"loss term 'tinybert': the attention loss compares attention maps head by head"
                                      f", but student layer {i} has {hs} heads and teacher layer {j} {ht}; give the "
                                      "student as many heads or set params.attention_weight: 0")

    def forward(self, s, t, batch):
        mask = _attention_mask(batch)
        proj = self.fit_dense
        loss = _zero(s.hidden_states[-1])
        if self.embedding_weight:
            loss = loss + self.embedding_weight * _exact(LF.tinybert_embedding_loss, proj(s.hidden_states[0]),
                                                         t.hidden_states[0], mask)
        for i, j in self._pairs(s, t):
            if self.hidden_weight:
                loss = loss + self.hidden_weight * _exact(LF.tinybert_hidden_loss, proj(s.hidden_states[i]),
                                                          t.hidden_states[j], mask)
            if self.attention_weight:
                (qs, ks, _), (qt, kt, _) = s.qkv[i - 1], t.qkv[j - 1]
                loss = loss + self.attention_weight * _exact(_attention_loss, qs, ks, qt, kt, mask)
        return loss


# preset weights: Q-Q/K-K/V-V relations of the last layer + KD, plus CE
@register_term("minilm", presets={"minilm": (
    {"ce": 1.0, "kd": 1.0, "minilm": 1.0},
    "Wang et al. 2021 (MiniLMv2): CE + KD + Q-Q/K-K/V-V self-relation KL of the last layer "
    "(transformers, shared tokenizer)")})
class MiniLM(ZooTerm):
    """MiniLMv2 multi-head self-attention relation distillation (:func:`~.functional.minilm_relation_loss`):
    ``sum over (l, g(l)) in layer_map, over X in relations of KL(rel_t(X) || rel_s(X))`` with
    ``rel(X) = softmax(X_a X_a^T / sqrt(d_r))`` per relation head, on the per-layer queries, keys and values
    (Q-Q, K-K, V-V). ``layer_map`` defaults to ``last`` (MiniLM / Bui et al.); ``num_relation_heads`` defaults
    to the teacher's head count (Bui et al.); widths and head counts may differ (no projection), the number of
    relation heads must divide both widths. The student and teacher must share the tokenizer."""

    reference = ("Wang, Bao, Huang, Dong & Wei 2021, MiniLMv2: Multi-Head Self-Attention Relation Distillation "
                 "(Findings of ACL)")
    needs_student = frozenset({"qkv"})
    needs_teacher = frozenset({"qkv"})

    def __init__(self, ctx: TermContext, layer_map: str | list = "last", num_relation_heads: int | None = None,
                 relations: list[str] | tuple[str, ...] = ("q", "k", "v")):
        super().__init__()
        _check_layer_map_spec("minilm", layer_map)
        bad = [r for r in relations if r not in ("q", "k", "v")]
        if bad or not relations:
            raise DistilleryError(f"distill.terms.minilm.params.relations: a non-empty subset of q, k, v, got "
                                  f"{list(relations)!r}")
        self.layer_map = layer_map
        self.num_relation_heads = num_relation_heads
        self.relations = tuple("qkv".index(r) for r in relations)

    def _pairs(self, s: Features, t: Features) -> list[tuple[int, int]]:
        return resolve_layer_map(self.layer_map, len(s.qkv), len(t.qkv), "minilm")

    def _heads(self, t: Features) -> int:
        return self.num_relation_heads or int(t.qkv[-1][0].shape[1])

    def prepare(self, s, t, batch):
        assert t is not None
        _check_shared_tokens("minilm", batch)
        r = self._heads(t)
        for i, j in self._pairs(s, t):
            for x in self.relations:
                ws, wt = _merge_heads(s.qkv[i - 1][x]).shape[-1], _merge_heads(t.qkv[j - 1][x]).shape[-1]
                if ws % r or wt % r:
                    raise DistilleryError(f"loss term 'minilm': {r} relation heads must divide the student width "
                                          f"{ws} and the teacher width {wt}; set params.num_relation_heads")

    def forward(self, s, t, batch):
        mask = _attention_mask(batch)
        r = self._heads(t)
        loss = _zero(s.qkv[-1][0])
        for i, j in self._pairs(s, t):
            for x in self.relations:
                loss = loss + _exact(LF.minilm_relation_loss, _merge_heads(s.qkv[i - 1][x]),
                                     _merge_heads(t.qkv[j - 1][x]), r, mask)
        return loss
