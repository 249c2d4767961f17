"""MobileNet v1 with the Keras ImageNet weights (../shared/data/mobilenet_v1_025_imagenet): the port equals an
independent NumPy implementation of the same network (TF "SAME" padding, BN eps 1e-3, ReLU6, HWIO kernels)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distillery.models import create_model

NPZ = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mobilenet_v1_025_imagenet" / \
    "mobilenet_v1_025_224_keras.npz"
pytestmark = pytest.mark.skipif(not NPZ.is_file(), reason="the shared MobileNet weights are not here")


def _same(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """TF SAME padding of an HWC array."""
    h, w = x.shape[:2]
    ph = max((-(-h // s) - 1) * s + k - h, 0)
    pw = max((-(-w // s) - 1) * s + k - w, 0)
    return np.pad(x, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))


def _conv(x: np.ndarray, kernel: np.ndarray, s: int, depthwise: bool = False) -> np.ndarray:
    k = kernel.shape[0]
    x = _same(x, k, s)
    oh, ow = (x.shape[0] - k) // s + 1, (x.shape[1] - k) // s + 1
    out = np.zeros((oh, ow, kernel.shape[2] if depthwise else kernel.shape[3]))
    for i in range(k):
        for j in range(k):
            patch = x[i:i + s * oh:s, j:j + s * ow:s, :]  # [oh, ow, C]
            out += patch * kernel[i, j, :, 0] if depthwise else patch @ kernel[i, j]
    return out


def _bn_relu6(x: np.ndarray, z, name: str) -> np.ndarray:
    g, b, m, v = (z[f"{name}/{k}"] for k in ("gamma", "beta", "moving_mean", "moving_variance"))
    return np.clip((x - m) / np.sqrt(v + 1e-3) * g + b, 0.0, 6.0)


def numpy_mobilenet(image: np.ndarray, z) -> np.ndarray:
    """Keras MobileNet(alpha=0.25) in NumPy, float64, from the .npz alone."""
    x = image.astype(np.float64) / 127.5 - 1.0
    x = _bn_relu6(_conv(x, z["conv1/kernel"], 2), z, "conv1_bn")
    for i, s in enumerate((1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1), start=1):
        x = _bn_relu6(_conv(x, z[f"conv_dw_{i}/depthwise_kernel"], s, depthwise=True), z, f"conv_dw_{i}_bn")
        x = _bn_relu6(_conv(x, z[f"conv_pw_{i}/kernel"], 1), z, f"conv_pw_{i}_bn")
    return x.mean((0, 1)) @ z["conv_preds/kernel"][0, 0] + z["conv_preds/bias"]


@pytest.mark.parametrize("size", [32, 45])
def test_the_port_equals_an_independent_numpy_implementation(size):
    z = np.load(NPZ)
    net = create_model("mobilenet_v1", 1000, weights=str(NPZ)).eval()
    stored = sum(v.numel() for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked"))
    assert net.head_fits and stored == 475_544  # every array of the .npz (BN statistics included)
    image = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    with torch.no_grad():
        got = net({"pixel_values": torch.from_numpy(image).permute(2, 0, 1)[None]}).logits[0].double().numpy()
    np.testing.assert_allclose(got, numpy_mobilenet(image, z), atol=1e-4, rtol=0)


def test_another_head_keeps_the_backbone_and_a_new_head():
    net = create_model("mobilenet_v1", 10, weights=str(NPZ))
    z = np.load(NPZ)
    assert not net.head_fits and net.head.out_features == 10 and net.embed_dim == 256
    torch.testing.assert_close(net.stem.conv.weight, torch.from_numpy(z["conv1/kernel"]).permute(3, 2, 0, 1))
    assert create_model("mobilenet_v1", 10, width=0.5).embed_dim == 512
    with pytest.raises(Exception, match="width"):
        create_model("mobilenet_v1", 10, width=0.3)


def test_input_size_resizes_inside_the_network():
    """``input_size``: a 32-pixel batch is resized by the network itself, exactly as the same batch resized to that
    size beforehand; under 32 pixels is refused."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    net = create_model("mobilenet_v1", 10, input_size=64).eval()
    small = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    big = F.interpolate(small.float() / 255, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
    plain = create_model("mobilenet_v1", 10).eval()
    plain.load_state_dict(net.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(net({"pixel_values": small}).logits, plain({"pixel_values": big}).logits)
        assert net({"pixel_values": small}).hidden_states[-1].shape[-1] == 2  # 64 px / 32
        assert plain({"pixel_values": small}).hidden_states[-1].shape[-1] == 1
    with pytest.raises(Exception, match="input_size"):
        create_model("mobilenet_v1", 10, input_size=16)
