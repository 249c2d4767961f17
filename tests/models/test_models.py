import pytest
import torch

from distillery.errors import DistilleryError
from distillery.features import Features
from distillery.models import builtin_models, count_params, create_model, list_models


def _inputs(modality: str):
    if modality == "text":
        return {"input_ids": torch.randint(1, 30, (3, 7)), "attention_mask": torch.ones(3, 7, dtype=torch.long)}
    return {"pixel_values": torch.randint(0, 255, (3, 3, 32, 32), dtype=torch.uint8)}


@pytest.mark.parametrize("name", builtin_models())
def test_every_builtin_returns_features(name):
    kwargs = {"vocab_size": 50} if name in ("text_cnn", "transformer") else {}
    if name == "transformer":
        kwargs.update(hidden_size=16, num_layers=1, num_heads=2)
    net = create_model(name, 5, **kwargs)
    f = net(_inputs(net.modality))
    assert isinstance(f, Features)
    assert f.logits.shape == (3, 5) and f.embedding.shape == (3, net.embed_dim)
    f.logits.sum().backward()
    assert all(p.grad is not None for p in net.get_head().parameters())


def test_resnet_loads_akamaster_style_checkpoint(resnet_teacher_weights):
    net = create_model("resnet20", 4, weights=str(resnet_teacher_weights))
    assert net.head_fits
    ref = torch.load(resnet_teacher_weights, weights_only=True)["state_dict"]
    assert torch.equal(net.conv1.weight, ref["module.conv1.weight"])
    other = create_model("resnet20", 7, weights=str(resnet_teacher_weights))
    assert not other.head_fits and "vs 7 task classes" in other.head_mismatch


def test_weights_that_do_not_fit(resnet_teacher_weights):
    with pytest.raises(DistilleryError, match="do not fit"):
        create_model("resnet32", 4, weights=str(resnet_teacher_weights))


def test_safetensors_roundtrip(tmp_path):
    from safetensors.torch import save_file

    a = create_model("text_cnn", 3, vocab_size=20, embed_dim=8, num_filters=4)
    save_file(a.state_dict(), str(tmp_path / "w.safetensors"))
    b = create_model("text_cnn", 3, vocab_size=20, embed_dim=8, num_filters=4, weights=str(tmp_path / "w.safetensors"))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_pickle_code_is_not_executed(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pt"
    with open(p, "wb") as f:
        pickle.dump({"x": Evil()}, f)
    with pytest.raises(DistilleryError, match="not a readable weights file"):
        create_model("resnet20", 4, weights=str(p))


def test_hf_local_encoder(hf_teacher_dir):
    net = create_model(f"hf:{hf_teacher_dir}", 4, pretrained=True)
    assert net.modality == "text" and net.embed_dim == 32
    f = net(_inputs("text"))
    assert f.logits.shape == (3, 4) and len(f.hidden_states) == 3 and f.attentions is None
    eager = create_model(f"hf:{hf_teacher_dir}", 4, pretrained=True, attn_implementation="eager")
    fe = eager(_inputs("text"))
    assert fe.attentions is not None and fe.attentions[0].shape == (3, 2, 7, 7)


def test_hf_missing_model_is_one_line_error(tmp_path):
    with pytest.raises(DistilleryError, match="could not load"):
        create_model(f"hf:{tmp_path}", 4, pretrained=True)


def test_timm_and_torchvision_students():
    t = create_model("timm:resnet10t", 6)
    assert t(_inputs("image")).logits.shape == (3, 6)
    v = create_model("torchvision:mobilenet_v2", 6, width_mult=0.25)
    assert v(_inputs("image")).logits.shape == (3, 6) and count_params(v) < 1_000_000


@pytest.mark.parametrize("spec,build", [
    ("timm:resnet10t", lambda n: __import__("timm").create_model("resnet10t", num_classes=n)),
    ("torchvision:mobilenet_v3_small", lambda n: __import__("torchvision").models.mobilenet_v3_small(num_classes=n)),
])
def test_local_checkpoint_of_a_hub_model_loads_offline(tmp_path, monkeypatch, spec, build):
    """teacher.weights with a timm/torchvision checkpoint (the library's own keys): no download is attempted, the body
    gets the weights and the checkpoint's classifier becomes the head when its classes fit."""
    import huggingface_hub

    def no_network(*a, **k):
        raise AssertionError("tried to download")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    torch.manual_seed(0)
    native = build(5).eval()
    path = tmp_path / "native.pth"
    torch.save(native.state_dict(), path)
    net = create_model(spec, 5, pretrained=True, weights=str(path)).eval()
    x = _inputs("image")["pixel_values"]
    assert net.head_fits
    with torch.no_grad():
        assert torch.allclose(net({"pixel_values": x}).logits, native(net.preprocess(x)), atol=1e-5)
    other = create_model(spec, 3, pretrained=True, weights=str(path))  # other classes: body loaded, head not
    assert not other.head_fits
    first, value = next(iter(native.state_dict().items()))
    assert torch.equal(other.body.state_dict()[first], value)


def test_unknown_specs():
    with pytest.raises(DistilleryError, match="unknown model spec"):
        create_model("resnet9000", 3)
    with pytest.raises(DistilleryError, match="unknown timm model"):
        create_model("timm:not_a_model_xyz", 3)
    with pytest.raises(DistilleryError, match="unknown torchvision model"):
        create_model("torchvision:not_a_model_xyz", 3)
    assert "resnet56" in list_models()
