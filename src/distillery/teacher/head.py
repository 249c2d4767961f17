"""Give a pre-trained teacher a task head (Farhat & Chen 2024, DAPT step 1: ``lp`` or ``ft``).

``lp`` trains a linear classifier on the frozen teacher's embeddings (multinomial logistic regression, L-BFGS,
L2 strength chosen on the validation split); ``ft`` starts from that probe and fine-tunes the whole teacher.
The result is stored under the cache directory, keyed by a fingerprint of the teacher weights, the data and the
preprocessing, and reused when none of them changed.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ..compute.flops import FlopMeter, shape_key
from ..errors import DistilleryError
from ..fileio import atomic_write_text, locked, sidecar, verify_hash, write_with_hash
from ..models.base import Network
from ..progress import track
from ..runtime import autocast_ctx, cache_root, device_of, weights_fingerprint


@dataclass
class HeadResult:
    mode: str
    reused: bool
    path: str | None
    info: dict[str, Any] = field(default_factory=dict)
    # the teacher's features computed while preparing (split -> {"embedding": [N, D]}, sample order), not stored:
    # the output cache takes them instead of running the teacher over the same inputs again
    features: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict, repr=False)


def fit_linear_probe(x: torch.Tensor, y: torch.Tensor, num_classes: int, xv: torch.Tensor | None,
                     yv: torch.Tensor | None, l2_grid=(1e-4, 1e-3, 1e-2),
                     max_iter: int = 200, meter: FlopMeter | None = None) -> tuple[nn.Linear, dict]:
    """Multinomial logistic regression with L-BFGS; the L2 strength with the best validation accuracy wins.
    With a ``meter``, every loss-and-gradient evaluation is charged to ``teacher_head`` (counted once, then
    added: counting each evaluation would make the fit several times slower)."""
    from contextlib import nullcontext

    mean, scale = x.mean(0), x.std(0).clamp_min(1e-6)
    xs = (x - mean) / scale
    best: tuple[float, float, torch.Tensor, torch.Tensor] | None = None
    for l2 in l2_grid:
        torch.manual_seed(0)
        w = torch.zeros(num_classes, x.shape[1], requires_grad=True)
        b = torch.zeros(num_classes, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe")

        def closure(w=w, b=b, opt=opt, l2=l2):
            counted = meter.span("teacher_head", ("probe", tuple(xs.shape), num_classes)) if meter else nullcontext()
            with counted:
                opt.zero_grad()
                loss = F.cross_entropy(xs @ w.T + b, y) + l2 * (w * w).sum()
                loss.backward()
            return loss

        opt.step(closure)
        xe, ye = (xv, yv) if xv is not None else (x, y)
        acc = (((xe - mean) / scale) @ w.detach().T + b.detach()).argmax(1).eq(ye).float().mean().item()
        if best is None or acc > best[0]:
            best = (acc, l2, w.detach().clone(), b.detach().clone())
    acc, l2, w, b = best  # type: ignore[misc]
    head = nn.Linear(x.shape[1], num_classes)
    with torch.no_grad():  # fold the standardisation into the layer: head(x) = ((x - mean)/scale) W^T + b
        head.weight.copy_(w / scale)
        head.bias.copy_(b - (w / scale) @ mean)
    return head, {"l2": l2, "val_accuracy": acc}


def _finetune(net: Network, loader: DataLoader, epochs: int, lr: float, progress: bool, seed: int,
              bf16: bool = False, meter: FlopMeter | None = None) -> None:
    from contextlib import nullcontext

    device = device_of(net)  # the run's device: the caller moved the teacher there
    torch.manual_seed(seed)
    net.train()
    net.requires_grad_(True)
    head_params = list(net.get_head().parameters())
    head_ids = {id(p) for p in head_params}
    body = [p for p in net.parameters() if id(p) not in head_ids]
    opt = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": head_params, "lr": lr * 10}], weight_decay=0.01)
    total = epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / max(1, total)))
    for epoch in range(epochs):
        if hasattr(loader.dataset, "set_epoch"):
            loader.dataset.set_epoch(epoch)
        for batch in track(loader, f"teacher fine-tune {epoch + 1}/{epochs}", total=len(loader), enabled=progress):
            labels = batch["label"].to(device)
            labelled = labels >= 0  # the transfer set's examples (label -1) carry no label
            if not bool(labelled.any()):
                continue
            inputs = {k: v.to(device) for k, v in batch["teacher"].items()}
            counted = (meter.span("teacher_head", ("ft_step", id(net), shape_key(batch["teacher"]))) if meter
                       else nullcontext())
            with counted:
                with autocast_ctx(device, bf16):
                    logits = net(inputs).logits
                loss = F.cross_entropy(logits.float()[labelled], labels[labelled])
                opt.zero_grad()
                loss.backward()
            opt.step()
            sched.step()
    net.eval()


def prepare_head(net: Network, mode: str, key_parts: dict[str, Any], loaders: dict[str, DataLoader | None],
                 num_classes: int, epochs: int = 0, lr: float | None = None, cache_dir: str | None = None,
                 progress: bool = True, seed: int = 0, bf16: bool = False, meter: FlopMeter | None = None,
                 notify: Callable[[str], None] | None = None, margin: float = 0.005) -> HeadResult:
    """Make ``net`` a classifier for the task (in place). ``loaders``: ``train_eval``, ``val``, ``train_aug``.

    ``mode``: ``lp`` (linear probe), ``ft`` (the probe, then the whole teacher fine-tuned), or ``auto``: both, and
    the fine-tune is kept only when its validation accuracy beats the probe's by ``margin`` (else the probe and
    its features stay); the choice and both accuracies are in ``info``.

    With a ``meter`` (whose phase the caller set to ``teacher_head`` and which is attached to ``net``), the FLOPs
    of the preparation are counted and stored with the head (``info["flops"]``), so a reused head reports them.
    A stored head is used only while its bytes have the SHA-256 recorded when it was written; otherwise
    ``notify`` is told and the head is rebuilt."""
    from .outputs import compute_features

    t_start = time.perf_counter()
    adapt = net.head_fits and mode == "ft"  # a fitting head is kept, unless asked to fine-tune to the task's inputs
    if net.head_fits and not adapt:
        return HeadResult(mode="pretrained", reused=True, path=None)
    if mode == "none":
        why = getattr(net, "head_mismatch", "the teacher has no task head")
        raise DistilleryError(f"teacher.head is 'none' but {why}; use teacher.head: lp or ft")
    key = dict(key_parts, mode=mode, epochs=epochs, lr=lr, seed=seed, num_classes=num_classes, adapt=adapt,
               **({"margin": margin} if mode == "auto" else {}),
               weights=weights_fingerprint(net, exclude_prefix=None if adapt else net.head_attr + "."))
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]
    root = cache_root(cache_dir) / "teacher_heads"
    path = root / f"{digest}.safetensors"
    from safetensors.torch import load_file

    # one process prepares a given head, the others (a distributed run's ranks, parallel runs) wait and reuse it
    with locked(path.with_suffix(".lock"), f"teacher head {path}", wait=True):
        if not adapt:
            net.replace_head(num_classes)
        if path.exists() and not verify_hash(path):
            what = "has no recorded content hash" if verify_hash(path) is None else "is corrupt (its content hash " \
                "differs from the one recorded when it was written)"
            if notify is not None:
                notify(f"the stored teacher head {path} {what}; rebuilding it")
            for p in (path, sidecar(path), path.with_suffix(".json")):
                p.unlink(missing_ok=True)
        if path.exists():
            sd = load_file(str(path))
            info = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").exists() else {}
            chosen = info.get("chosen", mode)  # auto: what the validation split chose when the head was made
            target = net.get_head() if chosen == "lp" else net
            target.load_state_dict(sd)
            net.head_fits = True
            return HeadResult(mode=chosen, reused=True, path=str(path), info=info)

        if adapt:  # start from the pre-trained head and fine-tune everything
            _finetune(net, loaders["train_aug"], epochs or 3, lr or 2e-5, progress, seed, bf16,  # type: ignore[arg-type]
                      meter)
            net.head_fits = True
            started = HeadResult(mode="ft", reused=False, path=str(path), info={"from": "pretrained head"})
            return _store(net, mode, path, key, started, meter, t_start)
        feats = {}
        for split in ("train_eval", "val"):
            if loaders.get(split) is not None:
                feats[split] = compute_features(net, loaders[split], {"embedding"}, f"teacher embeddings ({split})",
                                                progress=progress, bf16=bf16)
        labels = {s: loaders[s].dataset.labels for s in feats}  # type: ignore[union-attr]
        xv = feats["val"]["embedding"] if "val" in feats else None
        before = meter.by_phase["teacher_head"] if meter is not None else 0.0
        head, info = fit_linear_probe(feats["train_eval"]["embedding"], labels["train_eval"], num_classes, xv,
                                      labels.get("val"), meter=meter)
        if meter is not None:  # the fit's own FLOPs, apart from the teacher's forward passes
            info["probe_flops"] = meter.by_phase["teacher_head"] - before
        net.get_head().load_state_dict(head.state_dict())
        result = HeadResult(mode=mode, reused=False, path=str(path), info=info,
                            features=feats if mode in ("lp", "auto") else {})  # a fine-tune changes them
        if mode == "auto" and xv is None:
            info["chosen"], info["why"] = "lp", "no validation split to compare a fine-tune with"
        elif mode in ("ft", "auto"):
            probe_state = {k: v.clone() for k, v in net.state_dict().items()} if mode == "auto" else None
            _finetune(net, loaders["train_aug"], epochs or 3, lr or 2e-5, progress, seed, bf16,  # type: ignore[arg-type]
                      meter)
            if xv is not None:  # the fine-tune against the probe it started from, on the validation split
                logits = compute_features(net, loaders["val"], {"logits"}, "fine-tuned teacher on validation",  # type: ignore[arg-type]
                                          progress=progress, bf16=bf16)["logits"]
                ft_acc = float((logits.argmax(-1) == labels["val"]).float().mean())
                info.update(probe_val_accuracy=info["val_accuracy"], ft_val_accuracy=ft_acc, val_accuracy=ft_acc)
            if probe_state is not None:  # auto: keep the fine-tune only where the validation split says it wins
                info["margin"] = margin
                if ft_acc >= info["probe_val_accuracy"] + margin:
                    info["chosen"] = "ft"
                    result.features = {}
                else:
                    info["chosen"], info["val_accuracy"] = "lp", info["probe_val_accuracy"]
                    net.load_state_dict(probe_state)
        if mode == "auto":
            result.mode = info["chosen"]
        net.head_fits = True
        return _store(net, result.mode, path, key, result, meter, t_start)


def _store(net: Network, mode: str, path: Path, key: dict[str, Any], result: HeadResult,
           meter: FlopMeter | None = None, t_start: float | None = None) -> HeadResult:
    """Save the prepared head (lp) or the whole fine-tuned teacher (ft) atomically, with its key as JSON."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    if meter is not None:  # what preparing the head cost, kept with it: a run that reuses it is charged the same
        result.info["flops"] = meter.by_phase.get("teacher_head", 0.0)
    if t_start is not None:
        result.info["seconds"] = round(time.perf_counter() - t_start, 3)
    state = net.get_head().state_dict() if mode == "lp" else net.state_dict()
    atomic_write_text(path.with_suffix(".json"), json.dumps({**result.info, "key": key}, indent=1, default=str))
    write_with_hash(path, lambda tmp: save_file({k: v.contiguous() for k, v in state.items()}, str(tmp)))
    return result
