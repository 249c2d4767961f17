"""FLOP counts of the meter against analytic counts (a FLOP = one multiply or one add; multiply-add = 2)."""
import pytest
import torch
from torch import nn
from torch.utils import flop_counter

from distillery.compute import FlopMeter, count_flops, ensure_attention_formulas, shape_key
from distillery.models import create_model


def close(measured: float, analytic: float, tol: float = 0.05) -> bool:
    return abs(measured - analytic) <= tol * analytic


def eval_flops(net: nn.Module, *args) -> float:
    """Through the meter's forward hooks, twice: the second call is served from its memo."""
    meter = FlopMeter()
    detach = meter.attach(net)
    net.eval()
    with torch.no_grad(), meter.in_phase("eval"):
        net(*args)
        first = meter.total
        net(*args)
    detach()
    assert meter.total == pytest.approx(2 * first)
    return first


def train_flops(net: nn.Module, *args) -> float:
    """Forward and backward in one counted span, twice (the second from the memo)."""
    meter = FlopMeter()
    net.train()
    for _ in range(2):
        with meter.span("train", shape_key(args)):
            out = net(*args)
            out = out if isinstance(out, torch.Tensor) else (out.logits if hasattr(out, "logits")
                                                            else out.last_hidden_state)
            out.float().sum().backward()
    return meter.total / 2


def test_linear():
    b, i, o = 8, 32, 16
    net, x = nn.Linear(i, o), torch.randn(b, i)
    assert eval_flops(net, x) == 2 * b * i * o
    # backward: the weight gradient only (the input needs none)
    assert train_flops(net, x) == 2 * (2 * b * i * o)


def test_conv_net():
    b = 4
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1),
                        nn.Flatten(), nn.Linear(16 * 8 * 8, 10))
    x = torch.randn(b, 3, 16, 16)
    c1 = 2 * b * 8 * 16 * 16 * 3 * 9
    c2 = 2 * b * 16 * 8 * 8 * 8 * 9
    fc = 2 * b * 1024 * 10
    assert close(eval_flops(net, x), c1 + c2 + fc)
    assert close(train_flops(net, x), 2 * c1 + 3 * c2 + 3 * fc)  # the first layer's input gets no gradient


def resnet20_flops(b: int, classes: int) -> tuple[float, float]:
    """He et al. 2016, CIFAR ResNet-20: conv 3->16, then 3 stages of 6 3x3 convs (16@32², 32@16², 64@8²)."""
    def conv(cin, cout, hw):
        return 2 * b * cout * hw * hw * cin * 9

    first = conv(3, 16, 32)
    rest = 6 * conv(16, 16, 32) + conv(16, 32, 16) + 5 * conv(32, 32, 16) + conv(32, 64, 8) + 5 * conv(64, 64, 8)
    fc = 2 * b * 64 * classes
    return first + rest + fc, 2 * first + 3 * (rest + fc)


def test_resnet20():
    net = create_model("resnet20", 10)
    x = {"pixel_values": torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)}
    fwd, train = resnet20_flops(2, 10)
    assert fwd / 2 == pytest.approx(81.9e6, rel=0.01)  # the well-known ~41M multiply-adds per image
    assert close(eval_flops(net, x), fwd)
    assert close(train_flops(net, x), train)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_small_bert(attn):
    from transformers import BertConfig, BertModel

    b, t, d, ff, layers = 4, 16, 64, 128, 2
    cfg = BertConfig(vocab_size=100, hidden_size=d, num_hidden_layers=layers, num_attention_heads=4,
                     intermediate_size=ff, max_position_embeddings=32, attn_implementation=attn)
    torch.manual_seed(0)
    net = BertModel(cfg)
    ids = torch.randint(5, 100, (b, t))
    per_layer = 4 * 2 * b * t * d * d + 2 * 2 * b * t * d * ff + 2 * (2 * b * t * t * d)  # qkvo, ffn, qk^T and av
    fwd = layers * per_layer + 2 * b * d * d  # + pooler
    net.eval()
    with torch.no_grad():
        ops = flop_counter.FlopCounterMode(display=False)
        with ops:
            net(input_ids=ids)
    names = " ".join(str(k) for k in ops.get_flop_counts()["Global"])
    assert ("scaled_dot_product" in names) == (attn == "sdpa")  # the path under test is the one taken
    assert close(eval_flops(net, ids), fwd)
    assert close(train_flops(net, ids), 3 * fwd)


def test_nested_spans_book_the_teacher_apart():
    teacher, student = nn.Linear(16, 16), nn.Linear(16, 4)
    x = torch.randn(8, 16)
    meter = FlopMeter()
    meter.attach(teacher)
    for _ in range(3):
        with meter.span("student_train", shape_key(x)), meter.in_phase("teacher_live"):
            with torch.no_grad():
                t = teacher(x)
            student(x + t).sum().backward()
    assert meter.by_phase["teacher_live"] == 3 * (2 * 8 * 16 * 16)
    assert meter.by_phase["student_train"] == 3 * (2 * 2 * 8 * 16 * 4)


def test_unattended_phase_is_not_counted():
    net = nn.Linear(4, 4)
    meter = FlopMeter()
    meter.attach(net)
    net(torch.randn(2, 4))  # phase None
    assert meter.total == 0


def test_missing_sdpa_formulas_are_registered(monkeypatch):
    op = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    q = torch.randn(1, 2, 8, 4)
    expected, _ = count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))
    assert expected == 2 * (2 * 2 * 8 * 8 * 4)
    monkeypatch.delitem(flop_counter.flop_registry, op)  # a torch that counts SDPA on CPU as zero
    with flop_counter.FlopCounterMode(display=False) as m:
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
    assert m.get_total_flops() == 0
    assert "_scaled_dot_product_flash_attention_for_cpu" in ensure_attention_formulas()
    got, _ = count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))
    assert got == expected
