"""data.mixup: seeded, replayable mixed views; the teacher labels (and caches) the mixed image, cross-entropy mixes
the two labels (function matching, Beyer et al. 2022; mixup, Zhang et al. 2018)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from distillery.api import run
from distillery.config import Config
from distillery.data.batching import ImageDataset, collate_images, mix_params
from distillery.data.sources import Split
from distillery.errors import DistilleryError


def _split(n: int = 12) -> Split:
    g = torch.Generator().manual_seed(0)
    return Split(torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8), torch.arange(n) % 4)


def test_mixed_views_are_the_weighted_sum_of_two_augmented_views_and_replay():
    split = _split()
    plain = ImageDataset(split, augment=True, seed=3)
    mixed = ImageDataset(split, augment=True, seed=3, mixup=0.4)
    for ds in (plain, mixed):
        ds.set_epoch(2)
    idx = list(range(12))
    b = mixed.__getitems__(idx)
    assert set(b) >= {"label_mix", "lam"} and "lam" not in plain.__getitems__(idx)
    assert ((b["lam"] > 0) & (b["lam"] < 1)).all() and b["pixel_values"].dtype == torch.uint8
    for i in idx:
        j, lam = mix_params(3, 2, i, 12, 0.4)  # the partner and weight of sample i at view 2
        own, other = (plain.__getitems__([k])["pixel_values"][0].float() for k in (i, j))
        assert float(b["lam"][i]) == pytest.approx(lam) and int(b["label_mix"][i]) == int(split.labels[j])
        w = b["lam"][i]  # float32, as the dataset mixes
        assert torch.equal((w * own + (1 - w) * other).round().to(torch.uint8), b["pixel_values"][i])
    again = mixed.__getitems__(idx)  # replayable: the cache and a live run see the same mixed view
    assert torch.equal(again["pixel_values"], b["pixel_values"]) and torch.equal(again["lam"], b["lam"])
    one = mixed[5]
    assert torch.equal(one["pixel_values"], b["pixel_values"][5]) and float(one["lam"]) == float(b["lam"][5])
    batch = collate_images([mixed[i] for i in idx])
    assert torch.equal(batch["label_mix"], b["label_mix"]) and torch.equal(batch["lam"], b["lam"])
    mixed.set_epoch(3)
    assert not torch.equal(mixed.__getitems__(idx)["lam"], b["lam"])  # another epoch, other draws
    assert "lam" not in ImageDataset(split, augment=False, mixup=0.4).__getitems__(idx)  # no augmentation: off


def test_cross_entropy_mixes_the_two_labels():
    from distillery.losses.terms import CrossEntropy

    ce = CrossEntropy(SimpleNamespace())
    logits = torch.randn(6, 4)
    y, y2, lam = torch.tensor([0, 1, 2, 3, 0, 1]), torch.tensor([1, 1, 0, 2, 3, 3]), torch.rand(6)
    got = ce(SimpleNamespace(logits=logits), None, {"label": y, "label_mix": y2, "lam": lam})
    want = (lam * F.cross_entropy(logits, y, reduction="none")
            + (1 - lam) * F.cross_entropy(logits, y2, reduction="none")).mean()
    assert got == pytest.approx(float(want), rel=1e-6)
    ones = ce(SimpleNamespace(logits=logits), None, {"label": y, "label_mix": y2, "lam": torch.ones(6)})
    assert ones == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-6)


def test_mixup_with_a_transfer_set_is_refused():
    with pytest.raises(ValueError, match="mixup"):
        Config.model_validate({"data": {"source": "x", "mixup": 0.2, "transfer": "rest", "shots_per_class": 2},
                               "student": {"model": "resnet20"}, "output": {"dir": "o"}})


def test_mixup_run_caches_the_teacher_on_mixed_views_and_matches_live(make_image_config):
    """The cached run replays the live run (the teacher's outputs on the mixed views come from the cache); the
    cache is keyed apart from the unmixed one; the teacher's ft head is trained on unmixed views (reused)."""
    def cfg(name, **over):
        raw = make_image_config(name, train__epochs=2, data__mixup=0.5, **over)
        raw["distill"]["method"] = "kd"
        raw["teacher"].update(head="ft", head_epochs=1, cache_dtype="fp32")
        return raw

    live = cfg("mix_live")
    live["teacher"]["cache"] = "off"
    cached = cfg("mix_cached")
    cached["teacher"]["cache"] = "auto"
    plain = make_image_config("plain", train__epochs=2)
    plain["distill"]["method"] = "kd"
    plain["teacher"].update(head="ft", head_epochs=1, cache_dtype="fp32", cache="auto")
    m_plain, m_live, m_cached = run(plain, quiet=True), run(live, quiet=True), run(cached, quiet=True)
    assert m_cached["teacher"]["outputs"] == "cached" and m_cached["teacher"]["head_reused"]
    assert m_cached["teacher"]["cache"]["path"] != m_plain["teacher"]["cache"]["path"]
    for a, b in zip(m_live["history"], m_cached["history"], strict=True):
        assert abs(a["train/loss"] - b["train/loss"]) < 1e-4
    assert abs(m_plain["history"][-1]["train/loss"] - m_cached["history"][-1]["train/loss"]) > 1e-3


def test_mixup_on_text_is_refused(make_text_config):
    with pytest.raises(DistilleryError, match="mixup"):
        run(make_text_config("t", data__mixup=0.2), quiet=True)
