"""The loss-term modules of the method zoo (losses/zoo.py): declared needs, trainable parts, requirement errors,
layer maps, CRD wiring, and the transformer adapters' on-request q/k/v and attention maps. Tiny tensors only."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from distillery.errors import DistilleryError
from distillery.features import FEATURE_NAMES, Features
from distillery.losses import PRESET_HELP, PRESETS, TERMS, TermContext, build_loss_set, check_requirements
from distillery.losses import functional as LF
from distillery.losses.zoo import ZooTerm, resolve_layer_map
from distillery.models import create_model

ZOO = sorted(n for n, cls in TERMS.items() if issubclass(cls, ZooTerm))  # every registered zoo term
ALL = sorted(TERMS)  # every registered term: a new one is tested the moment it is registered
B, C = 4, 5


def _ctx(s_dim=16, t_dim=32, **kw) -> TermContext:
    head = nn.Linear(t_dim, C)
    return TermContext(student_dim=s_dim, teacher_dim=t_dim, num_classes=C, proj_dim=8, num_train=10,
                       teacher_head=head.requires_grad_(False), **kw)


def _tokens(b=B, seq=6, pad_first=2):
    ids = torch.randint(5, 40, (b, seq))
    mask = torch.ones(b, seq, dtype=torch.long)
    mask[0, seq - pad_first:] = 0
    inputs = {"input_ids": ids, "attention_mask": mask}
    return {"student": inputs, "teacher": inputs, "label": torch.arange(b) % C, "index": torch.arange(b)}


def _fake_transformer(b, seq, width, layers, heads, grad=False):
    d = width // heads
    hs = tuple(torch.randn(b, seq, width, requires_grad=grad) for _ in range(layers + 1))
    qkv = tuple(tuple(torch.randn(b, heads, seq, d, requires_grad=grad) for _ in range(3)) for _ in range(layers))
    return Features(logits=torch.randn(b, C, requires_grad=grad), embedding=torch.randn(b, width, requires_grad=grad),
                    hidden_states=hs, qkv=qkv)


def _fake_cnn(b, grad=False, channels=(16, 32, 64), sizes=(16, 8, 4)):
    hs = tuple(torch.randn(b, c, s, s, requires_grad=grad) for c, s in zip(channels, sizes, strict=True))
    return Features(logits=torch.randn(b, C, requires_grad=grad), embedding=torch.randn(b, channels[-1],
                                                                                        requires_grad=grad),
                    hidden_states=hs)


@pytest.fixture(scope="module")
def tiny_pair():
    """A 1-layer, width-16 student and a 2-layer, width-32 teacher (both 2 heads), real SmallTransformers."""
    torch.manual_seed(0)
    s = create_model("transformer", C, vocab_size=40, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                     max_position_embeddings=16, dropout=0.0)
    t = create_model("transformer", C, vocab_size=40, hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                     max_position_embeddings=16, dropout=0.0)
    return s, t


# ---------------------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------------------


def test_the_zoo_is_registered():
    assert set(ZOO) == {"dkd", "rkd", "pkt", "fitnet", "srrl", "crd", "tinybert", "minilm"}


@pytest.mark.parametrize("name", ALL)
def test_every_term_is_registered_with_a_reference_and_its_needs(name):
    cls = TERMS[name]
    assert cls.term_name == name and cls.reference and cls.__doc__
    assert cls.needs_student and set(cls.needs_student) | set(cls.needs_teacher) <= set(FEATURE_NAMES)
    if name in ZOO:
        assert len(cls.reference) > 20 and any(ch.isdigit() for ch in cls.reference)  # authors + year
        assert cls.needs_teacher  # every zoo term distils from a teacher


def test_presets_use_registered_terms_and_have_help():
    for preset, weights in PRESETS.items():
        assert set(weights) <= set(TERMS), preset
        assert PRESET_HELP.get(preset), preset
    assert PRESETS["crd"] == {"ce": 1.0, "kd": 1.0, "crd": 1.0}  # papers.md 1.4 (DAPT)
    assert PRESETS["srrl"] == {"ce": 1.0, "srrl": 1.0}  # DAPT: KD weight 0
    assert PRESETS["pkt"]["pkt"] == 30000.0 and PRESETS["fitnet"]["fitnet"] == 100.0
    for name in ZOO:
        assert name in PRESETS and name in PRESETS[name]


def test_needs_declared_as_expected():
    assert TERMS["tinybert"].needs_student == {"hidden_states", "qkv"}
    assert TERMS["minilm"].needs_teacher == {"qkv"}
    assert TERMS["fitnet"].needs_student == {"hidden_states"}
    assert TERMS["srrl"].needs_teacher == {"embedding", "logits"}
    assert TERMS["dkd"].needs_student == {"logits"}


# ---------------------------------------------------------------------------------------------------------
# trainable parts are parameters (so the optimizer sees them); frozen parts are not
# ---------------------------------------------------------------------------------------------------------


def test_trainable_parts_are_parameters_of_the_loss_set():
    ctx = _ctx()
    spec = {n: (1.0, {}) for n in ("ce", "srrl", "crd", "tinybert", "fitnet", "rkd")}
    ls = build_loss_set(spec, ctx)
    s, t = _fake_transformer(B, 6, 16, 1, 2), _fake_transformer(B, 6, 32, 2, 2)
    for term in ls.terms.values():
        if hasattr(term, "prepare"):
            term.prepare(s, t, _tokens())
    names = {n for n, _ in ls.named_parameters()}
    assert any(n.startswith("terms.srrl.connector.") for n in names)
    assert any(n.startswith("terms.crd.crd.embed_s.") for n in names)
    assert any(n.startswith("terms.crd.crd.embed_t.") for n in names)
    assert "terms.tinybert.fit_dense.weight" in names and ls.terms["tinybert"].fit_dense.weight.shape == (32, 16)
    assert "terms.fitnet.regressor.weight" in names  # built by prepare()
    assert not any(n.startswith("terms.rkd.") for n in names)
    # the teacher head SRRL uses is frozen: a buffer, neither a parameter nor in the checkpoint
    assert not any("head" in n for n in names)
    assert not any(k.startswith("terms.srrl.head") for k in ls.state_dict())


def test_tinybert_projection_is_identity_for_equal_widths():
    term = TERMS["tinybert"](_ctx(32, 32))
    assert isinstance(term.fit_dense, nn.Identity) and not list(term.parameters())


def test_srrl_formula_and_frozen_teacher_head():
    ctx = _ctx()
    term = TERMS["srrl"](ctx)
    assert isinstance(term.connector[-1], nn.ReLU)  # DAPT mlp2
    s, t = _fake_transformer(B, 6, 16, 1, 2, grad=True), _fake_transformer(B, 6, 32, 2, 2)
    t.logits = torch.randn(B, C)
    loss = term(s, t, _tokens())
    c = term.connector(s.embedding)
    expect = F.mse_loss(c, t.embedding) + F.mse_loss(ctx.teacher_head(c), t.logits)
    torch.testing.assert_close(loss, expect)
    loss.backward()
    assert s.embedding.grad is not None and term.connector[0].weight.grad is not None
    assert ctx.teacher_head.weight.grad is None
    assert isinstance(TERMS["srrl"](ctx, connector="mlp").connector[-1], nn.Linear)
    with pytest.raises(DistilleryError, match="connector"):
        TERMS["srrl"](ctx, connector="conv")
    with pytest.raises(DistilleryError, match="teacher's task head"):
        TERMS["srrl"](TermContext(student_dim=4, teacher_dim=None, num_classes=2))


# ---------------------------------------------------------------------------------------------------------
# values and gradients
# ---------------------------------------------------------------------------------------------------------


def test_logit_and_embedding_terms_match_the_functions():
    ctx = _ctx(16, 32)
    s, t = _fake_transformer(B, 6, 16, 1, 2, grad=True), _fake_transformer(B, 6, 32, 2, 2)
    batch = _tokens()
    torch.testing.assert_close(TERMS["dkd"](ctx)(s, t, batch), LF.dkd_loss(s.logits, t.logits, batch["label"]))
    torch.testing.assert_close(TERMS["rkd"](ctx)(s, t, batch), 25 * LF.rkd_distance_loss(s.embedding, t.embedding)
                               + 50 * LF.rkd_angle_loss(s.embedding, t.embedding))
    torch.testing.assert_close(TERMS["rkd"](ctx, distance_weight=1.0, angle_weight=0.0)(s, t, batch),
                               LF.rkd_distance_loss(s.embedding, t.embedding))
    torch.testing.assert_close(TERMS["pkt"](ctx)(s, t, batch), LF.pkt_loss(s.embedding, t.embedding))


@pytest.mark.parametrize("name", ALL)
def test_every_term_backpropagates_to_the_student(name):
    ctx = _ctx(16, 32)
    s, t = _fake_transformer(B, 6, 16, 1, 2, grad=True), _fake_transformer(B, 6, 32, 2, 2)
    term = TERMS[name](ctx)
    if hasattr(term, "prepare"):
        term.prepare(s, t, _tokens())
    loss = term(s, t, _tokens())
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    grads = [x.grad for x in (s.logits, s.embedding, *s.hidden_states, *(v for layer in s.qkv for v in layer))]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", ["dkd", "rkd", "pkt", "minilm", "tinybert"])
def test_formulas_run_in_float32_under_bf16_autocast(name):
    """The trainable parts follow the run's autocast; the formulas (relations, softmaxes) do not."""
    ctx = _ctx(32, 32)
    s, t = _fake_transformer(B, 6, 32, 1, 2), _fake_transformer(B, 6, 32, 2, 2)
    term = TERMS[name](ctx)
    term.prepare(s, t, _tokens())
    batch = _tokens()
    ref = term(s, t, batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = term(s, t, batch)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, ref)


class _Casts(TorchDispatchMode):
    """Records every dtype conversion (``aten._to_copy``): (shape, from, to)."""

    def __init__(self):
        super().__init__()
        self.casts: list[tuple[tuple[int, ...], torch.dtype, torch.dtype]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func is torch.ops.aten._to_copy.default:
            self.casts.append((tuple(args[0].shape), args[0].dtype, out.dtype))
        return out


def test_align_uniform_feeds_the_projectors_without_float32_round_trips():
    """Under bf16 autocast a bf16 student embedding goes into its projector as it is (autocast casts what the
    matmuls need; no float32 copy to be cast straight back); the value is the float32 one to bf16 precision."""
    ctx = _ctx(16, 32)
    term = TERMS["align_uniform"](ctx)
    s_emb = torch.randn(B, 16, requires_grad=True)
    t = Features(embedding=torch.randn(B, 32))
    ref = term(Features(embedding=s_emb), t, {})
    with torch.autocast("cpu", dtype=torch.bfloat16), _Casts() as seen:
        got = term(Features(embedding=s_emb.to(torch.bfloat16)), t, {})
    assert ((B, 16), torch.bfloat16, torch.float32) not in seen.casts
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, ref, atol=0.05, rtol=0.05)
    got.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in term.parameters())


def test_align_uniform_with_bf16_weights_takes_float32_teacher_embeddings():
    """bf16 projector weights without autocast (a bf16-true run): the cached float32 teacher embedding is cast to
    the weights' dtype, the student's bf16 embedding is used as it is."""
    term = TERMS["align_uniform"](_ctx(16, 32)).to(torch.bfloat16)
    s_emb = torch.randn(B, 16, dtype=torch.bfloat16, requires_grad=True)
    loss = term(Features(embedding=s_emb), Features(embedding=torch.randn(B, 32)), {})
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert s_emb.grad is not None and s_emb.grad.dtype == torch.bfloat16 and s_emb.grad.abs().sum() > 0


def test_rkd_single_sample_batch_is_zero_not_nan():
    s, t = _fake_transformer(1, 6, 16, 1, 2, grad=True), _fake_transformer(1, 6, 32, 2, 2)
    loss = TERMS["rkd"](_ctx())(s, t, _tokens(b=1))
    assert loss.item() == 0.0
    loss.backward()


def test_dkd_warmup_scales_and_counts_training_steps():
    ctx = _ctx()
    s, t = _fake_transformer(B, 6, 16, 1, 2), _fake_transformer(B, 6, 32, 2, 2)
    batch = _tokens()
    full = LF.dkd_loss(s.logits, t.logits, batch["label"])
    term = TERMS["dkd"](ctx, warmup_steps=4)
    values = [term(s, t, batch).item() for _ in range(5)]
    assert values == pytest.approx([full.item() * f for f in (0.25, 0.5, 0.75, 1.0, 1.0)], rel=1e-5)
    term.eval()
    assert term(s, t, batch).item() == pytest.approx(full.item()) and term.step.item() == 5


def test_tinybert_matches_a_hand_computed_uniform_map():
    ctx = _ctx(32, 32)
    s, t = _fake_transformer(B, 6, 32, 2, 2), _fake_transformer(B, 6, 32, 4, 2)
    batch = _tokens()
    mask = batch["student"]["attention_mask"]
    term = TERMS["tinybert"](ctx)
    term.prepare(s, t, batch)

    def scores(q, k):
        return q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])

    expect = LF.tinybert_embedding_loss(s.hidden_states[0], t.hidden_states[0], mask)
    for i, j in ((1, 2), (2, 4)):  # uniform: student layer l <- teacher layer 2l
        expect = expect + LF.tinybert_hidden_loss(s.hidden_states[i], t.hidden_states[j], mask)
        expect = expect + LF.tinybert_attention_loss(scores(*s.qkv[i - 1][:2]), scores(*t.qkv[j - 1][:2]), mask)
    torch.testing.assert_close(term(s, t, batch), expect)
    only_att = TERMS["tinybert"](ctx, layer_map="last", hidden_weight=0.0, embedding_weight=0.0)
    torch.testing.assert_close(only_att(s, t, batch), LF.tinybert_attention_loss(scores(*s.qkv[1][:2]),
                                                                                 scores(*t.qkv[3][:2]), mask))


def test_minilm_last_layer_relations():
    ctx = _ctx(16, 32)
    s, t = _fake_transformer(B, 6, 16, 1, 4), _fake_transformer(B, 6, 32, 3, 2)
    batch = _tokens()
    mask = batch["student"]["attention_mask"]
    term = TERMS["minilm"](ctx)
    term.prepare(s, t, batch)

    def merge(x):
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], -1)

    expect = sum(LF.minilm_relation_loss(merge(s.qkv[0][r]), merge(t.qkv[2][r]), 2, mask) for r in range(3))
    torch.testing.assert_close(term(s, t, batch), expect)  # relation heads = the teacher's 2 heads
    v_only = TERMS["minilm"](ctx, relations=["v"], num_relation_heads=4)
    torch.testing.assert_close(v_only(s, t, batch), LF.minilm_relation_loss(merge(s.qkv[0][2]), merge(t.qkv[2][2]),
                                                                           4, mask))
    with pytest.raises(DistilleryError, match="relations"):
        TERMS["minilm"](ctx, relations=["x"])


def test_fitnet_cnn_regressor_with_spatial_resize():
    ctx = _ctx(64, 64)
    s, t = _fake_cnn(B, grad=True), _fake_cnn(B)
    term = TERMS["fitnet"](ctx, student_layer=0, teacher_layer="middle")  # [16, 16x16] -> [32, 8x8]
    with pytest.raises(RuntimeError, match="prepare"):
        term(s, t, {})
    term.prepare(s, t, {})
    conv = term.regressor[0]
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1) and conv.in_channels == 16
    assert conv.out_channels == 32
    loss = term(s, t, {})
    h = F.adaptive_avg_pool2d(term.regressor(s.hidden_states[0]), (8, 8))
    torch.testing.assert_close(loss, F.mse_loss(h, t.hidden_states[1]))
    up = TERMS["fitnet"](ctx, student_layer="last", teacher_layer=0)  # 4x4 -> 16x16: bilinear up-sampling
    up.prepare(s, t, {})
    assert torch.isfinite(up(s, t, {}))
    with pytest.raises(DistilleryError, match="student_layer"):
        TERMS["fitnet"](ctx, student_layer=7).prepare(s, t, {})


def test_fitnet_tokens_use_real_tokens_only_and_mixed_kinds_fail():
    s, t = _fake_transformer(B, 6, 16, 2, 2), _fake_transformer(B, 6, 32, 2, 2)
    batch = _tokens()
    term = TERMS["fitnet"](_ctx())
    term.prepare(s, t, batch)
    assert isinstance(term.regressor, nn.Linear)
    keep = batch["student"]["attention_mask"].bool()
    expect = F.mse_loss(term.regressor(s.hidden_states[1])[keep], t.hidden_states[1][keep])
    torch.testing.assert_close(term(s, t, batch), expect)
    with pytest.raises(DistilleryError, match="same kind"):
        TERMS["fitnet"](_ctx()).prepare(_fake_cnn(B), t, batch)


# ---------------------------------------------------------------------------------------------------------
# layer maps
# ---------------------------------------------------------------------------------------------------------


def test_layer_maps():
    assert resolve_layer_map("uniform", 2, 4) == [(1, 2), (2, 4)]  # TinyBERT: g(l) = l * N / M
    assert resolve_layer_map("uniform", 4, 12) == [(1, 3), (2, 6), (3, 9), (4, 12)]
    assert resolve_layer_map("uniform", 3, 4) == [(1, 1), (2, 2), (3, 4)]
    assert resolve_layer_map("last", 3, 12) == [(3, 12)]
    assert resolve_layer_map([[1, 6], [-1, -1]], 3, 12) == [(1, 6), (3, 12)]
    with pytest.raises(DistilleryError, match="out of range"):
        resolve_layer_map([[4, 1]], 3, 12)
    with pytest.raises(DistilleryError, match="at most as many"):
        resolve_layer_map("uniform", 4, 2)
    for bad in ("middle", [[1]], [], [[1, "2"]]):
        with pytest.raises(DistilleryError, match="layer_map"):
            TERMS["tinybert"](_ctx(), layer_map=bad)


def test_tinybert_explicit_map_and_layer_errors_before_training():
    s, t = _fake_transformer(B, 6, 16, 2, 2), _fake_transformer(B, 6, 32, 4, 2)
    term = TERMS["tinybert"](_ctx(), layer_map=[[2, 3]])
    term.prepare(s, t, _tokens())
    assert term._pairs(s, t) == [(2, 3)]
    with pytest.raises(DistilleryError, match="out of range"):
        TERMS["tinybert"](_ctx(), layer_map=[[3, 1]]).prepare(s, t, _tokens())
    # head counts must match for the attention loss; not when it is switched off
    t3 = _fake_transformer(B, 6, 30, 4, 3)
    with pytest.raises(DistilleryError, match="heads"):
        TERMS["tinybert"](_ctx(16, 30)).prepare(s, t3, _tokens())
    TERMS["tinybert"](_ctx(16, 30), attention_weight=0.0).prepare(s, t3, _tokens())


def test_minilm_relation_heads_must_divide_widths():
    s, t = _fake_transformer(B, 6, 15, 1, 3), _fake_transformer(B, 6, 32, 2, 2)
    with pytest.raises(DistilleryError, match="relation heads"):
        TERMS["minilm"](_ctx(15, 32)).prepare(s, t, _tokens())


def test_token_terms_need_a_shared_tokenizer():
    s, t = _fake_transformer(B, 6, 16, 1, 2), _fake_transformer(B, 6, 32, 2, 2)
    batch = _tokens()
    batch["teacher"] = {k: v.clone() for k, v in batch["student"].items()}
    for name in ("tinybert", "minilm", "fitnet"):
        TERMS[name](_ctx()).prepare(s, t, batch)  # equal ids in a separate dict: fine
    batch["teacher"]["input_ids"][0, 0] += 1
    for name in ("tinybert", "minilm", "fitnet"):
        with pytest.raises(DistilleryError, match="share the tokenizer"):
            TERMS[name](_ctx()).prepare(s, t, batch)


# ---------------------------------------------------------------------------------------------------------
# CRD: queue (default) vs memory wiring
# ---------------------------------------------------------------------------------------------------------


def test_crd_queue_mode_by_default_ignores_index():
    term = TERMS["crd"](_ctx(16, 32), num_negatives=8)
    assert term.crd.mode == "queue" and term.crd.feat_dim == 8  # feat_dim = distill.proj_dim
    assert hasattr(term.crd, "queue_s") and not hasattr(term.crd, "memory_s")
    s, t = _fake_transformer(B, 6, 16, 1, 2), _fake_transformer(B, 6, 32, 2, 2)
    batch = _tokens()
    batch["index"] = torch.tensor([100, 200, 300, 400])  # not valid rows of anything: unused in queue mode
    assert torch.isfinite(term(s, t, batch))
    assert int(term.crd.queue_len) == B


def test_crd_memory_mode_uses_batch_index_and_num_train():
    ctx = _ctx(16, 32)
    term = TERMS["crd"](ctx, mode="memory", num_negatives=4)
    assert term.crd.num_data == ctx.num_train and term.crd.memory_s.shape == (ctx.num_train, 8)
    before = term.crd.memory_s.clone()
    s, t = _fake_transformer(B, 6, 16, 1, 2), _fake_transformer(B, 6, 32, 2, 2)
    batch = _tokens()
    batch["index"] = torch.tensor([1, 3, 5, 7])
    assert torch.isfinite(term(s, t, batch))
    changed = (term.crd.memory_s != before).any(dim=1).nonzero().flatten().tolist()
    assert changed == [1, 3, 5, 7]
    with pytest.raises(DistilleryError, match="training-set size"):
        TERMS["crd"](TermContext(student_dim=4, teacher_dim=4, num_classes=2, num_train=0), mode="memory")
    with pytest.raises(DistilleryError, match="mode"):
        TERMS["crd"](ctx, mode="bank")


# ---------------------------------------------------------------------------------------------------------
# requirements: declared needs vs what real networks provide
# ---------------------------------------------------------------------------------------------------------


def test_cnn_cannot_meet_transformer_needs():
    ctx = _ctx(64, 64)
    net = create_model("resnet20", C)
    got = net({"pixel_values": torch.zeros(2, 3, 8, 8, dtype=torch.uint8)}).available()
    for name, missing in (("minilm", "qkv"), ("tinybert", "qkv")):
        ls = build_loss_set({name: (1.0, {})}, ctx)
        with pytest.raises(DistilleryError, match=f"needs student {missing}, which the student does not provide"):
            check_requirements(ls, got, got)
    check_requirements(build_loss_set({"fitnet": (1.0, {}), "rkd": (1.0, {})}, ctx), got, got)


def test_transformer_provides_qkv_only_on_request(tiny_pair):
    s, _ = tiny_pair
    batch = _tokens(b=2)["student"]
    assert "qkv" not in s(batch).available()
    s.request_features({"qkv"})
    f = s(batch)
    assert len(f.qkv) == 1 and [x.shape for x in f.qkv[0]] == [(2, 2, 6, 8)] * 3
    layer = s.encoder.encoder.layer[0].attention.self
    with torch.no_grad():  # the captured projections are the layer's own q/k/v of its input
        expect_q = layer.query(f.hidden_states[0]).view(2, 6, 2, 8).transpose(1, 2)
    torch.testing.assert_close(f.qkv[0][0], expect_q)
    s.request_features(set())
    assert "qkv" not in s(batch).available()


def test_raw_scores_from_qkv_are_the_pre_softmax_attention(tiny_pair):
    _, t = tiny_pair
    batch = _tokens(b=2)["student"]
    t.eval()
    t.request_features({"qkv", "attentions"})  # sdpa model: switched to eager for the maps
    assert t.encoder.config._attn_implementation == "eager"
    f = t(batch)
    for (q, k, _), att in zip(f.qkv, f.attentions, strict=True):
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        scores = scores.masked_fill(~batch["attention_mask"].bool()[:, None, None, :], float("-inf"))
        torch.testing.assert_close(scores.softmax(-1), att, atol=1e-5, rtol=1e-4)
    t.request_features(set())
    assert t.encoder.config._attn_implementation == "sdpa" and t(batch).attentions is None
    t.train()


def test_hf_encoder_provides_qkv_on_request(hf_teacher_dir):
    net = create_model(f"hf:{hf_teacher_dir}", C, pretrained=True)
    batch = _tokens(b=2, seq=5)["student"]
    net.request_features({"qkv"})
    f = net(batch)
    assert len(f.qkv) == 2 and f.qkv[1][2].shape == (2, 2, 5, 16)


def test_qkv_request_on_a_model_without_projections_is_one_line_error():
    from distillery.models.requestable import RequestableFeatures

    class NoAttention(RequestableFeatures, nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(2, 2)
            self.encoder.config = None

    with pytest.raises(DistilleryError, match="query/key/value") as e:
        NoAttention().request_features({"qkv"})
    assert "\n" not in str(e.value)
