"""Contrastive Representation Distillation (Tian, Krishnan & Isola 2020, ICLR) as an ``nn.Module``.

Two modes, chosen at construction:

``mode="memory"`` — the original objective, as in HobbitLong/RepDistiller ``crd/`` and its copy in the DAPT
code (Farhat & Chen 2024, ``kd_losses/crd.py``; papers.md §1.4/§4):

* embeddings ``v_s = normalize(W_s f_s + b_s)``, ``v_t = normalize(W_t f_t + b_t)`` (``Embed``: Linear + L2);
* two memory banks ``M_s, M_t`` of shape ``[num_data, feat_dim]``, indexed by dataset sample index,
  initialised uniform in ``[-stdv, stdv]``, ``stdv = 1/sqrt(feat_dim/3)``;
* per sample ``i`` a row of ``K+1`` bank indices, column 0 = ``i`` (the positive), columns 1..K negatives —
  given by the caller as ``contrast_index`` (RepDistiller/DAPT datasets draw them from other classes, mode
  ``exact``) or, if omitted, drawn uniformly with replacement from ``[0, num_data)`` (RepDistiller's
  ``ContrastMemory`` fallback);
* scores ``h = exp(<v, m>/tau) / Z`` of each anchor against the *other* side's bank rows (detached); ``Z`` is
  estimated once, on the first call, as ``mean(exp(<v, m>/tau)) * num_data`` (separately per direction);
* NCE loss (CRD Eq. 18, RepDistiller ``ContrastLoss``), with ``c = K / num_data`` and ``eps = 1e-7``::

      L = -(1/B) * sum_i [ log(h_i0 / (h_i0 + c + eps)) + sum_{k=1..K} log(c / (h_ik + c + eps)) ]

  summed over the two directions (student-anchored vs teacher bank, teacher-anchored vs student bank);
* after the loss, in training mode, bank rows ``index`` are updated as
  ``M[i] <- normalize(momentum * M[i] + (1 - momentum) * v_i)``.

  Memory is ``2 * num_data * feat_dim`` floats and ``index`` (dataset indices) is required.

``mode="queue"`` — symmetric InfoNCE with FIFO queues (MoCo-style), so memory does not grow with the dataset
and no sample indices are needed:

* the same embedding heads; two queues ``Q_s, Q_t`` of the last ``num_negatives`` detached embeddings;
* student-anchored term: for each ``i``, logits ``<v_s_i, k>/tau`` over the keys
  ``k in [sg(v_t_1..B), Q_t]`` (``sg`` = stop-gradient), cross-entropy with the positive ``sg(v_t_i)``; the
  other ``B-1`` in-batch teacher embeddings and the filled queue entries are the negatives (so ``K + B - 1``
  negatives once the queue is full, ``B - 1`` on the very first step when the queue is empty);
  teacher-anchored term symmetric; loss = sum of the two batch means;
* in training mode, the batch's ``v_s`` / ``v_t`` are then enqueued (oldest entries overwritten).

  Why InfoNCE and not NCE here: the NCE objective needs the noise prior ``1/num_data`` and a per-dataset
  normaliser ``Z``, both tied to the dataset-size memory bank and to a persistent, index-keyed positive;
  with a queue there is no fixed "M" and no per-sample slot, whereas the softmax (InfoNCE) form over
  1 positive + K negatives is self-normalised and is the standard objective for queue-based contrastive
  learning (MoCo). Both lower-bound the student-teacher mutual information; they are not numerically equal.
  ``momentum`` and ``num_data`` are unused in this mode.

Both modes: key/bank/queue entries never receive gradients, as in the original (only the anchors do), and
the buffers are updated only when ``self.training`` (evaluation forwards leave them untouched; ``Z`` is still
fixed on the first call, whatever the mode, as in the original). The scores are computed outside autocast
(float32 at least: ``exp(<v, m>/0.07)`` is too sharp for bf16/fp16); the embedding heads run under whatever
autocast the caller set. No cross-process gathering is done under DDP: each process keeps its own bank/queue.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CRDLoss"]


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 -> float32 (losses are computed at least in float32); other dtypes unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class _Embed(nn.Module):
    """Linear + L2 normalisation (RepDistiller ``Embed``); the input is flattened to ``[B, -1]``."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x.reshape(x.shape[0], -1))
        return F.normalize(_upcast(x), p=2, dim=1)


class CRDLoss(nn.Module):
    """Tian, Krishnan & Isola 2020, "Contrastive Representation Distillation" (ICLR). See the module docstring
    for the exact formulas of ``mode="memory"`` (the original NCE with memory banks) and ``mode="queue"``
    (symmetric InfoNCE with FIFO queues).

    Args:
        student_dim / teacher_dim: input feature widths (inputs are flattened).
        feat_dim: embedding width (128 in CRD and DAPT).
        num_negatives: ``K`` — negatives per anchor in memory mode, queue length in queue mode (4096).
        temperature: ``tau`` (0.07).
        momentum: memory-bank momentum (0.5), memory mode only.
        num_data: dataset size ``M``, required in memory mode.
        mode: ``"queue"`` (default) or ``"memory"``.
        eps: the NCE ``eps`` (1e-7), memory mode only.

    ``forward(student_emb, teacher_emb, index=None, contrast_index=None)`` returns a 0-d loss; ``index``
    (``[B]`` dataset indices) is required in memory mode and ignored in queue mode; ``contrast_index``
    (``[B, K+1]``, column 0 = positive) optionally fixes the memory-mode samples.
    """

    def __init__(
        self,
        student_dim: int,
        teacher_dim: int,
        feat_dim: int = 128,
        num_negatives: int = 4096,
        temperature: float = 0.07,
        momentum: float = 0.5,
        num_data: int | None = None,
        mode: Literal["queue", "memory"] = "queue",
        eps: float = 1e-7,
    ) -> None:
        super().__init__()
        if mode not in ("queue", "memory"):
            raise ValueError(f"CRDLoss: mode must be 'queue' or 'memory', got {mode!r}")
        if num_negatives < 1:
            raise ValueError("CRDLoss: num_negatives must be >= 1")
        self.mode = mode
        self.feat_dim = feat_dim
        self.num_negatives = num_negatives
        self.temperature = temperature
        self.momentum = momentum
        self.eps = eps
        self.embed_s = _Embed(student_dim, feat_dim)
        self.embed_t = _Embed(teacher_dim, feat_dim)
        if mode == "memory":
            if num_data is None or num_data < 1:
                raise ValueError("CRDLoss(mode='memory') needs num_data (the dataset size)")
            self.num_data = int(num_data)
            stdv = 1.0 / math.sqrt(feat_dim / 3.0)
            self.register_buffer("memory_s", torch.rand(self.num_data, feat_dim).mul_(2 * stdv).add_(-stdv))
            self.register_buffer("memory_t", torch.rand(self.num_data, feat_dim).mul_(2 * stdv).add_(-stdv))
            # normalisation constants, -1 = not set yet (as RepDistiller's params buffer)
            self.register_buffer("z_s", torch.tensor(-1.0))
            self.register_buffer("z_t", torch.tensor(-1.0))
        else:
            self.num_data = num_data
            self.register_buffer("queue_s", torch.zeros(num_negatives, feat_dim))
            self.register_buffer("queue_t", torch.zeros(num_negatives, feat_dim))
            self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
            self.register_buffer("queue_len", torch.zeros((), dtype=torch.long))

    def extra_repr(self) -> str:
        return (
            f"mode={self.mode}, feat_dim={self.feat_dim}, num_negatives={self.num_negatives}, "
            f"temperature={self.temperature}, momentum={self.momentum}, num_data={self.num_data}"
        )

    # ------------------------------------------------------------------------------------------------------
    def forward(
        self,
        student_emb: torch.Tensor,
        teacher_emb: torch.Tensor,
        index: torch.Tensor | None = None,
        contrast_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        v_s = self.embed_s(student_emb)
        v_t = self.embed_t(teacher_emb)
        dtype = torch.promote_types(v_s.dtype, v_t.dtype)
        v_s, v_t = v_s.to(dtype), v_t.to(dtype)
        # scores are exp(<v, m> / 0.07): keep them out of autocast's reduced precision
        with torch.autocast(device_type=v_s.device.type, enabled=False):
            if self.mode == "memory":
                return self._forward_memory(v_s, v_t, index, contrast_index)
            return self._forward_queue(v_s, v_t)

    # ------------------------------------------------------------------------------------------------------
    def _nce(self, scores: torch.Tensor) -> torch.Tensor:
        """CRD Eq. 18 on normalised scores ``[B, K+1]`` (column 0 positive)."""
        b, k1 = scores.shape
        c = (k1 - 1) / float(self.num_data)
        pos = scores[:, 0]
        neg = scores[:, 1:]
        log_pos = torch.log(pos / (pos + c + self.eps))
        log_neg = torch.log(c / (neg + c + self.eps))
        return -(log_pos.sum() + log_neg.sum()) / b

    def _forward_memory(
        self,
        v_s: torch.Tensor,
        v_t: torch.Tensor,
        index: torch.Tensor | None,
        contrast_index: torch.Tensor | None,
    ) -> torch.Tensor:
        if index is None:
            raise ValueError("CRDLoss(mode='memory') needs the dataset indices of the batch (index=...)")
        b = v_s.shape[0]
        index = index.reshape(-1).long().to(v_s.device)
        if index.shape[0] != b:
            raise ValueError(f"CRDLoss: index has {index.shape[0]} entries for a batch of {b}")
        k1 = self.num_negatives + 1
        if contrast_index is None:
            contrast_index = torch.randint(0, self.num_data, (b, k1), device=v_s.device)
            contrast_index[:, 0] = index
        else:
            contrast_index = contrast_index.long().to(v_s.device)
            if contrast_index.shape != (b, k1):
                raise ValueError(f"CRDLoss: contrast_index shape {tuple(contrast_index.shape)} != {(b, k1)}")

        mem_s = self.memory_s.to(v_s.dtype)
        mem_t = self.memory_t.to(v_s.dtype)
        # teacher as anchor, student bank; student as anchor, teacher bank
        w_s = mem_s[contrast_index].detach()  # [B, K+1, D]
        w_t = mem_t[contrast_index].detach()
        out_t = torch.exp(torch.einsum("bkd,bd->bk", w_s, v_t) / self.temperature)
        out_s = torch.exp(torch.einsum("bkd,bd->bk", w_t, v_s) / self.temperature)
        if self.z_t.item() < 0:
            self.z_t.fill_(out_t.detach().mean().item() * self.num_data)
        if self.z_s.item() < 0:
            self.z_s.fill_(out_s.detach().mean().item() * self.num_data)
        out_t = out_t / self.z_t.to(out_t.dtype)
        out_s = out_s / self.z_s.to(out_s.dtype)
        loss = self._nce(out_s) + self._nce(out_t)

        if self.training:
            with torch.no_grad():
                m = self.momentum
                new_s = F.normalize(mem_s[index] * m + v_s.detach() * (1 - m), p=2, dim=1)
                new_t = F.normalize(mem_t[index] * m + v_t.detach() * (1 - m), p=2, dim=1)
                self.memory_s.index_copy_(0, index, new_s.to(self.memory_s.dtype))
                self.memory_t.index_copy_(0, index, new_t.to(self.memory_t.dtype))
        return loss

    def _forward_queue(self, v_s: torch.Tensor, v_t: torch.Tensor) -> torch.Tensor:
        b = v_s.shape[0]
        n = int(self.queue_len.item())
        keys_t = torch.cat([v_t.detach(), self.queue_t[:n].to(v_s.dtype)], dim=0)  # [B + n, D]
        keys_s = torch.cat([v_s.detach(), self.queue_s[:n].to(v_s.dtype)], dim=0)
        labels = torch.arange(b, device=v_s.device)
        loss_s = F.cross_entropy(v_s @ keys_t.t() / self.temperature, labels)
        loss_t = F.cross_entropy(v_t @ keys_s.t() / self.temperature, labels)
        if self.training:
            self._enqueue(v_s.detach(), v_t.detach())
        return loss_s + loss_t

    @torch.no_grad()
    def _enqueue(self, v_s: torch.Tensor, v_t: torch.Tensor) -> None:
        size = self.num_negatives
        if v_s.shape[0] > size:  # only the newest `size` entries survive
            v_s, v_t = v_s[-size:], v_t[-size:]
        b = v_s.shape[0]
        ptr = int(self.queue_ptr.item())
        slots = (torch.arange(b, device=self.queue_s.device) + ptr) % size
        self.queue_s[slots] = v_s.to(self.queue_s.dtype)
        self.queue_t[slots] = v_t.to(self.queue_t.dtype)
        self.queue_ptr.fill_((ptr + b) % size)
        self.queue_len.fill_(min(int(self.queue_len.item()) + b, size))
