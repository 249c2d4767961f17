"""Distillation losses as pure tensor functions. Each cites the paper whose formula it implements.

Conventions shared by every function here:

* Inputs are tensors only; anything learned (projectors, regressors, connectors, embedding heads) is applied
  by the caller before the call, and the docstring says so where it matters.
* Teacher tensors are targets. Callers pass them already detached (the teacher is frozen); only
  :func:`rkd_distance_loss` / :func:`rkd_angle_loss` detach the teacher side themselves, because the official
  RKD code computes the teacher relations under ``torch.no_grad()``.
* Half-precision inputs are computed in float32; float32/float64 inputs keep their dtype (``kd_loss``,
  ``align_loss`` and ``uniform_loss`` always compute in float32, as they did before).
* Every loss returns a 0-d tensor.
* ``attention_mask`` arguments follow the Hugging Face convention: shape ``[B, L]``, 1/True = real token,
  0/False = padding.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = [
    "kd_loss",
    "align_loss",
    "uniform_loss",
    "dkd_loss",
    "rkd_distance_loss",
    "rkd_angle_loss",
    "pkt_loss",
    "fitnet_loss",
    "srrl_loss",
    "tinybert_hidden_loss",
    "tinybert_attention_loss",
    "tinybert_embedding_loss",
    "minilm_relation_loss",
    "mlm_kd_loss",
]


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 -> float32; other floating dtypes unchanged."""
    if x.dtype in (torch.float16, torch.bfloat16):
        return x.float()
    return x


def _check_same_shape(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what}: student shape {tuple(a.shape)} != teacher shape {tuple(b.shape)}")


def _zero_like_graph(x: torch.Tensor) -> torch.Tensor:
    """A 0-d zero that stays connected to ``x``'s graph (so ``backward()`` still works)."""
    return x.sum() * 0.0


# ---------------------------------------------------------------------------------------------------------
# Logit distillation
# ---------------------------------------------------------------------------------------------------------


def kd_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 4.0
) -> torch.Tensor:
    """Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network".

    ``KL(softmax(z_t/T) || softmax(z_s/T))`` summed over classes, averaged over the batch, times ``T**2``
    (as DistillKL in the DAPT code, Farhat & Chen 2024). Computed in float32.
    """
    t = temperature
    log_p_s = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p_t = F.log_softmax(teacher_logits.float() / t, dim=-1)
    kl = F.kl_div(log_p_s, log_p_t, reduction="sum", log_target=True)
    return kl * (t * t) / student_logits.shape[0]


def dkd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 1.0,
    beta: float = 8.0,
    temperature: float = 4.0,
) -> torch.Tensor:
    """Zhao, Cui, Song, Qiu & Liang 2022, "Decoupled Knowledge Distillation" (CVPR), as in the official
    mdistiller code (``mdistiller/distillers/DKD.py``).

    ``alpha * TCKD + beta * NCKD`` with, at temperature ``T`` and ``p = softmax(z/T)``:

    * TCKD = ``KL(b_t || b_s)``, ``b = [p_gt, 1 - p_gt]`` (binary target-vs-rest distribution);
    * NCKD = ``KL(q_t || q_s)``, ``q = softmax(z/T - 1000 * onehot(target))`` (the official trick: the
      target class is pushed out of the softmax, so ``q`` is the distribution over non-target classes);

    each summed over its classes, divided by the batch size and multiplied by ``T**2``.
    Shapes: logits ``[B, C]``, ``target`` ``[B]`` (int class indices). Defaults alpha=1, beta=8, T=4 are
    mdistiller's CIFAR-100 settings (the ImageNet config uses beta=0.5, T=1). The CE term and the
    linear warm-up of the official trainer are the caller's business.

    The only departure from the official code is numerical: ``log b_s`` is computed with ``logsumexp``
    instead of ``log(sum(softmax))`` (mathematically identical; avoids ``log(0)`` when the student is
    very confident).
    """
    t = temperature
    s = _upcast(student_logits) / t
    z_t = _upcast(teacher_logits) / t
    num_classes = s.shape[-1]
    gt = F.one_hot(target.reshape(-1).long(), num_classes).to(torch.bool)

    # TCKD: binary distributions [p_gt, p_rest].
    log_p_s = F.log_softmax(s, dim=-1)
    neg_inf = torch.finfo(s.dtype).min
    log_b_s = torch.stack(
        [
            log_p_s.masked_fill(~gt, neg_inf).logsumexp(dim=-1),
            log_p_s.masked_fill(gt, neg_inf).logsumexp(dim=-1),
        ],
        dim=-1,
    )
    p_t = F.softmax(z_t, dim=-1)
    b_t = torch.stack([(p_t * gt).sum(dim=-1), (p_t * ~gt).sum(dim=-1)], dim=-1)
    batch = target.reshape(-1).shape[0]
    tckd = F.kl_div(log_b_s, b_t, reduction="sum") * (t * t) / batch

    # NCKD: distributions over the non-target classes (official "- 1000 * gt_mask" trick).
    shift = 1000.0 * gt.to(s.dtype)
    log_q_s = F.log_softmax(s - shift, dim=-1)
    q_t = F.softmax(z_t - shift, dim=-1)
    nckd = F.kl_div(log_q_s, q_t, reduction="sum") * (t * t) / batch
    return alpha * tckd + beta * nckd


def mlm_kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor | None = None,
    temperature: float = 1.0,
    *,
    reduction: Literal["elementwise", "token"] = "elementwise",
) -> torch.Tensor:
    """Soft cross-entropy between teacher and student MLM logits: the "distillbert" (vanilla KD) variant of
    Bui, Schmidt, Glavaš & von der Wense 2024 (``feature_distill.py::soft_cross_entropy``, papers.md §2.5),
    the prediction-layer loss of DistilBERT (Sanh et al. 2019) without its ``T**2`` factor.

    ``CE = -softmax(z_t/T) * log_softmax(z_s/T)`` element-wise, over the selected token positions.

    * ``mask``: optional bool/0-1 tensor of shape ``logits.shape[:-1]`` selecting the positions to distil
      (e.g. ``labels != -100``, the masked tokens). ``None`` = all positions (what Bui et al. do: their
      prediction head already only scores the masked positions).
    * ``reduction="elementwise"`` (default, as Bui et al.): mean over **all** elements, i.e. over
      positions *and* the vocabulary axis — the loss is therefore ``1/|V|`` times the per-token soft CE.
      ``reduction="token"``: sum over the vocabulary, mean over positions (the usual soft-CE scale).
    * No ``T**2`` factor (Bui et al. use T=1).

    Not zero at ``z_s == z_t`` (it is the teacher's entropy there), but its gradient is.
    If ``mask`` selects no position the loss is a graph-connected zero.
    """
    if student_logits.shape != teacher_logits.shape:
        _check_same_shape(student_logits, teacher_logits, "mlm_kd_loss")
    s = _upcast(student_logits)
    z_t = _upcast(teacher_logits)
    if mask is not None:
        mask = mask.to(torch.bool)
        if mask.shape != s.shape[:-1]:
            raise ValueError(
                f"mlm_kd_loss: mask shape {tuple(mask.shape)} != logits.shape[:-1] {tuple(s.shape[:-1])}"
            )
        s = s[mask]
        z_t = z_t[mask]
    if s.numel() == 0:
        return _zero_like_graph(student_logits)
    ce = -(F.softmax(z_t / temperature, dim=-1) * F.log_softmax(s / temperature, dim=-1))
    if reduction == "elementwise":
        return ce.mean()
    if reduction == "token":
        return ce.sum(dim=-1).mean()
    raise ValueError(f"mlm_kd_loss: unknown reduction {reduction!r}")


# ---------------------------------------------------------------------------------------------------------
# Embedding / representation distillation
# ---------------------------------------------------------------------------------------------------------


def align_loss(x: torch.Tensor, y: torch.Tensor, alpha: float = 2.0, normalized: bool = False) -> torch.Tensor:
    """Wang & Isola 2020, "Understanding Contrastive Representation Learning through Alignment and
    Uniformity" (ICML).

    ``mean_i ||x_i - y_i||_2^alpha`` on L2-normalised rows (the rows are normalised here, unless ``normalized``
    says the caller did it, in float32). Computed in float32.
    """
    if not normalized:
        x = F.normalize(x.float(), dim=-1)
        y = F.normalize(y.float(), dim=-1)
    return (x - y).norm(p=2, dim=1).pow(alpha).mean()


def uniform_loss(x: torch.Tensor, t: float = 2.0, normalized: bool = False) -> torch.Tensor:
    """Wang & Isola 2020: ``log mean_{i<j} exp(-t ||x_i - x_j||_2^2)`` on L2-normalised rows (float32; the rows
    are normalised here unless ``normalized``). A batch of one sample has no pairs: 0 (not NaN), so that a last
    batch of one does not stop training."""
    if x.shape[0] < 2:
        return _zero_like_graph(x.float())
    if not normalized:
        x = F.normalize(x.float(), dim=-1)
    return torch.pdist(x, p=2).pow(2).mul(-t).exp().mean().log()


def _rkd_pdist(e: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Distance matrix as in the official RKD code: ``sqrt(clamp(|a|^2+|b|^2-2ab, eps))``, 0 diagonal."""
    sq = e.pow(2).sum(dim=1)
    d = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * (e @ e.t())).clamp(min=eps).sqrt()
    eye = torch.eye(e.shape[0], dtype=torch.bool, device=e.device)
    return d.masked_fill(eye, 0.0)


def rkd_distance_loss(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    """Park, Kim, Lu & Cho 2019, "Relational Knowledge Distillation" (CVPR), distance-wise loss, as in the
    official code (lenscloth/RKD ``metric/loss.py::RkdDistance``; same in mdistiller).

    ``psi(i,j) = ||e_i - e_j||_2 / mu`` with ``mu`` = mean of the positive (off-diagonal) distances of
    the batch; loss = ``smooth_l1(psi_s, psi_t)`` (Huber, delta=1) averaged over all ``B*B`` entries
    (the zero diagonal included, as in the official code). Inputs ``[B, ...]`` are flattened to ``[B, D]``;
    student and teacher widths may differ. The teacher side is detached (official: ``torch.no_grad()``).
    The paper's weight (25) is the caller's. A batch of one sample has no pairs: the loss is 0 (a last batch of
    one must not stop training).
    """
    s = _upcast(student_emb).reshape(student_emb.shape[0], -1)
    t = _upcast(teacher_emb).detach().reshape(teacher_emb.shape[0], -1)
    if s.shape[0] < 2:
        return _zero_like_graph(s)
    t_d = _rkd_pdist(t)
    t_d = t_d / t_d[t_d > 0].mean()
    d = _rkd_pdist(s)
    d = d / d[d > 0].mean()
    return F.smooth_l1_loss(d, t_d.to(d.dtype))


def _rkd_angles(e: torch.Tensor) -> torch.Tensor:
    """``[B, B, B]``: ``<(e_j - e_i)/|.|, (e_k - e_i)/|.|>`` at ``[i, j, k]`` (0 where j or k == i)."""
    diff = e.unsqueeze(0) - e.unsqueeze(1)  # [i, j] = e_j - e_i
    unit = F.normalize(diff, p=2, dim=2)
    return torch.bmm(unit, unit.transpose(1, 2))


def rkd_angle_loss(student_emb: torch.Tensor, teacher_emb: torch.Tensor) -> torch.Tensor:
    """Park, Kim, Lu & Cho 2019, "Relational Knowledge Distillation" (CVPR), angle-wise loss, as in the
    official code (``RKdAngle``).

    ``psi(i,j,k) = cos angle(e_j - e_i, e_k - e_i)`` for all ``B**3`` triplets (degenerate ones, j==i or
    k==i, are 0 for both sides, as in the official code); loss = ``smooth_l1(psi_s, psi_t)`` averaged over
    the ``B**3`` entries. Inputs flattened to ``[B, D]``; widths may differ. Teacher side detached. The
    paper's weight (50) is the caller's. Memory is ``O(B**2 * D)``.
    """
    s = _upcast(student_emb).reshape(student_emb.shape[0], -1)
    t = _upcast(teacher_emb).detach().reshape(teacher_emb.shape[0], -1)
    t_angle = _rkd_angles(t).reshape(-1)
    s_angle = _rkd_angles(s).reshape(-1)
    return F.smooth_l1_loss(s_angle, t_angle.to(s_angle.dtype))


def pkt_loss(student_emb: torch.Tensor, teacher_emb: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Passalis & Tefas 2018, "Learning Deep Representations with Probabilistic Knowledge Transfer" (ECCV),
    as in the CRD repository (HobbitLong/RepDistiller ``distiller_zoo/PKT.py``, itself from
    passalis/probabilistic_kt).

    Rows are L2-normalised (``x / (|x| + eps)``, NaNs -> 0); cosine kernel ``K = (x x^T + 1) / 2``;
    conditional probabilities ``P = K / K.sum(dim=1)`` (diagonal included); loss =
    ``mean_{ij} P_t * log((P_t + eps) / (P_s + eps))`` — a KL divergence averaged over all ``B*B`` entries
    (i.e. the row-KL divided by ``B*B``, as in that code). Inputs flattened to ``[B, D]``; widths may differ.
    """
    s = _upcast(student_emb).reshape(student_emb.shape[0], -1)
    t = _upcast(teacher_emb).reshape(teacher_emb.shape[0], -1)

    def _probs(x: torch.Tensor) -> torch.Tensor:
        # clamped before the sqrt: an all-zero row then has a zero (not NaN) gradient; the value is unchanged
        x = x / (x.pow(2).sum(dim=1, keepdim=True).clamp_min(1e-24).sqrt() + eps)
        x = torch.nan_to_num(x, nan=0.0)
        k = (x @ x.t() + 1.0) / 2.0
        return k / k.sum(dim=1, keepdim=True)

    p_s = _probs(s)
    p_t = _probs(t)
    return (p_t * torch.log((p_t + eps) / (p_s + eps))).mean()


def fitnet_loss(student_hint: torch.Tensor, teacher_hint: torch.Tensor) -> torch.Tensor:
    """Romero, Ballas, Kahou, Chassang, Gatta & Bengio 2015, "FitNets: Hints for Thin Deep Nets" (ICLR).

    ``mean((r(h_s) - h_t)**2)`` over all elements (``nn.MSELoss()``, as HintLoss in RepDistiller and FitNet in
    mdistiller; the paper writes ``1/2 ||.||^2``, the codes drop the 1/2 and average). ``student_hint`` is
    the **already regressed** student hint ``r(h_s)``: the regressor (a conv/linear layer mapping the student
    guided layer to the teacher hint shape) is a trainable module applied by the caller.
    Shapes must match exactly (no broadcasting).
    """
    _check_same_shape(student_hint, teacher_hint, "fitnet_loss")
    return F.mse_loss(_upcast(student_hint), _upcast(teacher_hint))


def srrl_loss(
    student_feat_connected: torch.Tensor,
    teacher_feat: torch.Tensor,
    student_logits_via_teacher_head: torch.Tensor,
    teacher_logits: torch.Tensor,
) -> torch.Tensor:
    """Yang, Martinez, Bulat & Tzimiropoulos 2021, "Knowledge Distillation via Softmax Regression
    Representation Learning" (ICLR), as in the DAPT code (Farhat & Chen 2024, ``distill.py``; papers.md §1.4).

    ``MSE(c(f_s), f_t) + MSE(W_t c(f_s), z_t)`` — two element-mean MSEs, weight 1 each (DAPT's
    ``--distill srrl``: lambd2 = lambd4 = 1). The caller applies the connector ``c`` (DAPT ``mlp2``:
    Linear-ReLU-Linear-ReLU) and the **frozen teacher classifier** ``W_t``, and passes
    ``student_feat_connected = c(f_s)`` and ``student_logits_via_teacher_head = W_t(c(f_s))``.
    """
    _check_same_shape(student_feat_connected, teacher_feat, "srrl_loss (features)")
    _check_same_shape(student_logits_via_teacher_head, teacher_logits, "srrl_loss (logits)")
    feat = F.mse_loss(_upcast(student_feat_connected), _upcast(teacher_feat))
    logit = F.mse_loss(_upcast(student_logits_via_teacher_head), _upcast(teacher_logits))
    return feat + logit


# ---------------------------------------------------------------------------------------------------------
# Transformer (language-model) distillation
# ---------------------------------------------------------------------------------------------------------


def _token_mse(
    student: torch.Tensor, teacher: torch.Tensor, attention_mask: torch.Tensor | None
) -> torch.Tensor:
    """Element-mean MSE over ``[B, L, H]``; with a ``[B, L]`` mask, over the real tokens only."""
    s = _upcast(student)
    t = _upcast(teacher)
    if attention_mask is None:
        return F.mse_loss(s, t)
    m = attention_mask.to(torch.bool)
    if m.shape != s.shape[:2]:
        raise ValueError(f"attention_mask shape {tuple(m.shape)} != [B, L] = {tuple(s.shape[:2])}")
    n = m.sum() * s.shape[-1]
    if n == 0:
        return _zero_like_graph(s)
    sq = (s - t).pow(2) * m.unsqueeze(-1).to(s.dtype)
    return sq.sum() / n


def tinybert_hidden_loss(
    student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Jiao et al. 2020, "TinyBERT: Distilling BERT for Natural Language Understanding" (Findings of EMNLP),
    hidden-state (representation) loss as in the official ``general_distill.py``: ``MSE(H_s W_h, H_t)``.

    ``student_hidden`` ``[B, L, H_t]`` is the student hidden state **already projected** to the teacher width
    by the learned ``W_h`` (TinyBERT's ``fit_dense``) when widths differ — the projection is the caller's
    trainable module (Bui et al. 2024 use equal widths and no projection). Element-mean MSE (official);
    with ``attention_mask`` ``[B, L]`` the mean runs over real tokens only (an extension; the official code
    includes padding). One layer pair per call; the caller sums over the layer mapping.
    """
    _check_same_shape(student_hidden, teacher_hidden, "tinybert_hidden_loss")
    return _token_mse(student_hidden, teacher_hidden, attention_mask)


def tinybert_embedding_loss(
    student_emb: torch.Tensor, teacher_emb: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Jiao et al. 2020 (TinyBERT), embedding-layer loss ``MSE(E_s W_e, E_t)``: the same MSE as
    :func:`tinybert_hidden_loss`, on the embedding-layer outputs (TinyBERT's layer 0 of the representation
    loss). ``student_emb`` must already be projected by the learned ``W_e`` (the caller's module) when the
    widths differ. ``attention_mask`` as in :func:`tinybert_hidden_loss`.

    Note: Bui et al.'s code passes the attention lists to their ``embedding_mse`` (papers.md §2.5, most likely
    a bug); this function implements the paper's embedding loss, not that behaviour.
    """
    _check_same_shape(student_emb, teacher_emb, "tinybert_embedding_loss")
    return _token_mse(student_emb, teacher_emb, attention_mask)


def tinybert_attention_loss(
    student_attn: torch.Tensor, teacher_attn: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Jiao et al. 2020 (TinyBERT), attention-based loss as in the official ``general_distill.py`` (and in
    Bui et al. 2024 ``att_mse``): MSE between the **raw (unnormalised, pre-softmax) attention scores**
    ``QK^T/sqrt(d)`` (+ additive padding mask), ``[B, heads, L, L]``, same head count on both sides.

    Entries ``<= -1e2`` are set to 0 before the MSE — each tensor by its own values, exactly as the official
    code; with the usual additive padding mask (-1e4) both tensors hold it at the same positions, so this is
    the teacher's padding pattern zeroed on both sides. Element-mean over all ``B*heads*L*L`` entries
    (official). With ``attention_mask`` ``[B, L]`` the mean runs only over entries whose query and key are
    both real tokens (an extension). One layer pair per call.
    """
    _check_same_shape(student_attn, teacher_attn, "tinybert_attention_loss")
    s = _upcast(student_attn)
    t = _upcast(teacher_attn)
    s = torch.where(s <= -1e2, torch.zeros_like(s), s)
    t = torch.where(t <= -1e2, torch.zeros_like(t), t)
    if attention_mask is None:
        return F.mse_loss(s, t)
    m = attention_mask.to(torch.bool)
    if m.shape != (s.shape[0], s.shape[-1]):
        raise ValueError(f"attention_mask shape {tuple(m.shape)} != [B, L] = {(s.shape[0], s.shape[-1])}")
    pair = (m.unsqueeze(2) & m.unsqueeze(1)).unsqueeze(1)  # [B, 1, L, L]
    n = pair.sum() * s.shape[1]
    if n == 0:
        return _zero_like_graph(s)
    return ((s - t).pow(2) * pair.to(s.dtype)).sum() / n


def _self_relation_log_probs(x: torch.Tensor, num_heads: int, key_mask: torch.Tensor | None) -> torch.Tensor:
    """``log_softmax(X_a X_a^T / sqrt(d_r))`` per relation head: ``[B, L, H]`` -> ``[B, R, L, L]``."""
    b, seq, width = x.shape
    if width % num_heads:
        raise ValueError(f"hidden width {width} is not divisible by num_relation_heads={num_heads}")
    d = width // num_heads
    xh = x.reshape(b, seq, num_heads, d).transpose(1, 2)  # [B, R, L, d]
    scores = xh @ xh.transpose(-1, -2) / math.sqrt(d)
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[:, None, None, :], torch.finfo(scores.dtype).min)
    return F.log_softmax(scores, dim=-1)


def minilm_relation_loss(
    student_states: torch.Tensor,
    teacher_states: torch.Tensor,
    num_relation_heads: int,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Wang, Bao, Huang, Dong & Wei 2021, "MiniLMv2: Multi-Head Self-Attention Relation Distillation"
    (Findings of ACL); self-relation loss of one kind (Q-Q, K-K or V-V), as in Bui et al. 2024
    (``feature_distill.py::minilm_v2``, papers.md §2.5).

    ``states`` are the per-token query, key or value vectors of one layer, ``[B, L, H]`` (before the head
    split). Each side is split into ``R = num_relation_heads`` relation heads of width ``H/R`` (the student
    and teacher widths may differ, the number of relation heads may not); per head
    ``rel = softmax(X_a X_a^T / sqrt(H/R))``; loss = ``sum KL(rel_t || rel_s)`` over keys, summed over
    batch, heads and queries and divided by ``B * R * L`` (the mean per-row KL). Zero for identical inputs.

    With ``attention_mask`` ``[B, L]``, padded keys are excluded from both softmaxes and padded queries from
    the sum, which is then divided by ``R * (number of real tokens)``; an all-ones mask gives the unmasked
    value. The caller sums the Q-Q, K-K and V-V terms (Bui et al.: unweighted, last layer only).

    Difference from Bui et al.: they split the student with ``reshape(B, R_t, L, -1)`` of an already
    head-split ``[B, heads_s, L, d_s]`` tensor, which mixes positions unless ``heads_s == R``; here the split
    is done on ``[B, L, H]`` as in the MiniLMv2 paper. Both agree when ``heads_s == heads_t == R``.
    """
    if student_states.dim() != 3 or teacher_states.dim() != 3:
        raise ValueError("minilm_relation_loss expects [B, L, H] states")
    if student_states.shape[:2] != teacher_states.shape[:2]:
        raise ValueError(
            "minilm_relation_loss: [B, L] differ: "
            f"{tuple(student_states.shape[:2])} vs {tuple(teacher_states.shape[:2])}"
        )
    s = _upcast(student_states)
    t = _upcast(teacher_states)
    b, seq, _ = s.shape
    mask = None if attention_mask is None else attention_mask.to(torch.bool)
    if mask is not None and mask.shape != (b, seq):
        raise ValueError(f"attention_mask shape {tuple(mask.shape)} != [B, L] = {(b, seq)}")
    log_rel_s = _self_relation_log_probs(s, num_relation_heads, mask)
    log_rel_t = _self_relation_log_probs(t, num_relation_heads, mask).to(log_rel_s.dtype)
    # KL(t || s) per entry; masked keys have rel_t == 0 exactly (finite log-probs), so they add 0.
    kl = torch.exp(log_rel_t) * (log_rel_t - log_rel_s)
    if mask is None:
        return kl.sum() / (b * num_relation_heads * seq)
    n = mask.sum() * num_relation_heads
    if n == 0:
        return _zero_like_graph(s)
    valid = (mask[:, None, :, None] & mask[:, None, None, :]).to(kl.dtype)
    return (kl * valid).sum() / n


def reverse_kl_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                    temperature: float = 1.0) -> torch.Tensor:
    """Reverse KL ``KL(p_s || p_t)`` of temperature-softened distributions (mode-seeking; Gu et al. 2024, MiniLLM;
    compared in Busbridge et al. 2025), summed over classes, averaged over rows, times ``T**2``."""
    t = temperature
    log_p_s = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p_t = F.log_softmax(teacher_logits.float() / t, dim=-1)
    kl = (log_p_s.exp() * (log_p_s - log_p_t)).sum()
    return kl * (t * t) / student_logits.shape[0]


def jsd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, beta: float = 0.5,
             temperature: float = 1.0) -> torch.Tensor:
    """Generalized Jensen-Shannon divergence (Agarwal et al. 2024, GKD): with ``m = beta p_t + (1 - beta) p_s``,
    ``beta KL(p_t || m) + (1 - beta) KL(p_s || m)``; ``beta -> 0`` behaves like forward KL / beta, ``beta -> 1``
    like reverse KL. Rows averaged, times ``T**2``."""
    t = temperature
    log_p_s = F.log_softmax(student_logits.float() / t, dim=-1)
    log_p_t = F.log_softmax(teacher_logits.float() / t, dim=-1)
    if beta <= 0.0 or beta >= 1.0:
        raise ValueError("jsd: beta must be in (0, 1)")
    log_m = torch.logsumexp(torch.stack([log_p_t + math.log(beta), log_p_s + math.log(1 - beta)]), dim=0)
    kl_t = (log_p_t.exp() * (log_p_t - log_m)).sum()
    kl_s = (log_p_s.exp() * (log_p_s - log_m)).sum()
    return (beta * kl_t + (1 - beta) * kl_s) * (t * t) / student_logits.shape[0]
