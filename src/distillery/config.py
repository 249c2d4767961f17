"""Experiment configuration: one YAML file, validated by pydantic, passed everywhere as one object.

Sections: ``data``, ``teacher``, ``student``, ``distill``, ``train``, ``output``. Unknown keys, wrong types and
missing files are reported with their key path (``train.epochs: ...``). CLI overrides use ``--set a.b=value``.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import DistilleryError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class TextAugmentConfig(_Section):
    """EDA-style text augmentation (Wei & Zou 2019): seeded random swap, deletion, insertion and replacement of
    words. No thesaurus is used: inserted and replacing words come from the training texts' vocabulary, which is
    safe here because the teacher, not the original label, supplies the targets of augmented texts."""

    copies: int = Field(1, gt=0, description="augmented copies of every training text")
    alpha: float = Field(0.1, gt=0, le=0.5, description="fraction of a text's words edited (at least one)")
    ops: list[Literal["swap", "delete", "insert", "replace"]] = Field(
        default_factory=lambda: ["swap", "delete", "insert", "replace"], min_length=1,
        description="the edit operations; each copy uses one, drawn at random")
    labelled: bool = Field(False, description="the edited copies of the training texts keep their source's label "
                           "and join the training split (cross-entropy sees them too): the fair baseline for a "
                           "distilled arm that uses augmented texts; copies of unlabelled transfer texts stay "
                           "unlabelled")


class SyntheticDataConfig(_Section):
    """Synthetic labelled images mixed with the real training set (Farhat & Chen 2024, §1.6 of papers.md)."""

    path: str = Field(description="an image folder with one sub-folder per class (as `distillery synth` writes)")
    ratio: float = Field(1.0, gt=0, description="synthetic images per real training image (1 = '1x', 2 = '2x'); "
                         "all of them when the folder has fewer")


class DiffAugmentConfig(_Section):
    """Differentiable batch augmentation (Zhao et al. 2020 DiffAugment; Zhao & Bilen 2021 DSA parameters)."""

    ops: list[Literal["flip", "color", "crop", "rotate", "scale", "cutout"]] = Field(
        default_factory=lambda: ["flip", "color", "crop", "rotate", "scale", "cutout"], min_length=1)
    mode: Literal["one", "all"] = Field("one", description="one op drawn per batch (the paper's S), or all in turn (M)")


class DataConfig(_Section):
    """Where the task data is and how to read it."""

    source: str = Field(description="Hub dataset id, a local folder (CSV/TSV/JSON/parquet files or an image "
                        "folder), a single data file, or a .npz of encoded images.")
    task: Literal["auto", "text", "image", "clm", "mlm"] = Field(
        "auto", description="classification of text or images (auto: from the data), clm: causal language "
        "modelling of a raw text corpus (max_length = block size), or mlm: masked language modelling of a raw text "
        "corpus (max_length = sequence length with [CLS] and [SEP])")
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="mlm: fraction of the tokens chosen for "
                                   "prediction (of those, 80 % become [MASK], 10 % a random token, 10 % stay)")
    max_tokens: int | None = Field(None, gt=0, description="clm/mlm: keep only the first N tokens of the corpus (a "
                                   "unique-token budget; training for longer then repeats data)")
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    train_split: str = "train"
    val_split: str = "validation"
    test_split: str = "test"
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="carved (seeded) from train when the data "
                                "has no validation split; 0 disables validation")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="carved from train when there is no test split")
    shots_per_class: int | None = Field(None, gt=0, description="few-shot: keep this many seeded training "
                                        "examples per class")
    max_length: int = Field(128, gt=0, description="token limit for text")
    drop_empty: bool = Field(False, description="text: drop rows whose text is empty, blank or missing (with a "
                             "notice) instead of refusing the data")
    augment: Literal["auto", "none", "standard"] = Field(
        "auto", description="images: 'standard' = random crop (padding 1/8) + horizontal flip; 'auto' = standard "
        "for images, none for text")
    mixup: float = Field(0.0, ge=0.0, description="images: mixup (Zhang et al. 2018) of every augmented view with "
                         "a seeded partner's, weight ~ Beta(mixup, mixup); the teacher labels (and caches) the mixed "
                         "view, as in function matching (Beyer et al. 2022), and cross-entropy mixes the two labels. "
                         "0 = off")
    image_size: int | None = Field(None, gt=0, description="resize images to this square size when decoding")
    max_samples: int | None = Field(None, gt=0, description="cap each split at a seeded random subset of this "
                                    "size (quick experiments)")
    seed: int | None = Field(None, ge=0, description="seed of the data splits (validation/test carve, few-shot "
                             "subset, text edits); default: train.seed. Fix it to compare training seeds on one "
                             "split: the teacher's head and output cache are then shared by the seeds")
    transfer: str = Field(
        "none", description="an unlabelled transfer set (Farhat & Chen 2024) on which only the teacher-driven terms "
        "are computed (cross-entropy stays on labelled data): 'none'; 'rest' = the training examples that "
        "shots_per_class leaves out, labels hidden; or a path to extra inputs of the task's kind (a .txt file with "
        "one text per line, a CSV/TSV/JSON/parquet file or folder with data.text_column, an image folder, a .npz)")
    text_augment: TextAugmentConfig | None = Field(
        None, description="text tasks: EDA-style token edits (Wei & Zou 2019) of the training texts, added to the "
        "unlabelled transfer set (the teacher labels them)")
    synthetic: SyntheticDataConfig | None = Field(
        None, description="labelled synthetic images (e.g. from `distillery synth`) mixed into the training set")
    diffaugment: DiffAugmentConfig | None = Field(
        None, description="images: batch-level differentiable augmentation (DiffAugment/DSA), the same for teacher "
        "and student; the teacher then runs live")

    @model_validator(mode="after")
    def _transfer_needs_shots(self):
        if self.transfer == "rest" and not self.shots_per_class:
            raise ValueError("transfer: rest needs shots_per_class (the training examples it leaves out become the "
                             "unlabelled transfer set)")
        if self.mixup > 0 and self.transfer != "none":
            raise ValueError("mixup mixes labelled training images; it is not combined with an unlabelled transfer "
                             "set (data.transfer)")
        return self


class TeacherConfig(_Section):
    """The pre-trained teacher."""

    model: str | list[str] = Field(
        description="model spec: hf:<id or dir>, timm:<name>, torchvision:<name>, or a built-in name; a list of "
        "specs is an ensemble (logits averaged, each member given its head as teacher.head says)")
    weights: str | list[str | None] | None = Field(
        None, description="local weights (.safetensors, or a torch file read with weights_only=True); for an "
        "ensemble one entry per member (null: the member's source weights)")
    kwargs: dict[str, Any] = Field(default_factory=dict)
    member_weights: list[float] | None = Field(None, description="ensemble: the weight of each member's logits "
                                               "in the average (default: equal)")
    embedding_member: int = Field(0, ge=0, description="ensemble: the member whose embedding (and other "
                                  "features) the feature terms distil")
    head: Literal["lp", "ft", "auto", "none"] = Field(
        "lp", description="how to give the teacher a task head when it has none that fits: linear probe, full "
        "fine-tune, auto (both; the fine-tune is kept when its validation accuracy beats the probe's by "
        "head_margin, else the probe), or none (error). ft also fine-tunes a teacher whose head already fits (to "
        "adapt it to the task's inputs, e.g. a CIFAR teacher on JPEG-compressed images)")
    head_margin: float = Field(0.005, ge=0, description="auto: the validation accuracy a fine-tune must gain over "
                               "the probe to replace it (0.005 = half a point)")
    head_epochs: int = Field(0, ge=0, description="epochs of head training; 0 = default (lp: 100, ft: 3)")
    head_lr: float | None = Field(None, gt=0)
    cache: str = Field(
        "auto", description="teacher-output cache: auto (under cache_dir, keyed by a fingerprint of teacher "
        "weights, data and preprocessing), off (run the teacher at every step), or a directory path")
    cache_views: int = Field(0, ge=0, description="augmented views cached per sample; 0 = auto: train.epochs with "
                             "augmentation (each epoch sees the view a live run would), 1 without")
    cache_dtype: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto", description="storage of cached embeddings and logits; auto = bf16 when the teacher runs under bf16 "
        "autocast, else fp32")
    cache_topk: int = Field(0, ge=0, description="store only the top-k logits (fp16) and the remaining probability "
                            "mass; 0 = all logits")

    @model_validator(mode="after")
    def _ensemble(self) -> TeacherConfig:
        if isinstance(self.model, list):
            n = len(self.model)
            if n < 2:
                raise ValueError("teacher.model: an ensemble lists at least two models (or give one spec)")
            if self.weights is not None and (not isinstance(self.weights, list) or len(self.weights) != n):
                raise ValueError(f"teacher.weights: an ensemble of {n} models takes a list of {n} weights files "
                                 "(null for a member with its source's weights)")
            if self.member_weights is not None and (len(self.member_weights) != n or min(self.member_weights) < 0
                                                    or sum(self.member_weights) <= 0):
                raise ValueError(f"teacher.member_weights: {n} non-negative numbers, not all zero")
            if self.embedding_member >= n:
                raise ValueError(f"teacher.embedding_member: {self.embedding_member} is not a member (0..{n - 1})")
        elif isinstance(self.weights, list):
            raise ValueError("teacher.weights: a list is for an ensemble (teacher.model a list of specs)")
        return self

    def members(self) -> list[tuple[str, str | None]]:
        """(spec, weights file) of each model: one for a single teacher, several for an ensemble."""
        if isinstance(self.model, list):
            files = self.weights if isinstance(self.weights, list) else [None] * len(self.model)
            return list(zip(self.model, files, strict=True))
        return [(self.model, self.weights)]  # type: ignore[list-item]  (a list is refused for one model)

    @property
    def spec(self) -> str:
        """The teacher's name in messages and keys (an ensemble's specs joined by +)."""
        return "+".join(self.model) if isinstance(self.model, list) else self.model

    @field_validator("cache", mode="before")
    @classmethod
    def _cache_switch(cls, v):
        # YAML reads a bare off/on/no/yes as a boolean
        return {False: "off", True: "auto"}.get(v, v) if isinstance(v, bool) else v

    cache_dir: str | None = Field(None, description="where teacher heads and teacher-output caches are kept (default "
                                  "$DISTILLERY_CACHE or ~/.cache/distillery)")
    precision: Literal["auto", "bf16", "fp32"] = Field(
        "auto", description="the frozen teacher's inference (probe features, output cache, live outputs, test "
        "accuracy): auto = bf16 autocast where the device has fast bf16 (bf16 GPUs; CPUs whose bf16 matmuls "
        "measured at least 1.3x fp32, i.e. AMX) or the student "
        "trains under bf16, else fp32. A fine-tune (head: ft or auto) trains under the same autocast")


class StudentConfig(_Section):
    """The small student, randomly initialised unless ``weights`` is given."""

    model: str
    weights: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    tokenizer: str | None = Field(None, description="text: tokenizer dir or hub id (default: the teacher's)")


class TermConfig(_Section):
    weight: float = 1.0
    params: dict[str, Any] = Field(default_factory=dict)


class DistillConfig(_Section):
    """Which loss terms to combine (Farhat & Chen 2024 defaults: CE + KD(T=4) + align/uniform, weights 1)."""

    method: str = Field("au", description="a named preset (see `distillery methods`)")
    terms: dict[str, TermConfig] | None = Field(None, description="explicit terms {name: {weight, params}}, "
                                                "replacing the preset's")
    temperature: float = Field(4.0, gt=0)
    projector: Literal["mlp", "linear"] = "mlp"
    proj_dim: int = Field(128, gt=0)
    gather: bool = Field(True, description="multi-process runs: gather logits, embeddings, labels and indices of "
                         "all processes so that every loss term sees the global batch (needed for batch-level terms: "
                         "uniformity, RKD, PKT, CRD's memory); terms on hidden states or attention always compute per "
                         "process")


class BudgetConfig(_Section):
    """A compute budget that ends training (exactly one of the three). It counts everything the run spends on
    training: the teacher's head preparation and cache build, the live teacher and the student's steps (Bui et al.
    2024 fix wall-clock hours; Busbridge et al. 2025 FLOPs); evaluation is not counted."""

    flops: float | None = Field(None, gt=0, description="total FLOPs (e.g. 1e15)")
    hours: float | None = Field(None, gt=0, description="wall-clock hours")
    steps: int | None = Field(None, gt=0, description="optimizer steps of the student")

    @model_validator(mode="after")
    def _exactly_one(self):
        given = [k for k in ("flops", "hours", "steps") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of flops, hours, steps" + (f" (got {', '.join(given)})"
                                                                          if given else ""))
        return self

    def describe(self) -> str:
        k = next(k for k in ("flops", "hours", "steps") if getattr(self, k) is not None)
        return f"{k}={getattr(self, k):g}"


class TrainConfig(_Section):
    epochs: int = Field(10, gt=0, description="epochs; with a budget, the most epochs the budget may use")
    budget: BudgetConfig | None = Field(None, description="end training at this compute budget; the learning-rate "
                                        "schedule follows the budget's progress")
    peak_flops: float | None = Field(None, gt=0, description="the device's peak FLOP/s for MFU (default: measured "
                                     "once per machine with a matmul and stored)")
    batch_size: int = Field(64, gt=0)
    eval_batch_size: int = Field(256, gt=0)
    test_every_epoch: bool = Field(False, description="score the test split after every epoch too (a per-epoch test "
                                   "curve and 'best over epochs', the DAPT code's protocol); off: the validation "
                                   "split is evaluated each epoch and selects, the test split is scored once at the "
                                   "end (without a validation split the test split is evaluated every epoch)")
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    momentum: float = Field(0.9, ge=0)
    scheduler: Literal["cosine", "none"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0)
    seed: int = 0
    accelerator: str = "cpu"
    devices: int | str = 1
    num_nodes: int = Field(1, gt=0)
    strategy: str = Field("auto", description="Lightning strategy: auto, ddp, fsdp, ... (only the student and the "
                          "loss terms' trainable parts are wrapped; the teacher never is)")
    accumulate_grad_batches: int = Field(1, gt=0, description="optimizer step every N batches (effective batch = "
                                         "batch_size x N x devices x nodes)")
    precision: str = Field("auto", description="Lightning precision, e.g. 32-true, bf16-mixed; auto = bf16-mixed "
                           "for image and text classification on a device with fast bf16 (bf16 GPUs; CPUs whose bf16 "
                           "matmuls measured at least 1.3x fp32, i.e. AMX), else 32-true "
                           "(language-model pre-training: 32-true unless set)")
    channels_last: bool = Field(False, description="conv nets: channels_last memory format")
    compile: bool = Field(False, description="torch.compile the student (costs compile time up front)")
    num_workers: int = Field(0, ge=0)
    num_threads: int | None = Field(None, gt=0, description="torch CPU threads (default: torch's choice)")
    deterministic: bool | Literal["auto"] = Field(
        "auto", description="torch.use_deterministic_algorithms: auto = on a GPU only. PyTorch's CPU kernels give "
        "the same result run to run at a fixed thread count, and the deterministic mode costs about 10 % of a text "
        "CNN's epoch there (its embedding gradient)")
    log_every_n_steps: int = Field(20, gt=0)
    progress: bool = True


class GlueConfig(_Section):
    """Downstream evaluation of an ``mlm`` student (Bui et al. 2024): after pre-training, fine-tune it on each GLUE
    task with each learning rate and report the best dev score (accuracy, F1, Matthews corr., Pearson)."""

    source: str = Field(description="folder holding the GLUE task folders (SST-2/, CoLA/, ... with train.tsv and "
                        "dev.tsv), or a Hub dataset id (nyu-mll/glue)")
    tasks: list[str] = Field(default_factory=lambda: ["SST-2", "CoLA", "MRPC", "RTE", "STS-B"])
    lrs: list[float] = Field(default_factory=lambda: [1e-4, 3e-4], description="learning-rate grid")
    epochs: int = Field(3, gt=0)
    batch_size: int = Field(32, gt=0)
    max_length: int = Field(128, gt=0)
    max_train: int | None = Field(None, gt=0, description="subsample each training split to N examples (seeded)")


class SynthConfig(_Section):
    """`distillery synth`: a labelled synthetic image set from a text-to-image diffusion model (Farhat & Chen 2024
    use Stable Diffusion v1-4 with prompts like "a picture of a {class}", 1x or 2x the training-set size)."""

    model: str = Field("CompVis/stable-diffusion-v1-4", description="a diffusers text-to-image pipeline: Hub id or "
                       "local folder")
    out: str | None = Field(None, description="output folder (default: <output.dir>-synthetic)")
    prompts: list[str] | None = Field(None, description="templates with {class}; image k of a class uses template "
                                      "k mod len (default: per dataset family, see `distillery.synthetic.prompts`)")
    images_per_class: int | None = Field(None, gt=0)
    ratio: float | None = Field(None, gt=0, description="images per class = ratio x (real training images / classes)"
                                "; default 1 when images_per_class is not given")
    class_names: dict[str, str] = Field(default_factory=dict, description="how a class is written in prompts, "
                                        "e.g. {automobile: car}")
    batch_size: int = Field(4, gt=0)
    steps: int = Field(50, gt=0, description="denoising steps")
    guidance: float = Field(7.5, ge=0)
    height: int | None = Field(None, gt=0, description="generation size (default: the pipeline's)")
    width: int | None = Field(None, gt=0)
    save_size: int | None = Field(None, gt=0, description="resize saved images to this square size (default: the "
                                  "task's image size when its images are square, else as generated)")
    seed: int = 0
    device: str = Field("auto", description="auto (cuda when available), cpu, cuda, cuda:1, ...")
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = Field("auto", description="auto = fp16 on GPU, fp32 on CPU")

    @model_validator(mode="after")
    def _one_size(self):
        if self.images_per_class is not None and self.ratio is not None:
            raise ValueError("give images_per_class or ratio, not both")
        return self


class OutputConfig(_Section):
    dir: str = Field(description="the run directory; refused if it already exists and is not empty")
    loggers: list[Literal["csv", "tensorboard", "mlflow", "wandb"]] = Field(
        default_factory=lambda: ["csv", "tensorboard"],
        description="where the figures go, through Lightning's loggers: csv (logs/metrics.csv, always written), "
        "tensorboard, mlflow (a local sqlite: store by default), wandb (offline unless wandb_mode: online; the "
        "wandb package is optional)")
    tracking_uri: str | None = Field(None, description="mlflow: the tracking store (default sqlite:///<the folder "
                                     "holding output.dir>/mlflow.db, one store for the arms of a comparison)")
    experiment: str = Field("distillery", description="mlflow experiment / wandb project (compare: compare-<config>)")
    run_name: str | None = Field(None, description="tracker run name (default: the run directory's name)")
    wandb_mode: Literal["offline", "online"] = Field("offline", description="wandb: offline unless set to online")


class Config(_Section):
    data: DataConfig
    teacher: TeacherConfig | None = None
    student: StudentConfig
    distill: DistillConfig = Field(default_factory=DistillConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    output: OutputConfig
    synth: SynthConfig | None = Field(None, description="settings of `distillery synth` (ignored by `run`)")
    glue: GlueConfig | None = Field(None, description="mlm: fine-tune the pre-trained student on GLUE tasks")

    @field_validator("teacher", mode="before")
    @classmethod
    def _null_teacher(cls, v):
        return v or None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _format_validation_error(err: ValidationError, origin: str, blame: dict[str, str] | None = None) -> str:
    """One line for a validation error. ``blame`` maps dotted keys that ``--set`` gave to that ``--set``
    argument: an error at (or under) such a key is reported against the argument, not against the file."""
    parts, origins = [], []
    for e in err.errors():
        loc = ".".join(p if isinstance(p, str) and p.isprintable() and p.strip() == p and p else repr(p)
                       for p in e["loc"]) or "<root>"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            msg = "required key is missing"
        parts.append(f"{loc}: {msg}")
        dotted = ".".join(str(p) for p in e["loc"])
        origins.append(next((arg for key, arg in (blame or {}).items()
                             if dotted == key or dotted.startswith(key + ".")), origin))
    where = origins[0] if len(set(origins)) == 1 else origin
    return " ".join(f"{where}: invalid config: {'; '.join(parts)}".split("\n"))  # one line, always


def parse_value(text: str) -> Any:
    """Parse the right-hand side of ``--set key=value`` as YAML (numbers, booleans, null, lists)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a raw config mapping (returns a copy)."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise DistilleryError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.epochs=5")
        key, value = item.split("=", 1)
        path = [p for p in key.strip().split(".") if p]
        if not path:
            raise DistilleryError(f"--set {item!r}: empty key")
        node = raw
        for p in path[:-1]:
            if node.get(p) is None:
                node[p] = {}
            if not isinstance(node[p], dict):
                raise DistilleryError(f"--set {item!r}: {p} is not a section")
            node = node[p]
        node[path[-1]] = parse_value(value)
    return raw


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: let the constructor report it
                continue
            if first is not None:
                raise DistilleryError(f"{self.name}: the key {key!r} is given twice (lines {first} and {line}); "
                                      "keep one: the second would silently replace the first")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, what: str = "config file") -> Any:
    """A YAML file read safely (no object tags, no duplicate keys); any problem is one DistilleryError line."""
    p = Path(path)
    if p.is_dir():
        raise DistilleryError(f"{what} {p} is a directory; give the YAML file itself (e.g. {p / 'config.yaml'})")
    if not p.is_file():
        raise DistilleryError(f"{what} not found: {p}")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DistilleryError(f"{p}: could not be read as UTF-8 text ({type(e).__name__})") from None
    loader = _UniqueKeyLoader(text)
    loader.name = str(p)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise DistilleryError(f"{p}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
    finally:
        loader.dispose()


def load_raw(path: str | Path, what: str = "config file") -> dict[str, Any]:
    p = Path(path)
    raw = read_yaml(p, what)
    if not isinstance(raw, dict):
        raise DistilleryError(f"{p}: the config must be a mapping with sections data, teacher, student, ...")
    return raw


def build_config(raw: dict[str, Any], origin: str = "config", base_dir: Path | None = None,
                 blame: dict[str, str] | None = None) -> Config:
    """Validate a raw mapping into a :class:`Config`; relative local paths resolve against ``base_dir``.
    ``blame``: dotted keys set by ``--set`` and the argument that set each (named in errors instead of the file)."""
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as e:
        raise DistilleryError(_format_validation_error(e, origin, blame)) from None
    _check_files(cfg, base_dir or Path.cwd())
    return cfg


def override_keys(overrides: list[str]) -> dict[str, str]:
    """``{"train.epochs": "--set train.epochs=x"}`` for the ``--set`` arguments (for error messages)."""
    return {".".join(p for p in item.split("=", 1)[0].strip().split(".") if p): f"--set {item}"
            for item in overrides if "=" in item}


def _resolve(path: str, base_dir: Path) -> str | None:
    """An existing local path: relative to the config file's folder first, then to the working directory."""
    p = Path(path).expanduser()
    for cand in ([p] if p.is_absolute() else [base_dir / p, p]):
        if cand.exists():
            return str(cand)
    return None


def _looks_local(s: str) -> bool:
    return s.startswith((".", "/", "~")) or Path(s).suffix in {
        ".csv", ".tsv", ".json", ".jsonl", ".parquet", ".npz", ".safetensors", ".pt", ".pth", ".th", ".bin"}


def _check_files(cfg: Config, base_dir: Path) -> None:
    """Resolve local paths and report missing files with their key path."""
    checks: list[tuple[str, Any, str]] = [("data.source", cfg.data, "source")]
    if cfg.data.synthetic is not None:
        checks.append(("data.synthetic.path", cfg.data.synthetic, "path"))
    if cfg.data.transfer not in ("none", "rest"):
        checks.append(("data.transfer", cfg.data, "transfer"))
    if cfg.glue is not None:
        checks.append(("glue.source", cfg.glue, "source"))
    for section, name in (("teacher", cfg.teacher), ("student", cfg.student)):
        if name is not None:
            checks.append((f"{section}.weights", name, "weights"))
    for key, obj, attr in checks:
        value = getattr(obj, attr)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]  # an ensemble's weights: one per member
        out = []
        for v in values:
            resolved = _resolve(v, base_dir) if v is not None else None
            if v is not None and resolved is None and (_looks_local(v) or attr in ("weights", "path", "transfer")):
                raise DistilleryError(f"{key}: file or folder not found: {v}")
            out.append(resolved if resolved is not None else v)
        setattr(obj, attr, out if isinstance(value, list) else out[0])
    if cfg.synth is not None:
        resolved = _resolve(cfg.synth.model, base_dir)
        if resolved is not None:
            cfg.synth.model = resolved
        elif _looks_local(cfg.synth.model):
            raise DistilleryError(f"synth.model: local pipeline folder not found: {cfg.synth.model}")
    for section, spec in (("teacher", cfg.teacher), ("student", cfg.student)):
        if spec is None:
            continue
        models = spec.model if isinstance(spec.model, list) else [spec.model]
        out = []
        for m in models:
            if m.startswith(("hf:", "ckpt:")):
                prefix, rest = m.split(":", 1)
                resolved = _resolve(rest, base_dir)
                if resolved is None and _looks_local(rest):
                    raise DistilleryError(f"{section}.model: local model not found: {rest}")
                m = f"{prefix}:{resolved}" if resolved is not None else m
            out.append(m)
        spec.model = out if isinstance(spec.model, list) else out[0]


def load_config(path: str | Path, overrides: list[str] | None = None, method: str | None = None) -> Config:
    """Read, override and validate an experiment YAML file."""
    raw = load_raw(path)
    raw = apply_overrides(raw, overrides or [])
    blame = override_keys(overrides or [])
    if method is not None:
        raw.setdefault("distill", {})
        raw["distill"]["method"] = method
        blame["distill.method"] = f"--method {method}"
    return build_config(raw, origin=str(path), base_dir=Path(path).resolve().parent, blame=blame)
