from pathlib import Path

import pytest
import torch

from distillery.errors import DistilleryError
from distillery.models import create_model
from distillery.teacher.head import fit_linear_probe, prepare_head


def test_linear_probe_separates_gaussian_classes():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(5, 16, generator=g) * 3
    y = torch.arange(500) % 5
    x = centers[y] + torch.randn(500, 16, generator=g) + 10.0  # offset: the folded standardisation must handle it
    head, info = fit_linear_probe(x[:400], y[:400], 5, x[400:], y[400:])
    assert (head(x[400:]).argmax(1) == y[400:]).float().mean() > 0.95
    assert info["l2"] in (1e-4, 1e-3, 1e-2)


def _loaders(net, n=40):
    from torch.utils.data import DataLoader

    from distillery.data.batching import ImageDataset, collate_images
    from distillery.data.sources import Split

    imgs = torch.randint(0, 255, (n, 3, 16, 16), dtype=torch.uint8)
    labels = torch.arange(n) % 3
    ds = ImageDataset(Split(imgs, labels))
    return {"train_eval": DataLoader(ds, batch_size=16, collate_fn=collate_images), "val": None}


def test_head_is_cached_by_fingerprint(tmp_path):
    net = create_model("resnet20", 3)
    loaders = _loaders(net)
    r1 = prepare_head(net, "lp", {"data": "x"}, loaders, 3, cache_dir=str(tmp_path), progress=False)
    assert not r1.reused and net.head_fits and r1.path is not None and Path(r1.path).exists()
    w = net.get_head().weight.clone()
    net2 = create_model("resnet20", 3)
    net2.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("linear.")}, strict=False)
    r2 = prepare_head(net2, "lp", {"data": "x"}, loaders, 3, cache_dir=str(tmp_path), progress=False)
    assert r2.reused and torch.equal(net2.get_head().weight, w)
    net3 = create_model("resnet20", 3)
    net3.load_state_dict(net2.state_dict())
    net3.head_fits = False
    r3 = prepare_head(net3, "lp", {"data": "changed"}, loaders, 3, cache_dir=str(tmp_path), progress=False)
    assert not r3.reused  # different data -> recomputed


def test_head_none_without_fitting_head():
    net = create_model("resnet20", 3)
    with pytest.raises(DistilleryError, match="teacher.head is 'none'"):
        prepare_head(net, "none", {}, _loaders(net), 3, progress=False)


def test_ft_adapts_a_fitting_head_and_is_reused(tmp_path):
    net = create_model("resnet20", 3)
    net.head_fits = True  # as if loaded from a checkpoint trained on these classes
    before = {k: v.clone() for k, v in net.state_dict().items()}
    loaders = _loaders(net)
    loaders["train_aug"] = loaders["train_eval"]
    assert prepare_head(net, "lp", {"data": "x"}, loaders, 3, cache_dir=str(tmp_path), progress=False).mode == (
        "pretrained")  # lp keeps a fitting head
    r1 = prepare_head(net, "ft", {"data": "x"}, loaders, 3, epochs=1, lr=1e-3, cache_dir=str(tmp_path),
                      progress=False)
    assert r1.mode == "ft" and not r1.reused and net.head_fits
    assert not torch.equal(net.get_head().weight, before["linear.weight"])  # the pre-trained head was trained on
    net2 = create_model("resnet20", 3)
    net2.load_state_dict(before)
    net2.head_fits = True
    r2 = prepare_head(net2, "ft", {"data": "x"}, loaders, 3, epochs=1, lr=1e-3, cache_dir=str(tmp_path),
                      progress=False)
    assert r2.reused
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), net2.state_dict().values(), strict=True))


@pytest.mark.parametrize("margin, chosen", [(-1.0, "ft"), (2.0, "lp")])  # a margin any / no fine-tune can meet
def test_auto_keeps_the_fine_tune_only_when_validation_says_it_wins(tmp_path, margin, chosen):
    net = create_model("resnet20", 3)
    body = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("linear.")}  # the "pre-trained"
    loaders = _loaders(net)
    loaders["val"] = _loaders(net, n=24)["train_eval"]
    loaders["train_aug"] = loaders["train_eval"]
    r = prepare_head(net, "auto", {"data": "x"}, loaders, 3, epochs=1, lr=1e-3, cache_dir=str(tmp_path),
                     progress=False, margin=margin)
    assert r.mode == chosen and r.info["chosen"] == chosen and not r.reused
    assert {"probe_val_accuracy", "ft_val_accuracy"} <= set(r.info)
    assert bool(r.features) == (chosen == "lp")  # the probe's features stay valid only for the probe
    kept_body = all(torch.equal(v, body[k]) for k, v in net.state_dict().items() if k in body)
    assert kept_body == (chosen == "lp")  # the probe's choice restores the backbone the fine-tune moved
    again = create_model("resnet20", 3)
    again.load_state_dict(body, strict=False)
    r2 = prepare_head(again, "auto", {"data": "x"}, loaders, 3, epochs=1, lr=1e-3, cache_dir=str(tmp_path),
                      progress=False, margin=margin)
    assert r2.reused and r2.mode == chosen
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values(), strict=True))
