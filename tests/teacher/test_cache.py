"""Teacher-output cache: replay equals the live teacher, stale/corrupt/truncated caches are never used, builds
resume, top-k logits keep the teacher's probabilities."""
import json

import numpy as np
import pytest
import torch

from distillery.data.batching import ImageDataset, collate_images
from distillery.data.sources import Split
from distillery.errors import DistilleryError
from distillery.losses.functional import kd_loss
from distillery.models import create_model
from distillery.teacher import CacheSettings, LiveTeacher, open_cache
from distillery.teacher.cache import TeacherCache, read_stored, topk_to_logits

N = 40


@pytest.fixture
def setup():
    torch.manual_seed(0)
    net = create_model("resnet20", 5).eval()
    split = Split(torch.randint(0, 255, (N, 3, 16, 16), dtype=torch.uint8), torch.arange(N) % 5)
    return net, split


def _open(root, net, split, key=None, notices=None, calls=None, shard=None, **settings):
    settings = {"features": ("embedding", "logits"), "views": 3, "chunk": 16, **settings}

    def dataset_for_view(v):
        if calls is not None:
            calls.append(v)
        ds = ImageDataset(split, augment=True, seed=7)
        ds.set_epoch(v)
        return ds

    return open_cache(root, key or {"teacher": "t1"}, CacheSettings(**settings), N, net, dataset_for_view,
                      collate_images, 8, torch.device("cpu"), False, False,
                      notify=(notices.append if notices is not None else lambda m: None), shard=shard)


def _batches(split, epoch, views=3):
    ds = ImageDataset(split, augment=True, seed=7, views=views)
    ds.set_epoch(epoch)
    idx = torch.randperm(N, generator=torch.Generator().manual_seed(epoch))[:12]
    return collate_images([ds[int(i)] for i in idx])


def test_replay_equals_live_teacher_on_the_view_of_each_epoch(setup, tmp_path):
    net, split = setup
    reader, report = _open(tmp_path / "c", net, split)
    assert report.status == "built" and report.views == 3 and report.teacher_forward_s > 0
    live = LiveTeacher(net)
    for epoch in range(5):  # epochs 3 and 4 reuse views 0 and 1
        batch = _batches(split, epoch)
        assert batch["view"].eq(epoch % 3).all()
        a, b = reader.outputs(batch), live.outputs(batch)
        torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(a.embedding, b.embedding, atol=1e-5, rtol=1e-5)
    # different views really are different inputs
    assert not torch.allclose(reader.rows(torch.arange(N), torch.zeros(N))["logits"],
                              reader.rows(torch.arange(N), torch.ones(N))["logits"])


def test_reopened_cache_is_reused_without_teacher_calls(setup, tmp_path):
    net, split = setup
    _open(tmp_path / "c", net, split)
    calls = []
    reader, report = _open(tmp_path / "c", net, split, calls=calls)
    assert report.status == "reused" and calls == []


def test_stale_cache_is_rebuilt_with_a_notice(setup, tmp_path):
    net, split = setup
    _open(tmp_path / "c", net, split, key={"teacher": "t1", "data": "d1"})
    notices = []
    _, report = _open(tmp_path / "c", net, split, key={"teacher": "t2", "data": "d1"}, notices=notices)
    assert report.status == "rebuilt"
    assert len(notices) == 1 and "stale" in notices[0] and "teacher" in notices[0] and "data" not in notices[0]
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["key"]["teacher"] == "t2" and manifest["complete"]


def test_corrupted_chunk_is_detected_and_recomputed(setup, tmp_path):
    net, split = setup
    reader, _ = _open(tmp_path / "c", net, split)
    good = reader.rows(torch.arange(N), torch.full((N,), 1))["logits"].clone()
    arr = np.load(tmp_path / "c" / "logits.npy", mmap_mode="r+")
    arr[1, 20] += 1.0  # view 1, chunk 1 (rows 16..31)
    arr.flush()
    del arr
    notices, calls = [], []
    reader2, report = _open(tmp_path / "c", net, split, notices=notices, calls=calls)
    assert report.status == "resumed" and "checksum" in notices[0] and "1:1" in notices[0]
    assert calls == [1]  # only the damaged view was recomputed
    torch.testing.assert_close(reader2.rows(torch.arange(N), torch.full((N,), 1))["logits"], good)


def test_truncated_array_is_rebuilt(setup, tmp_path):
    net, split = setup
    _open(tmp_path / "c", net, split)
    p = tmp_path / "c" / "embedding.npy"
    p.write_bytes(p.read_bytes()[:1000])
    notices = []
    _, report = _open(tmp_path / "c", net, split, notices=notices)
    assert report.status == "rebuilt" and "damaged" in notices[0]
    assert np.load(p, mmap_mode="r").shape == (3, N, 64)


def test_interrupted_build_resumes_where_it_stopped(setup, tmp_path):
    net, split = setup

    class Boom(RuntimeError):
        pass

    real_forward, seen = net.forward, []

    def failing_forward(inputs):
        seen.append(1)
        if len(seen) == 9:  # chunks are 2 batches of 8 + 0; the 9th batch is in view 1, chunk 1
            raise Boom()
        return real_forward(inputs)

    net.forward = failing_forward
    with pytest.raises(Boom):
        _open(tmp_path / "c", net, split)
    net.forward = real_forward
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    done = set(manifest["done"])
    assert done == {"0:0", "0:1", "0:2", "1:0"} and not manifest["complete"]
    calls = []
    reader, report = _open(tmp_path / "c", net, split, calls=calls)
    assert report.status == "resumed" and calls == [1, 2]
    full, _ = _open(tmp_path / "fresh", net, split)
    for name in ("logits", "embedding"):
        torch.testing.assert_close(reader.tensors[name], full.tensors[name])


def test_topk_logits_keep_top_probabilities_and_the_lost_mass():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(6, 50, generator=g) * 3
    vals, idx = z.topk(8, -1)
    rest = 1 - z.softmax(-1).gather(-1, idx).sum(-1)
    rec = topk_to_logits(vals, idx, rest, 50)
    p = rec.softmax(-1)
    torch.testing.assert_close(p.gather(-1, idx), z.softmax(-1).gather(-1, idx))
    torch.testing.assert_close(1 - p.gather(-1, idx).sum(-1), rest)
    full = topk_to_logits(*z.topk(50, -1), torch.zeros(6), 50)
    torch.testing.assert_close(full, z)


def test_topk_and_half_precision_storage(setup, tmp_path):
    net, split = setup
    live = LiveTeacher(net)
    batch = _batches(split, 0)
    ref = live.outputs(batch)
    reader, report = _open(tmp_path / "k", net, split, topk=3, dtype="bf16")
    out = reader.outputs(batch)
    assert reader.tensors["embedding"].dtype == torch.bfloat16
    assert reader.tensors["logits.topk_values"].dtype == torch.float16
    torch.testing.assert_close(out.embedding, ref.embedding, atol=0.05, rtol=0.02)
    assert out.logits.argmax(-1).equal(ref.logits.argmax(-1))
    # KD against the reconstructed logits stays close to KD against the full ones (5 classes, top 3 kept)
    s = torch.randn_like(ref.logits)
    assert abs(float(kd_loss(s, out.logits)) - float(kd_loss(s, ref.logits))) < 0.1 * float(kd_loss(s, ref.logits))
    full_size = TeacherCache(tmp_path / "k", {}, CacheSettings(("logits",)), N)
    assert report.size_bytes > 0 and full_size is not None
    # read back outside training (benchmarks/teacher_soft_labels.py): the tensors the reader holds, by name
    stored = read_stored(tmp_path / "k", "embedding")
    assert stored.dtype == torch.bfloat16 and torch.equal(stored, reader.tensors["embedding"])
    assert torch.equal(read_stored(tmp_path / "k", "logits.topk_values"), reader.tensors["logits.topk_values"])
    with pytest.raises(DistilleryError, match="no 'logits' array"):
        read_stored(tmp_path / "k", "logits")  # top-k storage holds no full logits


def test_two_ranks_build_a_cache_equal_to_one_process_byte_for_byte(setup, tmp_path):
    import threading

    net, split = setup
    single, _ = _open(tmp_path / "one", net, split)
    results: dict[int, object] = {}
    errors: list[BaseException] = []

    def rank(r):  # two "processes" of one run: separate file locks, one shared cache folder
        try:
            results[r] = _open(tmp_path / "two", net, split, shard=(r, 2))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    one = json.loads((tmp_path / "one" / "manifest.json").read_text())
    two = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert two["complete"] and two["shards"] == 2 and two["done"] == one["done"]
    for spec in one["arrays"].values():
        assert (tmp_path / "two" / spec["file"]).read_bytes() == (tmp_path / "one" / spec["file"]).read_bytes()
    assert not (tmp_path / "two" / "shards" / "2").exists()  # the shards are gone once merged
    for r in (0, 1):
        reader, report = results[r]
        assert report.status in ("built in 2 shards", "reused")
        assert all(torch.equal(reader.tensors[k], single.tensors[k]) for k in single.tensors)
    _, again = _open(tmp_path / "two", net, split, shard=(1, 2))
    assert again.status == "reused"
