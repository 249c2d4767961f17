"""Each loss in ``distillery.losses.functional`` against an independent numpy/loop implementation of its
formula, plus the properties the papers state (zeros, invariances) and finite gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from distillery.losses import functional as LF

RTOL = 1e-6
ATOL = 1e-8


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def _close(value: torch.Tensor, expected: float, rtol: float = RTOL, atol: float = ATOL) -> None:
    assert value.dim() == 0
    np.testing.assert_allclose(float(value), expected, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------- numpy references


def np_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def np_kl(p: np.ndarray, q: np.ndarray) -> float:
    """sum_k p_k log(p_k / q_k) for 1-d distributions (0 log 0 = 0)."""
    total = 0.0
    for pk, qk in zip(p, q, strict=True):
        if pk > 0:
            total += pk * math.log(pk / qk)
    return total


def ref_kd(zs: np.ndarray, zt: np.ndarray, temp: float) -> float:
    total = sum(np_kl(np_softmax(zt[i] / temp), np_softmax(zs[i] / temp)) for i in range(len(zs)))
    return total * temp**2 / len(zs)


def ref_dkd(zs: np.ndarray, zt: np.ndarray, y: np.ndarray, alpha: float, beta: float, temp: float) -> float:
    """Zhao et al. 2022 Eq. (TCKD, NCKD): binary target/rest KL + KL over renormalised non-target classes."""
    b = len(zs)
    tckd = nckd = 0.0
    for i in range(b):
        ps, pt = np_softmax(zs[i] / temp), np_softmax(zt[i] / temp)
        g = y[i]
        tckd += np_kl(np.array([pt[g], 1 - pt[g]]), np.array([ps[g], 1 - ps[g]]))
        others = [k for k in range(zs.shape[1]) if k != g]
        qs = ps[others] / ps[others].sum()
        qt = pt[others] / pt[others].sum()
        nckd += np_kl(qt, qs)
    return (alpha * tckd + beta * nckd) * temp**2 / b


def ref_align(x: np.ndarray, y: np.ndarray, alpha: float) -> float:
    xs = [r / np.linalg.norm(r) for r in x]
    ys = [r / np.linalg.norm(r) for r in y]
    return float(np.mean([np.linalg.norm(a - c) ** alpha for a, c in zip(xs, ys, strict=True)]))


def ref_uniform(x: np.ndarray, t: float) -> float:
    xs = [r / np.linalg.norm(r) for r in x]
    vals = []
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            vals.append(math.exp(-t * float(np.sum((xs[i] - xs[j]) ** 2))))
    return math.log(np.mean(vals))


def smooth_l1(a: float, b: float) -> float:
    d = abs(a - b)
    return 0.5 * d * d if d < 1.0 else d - 0.5


def ref_rkd_distance(s: np.ndarray, t: np.ndarray) -> float:
    def psi(e: np.ndarray) -> np.ndarray:
        n = len(e)
        d = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                if i != j:
                    d[i, j] = math.sqrt(float(np.sum((e[i] - e[j]) ** 2)))
        mu = d[~np.eye(n, dtype=bool)].mean()
        return d / mu

    ds, dt = psi(s), psi(t)
    n = len(s)
    return float(np.mean([smooth_l1(ds[i, j], dt[i, j]) for i in range(n) for j in range(n)]))


def ref_rkd_angle(s: np.ndarray, t: np.ndarray) -> float:
    def unit(v: np.ndarray) -> np.ndarray:
        nrm = np.linalg.norm(v)
        return v / nrm if nrm > 0 else np.zeros_like(v)

    def cosines(e: np.ndarray) -> np.ndarray:
        n = len(e)
        out = np.zeros((n, n, n))
        for i in range(n):
            for j in range(n):
                for k in range(n):
                    out[i, j, k] = float(unit(e[j] - e[i]) @ unit(e[k] - e[i]))
        return out

    cs, ct = cosines(s), cosines(t)
    return float(np.mean([smooth_l1(a, b) for a, b in zip(cs.ravel(), ct.ravel(), strict=True)]))


def ref_pkt(s: np.ndarray, t: np.ndarray, eps: float) -> float:
    def probs(e: np.ndarray) -> np.ndarray:
        n = len(e)
        u = [r / (np.linalg.norm(r) + eps) for r in e]
        k = np.array([[(float(u[i] @ u[j]) + 1.0) / 2.0 for j in range(n)] for i in range(n)])
        return k / k.sum(axis=1, keepdims=True)

    ps, pt = probs(s), probs(t)
    n = len(s)
    return float(
        np.mean(
            [pt[i, j] * math.log((pt[i, j] + eps) / (ps[i, j] + eps)) for i in range(n) for j in range(n)]
        )
    )


def ref_mse(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel(), b.ravel()
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True)) / len(a)


def ref_token_mse(s: np.ndarray, t: np.ndarray, mask: np.ndarray | None) -> float:
    bsz, seq, h = s.shape
    total, count = 0.0, 0
    for b in range(bsz):
        for i in range(seq):
            if mask is not None and not mask[b, i]:
                continue
            for k in range(h):
                total += (s[b, i, k] - t[b, i, k]) ** 2
                count += 1
    return total / count


def ref_tinybert_att(s: np.ndarray, t: np.ndarray, mask: np.ndarray | None) -> float:
    bsz, heads, seq, _ = s.shape
    total, count = 0.0, 0
    for b in range(bsz):
        for h in range(heads):
            for i in range(seq):
                for j in range(seq):
                    if mask is not None and not (mask[b, i] and mask[b, j]):
                        continue
                    a = 0.0 if s[b, h, i, j] <= -100 else s[b, h, i, j]
                    c = 0.0 if t[b, h, i, j] <= -100 else t[b, h, i, j]
                    total += (a - c) ** 2
                    count += 1
    return total / count


def ref_minilm(s: np.ndarray, t: np.ndarray, heads: int, mask: np.ndarray | None) -> float:
    """sum over (b, head, valid query) of KL(rel_t || rel_s) over valid keys, / (heads * #valid queries)."""
    bsz, seq, _ = s.shape
    total, rows = 0.0, 0
    for b in range(bsz):
        valid = [i for i in range(seq) if mask is None or mask[b, i]]
        for a in range(heads):
            ds, dt = s.shape[2] // heads, t.shape[2] // heads
            xs = s[b, :, a * ds : (a + 1) * ds]
            xt = t[b, :, a * dt : (a + 1) * dt]
            for i in valid:
                rs = np.array([xs[i] @ xs[j] / math.sqrt(ds) for j in valid])
                rt = np.array([xt[i] @ xt[j] / math.sqrt(dt) for j in valid])
                total += np_kl(np_softmax(rt), np_softmax(rs))
                rows += 1
    return total / rows


def ref_mlm_kd(zs: np.ndarray, zt: np.ndarray, mask: np.ndarray | None, temp: float, token: bool) -> float:
    rows_s = zs.reshape(-1, zs.shape[-1])
    rows_t = zt.reshape(-1, zt.shape[-1])
    keep = np.ones(len(rows_s), dtype=bool) if mask is None else mask.reshape(-1).astype(bool)
    vals = []
    for r in range(len(rows_s)):
        if not keep[r]:
            continue
        pt = np_softmax(rows_t[r] / temp)
        zr = rows_s[r] / temp
        log_ps = zr - (zr.max() + math.log(np.exp(zr - zr.max()).sum()))
        ce = [-pt[k] * log_ps[k] for k in range(len(pt))]
        vals.append(sum(ce) if token else ce)
    return float(np.mean(vals)) if token else float(np.mean(np.concatenate([np.array(v) for v in vals])))


# ----------------------------------------------------------------------------------- vs references


@pytest.mark.parametrize("temp", [1.0, 4.0])
def test_kd_matches_reference(temp: float) -> None:
    r = _rng(0)
    zs, zt = r.normal(size=(5, 7)) * 3, r.normal(size=(5, 7)) * 3
    _close(LF.kd_loss(_t(zs), _t(zt), temp), ref_kd(zs, zt, temp), rtol=1e-5, atol=1e-6)  # float32 inside


@pytest.mark.parametrize(("alpha", "beta", "temp"), [(1.0, 8.0, 4.0), (0.5, 2.0, 1.0), (1.0, 0.0, 2.0)])
def test_dkd_matches_reference(alpha: float, beta: float, temp: float) -> None:
    r = _rng(1)
    zs, zt = r.normal(size=(6, 10)) * 3, r.normal(size=(6, 10)) * 3
    y = r.integers(0, 10, size=6)
    got = LF.dkd_loss(_t(zs), _t(zt), torch.from_numpy(y), alpha=alpha, beta=beta, temperature=temp)
    _close(got, ref_dkd(zs, zt, y, alpha, beta, temp))


def test_dkd_decomposes_kd() -> None:
    """Zhao et al. 2022 Eq. 5: KD = TCKD + (1 - p_t^target) * NCKD (per sample)."""
    r = _rng(2)
    zs, zt = _t(r.normal(size=(1, 8)) * 2), _t(r.normal(size=(1, 8)) * 2)
    y = torch.tensor([3])
    temp = 2.0
    tckd = LF.dkd_loss(zs, zt, y, alpha=1.0, beta=0.0, temperature=temp)
    nckd = LF.dkd_loss(zs, zt, y, alpha=0.0, beta=1.0, temperature=temp)
    p_gt = torch.softmax(zt / temp, dim=-1)[0, 3]
    _close(tckd + (1 - p_gt) * nckd, float(LF.kd_loss(zs, zt, temp)), rtol=1e-5, atol=1e-6)


def test_align_uniform_match_reference() -> None:
    r = _rng(3)
    x, y = r.normal(size=(6, 5)), r.normal(size=(6, 5))
    _close(LF.align_loss(_t(x), _t(y)), ref_align(x, y, 2.0), rtol=1e-5, atol=1e-6)
    _close(LF.align_loss(_t(x), _t(y), alpha=1.0), ref_align(x, y, 1.0), rtol=1e-5, atol=1e-6)
    _close(LF.uniform_loss(_t(x)), ref_uniform(x, 2.0), rtol=1e-5, atol=1e-6)
    _close(LF.uniform_loss(_t(x), t=1.0), ref_uniform(x, 1.0), rtol=1e-5, atol=1e-6)


def test_rkd_match_reference() -> None:
    r = _rng(4)
    s, t = r.normal(size=(6, 4)), r.normal(size=(6, 9)) * 5  # different widths and scales
    _close(LF.rkd_distance_loss(_t(s), _t(t)), ref_rkd_distance(s, t))
    _close(LF.rkd_angle_loss(_t(s), _t(t)), ref_rkd_angle(s, t))


def test_rkd_flattens_feature_maps() -> None:
    r = _rng(5)
    s, t = r.normal(size=(4, 2, 3)), r.normal(size=(4, 5))
    _close(LF.rkd_distance_loss(_t(s), _t(t)), ref_rkd_distance(s.reshape(4, -1), t))
    _close(LF.rkd_angle_loss(_t(s), _t(t)), ref_rkd_angle(s.reshape(4, -1), t))


def test_pkt_matches_reference() -> None:
    r = _rng(6)
    s, t = r.normal(size=(7, 5)), r.normal(size=(7, 11))
    _close(LF.pkt_loss(_t(s), _t(t)), ref_pkt(s, t, 1e-7))
    _close(LF.pkt_loss(_t(s), _t(t), eps=1e-3), ref_pkt(s, t, 1e-3))


def test_fitnet_and_srrl_match_reference() -> None:
    r = _rng(7)
    hs, ht = r.normal(size=(2, 3, 4, 4)), r.normal(size=(2, 3, 4, 4))
    _close(LF.fitnet_loss(_t(hs), _t(ht)), ref_mse(hs, ht))
    fs, ft, zs, zt = (r.normal(size=s) for s in [(5, 8), (5, 8), (5, 3), (5, 3)])
    _close(LF.srrl_loss(_t(fs), _t(ft), _t(zs), _t(zt)), ref_mse(fs, ft) + ref_mse(zs, zt))


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError):
        LF.fitnet_loss(torch.zeros(2, 3), torch.zeros(2, 1))
    with pytest.raises(ValueError):
        LF.srrl_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, 5))
    with pytest.raises(ValueError):
        LF.tinybert_hidden_loss(torch.zeros(2, 3, 4), torch.zeros(2, 3, 5))
    with pytest.raises(ValueError):
        LF.minilm_relation_loss(torch.zeros(2, 3, 6), torch.zeros(2, 3, 8), num_relation_heads=4)


@pytest.mark.parametrize("masked", [False, True])
def test_tinybert_hidden_and_embedding_match_reference(masked: bool) -> None:
    r = _rng(8)
    s, t = r.normal(size=(3, 5, 4)), r.normal(size=(3, 5, 4))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]) if masked else None
    m = None if mask is None else torch.from_numpy(mask)
    _close(LF.tinybert_hidden_loss(_t(s), _t(t), m), ref_token_mse(s, t, mask))
    _close(LF.tinybert_embedding_loss(_t(s), _t(t), m), ref_token_mse(s, t, mask))


def _bert_scores(r: np.random.Generator, mask: np.ndarray, heads: int) -> np.ndarray:
    """Raw scores with BERT's additive -10000 on padded keys."""
    bsz, seq = mask.shape
    scores = r.normal(size=(bsz, heads, seq, seq)) * 3
    return scores + (1.0 - mask[:, None, None, :]) * -10000.0


@pytest.mark.parametrize("masked", [False, True])
def test_tinybert_attention_matches_reference(masked: bool) -> None:
    r = _rng(9)
    pad = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=float)
    s, t = _bert_scores(r, pad, 2), _bert_scores(r, pad, 2)
    mask = pad.astype(bool) if masked else None
    m = None if mask is None else torch.from_numpy(mask)
    _close(LF.tinybert_attention_loss(_t(s), _t(t), m), ref_tinybert_att(s, t, mask))


def test_tinybert_attention_ignores_masked_scores() -> None:
    """Entries <= -1e2 (padding) are zeroed: their exact value does not matter (TinyBERT code)."""
    r = _rng(10)
    pad = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=float)
    s, t = _bert_scores(r, pad, 2), _bert_scores(r, pad, 2)
    t2 = np.where(t <= -100, -1e9, t)
    assert float(LF.tinybert_attention_loss(_t(s), _t(t))) == pytest.approx(
        float(LF.tinybert_attention_loss(_t(s), _t(t2))), rel=1e-12
    )


@pytest.mark.parametrize(("ws", "wt", "heads"), [(8, 8, 2), (12, 24, 4), (6, 4, 2)])
def test_minilm_matches_reference(ws: int, wt: int, heads: int) -> None:
    r = _rng(11)
    s, t = r.normal(size=(2, 5, ws)), r.normal(size=(2, 5, wt))
    _close(LF.minilm_relation_loss(_t(s), _t(t), heads), ref_minilm(s, t, heads, None))


def test_minilm_masked_matches_reference() -> None:
    r = _rng(12)
    s, t = r.normal(size=(3, 6, 8)), r.normal(size=(3, 6, 12))
    mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]], dtype=bool)
    got = LF.minilm_relation_loss(_t(s), _t(t), 2, torch.from_numpy(mask))
    _close(got, ref_minilm(s, t, 2, mask))
    # an all-ones mask equals no mask
    ones = torch.ones(3, 6, dtype=torch.bool)
    _close(LF.minilm_relation_loss(_t(s), _t(t), 2, ones), float(LF.minilm_relation_loss(_t(s), _t(t), 2)))
    # padding content is irrelevant
    s2, t2 = s.copy(), t.copy()
    s2[~mask] = r.normal(size=s2[~mask].shape) * 100
    t2[~mask] = 0.0
    _close(LF.minilm_relation_loss(_t(s2), _t(t2), 2, torch.from_numpy(mask)), float(got))


def test_minilm_splits_heads_on_hidden_axis() -> None:
    """Relation heads are contiguous slices of the hidden axis: permuting heads on both sides is a no-op."""
    r = _rng(13)
    s, t = r.normal(size=(2, 4, 6)), r.normal(size=(2, 4, 9))
    perm_s = np.concatenate([np.arange(4, 6), np.arange(2, 4), np.arange(0, 2)])
    perm_t = np.concatenate([np.arange(6, 9), np.arange(3, 6), np.arange(0, 3)])
    a = LF.minilm_relation_loss(_t(s), _t(t), 3)
    b = LF.minilm_relation_loss(_t(s[..., perm_s]), _t(t[..., perm_t]), 3)
    _close(b, float(a))


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("temp", [1.0, 2.0])
def test_mlm_kd_matches_reference(masked: bool, temp: float) -> None:
    r = _rng(14)
    zs, zt = r.normal(size=(2, 4, 9)) * 2, r.normal(size=(2, 4, 9)) * 2
    mask = np.array([[1, 0, 1, 0], [0, 0, 1, 1]], dtype=bool) if masked else None
    m = None if mask is None else torch.from_numpy(mask)
    _close(LF.mlm_kd_loss(_t(zs), _t(zt), m, temp), ref_mlm_kd(zs, zt, mask, temp, token=False))
    got = LF.mlm_kd_loss(_t(zs), _t(zt), m, temp, reduction="token")
    _close(got, ref_mlm_kd(zs, zt, mask, temp, token=True))


def test_mlm_kd_empty_mask_is_zero_with_grad() -> None:
    zs = torch.randn(2, 3, 5, requires_grad=True)
    loss = LF.mlm_kd_loss(zs, torch.randn(2, 3, 5), torch.zeros(2, 3, dtype=torch.bool))
    loss.backward()
    assert float(loss) == 0.0 and zs.grad is not None


# ----------------------------------------------------------------------------------- properties


def test_zero_at_identity() -> None:
    r = _rng(15)
    z = _t(r.normal(size=(6, 10)) * 3)
    e = _t(r.normal(size=(6, 7)))
    y = torch.from_numpy(r.integers(0, 10, size=6))
    states = _t(r.normal(size=(2, 5, 8)))
    att = _t(_bert_scores(r, np.array([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=float), 2))
    assert float(LF.kd_loss(z, z)) == pytest.approx(0.0, abs=1e-6)
    assert float(LF.dkd_loss(z, z, y)) == pytest.approx(0.0, abs=1e-6)
    assert float(LF.align_loss(e, e)) == pytest.approx(0.0, abs=1e-6)
    assert float(LF.uniform_loss(torch.ones(4, 3))) == pytest.approx(0.0, abs=1e-6)
    assert float(LF.rkd_distance_loss(e, e)) == pytest.approx(0.0, abs=1e-12)
    assert float(LF.rkd_angle_loss(e, e)) == pytest.approx(0.0, abs=1e-12)
    assert float(LF.pkt_loss(e, e)) == pytest.approx(0.0, abs=1e-12)
    assert float(LF.fitnet_loss(e, e)) == 0.0
    assert float(LF.srrl_loss(e, e, z, z)) == 0.0
    assert float(LF.tinybert_hidden_loss(states, states)) == 0.0
    assert float(LF.tinybert_embedding_loss(states, states)) == 0.0
    assert float(LF.tinybert_attention_loss(att, att)) == 0.0
    assert float(LF.minilm_relation_loss(states, states, 2)) == pytest.approx(0.0, abs=1e-12)


def test_relational_losses_invariant_to_scale_and_rotation() -> None:
    """RKD (Park et al. 2019): distance psi is scale-normalised, angle psi is similarity-invariant; PKT uses
    cosine kernels (scale- and rotation-invariant). A similarity transform of the student changes none."""
    r = _rng(16)
    s, t = r.normal(size=(6, 5)), r.normal(size=(6, 3))
    q, _ = np.linalg.qr(r.normal(size=(5, 5)))
    s2 = 3.7 * s @ q
    for fn in (LF.rkd_distance_loss, LF.pkt_loss):
        _close(fn(_t(s2), _t(t)), float(fn(_t(s), _t(t))), rtol=1e-9)
    _close(LF.rkd_angle_loss(_t(s2 + 1.5), _t(t)), float(LF.rkd_angle_loss(_t(s), _t(t))), rtol=1e-9)


def test_batch_order_invariance() -> None:
    r = _rng(17)
    perm = torch.from_numpy(r.permutation(6))
    z_s, z_t = _t(r.normal(size=(6, 10))), _t(r.normal(size=(6, 10)))
    y = torch.from_numpy(r.integers(0, 10, size=6))
    e_s, e_t = _t(r.normal(size=(6, 4))), _t(r.normal(size=(6, 5)))
    h_s, h_t = _t(r.normal(size=(6, 3, 8))), _t(r.normal(size=(6, 3, 12)))
    cases = [
        (lambda p: LF.kd_loss(z_s[p], z_t[p])),
        (lambda p: LF.dkd_loss(z_s[p], z_t[p], y[p])),
        (lambda p: LF.align_loss(e_s[p], e_s[p] + 0.1)),
        (lambda p: LF.uniform_loss(e_s[p])),
        (lambda p: LF.rkd_distance_loss(e_s[p], e_t[p])),
        (lambda p: LF.rkd_angle_loss(e_s[p], e_t[p])),
        (lambda p: LF.pkt_loss(e_s[p], e_t[p])),
        (lambda p: LF.fitnet_loss(e_s[p], e_s[p] * 2)),
        (lambda p: LF.minilm_relation_loss(h_s[p], h_t[p], 4)),
        (lambda p: LF.mlm_kd_loss(z_s[p], z_t[p])),
    ]
    ident = torch.arange(6)
    for fn in cases:
        np.testing.assert_allclose(float(fn(perm)), float(fn(ident)), rtol=1e-5, atol=1e-7)


def test_minilm_token_order_equivariance() -> None:
    """Permuting the token positions on both sides permutes the relation matrices: loss unchanged."""
    r = _rng(18)
    s, t = _t(r.normal(size=(2, 5, 8))), _t(r.normal(size=(2, 5, 4)))
    p = torch.from_numpy(r.permutation(5))
    _close(LF.minilm_relation_loss(s[:, p], t[:, p], 2), float(LF.minilm_relation_loss(s, t, 2)))


def test_mlm_kd_gradient_vanishes_at_teacher() -> None:
    r = _rng(19)
    zt = _t(r.normal(size=(3, 7)))
    zs = zt.clone().requires_grad_(True)
    LF.mlm_kd_loss(zs, zt).backward()
    assert zs.grad.abs().max() < 1e-12


def _grad_cases() -> list[tuple[str, object]]:
    return [
        ("kd", lambda s, t: LF.kd_loss(s[0], t[0])),
        ("dkd", lambda s, t: LF.dkd_loss(s[0], t[0], torch.tensor([0, 1, 2, 3]))),
        ("align_uniform", lambda s, t: LF.align_loss(s[1], t[1]) + LF.uniform_loss(s[1])),
        ("rkd_distance", lambda s, t: LF.rkd_distance_loss(s[1], t[2])),
        ("rkd_angle", lambda s, t: LF.rkd_angle_loss(s[1], t[2])),
        ("pkt", lambda s, t: LF.pkt_loss(s[1], t[2])),
        ("fitnet", lambda s, t: LF.fitnet_loss(s[1], t[1])),
        ("srrl", lambda s, t: LF.srrl_loss(s[1], t[1], s[0], t[0])),
        ("tinybert_hidden", lambda s, t: LF.tinybert_hidden_loss(s[3], t[3], torch.tensor([[1, 1, 0]] * 4))),
        ("tinybert_emb", lambda s, t: LF.tinybert_embedding_loss(s[3], t[3])),
        ("tinybert_att", lambda s, t: LF.tinybert_attention_loss(s[4], t[4], torch.tensor([[1, 1, 0]] * 4))),
        ("minilm", lambda s, t: LF.minilm_relation_loss(s[3], t[5], 2, torch.tensor([[1, 1, 0]] * 4))),
        ("mlm_kd", lambda s, t: LF.mlm_kd_loss(s[3], t[3], torch.tensor([[1, 0, 1]] * 4))),
    ]


@pytest.mark.parametrize(("name", "fn"), _grad_cases(), ids=[c[0] for c in _grad_cases()])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_finite_nonzero_gradients(name: str, fn, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    shapes_s = [(4, 6), (4, 5), None, (4, 3, 4), (4, 2, 3, 3), None]
    shapes_t = [(4, 6), (4, 5), (4, 7), (4, 3, 4), (4, 2, 3, 3), (4, 3, 6)]
    s = [
        None if sh is None else torch.randn(sh, generator=g).to(dtype).requires_grad_(True) for sh in shapes_s
    ]
    t = [torch.randn(sh, generator=g).to(dtype) for sh in shapes_t]
    t[4][..., -1] = -10000.0  # padded key in the attention scores
    loss = fn(s, t)
    assert torch.isfinite(loss)
    loss.backward()
    grads = [x.grad for x in s if x is not None and x.grad is not None]
    assert grads, name
    assert all(torch.isfinite(gr.float()).all() for gr in grads), name
    assert any(gr.float().abs().sum() > 0 for gr in grads), name


def test_rkd_detaches_teacher() -> None:
    s = torch.randn(5, 4, requires_grad=True)
    t = torch.randn(5, 3, requires_grad=True)
    (LF.rkd_distance_loss(s, t) + LF.rkd_angle_loss(s, t)).backward()
    assert t.grad is None and s.grad is not None


def test_half_precision_inputs_computed_in_float32() -> None:
    r = _rng(20)
    s, t = r.normal(size=(2, 5, 8)), r.normal(size=(2, 5, 8))
    s16, t16 = _t(s).to(torch.bfloat16), _t(t).to(torch.bfloat16)
    out = LF.minilm_relation_loss(s16, t16, 2)
    assert out.dtype == torch.float32
    ref = ref_minilm(s16.double().numpy(), t16.double().numpy(), 2, None)
    _close(out, ref, rtol=1e-4, atol=1e-6)
