"""Loading local weights safely: safetensors, or torch files read with ``weights_only=True`` (no pickle code)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import DistilleryError
from .base import Network


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict; unwraps ``{"state_dict": ...}`` / ``{"model": ...}`` and strips a ``module.`` prefix."""
    p = Path(path)
    if not p.is_file():
        raise DistilleryError(f"weights file not found: {p}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(p))
        elif p.suffix == ".npz":  # arrays by name (e.g. converted Keras weights); never pickled objects
            import numpy as np

            with np.load(str(p), allow_pickle=False) as z:
                sd = {k: torch.from_numpy(np.array(z[k])) for k in z.files}
        else:
            sd = torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupted files raise many types
        import pickle

        if isinstance(e, pickle.UnpicklingError) or "weights_only" in str(e):
            # torch's own text advises loading with weights_only=False, which would run the file's code: never
            why = ("not a safetensors file or a torch file of plain tensors: it is damaged, or holds pickled "
                   "objects, which distillery never loads")
        else:
            why = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        raise DistilleryError(f"{p}: not a readable weights file ({why})") from None
    for key in ("state_dict", "model", "student"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise DistilleryError(f"{p}: expected a mapping of parameter names to tensors")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def load_weights(net: Network, path: str | Path) -> None:
    """Load ``path`` into ``net``. A head whose shape differs (other classes) is skipped: ``net.head_fits=False``."""
    sd = read_state_dict(path)
    adapt = getattr(net, "adapt_state_dict", None)
    if adapt is not None:  # a network that knows another library's names and layouts (MobileNet v1: Keras)
        sd = adapt(sd)
    own = net.state_dict()
    head_prefix = net.head_attr + "."
    sd = _as_wrapper_keys(net, sd, head_prefix)
    head_keys = [k for k in own if k.startswith(head_prefix)]
    head_ok = all(k in sd and sd[k].shape == own[k].shape for k in head_keys)
    if not head_ok:
        sd = {k: v for k, v in sd.items() if not k.startswith(head_prefix)}
    missing = [k for k in own if k not in sd and not (k.startswith(head_prefix) and not head_ok)
               and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in own]
    bad_shape = [k for k in sd if k in own and sd[k].shape != own[k].shape]
    if missing or unexpected or bad_shape:
        detail = "; ".join(f"{name}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                           for name, keys in (("missing", missing), ("unexpected", unexpected),
                                              ("wrong shape", bad_shape)) if keys)
        raise DistilleryError(f"{path}: weights do not fit the model ({detail})")
    net.load_state_dict(sd, strict=False)
    net.head_fits = head_ok
    if not head_ok:
        full = adapt(read_state_dict(path)) if adapt is not None else read_state_dict(path)
        src_shape = next((tuple(v.shape) for k, v in full.items() if k.startswith(head_prefix)), None)
        net.head_mismatch = f"checkpoint head {src_shape} vs {net.num_classes} task classes"


def _as_wrapper_keys(net: Network, sd: dict[str, torch.Tensor], head_prefix: str) -> dict[str, torch.Tensor]:
    """A checkpoint of the wrapped timm/torchvision model itself (``timm.create_model(...).state_dict()``, a Hub
    ``model.safetensors``): its keys move under ``body.``, and its own classifier becomes the head when it is the
    one 2-D weight + bias left over (a shape that does not fit the task is then dropped as usual)."""
    body = getattr(net, "body", None)
    if not isinstance(body, torch.nn.Module) or any(k.startswith("body.") for k in sd):
        return sd
    body_keys = set(body.state_dict())
    if not body_keys or sum(k in body_keys for k in sd) < len(body_keys) // 2:
        return sd
    rest = {k: v for k, v in sd.items() if k not in body_keys}
    out = {f"body.{k}": v for k, v in sd.items() if k in body_keys}
    weights = [v for k, v in rest.items() if k.endswith("weight") and v.ndim == 2]
    biases = [v for k, v in rest.items() if k.endswith("bias") and v.ndim == 1]
    if len(rest) == 2 and len(weights) == 1 and len(biases) == 1:
        out[head_prefix + "weight"], out[head_prefix + "bias"] = weights[0], biases[0]
    else:
        out.update(rest)  # reported as unexpected keys below
    return out
