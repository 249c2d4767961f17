"""Issue-25 figures: distillery's whole job against the plain-loop floor for the same job, in one process.

For each task, identical data (the same splits), student, batch size, epochs, precision and threads:

- ``distillery``: ``distillery.api.run`` on the shipped config from a fresh teacher cache (nothing reused), timed
  from the call to its return; the phases come from its metrics.json;
- ``floor``: the job written as a plain PyTorch loop in this file: the teacher run once over every input (and once
  per cached view with augmentation) in length-sorted batches, a linear probe on its embeddings where the teacher
  has no head, then the student trained with cross-entropy + KD on the stored logits, the best validation epoch
  tested.

Tasks: Banking77 (MiniLM -> text CNN, ``au``, 12 epochs) and CIFAR-10 (ResNet-56 -> ResNet-20, ``au``, 5 epochs,
standard augmentation with one cached view per epoch). Libraries are imported before either is timed. Prints a
table; writes benchmarks/results/end_to_end.json.

    python benchmarks/end_to_end.py                          # both tasks, seed 0
    python benchmarks/end_to_end.py --tasks cifar10 --seeds 0 1 2   # accuracy over 3 seeds (other rows kept)
    python benchmarks/end_to_end.py --tasks banking77 --epochs 2 --out /tmp/e2e.json   # a quick look
    python benchmarks/end_to_end.py --tasks banking77 --seeds 0 1 2 --set distill.projector=linear
    python benchmarks/end_to_end.py --tasks banking77 --seeds 0 1 2 --floor-loss au   # the floor with the au term
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from distillery.api import run
from distillery.compute.peak import bf16_supported, device_name
from distillery.config import load_config
from distillery.data import load_task_data
from distillery.data.batching import tokenize
from distillery.models import create_model
from distillery.models.hf import load_tokenizer
from distillery.teacher.head import fit_linear_probe

ROOT = Path(__file__).resolve().parents[1]
TASKS = {
    "banking77": (ROOT / "configs" / "banking77_minilm_to_textcnn.yaml", 12),
    "cifar10": (ROOT / "configs" / "cifar10_resnet56_to_resnet20.yaml", 5),
}


class Clock:
    """Wall seconds per named phase."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = round(self.phases.get(name, 0.0) + now - self._t, 3)
        self._t = now


def _autocast(on: bool):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=on)


def _cosine(opt: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(1.0, s / total))))


def _kd(s: torch.Tensor, t: torch.Tensor, temp: float) -> torch.Tensor:
    return F.kl_div(F.log_softmax(s / temp, -1), F.log_softmax(t / temp, -1), reduction="batchmean",
                    log_target=True) * temp * temp


class _AlignUniform(torch.nn.Module):
    """The ``au`` term written plainly for the floor that computes the job's own loss (Farhat & Chen 2024's DAPT
    code, papers.md 1.4): MLP projectors d->d->128 on both sides (the teacher's trains too), L2-normalised,
    alignment (alpha 2) + the mean of both sides' uniformity (t 2), weight 1."""

    def __init__(self, student_dim: int, teacher_dim: int, out: int = 128):
        super().__init__()
        self.gs = torch.nn.Sequential(torch.nn.Linear(student_dim, student_dim), torch.nn.ReLU(),
                                      torch.nn.Linear(student_dim, out))
        self.gt = torch.nn.Sequential(torch.nn.Linear(teacher_dim, teacher_dim), torch.nn.ReLU(),
                                      torch.nn.Linear(teacher_dim, out))

    def forward(self, hs: torch.Tensor, ht: torch.Tensor) -> torch.Tensor:
        zs, zt = F.normalize(self.gs(hs).float(), dim=-1), F.normalize(self.gt(ht).float(), dim=-1)

        def unif(z: torch.Tensor) -> torch.Tensor:
            return torch.pdist(z).pow(2).mul(-2.0).exp().mean().log()
        return (zs - zt).norm(dim=1).pow(2).mean() + (unif(zs) + unif(zt)) / 2


def _pad(rows: list[list[int]], pad: int) -> dict[str, torch.Tensor]:
    n = max(len(r) for r in rows)
    ids = torch.full((len(rows), n), pad, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
    return {"input_ids": ids, "attention_mask": (torch.arange(n) < torch.tensor([len(r) for r in rows])[:, None]
                                                 ).long()}


def _train_student(cfg, student, batches_for_epoch, n_train: int, evaluate, t_logits, clock: Clock,
                   bf16: bool, au: _AlignUniform | None = None, t_emb=None) -> tuple[list[float], dict]:
    """The plain loop: CE + KD on stored teacher logits (+ ``au`` on the stored teacher embeddings when given); the
    best validation epoch kept. Returns epoch seconds."""
    tc = cfg.train
    steps = tc.epochs * -(-n_train // tc.batch_size)
    params = [*student.parameters(), *(au.parameters() if au is not None else [])]
    if tc.optimizer == "sgd":  # fused kernels, as distillery uses them
        opt = torch.optim.SGD(params, lr=tc.lr, momentum=tc.momentum, weight_decay=tc.weight_decay,
                              nesterov=True, fused=True)
    else:
        opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay, fused=True)
    sched = _cosine(opt, steps)
    gen = torch.Generator().manual_seed(tc.seed)
    best, best_acc, epoch_s = None, -1.0, []
    for epoch in range(tc.epochs):
        t0 = time.perf_counter()
        student.train()
        for inputs, labels, index in batches_for_epoch(epoch, torch.randperm(n_train, generator=gen)):
            with _autocast(bf16):
                out = student(inputs)
                logits = out.logits.float()
                extra = au(out.embedding, t_emb(epoch, index)) if au is not None else 0.0
            loss = F.cross_entropy(logits, labels) + _kd(logits, t_logits(epoch, index), cfg.distill.temperature)
            loss = loss + extra
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        epoch_s.append(round(time.perf_counter() - t0, 3))
        clock.lap("train")
        acc = evaluate(student, "val")
        clock.lap("evaluate")
        if acc > best_acc:
            best_acc, best = acc, copy.deepcopy(student.state_dict())
    student.load_state_dict(best)
    return epoch_s, {"val_accuracy": best_acc}


@torch.no_grad()
def floor_text(cfg, bf16_teacher: bool, bf16_student: bool, loss: str = "kd") -> dict:
    clock = Clock()
    tc = cfg.train
    data = load_task_data(cfg.data, seed=tc.seed)
    tok = load_tokenizer(cfg.teacher.model[3:])
    pad = tok.pad_token_id or 0
    splits = {"train": data.train, "val": data.val, "test": data.test}
    ids = {k: tokenize(tok, s.inputs, cfg.data.max_length) for k, s in splits.items()}
    labels = {k: s.labels for k, s in splits.items()}
    teacher = create_model(cfg.teacher.model, data.num_classes, pretrained=True).eval()
    clock.lap("data")

    def embed(rows: list[list[int]]) -> torch.Tensor:  # mean-pooled, length-sorted batches, sample order kept
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        out = torch.empty(len(rows), teacher.embed_dim)
        for lo in range(0, len(rows), tc.eval_batch_size):
            idx = order[lo:lo + tc.eval_batch_size]
            x = _pad([rows[i] for i in idx], pad)
            with _autocast(bf16_teacher):
                h = teacher.encoder(**x).last_hidden_state.float()
            m = x["attention_mask"].unsqueeze(-1).float()
            out[idx] = (h * m).sum(1) / m.sum(1).clamp_min(1)
        return out

    emb = {k: embed(v) for k, v in ids.items()}
    clock.lap("teacher_forward")
    with torch.enable_grad():
        head, _ = fit_linear_probe(emb["train"], labels["train"], data.num_classes, emb["val"], labels["val"])
    t_train = head(emb["train"])
    teacher_acc = float((head(emb["test"]).argmax(1) == labels["test"]).float().mean())
    clock.lap("probe")

    torch.manual_seed(tc.seed)  # the student's initialisation, seeded as distillery seeds it
    student = create_model(cfg.student.model, data.num_classes, pretrained=False, vocab_size=len(tok),
                           pad_token_id=pad, **cfg.student.kwargs)

    def batches(epoch, perm):
        for lo in range(0, len(perm), tc.batch_size):
            idx = perm[lo:lo + tc.batch_size]
            yield _pad([ids["train"][i] for i in idx.tolist()], pad), labels["train"][idx], idx

    def evaluate(net, split):
        net.eval()
        correct = 0
        for lo in range(0, len(ids[split]), tc.eval_batch_size):
            x = _pad(ids[split][lo:lo + tc.eval_batch_size], pad)
            with _autocast(bf16_student):
                correct += int((net(x).logits.argmax(1) == labels[split][lo:lo + tc.eval_batch_size]).sum())
        return correct / len(ids[split])

    au = _AlignUniform(student.embed_dim, teacher.embed_dim) if loss == "au" else None
    with torch.enable_grad():
        epoch_s, _ = _train_student(cfg, student, batches, len(ids["train"]), evaluate,
                                    lambda e, idx: t_train[idx], clock, bf16_student, au,
                                    lambda e, idx: emb["train"][idx])
    acc = evaluate(student, "test")
    clock.lap("evaluate")
    return {"accuracy": acc, "teacher_accuracy": teacher_acc, "epoch_s": epoch_s, "phases": clock.phases}


def _augment(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop (padding size/8) + horizontal flip for a uint8 batch, vectorised."""
    b, _, h, w = images.shape
    p = max(1, h // 8)
    padded = F.pad(images, [p, p, p, p])
    top = torch.randint(0, 2 * p + 1, (b,), generator=gen)
    left = torch.randint(0, 2 * p + 1, (b,), generator=gen)
    rows = (top[:, None] + torch.arange(h))[:, None, :, None]
    cols = (left[:, None] + torch.arange(w))[:, None, None, :]
    out = padded[torch.arange(b)[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]
    flip = torch.rand(b, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


@torch.no_grad()
def floor_image(cfg, bf16_teacher: bool, bf16_student: bool) -> dict:
    clock = Clock()
    tc = cfg.train
    data = load_task_data(cfg.data, seed=tc.seed)
    x = {"train": data.train.inputs, "val": data.val.inputs, "test": data.test.inputs}
    y = {"train": data.train.labels, "val": data.val.labels, "test": data.test.labels}
    n = len(y["train"])
    teacher = create_model(cfg.teacher.model, data.num_classes, pretrained=True, weights=cfg.teacher.weights).eval()
    torch.manual_seed(tc.seed)
    student = create_model(cfg.student.model, data.num_classes, pretrained=False)
    for net in (teacher, student):
        if tc.channels_last:
            net.set_channels_last()
    clock.lap("data")
    # one augmented view per epoch: the view of every sample drawn once, the teacher run over it once
    views = [torch.Generator().manual_seed(1000 * tc.seed + v) for v in range(tc.epochs)]
    view_images: list[torch.Tensor] = []

    def logits_of(net, images, bf16):
        out = []
        for lo in range(0, len(images), tc.eval_batch_size):
            with _autocast(bf16):
                out.append(net({"pixel_values": images[lo:lo + tc.eval_batch_size]}).logits.float())
        return torch.cat(out)

    t_logits = []
    for gen in views:
        imgs = torch.cat([_augment(x["train"][lo:lo + 1024], gen) for lo in range(0, n, 1024)])
        view_images.append(imgs)
        t_logits.append(logits_of(teacher, imgs, bf16_teacher))
    teacher_acc = float((logits_of(teacher, x["test"], bf16_teacher).argmax(1) == y["test"]).float().mean())
    clock.lap("teacher_forward")

    def batches(epoch, perm):
        imgs = view_images[epoch]
        for lo in range(0, n, tc.batch_size):
            idx = perm[lo:lo + tc.batch_size]
            yield {"pixel_values": imgs[idx]}, y["train"][idx], idx

    def evaluate(net, split):
        net.eval()
        return float((logits_of(net, x[split], bf16_student).argmax(1) == y[split]).float().mean())

    with torch.enable_grad():
        epoch_s, _ = _train_student(cfg, student, batches, n, evaluate, lambda e, idx: t_logits[e][idx], clock,
                                    bf16_student)
    acc = evaluate(student, "test")
    clock.lap("evaluate")
    return {"accuracy": acc, "teacher_accuracy": teacher_acc, "epoch_s": epoch_s, "phases": clock.phases}


def distillery_job(cfg_path: Path, epochs: int, work: Path, threads: int, seed: int, method: str = "au",
                   overrides: list[str] = ()) -> dict:
    cfg = load_config(cfg_path, [f"train.epochs={epochs}", f"output.dir={work / 'run'}", "train.progress=false",
                                 f"teacher.cache_dir={work / 'cache'}", f"train.num_threads={threads}",
                                 f"train.seed={seed}", *overrides], method)
    t0 = time.perf_counter()
    m = run(cfg, quiet=True)
    wall = time.perf_counter() - t0
    t = m["teacher"]
    epochs_s = [h["train_epoch_s"] for h in m["history"]]
    return {"wall_s": round(wall, 2), "accuracy": m["student"]["accuracy"], "teacher_accuracy": t["accuracy"],
            "epoch_s": epochs_s, "teacher_prepare_s": t["prepare_time_s"], "train_s": m["train"]["train_time_s"],
            "teacher_precision": t.get("precision"), "precision": m["train"].get("precision"),
            "teacher_flops": m["compute"]["teacher_flops"], "phases": m["compute"]["phases"],
            "teacher_forward_flops_per_sample": m["compute"]["teacher_forward_flops_per_sample"],
            "timings": m.get("timings"), "cache": t.get("cache"), "head_info": t.get("head_info")}


def steady(epochs: list[float]) -> float:
    """The median epoch after the first (warm-up)."""
    rest = sorted(epochs[1:] or epochs)
    return rest[len(rest) // 2]


def _mean_std(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    return m, (sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5 if len(xs) > 1 else 0.0


def pair(task: str, epochs: int, threads: int, seed: int, method: str = "au", overrides: list[str] = (),
         floor_loss: str = "kd", floor_first: bool = False) -> dict:
    """distillery's whole job (with ``overrides`` of its config) and the floor's (loss CE + KD, or with
    ``floor_loss="au"`` the job's own CE + KD + alignment/uniformity), for one seed; ``floor_first`` runs the floor
    first (alternating the order between seeds spreads the machine's drift over both arms)."""
    cfg_path, _ = TASKS[task]
    cfg = load_config(cfg_path, [f"train.epochs={epochs}", f"train.seed={seed}"], "au")

    def job() -> dict:
        with tempfile.TemporaryDirectory(prefix=f"e2e_{task}_") as tmp:
            return distillery_job(cfg_path, epochs, Path(tmp), threads, seed, method, overrides)

    def precisions(d: dict | None) -> tuple[bool, bool]:
        """bf16 for the teacher, for the student: distillery's choice (before it ran: what its auto chooses)."""
        if d is None:
            return (bf16_supported(torch.device("cpu")),) * 2
        return d["teacher_precision"] == "bf16", "bf16" in str(d["precision"] or cfg.train.precision)

    def floor(d: dict | None) -> dict:
        bf16_t, bf16_s = precisions(d)  # the floor trains in the precision distillery chose
        t0 = time.perf_counter()
        fl = floor_text(cfg, bf16_t, bf16_s, floor_loss) if task == "banking77" else floor_image(cfg, bf16_t, bf16_s)
        fl["wall_s"] = round(time.perf_counter() - t0, 2)
        return fl

    if floor_first:
        fl = floor(None)
        d = job()
        if precisions(d) != precisions(None):
            raise SystemExit("the floor ran first in a precision distillery did not choose; run with --order "
                             "distillery-first")
    else:
        d = job()
        fl = floor(d)
    return {"seed": seed, "order": "floor first" if floor_first else "distillery first", "distillery": d,
            "floor": fl, "ratio_end_to_end": round(d["wall_s"] / fl["wall_s"], 3),
            "ratio_steady_epoch": round(steady(d["epoch_s"]) / steady(fl["epoch_s"]), 3),
            "accuracy_gap_points": round(100 * (d["accuracy"] - fl["accuracy"]), 2)}


def summary(pairs: list[dict]) -> dict:
    out: dict = {}
    for key in ("ratio_end_to_end", "ratio_steady_epoch", "accuracy_gap_points"):
        out[key] = [round(v, 3) for v in _mean_std([p[key] for p in pairs])]
    for side in ("distillery", "floor"):
        out[f"{side}_accuracy"] = [round(100 * v, 2) for v in _mean_std([p[side]["accuracy"] for p in pairs])]
        out[f"{side}_wall_s"] = [round(v, 1) for v in _mean_std([p[side]["wall_s"] for p in pairs])]
    return out


def table(results: dict) -> str:
    """The markdown table of docs/benchmarks.md, from the JSON this script wrote."""
    rows = ["| task (seeds) | distillery, whole job | floor, whole job | end-to-end ratio | steady epoch: distillery / "
            "floor | test accuracy: distillery / floor |", "|---|---:|---:|---:|---:|---:|"]
    for task, r in results["tasks"].items():
        s, n = r["summary"], len(r["seeds"])
        first = r["seeds"][0]

        def pm(v, unit="", n=n):
            return f"{v[0]:.2f}{unit}" + (f" ± {v[1]:.2f}{unit}" if n > 1 else "")

        rows.append(f"| {task}, {r['epochs']} epochs ({n}) | {pm(s['distillery_wall_s'], ' s')} | "
                    f"{pm(s['floor_wall_s'], ' s')} | {pm(s['ratio_end_to_end'])} | "
                    f"{steady(first['distillery']['epoch_s']):.2f} s / {steady(first['floor']['epoch_s']):.2f} s "
                    f"({pm(s['ratio_steady_epoch'])}) | {pm(s['distillery_accuracy'], ' %')} / "
                    f"{pm(s['floor_accuracy'], ' %')} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--epochs", type=int, default=None, help="override every task's epochs (quick looks)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0], help="one pair (distillery, floor) per seed")
    ap.add_argument("--method", default="au", help="distillery's method (the job is au; kd has the floor's loss)")
    ap.add_argument("--set", dest="overrides", action="append", default=[],
                    help="a config override for distillery's job (not the floor's), e.g. distill.projector=linear; "
                         "the row's name lists it")
    ap.add_argument("--floor-loss", choices=["kd", "au"], default="kd",
                    help="the floor's loss: CE + KD (the issue's floor), or au: the job's own loss written plainly "
                         "(text only), which isolates distillery's overhead from the term's compute")
    ap.add_argument("--order", choices=["alternate", "distillery-first"], default="alternate",
                    help="which arm of a pair runs first: alternate (distillery first on the 1st, 3rd... seed, "
                         "the floor first on the others) or always distillery (rows measured before 2026-12-06)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "end_to_end.json")
    ap.add_argument("--table", action="store_true", help="print the markdown table of --out and exit")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return
    if args.floor_loss == "au" and (args.tasks != ["banking77"] or args.method != "au"):
        raise SystemExit("--floor-loss au: the au floor is written for the text task and the au job: "
                         "--tasks banking77 --method au")
    torch.set_num_threads(args.threads)
    import datasets  # noqa: F401  (imported once, before either is timed: both are measured warm)
    import lightning  # noqa: F401
    import transformers  # noqa: F401
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}  # other tasks' rows are kept
    device = device_name(torch.device("cpu"))
    results["machine"] = {"cpu": platform.processor() or platform.machine(), "device": device,
                          "threads": args.threads,
                          "torch": torch.__version__, "bf16": bf16_supported(torch.device("cpu"))}
    results.setdefault("tasks", {})
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip() or None
    for name in args.tasks:
        task = name
        # the job is au; kd: the floor's loss; overrides of distillery's config are named in the row
        extra = ([] if args.method == "au" else [args.method]) + args.overrides + (
            ["floor au"] if args.floor_loss == "au" else [])
        name = f"{task} ({', '.join(extra)})" if extra else task
        epochs = args.epochs or TASKS[task][1]
        old = results["tasks"].get(name, {})
        # seeds measured before (at these epochs) and not re-run now are kept, each with the commit it ran at
        kept = {p["seed"]: p for p in old.get("seeds", []) if old.get("epochs") == epochs}
        for i, seed in enumerate(args.seeds):
            p = pair(task, epochs, args.threads, seed, args.method, args.overrides, args.floor_loss,
                     floor_first=args.order == "alternate" and i % 2 == 1)
            p["commit"], p["device"] = commit, device
            kept[seed] = p
            pairs = [kept[k] for k in sorted(kept)]
            d, fl = p["distillery"], p["floor"]
            print(f"{task} seed {seed}: distillery {d['wall_s']:.1f} s ({100 * d['accuracy']:.2f} %), floor "
                  f"{fl['wall_s']:.1f} s ({100 * fl['accuracy']:.2f} %): end-to-end x{p['ratio_end_to_end']}, "
                  f"steady epoch {steady(d['epoch_s']):.2f} s vs {steady(fl['epoch_s']):.2f} s "
                  f"(x{p['ratio_steady_epoch']})", flush=True)
            results["tasks"][name] = {"epochs": epochs, "method": args.method, "overrides": args.overrides,
                                      "floor_loss": args.floor_loss,
                                      "seeds": pairs,
                                      "summary": summary(pairs)}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))
        print(f"{name}: {results['tasks'][name]['summary']}")
    print(table(results))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
