"""ctrain.data's front ends (DataLoader, TorchDataset, tf_dataset,
numpy_batches) over the C loader: seed stability and data values.

References, independent of ctrain:
  - the sample order: a NumPy implementation of docs/data.md's "Sampler
    algorithm" (np.random.RandomState), below (`reference_order`);
  - the data: the files read back with NumPy (np.load, np.fromfile,
    np.loadtxt), sample k of file f being what DLIO's reader takes.
"""
import os
import re
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
import torch

import ctrain
import ctrain.data as cd

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
from gen_data_refs import reference_order  # noqa: E402  docs/data.md's sampler in NumPy

FILES, SPF, BATCH = 7, 5, 3


def write_workload(path, folder, fmt="npz", seed=7, stdev=0, extra=""):
    with open(path, "w") as f:
        f.write(f"""model:
  name: test
framework: pytorch
workflow:
  generate_data: True
  train: True
dataset:
  data_folder: {folder}
  format: {fmt}
  num_files_train: {FILES}
  num_samples_per_file: {SPF}
  record_length_bytes: 400
  record_length_bytes_stdev: {stdev}
reader:
  data_loader: pytorch
  batch_size: {BATCH}
  read_threads: 2
  prefetch_size: 2
  file_shuffle: seed
  sample_shuffle: seed
  shuffle_size: 4
train:
  epochs: 2
  seed: {seed}
{extra}""")
    return str(path)


@pytest.fixture(scope="module")
def wl(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    path = write_workload(d / "w.yaml", d / "npz")
    cd.generate(path)
    return path


@pytest.fixture(scope="module")
def wl_ragged(tmp_path_factory):
    d = tmp_path_factory.mktemp("ragged")
    path = write_workload(d / "w.yaml", d / "npz", stdev=150)
    cd.generate(path)
    return path




def numpy_read(w, ids):
    """Samples ids of workload w read with NumPy alone."""
    out = []
    for i in ids:
        fi, k = divmod(int(i), SPF)
        p = w.file_path(fi)
        fmt = w.format
        if fmt == "npz":
            x = np.load(p)["x"][..., k]
        elif fmt == "npy":
            x = np.load(p)[..., k]
        elif fmt == "csv":
            x = np.loadtxt(p, delimiter=",", skiprows=1, dtype=np.int64)[k, 1:].astype(np.uint8)
        elif fmt in ("indexed_binary", "mmap_indexed_binary"):
            off = np.fromfile(p + ".off.idx", np.uint64)[k]
            sz = np.fromfile(p + ".sz.idx", np.uint64)[k]
            x = np.fromfile(p, np.uint8)[int(off):int(off + sz)]
        else:
            raise AssertionError(fmt)
        out.append(np.ascontiguousarray(x).reshape(-1))
    return out


def id_batches(it):
    return [np.asarray(ids).tolist() for ids, _ in it]


def flat(batches):
    return [i for b in batches for i in b]


# ---- order: C loader == NumPy reference, across runs, threads, ranks ----

@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_order_matches_reference_every_rank(wl, size):
    w = cd.Workload(wl)
    for epoch in (0, 1):
        for rank in range(size):
            ref = reference_order(FILES, SPF, 7, epoch, rank, size, BATCH)
            got = flat(id_batches(cd.numpy_batches(w, rank=rank, world_size=size, epoch=epoch)))
            assert got == ref.tolist(), (epoch, rank, size)
            assert w.epoch_ids(epoch, rank, size).tolist() == ref.tolist()


def test_order_same_across_runs_threads_prefetch(wl):
    runs = []
    for threads, prefetch in [(1, 1), (1, 1), (2, 2), (3, 1), (4, 3)]:
        ov = {"reader.read_threads": threads, "reader.prefetch_size": prefetch}
        runs.append([id_batches(cd.numpy_batches(wl, ov, rank=r, world_size=2, epoch=1))
                     for r in range(2)])
    assert all(r == runs[0] for r in runs[1:])
    assert flat(runs[0][0]) == reference_order(FILES, SPF, 7, 1, 0, 2, BATCH).tolist()


def test_other_seed_and_epoch_change_order(wl):
    a = flat(id_batches(cd.numpy_batches(wl, rank=0, world_size=1, epoch=0)))
    b = flat(id_batches(cd.numpy_batches(wl, {"train.seed": 8}, rank=0, world_size=1, epoch=0)))
    c = flat(id_batches(cd.numpy_batches(wl, rank=0, world_size=1, epoch=1)))
    assert len(a) == len(b) == len(c) == 33 and a != b and a != c
    assert b == reference_order(FILES, SPF, 8, 0, 0, 1, BATCH).tolist()
    # seed_change_epoch: False -> every epoch in the same order
    ov = {"train.seed_change_epoch": False}
    assert id_batches(cd.numpy_batches(wl, ov, 0, 1, epoch=0)) == \
        id_batches(cd.numpy_batches(wl, ov, 0, 1, epoch=3))


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_no_duplicate_no_loss_across_ranks(wl, size):
    for epoch in (0, 1):
        # drop_last=False: the ranks together read every sample exactly once
        ov = {"reader.drop_last": False}
        parts = [flat(id_batches(cd.numpy_batches(wl, ov, r, size, epoch=epoch)))
                 for r in range(size)]
        allids = [i for p in parts for i in p]
        assert sorted(allids) == list(range(FILES * SPF))
        # drop_last=True (DLIO): disjoint, each rank whole batches of its shard
        parts = [flat(id_batches(cd.numpy_batches(wl, rank=r, world_size=size, epoch=epoch)))
                 for r in range(size)]
        allids = [i for p in parts for i in p]
        assert len(set(allids)) == len(allids)
        per = FILES * SPF // size
        assert all(len(p) == per // BATCH * BATCH for p in parts)


# ---- every front end: same batches, same data ----

def collect(it):
    """[(ids list, data as a list of byte strings)] copied out of the
    (possibly zero-copy) batches, before the next batch is requested."""
    out = []
    for ids, x in it:
        if hasattr(ids, "numpy"):
            ids = ids.numpy()
        if isinstance(x, list):
            rows = [bytes(np.asarray(r)) for r in x]
        elif hasattr(x, "to_list"):  # tf.RaggedTensor
            rows = [bytes(bytearray(r)) for r in x.to_list()]
        else:
            x = x.numpy() if hasattr(x, "numpy") else x
            assert x.dtype == np.uint8 and x.ndim == 2
            rows = [bytes(r) for r in x]
        out.append((np.asarray(ids).tolist(), rows))
    return out


def front_ends(path, rank, size, epoch):
    import tensorflow as tf
    res = {"numpy": collect(cd.numpy_batches(path, rank=rank, world_size=size, epoch=epoch))}
    res["numpy_1thread"] = collect(cd.numpy_batches(path, {"reader.read_threads": 1}, rank, size,
                                                    epoch=epoch))
    res["DataLoader"] = collect(cd.DataLoader(path, rank=rank, world_size=size, epoch=epoch))
    ds = cd.TorchDataset(path, rank=rank, world_size=size, epoch=epoch)
    for nw in (0, 2, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "3 workers > suggested max" on small machines
            dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=nw)
            res[f"torch_workers{nw}"] = collect(dl)
    res["tf.data"] = collect(cd.tf_dataset(path, rank=rank, world_size=size, epoch=epoch))
    res["tf.data_again"] = collect(cd.tf_dataset(path, rank=rank, world_size=size, epoch=epoch))
    assert isinstance(cd.tf_dataset(path), tf.data.Dataset)
    return res


@pytest.mark.parametrize("which", ["uniform", "ragged"])
def test_front_ends_identical_and_equal_numpy(which, wl, wl_ragged):
    path = wl if which == "uniform" else wl_ragged
    w = cd.Workload(path)
    for rank, size, epoch in [(0, 1, 0), (2, 3, 1)]:
        res = front_ends(path, rank, size, epoch)
        ref_ids = reference_order(FILES, SPF, 7, epoch, rank, size, BATCH).tolist()
        base = res["numpy"]
        assert flat([b[0] for b in base]) == ref_ids
        assert all(len(b[0]) == BATCH for b in base)
        for name, r in res.items():
            assert r == base, f"{name} differs from numpy_batches (rank {rank}/{size}, epoch {epoch})"
        # the data is what NumPy reads from the files
        for ids, rows in base:
            assert rows == [bytes(x) for x in numpy_read(w, ids)]
        if which == "ragged":
            assert len({len(r) for _, rows in base for r in rows}) > 1


def test_dataloader_epochs_advance_and_len(wl):
    dl = cd.DataLoader(wl, rank=0, world_size=2, epoch=0)
    assert len(dl) == len(reference_order(FILES, SPF, 7, 0, 0, 2, BATCH)) // BATCH
    e0, e1 = id_batches(dl), id_batches(dl)
    assert flat(e1) == reference_order(FILES, SPF, 7, 1, 0, 2, BATCH).tolist() and e0 != e1
    dl.set_epoch(0)
    assert id_batches(dl) == e0
    assert dl.bytes_read() > 0
    ds = cd.TorchDataset(wl, rank=0, world_size=2)
    assert len(ds) == len(dl)


def test_zero_copy_lifetime_and_copy_option(wl):
    ov = {"reader.read_threads": 1, "reader.prefetch_size": 1}
    ptrs, kept = [], []
    for ids, x in cd.DataLoader(wl, ov, rank=0, world_size=1):  # views keep the loader alive
        ptrs.append(x.data_ptr())
        kept.append(x)  # a view: overwritten by later batches
    # one slot: every batch is a view of the same C buffer
    assert len(set(ptrs)) == 1 and len(ptrs) > 1
    copies = [x for _, x in cd.DataLoader(wl, dict(ov), rank=0, world_size=1, copy=True)]
    assert len({c.data_ptr() for c in copies}) == len(copies)
    w = cd.Workload(wl)
    ids = reference_order(FILES, SPF, 7, 0, 0, 1, BATCH)
    expect = np.stack(numpy_read(w, ids)).reshape(len(copies), BATCH, -1)
    for c, e in zip(copies, expect):
        assert np.array_equal(c.numpy(), e)
    # the kept views all show the last batch's bytes now
    assert all(np.array_equal(k.numpy(), expect[-1]) for k in kept)
    for ids, x in cd.numpy_batches(wl, ov, 0, 1):
        assert not x.flags.owndata
    for ids, x in cd.numpy_batches(wl, ov, 0, 1, copy=True):
        assert x.base is None or x.base.flags.owndata


def _mapped_files():
    """{(start, end): path} of this process's file mappings."""
    out = {}
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5].startswith("/"):
                a, b = (int(x, 16) for x in parts[0].split("-"))
                out[(a, b)] = parts[5]
    return out


@pytest.mark.parametrize("fmt", ["indexed_binary", "tfrecord"])
def test_zero_copy_option_views_the_files(fmt, tmp_path):
    """zero_copy=True: the same batches as the copy path, ragged ones as
    lists of views that lie in mappings of the data files themselves."""
    path = write_workload(tmp_path / "w.yaml", tmp_path / fmt, fmt=fmt, stdev=120)
    if fmt == "tfrecord":  # DLIO reads tfrecord with its tensorflow loader only
        with open(path) as f:
            text = f.read().replace("pytorch", "tensorflow")
        with open(path, "w") as f:
            f.write(text)
    w = cd.generate(path)
    folder = str(tmp_path / fmt)
    for rank, size in [(0, 1), (1, 2)]:
        ref = collect(cd.numpy_batches(w, rank=rank, world_size=size, epoch=1))
        got, in_files, views = [], 0, 0
        for ids, rows in cd.numpy_batches(w, rank=rank, world_size=size, epoch=1, zero_copy=True):
            maps = _mapped_files()
            if isinstance(rows, list):  # ragged: one view per sample
                for r in rows:
                    views += 1
                    assert not r.flags.owndata
                    a = r.ctypes.data
                    in_files += any(lo <= a and a + r.size <= hi and p.startswith(folder)
                                    for (lo, hi), p in maps.items())
            else:  # samples of one size: stacked into one array
                assert rows.ndim == 2 and rows.flags.owndata
            got.append((ids.tolist(), [bytes(r) for r in rows]))
        assert got == ref
        assert views > 0 and in_files == views
        dl = collect(cd.DataLoader(w, rank=rank, world_size=size, epoch=1, zero_copy=True))
        assert dl == ref
        for _, rows in cd.numpy_batches(w, rank=rank, world_size=size, epoch=1, zero_copy=True,
                                        copy=True):
            assert all(r.flags.owndata for r in rows) if isinstance(rows, list) \
                else rows.flags.owndata


@pytest.mark.parametrize("fmt", ["npy", "csv", "indexed_binary", "mmap_indexed_binary"])
def test_other_formats_equal_numpy(fmt, tmp_path):
    path = write_workload(tmp_path / "w.yaml", tmp_path / fmt, fmt=fmt,
                          stdev=0 if fmt == "csv" else 120)
    w = cd.generate(path)
    for rank, size in [(0, 1), (1, 2)]:
        base = collect(cd.numpy_batches(w, rank=rank, world_size=size, epoch=1))
        assert flat([b[0] for b in base]) == reference_order(FILES, SPF, 7, 1, rank, size,
                                                             BATCH).tolist()
        for ids, rows in base:
            assert rows == [bytes(x) for x in numpy_read(w, ids)]


# ---- errors ----

def test_errors_name_key_and_file(tmp_path, wl):
    with pytest.raises(ctrain.CtrainError, match="reader.file_shuffle"):
        cd.Workload(wl, {"reader.file_shuffle": "sometimes"})
    with pytest.warns(UserWarning, match="no_such_key"):
        cd.Workload(wl, ["++workload.dataset.no_such_key=1"])
    empty = write_workload(tmp_path / "e.yaml", tmp_path / "nothing")
    with pytest.raises(ctrain.CtrainError, match="img_0_of_7.npz"):
        next(iter(cd.numpy_batches(empty, rank=0, world_size=1)))
    # a truncated file: the error names it, from the worker's reader too
    d = tmp_path / "trunc"
    p = write_workload(tmp_path / "t.yaml", d)
    w = cd.generate(p)
    victim = w.file_path(int(w.epoch_ids(0)[0]) // SPF)
    with open(victim, "r+b") as f:
        f.truncate(100)
    with pytest.raises(ctrain.CtrainError, match=re.escape(os.path.basename(victim))):
        list(cd.numpy_batches(p, rank=0, world_size=1))
    with pytest.raises(ctrain.CtrainError, match=re.escape(os.path.basename(victim))):
        w.read_samples(w.epoch_ids(0)[:1])


# ---- the examples of docs/data.md run as written ----

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "data.md")


def doc_blocks():
    with open(DOC) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_doc_examples_run_in_order(tmp_path, monkeypatch):
    blocks = doc_blocks()
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    ns = {"__name__": "__doc__"}
    for i, code in enumerate(blocks):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(code, f"docs/data.md example {i}", "exec"), ns)
