"""An ensemble teacher (teacher.model a list): logits averaged with the member weights, one member's embedding,
each member given its head, cached like one teacher."""
from __future__ import annotations

import pytest
import torch

from distillery.api import run
from distillery.config import build_config
from distillery.errors import DistilleryError
from distillery.models import create_model
from distillery.models.ensemble import Ensemble


def test_ensemble_averages_logits_with_weights_and_keeps_one_members_embedding():
    torch.manual_seed(0)
    a, b = create_model("resnet20", 3), create_model("resnet32", 3)
    ens = Ensemble([a, b], weights=[3.0, 1.0], embedding_member=1).eval()
    x = {"pixel_values": torch.randint(0, 255, (4, 3, 16, 16), dtype=torch.uint8)}
    with torch.no_grad():
        fa, fb, fe = a(x), b(x), ens(x)
    torch.testing.assert_close(fe.logits, 0.75 * fa.logits + 0.25 * fb.logits)
    torch.testing.assert_close(fe.embedding, fb.embedding)
    assert ens.embed_dim == b.embed_dim and not ens.head_fits
    a.head_fits = b.head_fits = True
    assert ens.head_fits


def test_ensemble_run_caches_the_averaged_teacher(make_image_config, resnet_teacher_weights, tmp_path):
    raw = make_image_config("ens")
    raw["teacher"].update(model=["resnet20", "resnet20"], weights=[str(resnet_teacher_weights)] * 2,
                          member_weights=[1.0, 1.0])
    m = run(raw, quiet=True)
    single = run(make_image_config("one"), quiet=True)
    t = m["teacher"]
    assert t["spec"] == "resnet20+resnet20" and t["outputs"] == "cached" and t["head"] == "pretrained+pretrained"
    assert t["params"] == 2 * single["teacher"]["params"]
    assert t["accuracy"] == pytest.approx(single["teacher"]["accuracy"])  # two equal members: the same teacher
    # an ensemble's forward costs the sum of its members'
    assert m["compute"]["teacher_forward_flops_per_sample"] == pytest.approx(
        2 * single["compute"]["teacher_forward_flops_per_sample"])


@pytest.mark.parametrize("teacher, match", [
    ({"model": ["resnet20"], "weights": ["w"]}, "at least two"),
    ({"model": ["resnet20", "resnet32"], "weights": ["w"]}, "list of 2 weights"),
    ({"model": ["resnet20", "resnet32"], "member_weights": [1.0]}, "member_weights"),
    ({"model": ["resnet20", "resnet32"], "embedding_member": 2}, "embedding_member"),
    ({"model": "resnet20", "weights": ["w", "v"]}, "a list is for an ensemble"),
])
def test_ensemble_config_errors(image_npz, tmp_path, teacher, match):
    raw = {"data": {"source": str(image_npz)}, "teacher": teacher, "student": {"model": "resnet20"},
           "output": {"dir": str(tmp_path / "r")}}
    with pytest.raises(DistilleryError, match=match):
        build_config(raw)
