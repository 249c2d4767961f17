"""Shared fixtures: tiny local models and generated datasets, so no test needs the network."""
from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch

WORDS = {
    0: ["balance", "account", "money", "statement", "savings"],
    1: ["card", "lost", "stolen", "block", "pin"],
    2: ["flight", "ticket", "airport", "seat", "boarding"],
    3: ["weather", "rain", "sunny", "forecast", "cold"],
}
FILLER = ["please", "i", "want", "to", "my", "the", "check", "is", "what", "how", "can", "you", "help", "me", "today"]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DISTILLERY_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(2)


def make_sentence(label: int, rng: random.Random) -> str:
    words = rng.sample(WORDS[label], 2) + rng.sample(FILLER, 4)
    rng.shuffle(words)
    return " ".join(words)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({w for ws in WORDS.values() for w in ws} | set(
        FILLER))
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    d = tmp_path_factory.mktemp("tokenizer")
    tok.save_pretrained(str(d))
    return d


def save_tiny_bert(d: Path, tok, model_class: str = "BertModel", seed: int = 0) -> Path:
    """A tiny random BERT (2 layers, 32 wide, 2 heads) of ``model_class`` saved in ``d`` with ``tok``."""
    import transformers
    from transformers import BertConfig

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    getattr(transformers, model_class)(cfg).save_pretrained(str(d))
    tok.save_pretrained(str(d))
    return d


@pytest.fixture(scope="session")
def tiny_bert_builder():
    """``save_tiny_bert`` as a fixture: test modules cannot import it (``conftest`` names several modules)."""
    return save_tiny_bert


@pytest.fixture(scope="session")
def hf_teacher_dir(tmp_path_factory, tokenizer_dir) -> Path:
    """A tiny random BERT saved as a local Hugging Face model directory (with its tokenizer)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    return save_tiny_bert(tmp_path_factory.mktemp("hf_teacher"), tok)


@pytest.fixture(scope="session")
def text_data_dir(tmp_path_factory) -> Path:
    """A folder with train.csv / test.csv (columns text,intent), 4 classes."""
    rng = random.Random(0)
    d = tmp_path_factory.mktemp("text_data")
    names = ["balance", "card", "flight", "weather"]
    for split, n in (("train", 40), ("test", 12)):
        with open(d / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text", "intent"])
            for i in range(n * 4):
                c = i % 4
                w.writerow([make_sentence(c, rng), names[c]])
    return d


def _jpeg(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def make_images(n: int, num_classes: int, seed: int, size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Class c = a bright square in quadrant c on noise: learnable by a tiny CNN."""
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 60, size=(n, size, size, 3), dtype=np.uint8)
    labels = np.arange(n) % num_classes
    h = size // 2
    for i, c in enumerate(labels):
        y, x = divmod(int(c), 2)
        imgs[i, y * h:(y + 1) * h, x * h:(x + 1) * h, c % 3] = 230
    return imgs, labels.astype(np.uint8)


@pytest.fixture(scope="session")
def image_npz(tmp_path_factory) -> Path:
    """An .npz of JPEG bytes in the layout of shared/data/cifar10_jpeg (4 classes, 16x16)."""
    d = tmp_path_factory.mktemp("images")
    out = {"classes": np.array(["a", "b", "c", "d"])}
    for split, n, seed in (("train", 96, 0), ("test", 32, 1)):
        imgs, labels = make_images(n, 4, seed)
        blobs = [_jpeg(im) for im in imgs]
        offs = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        out[f"{split}_jpeg_bytes"] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
        out[f"{split}_jpeg_offsets"] = offs
        out[f"{split}_labels"] = labels
    p = d / "tiny.npz"
    np.savez(p, **out)
    return p


@pytest.fixture(scope="session")
def resnet_teacher_weights(tmp_path_factory, image_npz) -> Path:
    """A resnet20 'pre-trained' briefly on the tiny image task, saved like the akamaster checkpoints."""
    from distillery.config import DataConfig
    from distillery.data import load_task_data
    from distillery.models import create_model

    torch.manual_seed(0)
    data = load_task_data(DataConfig(source=str(image_npz), val_fraction=0.0))
    net = create_model("resnet20", 4)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    x, y = data.train.inputs, data.train.labels
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(net({"pixel_values": x}).logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    p = tmp_path_factory.mktemp("resnet") / "resnet20-tiny.th"
    torch.save({"best_prec1": 0.0, "state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, p)
    return p


def text_config(text_data_dir: Path, hf_teacher_dir: Path, out: Path, **over) -> dict:
    cfg = {
        "data": {"source": str(text_data_dir), "label_column": "intent", "max_length": 16, "val_fraction": 0.1},
        "teacher": {"model": f"hf:{hf_teacher_dir}", "head": "lp"},
        "student": {"model": "text_cnn", "kwargs": {"embed_dim": 16, "num_filters": 8, "kernel_sizes": [1, 2]}},
        "distill": {"method": "au", "proj_dim": 8},
        "train": {"epochs": 2, "batch_size": 16, "lr": 0.01, "progress": False, "seed": 0},
        "output": {"dir": str(out)},
    }
    for k, v in over.items():
        section, key = k.split("__")
        cfg[section][key] = v
    return cfg


def image_config(image_npz: Path, weights: Path, out: Path, **over) -> dict:
    cfg = {
        "data": {"source": str(image_npz), "val_fraction": 0.1},
        "teacher": {"model": "resnet20", "weights": str(weights)},
        "student": {"model": "resnet20"},
        "distill": {"method": "au", "proj_dim": 8},
        "train": {"epochs": 1, "batch_size": 32, "lr": 0.01, "progress": False, "seed": 0},
        "output": {"dir": str(out)},
    }
    for k, v in over.items():
        section, key = k.split("__")
        cfg[section][key] = v
    return cfg


@pytest.fixture(scope="session")
def text_config_builder():
    """``text_config`` as a fixture, for module-scoped fixtures (test modules cannot import ``conftest``)."""
    return text_config


@pytest.fixture
def make_text_config(text_data_dir, hf_teacher_dir, tmp_path):
    """``make_text_config(name, data__key=value, ...)`` -> a raw config dict for a tiny text run."""
    return lambda name="run", **over: text_config(text_data_dir, hf_teacher_dir, tmp_path / name, **over)


@pytest.fixture
def make_image_config(image_npz, resnet_teacher_weights, tmp_path):
    return lambda name="run", **over: image_config(image_npz, resnet_teacher_weights, tmp_path / name, **over)
