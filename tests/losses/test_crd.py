"""CRDLoss (Tian et al. 2020) against a numpy implementation of the NCE (memory) and InfoNCE (queue) forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from distillery.losses.crd import CRDLoss

TAU = 0.07


def _np_embed(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    w = module.linear.weight.detach().double().numpy()
    b = module.linear.bias.detach().double().numpy()
    out = x.reshape(len(x), -1) @ w.T + b
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def ref_nce_direction(anchor: np.ndarray, bank: np.ndarray, cidx: np.ndarray, num_data: int, z: float | None):
    """CRD Eq. 18: -(1/B) sum_i [log(h0/(h0+K/M+eps)) + sum_k log((K/M)/(hk+K/M+eps))],
    with h = exp(<v,m>/tau)/Z."""
    bsz, k1 = cidx.shape
    raw = np.array(
        [[math.exp(float(anchor[i] @ bank[cidx[i, k]]) / TAU) for k in range(k1)] for i in range(bsz)]
    )
    if z is None:
        z = raw.mean() * num_data
    h = raw / z
    c = (k1 - 1) / num_data
    total = 0.0
    for i in range(bsz):
        total += math.log(h[i, 0] / (h[i, 0] + c + 1e-7))
        for k in range(1, k1):
            total += math.log(c / (h[i, k] + c + 1e-7))
    return -total / bsz, z


def ref_infonce(anchor: np.ndarray, keys: np.ndarray) -> float:
    """mean_i -log softmax_j(<a_i, key_j>/tau)[i]; keys = [other side's batch; queue]."""
    total = 0.0
    for i in range(len(anchor)):
        logits = np.array([float(anchor[i] @ k) / TAU for k in keys])
        m = logits.max()
        total += -(logits[i] - (m + math.log(np.exp(logits - m).sum())))
    return total / len(anchor)


def _make(mode: str, **kw) -> CRDLoss:
    torch.manual_seed(0)
    crd = CRDLoss(6, 10, feat_dim=4, temperature=TAU, mode=mode, **kw).double()
    return crd


def test_memory_mode_matches_reference_and_updates_bank() -> None:
    num_data, k = 20, 5
    crd = _make("memory", num_negatives=k, num_data=num_data, momentum=0.5)
    r = np.random.default_rng(0)
    fs, ft = r.normal(size=(3, 6)), r.normal(size=(3, 10))
    index = np.array([2, 7, 11])
    cidx = r.integers(0, num_data, size=(3, k + 1))
    cidx[:, 0] = index
    mem_s = crd.memory_s.numpy().copy()
    mem_t = crd.memory_t.numpy().copy()
    vs, vt = _np_embed(crd.embed_s, fs), _np_embed(crd.embed_t, ft)

    loss = crd(torch.from_numpy(fs), torch.from_numpy(ft), torch.from_numpy(index), torch.from_numpy(cidx))
    ls, z_s = ref_nce_direction(vs, mem_t, cidx, num_data, None)  # student anchor vs teacher bank
    lt, z_t = ref_nce_direction(vt, mem_s, cidx, num_data, None)
    np.testing.assert_allclose(float(loss), ls + lt, rtol=1e-9)
    np.testing.assert_allclose([float(crd.z_s), float(crd.z_t)], [z_s, z_t], rtol=1e-9)

    # momentum update of the positives' rows, everything else untouched
    for j, i in enumerate(index):
        exp_s = 0.5 * mem_s[i] + 0.5 * vs[j]
        exp_t = 0.5 * mem_t[i] + 0.5 * vt[j]
        np.testing.assert_allclose(crd.memory_s[i].numpy(), exp_s / np.linalg.norm(exp_s), rtol=1e-9)
        np.testing.assert_allclose(crd.memory_t[i].numpy(), exp_t / np.linalg.norm(exp_t), rtol=1e-9)
    other = np.setdiff1d(np.arange(num_data), index)
    np.testing.assert_array_equal(crd.memory_s[other].numpy(), mem_s[other])

    # Z is fixed after the first call
    mem_s2, mem_t2 = crd.memory_s.numpy().copy(), crd.memory_t.numpy().copy()
    loss2 = crd(torch.from_numpy(fs), torch.from_numpy(ft), torch.from_numpy(index), torch.from_numpy(cidx))
    ls2, _ = ref_nce_direction(vs, mem_t2, cidx, num_data, z_s)
    lt2, _ = ref_nce_direction(vt, mem_s2, cidx, num_data, z_t)
    np.testing.assert_allclose(float(loss2), ls2 + lt2, rtol=1e-9)


def test_memory_mode_samples_negatives_and_keeps_positive() -> None:
    crd = _make("memory", num_negatives=7, num_data=50)
    fs, ft = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, 10, dtype=torch.float64)
    loss = crd(fs, ft, torch.tensor([0, 1, 2, 3]))
    assert torch.isfinite(loss)
    loss.backward()
    for p in crd.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_memory_mode_requires_index_and_num_data() -> None:
    with pytest.raises(ValueError):
        CRDLoss(4, 4, mode="memory")
    crd = CRDLoss(4, 4, feat_dim=3, num_negatives=2, num_data=10, mode="memory")
    with pytest.raises(ValueError):
        crd(torch.randn(2, 4), torch.randn(2, 4))
    with pytest.raises(ValueError):
        CRDLoss(4, 4, mode="bank")  # type: ignore[arg-type]


def test_memory_mode_eval_does_not_update() -> None:
    crd = _make("memory", num_negatives=3, num_data=10).eval()
    before = crd.memory_s.clone()
    crd(torch.randn(2, 6, dtype=torch.float64), torch.randn(2, 10, dtype=torch.float64), torch.tensor([1, 2]))
    assert torch.equal(before, crd.memory_s)


def test_queue_mode_matches_reference_and_fifo() -> None:
    crd = _make("queue", num_negatives=5)
    r = np.random.default_rng(1)
    batches = [(r.normal(size=(3, 6)), r.normal(size=(3, 10))) for _ in range(3)]
    q_s: list[np.ndarray] = []
    q_t: list[np.ndarray] = []
    for fs, ft in batches:
        vs, vt = _np_embed(crd.embed_s, fs), _np_embed(crd.embed_t, ft)
        loss = crd(torch.from_numpy(fs), torch.from_numpy(ft))
        keys_t = np.concatenate([vt] + ([np.stack(q_t)] if q_t else []))
        keys_s = np.concatenate([vs] + ([np.stack(q_s)] if q_s else []))
        expected = ref_infonce(vs, keys_t) + ref_infonce(vt, keys_s)
        np.testing.assert_allclose(float(loss), expected, rtol=1e-9)
        # FIFO: keep the last 5 embeddings (order inside the queue is irrelevant to the loss)
        q_s = (q_s + list(vs))[-5:]
        q_t = (q_t + list(vt))[-5:]
        n = int(crd.queue_len)
        assert n == len(q_s)
        got = sorted(map(tuple, np.round(crd.queue_s[:n].numpy(), 12)))
        assert got == sorted(map(tuple, np.round(np.stack(q_s), 12)))
    assert int(crd.queue_ptr) == 9 % 5


def test_queue_mode_memory_independent_of_dataset_and_grads() -> None:
    crd = CRDLoss(6, 10, feat_dim=8, num_negatives=16, num_data=10**7, mode="queue")
    assert crd.queue_s.shape == (16, 8) and not hasattr(crd, "memory_s")
    for _ in range(3):
        crd.zero_grad()
        loss = crd(torch.randn(20, 6), torch.randn(20, 10))  # batch larger than the queue
        loss.backward()
        assert torch.isfinite(loss)
        for p in crd.parameters():
            assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert int(crd.queue_len) == 16


def test_queue_mode_eval_does_not_enqueue() -> None:
    crd = CRDLoss(6, 10, feat_dim=8, num_negatives=16).eval()
    crd(torch.randn(4, 6), torch.randn(4, 10))
    assert int(crd.queue_len) == 0


def test_queue_mode_perfect_alignment_has_low_loss() -> None:
    """Identical student/teacher heads and inputs: positives score 1/tau, loss far below log(#keys)."""
    crd = CRDLoss(5, 5, feat_dim=5, num_negatives=8, temperature=0.07)
    with torch.no_grad():
        crd.embed_t.linear.weight.copy_(crd.embed_s.linear.weight)
        crd.embed_t.linear.bias.copy_(crd.embed_s.linear.bias)
    x = torch.eye(5) * 3
    assert float(crd(x, x)) < 2 * math.log(5) / 2


@pytest.mark.parametrize("mode", ["queue", "memory"])
def test_autocast_bf16_and_mixed_dtypes(mode: str) -> None:
    crd = CRDLoss(6, 10, feat_dim=8, num_negatives=4, num_data=12, mode=mode)
    fs = torch.randn(3, 6, requires_grad=True)
    ft = torch.randn(3, 10, dtype=torch.bfloat16)
    idx = torch.tensor([0, 5, 9])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = crd(fs, ft, idx)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(fs.grad).all()
