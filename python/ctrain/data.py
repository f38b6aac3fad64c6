"""ctrain's DLIO-compatible data pipeline from Python: the C loader behind
PyTorch, tf.data and NumPy front ends (docs/data.md, "Python").

    import ctrain.data
    for ids, x in ctrain.data.DataLoader("workload.yaml", rank=0, world_size=1):
        ...   # ids: int64 tensor [B] (sample ids), x: uint8 tensor [B, L]

Every front end yields pairs (ids, data) for one epoch of one rank, in the
order of ctrain's sampler (docs/data.md, "Sampler algorithm"): the same
order, batch for batch, from DataLoader, TorchDataset (with any number of
torch DataLoader workers), tf_dataset and numpy_batches, for any
read_threads.

  ids   int64, shape [B]: sample id = file_index * num_samples_per_file +
        sample_in_file, file_index in DLIO's sorted file list.
  data  uint8, shape [B, L] when every sample of the batch has L bytes (a
        data set generated with record_length_bytes_stdev = 0); otherwise a
        list of B one-dimensional uint8 arrays (tf_dataset: a tf.RaggedTensor
        [B, None]). A sample is its raw bytes, C order, as DLIO reads it:
        npz/npy x[..., k] flattened, hdf5 records[k] flattened, tfrecord the
        'image' feature, csv the row's values after the index column,
        indexed_binary the sample's bytes. Reinterpret with .view(dtype) for
        files of another element type.

Buffer lifetime (zero copy): DataLoader, numpy_batches and TorchDataset
without workers hand out views of the C loader's batch buffer. A batch is
valid until the next batch is requested (or the iterator is closed): keep
it longer with copy=True, or .clone()/.copy() it. With zero_copy=True the
samples are views of the data files themselves where the format stores a
sample contiguous and uncompressed (the C loader's zero-copy batches,
docs/data.md; no copy of the bytes at all): a batch of equal-sized samples
is then stacked into one [B, L] array (a copy), a ragged batch is a list of
views, and a view used after the next batch may crash the process (its
file may be unmapped by then), where a batch-buffer view shows later bytes. TorchDataset in a worker
process and tf_dataset always copy (the batch crosses a process or goes to
TensorFlow).
"""
import ctypes
import os
import sys
import warnings

import numpy as np

from ._lib import CtrainError, lib

__all__ = ["Workload", "DataLoader", "TorchDataset", "tf_dataset", "numpy_batches", "generate"]


class _Batch(ctypes.Structure):  # ct_batch (include/ctrain/data.h)
    _fields_ = [
        ("count", ctypes.c_int64),
        ("ids", ctypes.c_void_p),
        ("data", ctypes.c_void_p),
        ("offsets", ctypes.c_void_p),
        ("lengths", ctypes.c_void_p),
        ("index", ctypes.c_int64),
        ("samples", ctypes.c_void_p),
    ]


class _GenOpts(ctypes.Structure):  # ct_dlio_gen_opts
    _fields_ = [("threads", ctypes.c_int), ("rank", ctypes.c_int), ("size", ctypes.c_int),
                ("progress", ctypes.c_int)]


_WARN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)


def _declare():
    P, I, S = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
    i64, u64 = ctypes.c_int64, ctypes.c_uint64
    PB = ctypes.POINTER(_Batch)
    sig = {
        "ct_dlio_config_new": ([ctypes.POINTER(P), ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
                                S, _WARN, P], I),
        "ct_dlio_config_delete": ([P], None),
        "ct_dlio_config_get": ([P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_double)], I),
        "ct_dlio_config_get_string": ([P, ctypes.c_char_p, ctypes.c_char_p, S, ctypes.POINTER(S)], I),
        "ct_dlio_file_path": ([P, I, i64, ctypes.c_char_p, S], I),
        "ct_dlio_epoch_ids": ([P, I, I, I, ctypes.c_int32, P, i64, ctypes.POINTER(i64)], I),
        "ct_dlio_generate": ([P, ctypes.POINTER(_GenOpts)], I),
        "ct_loader_create": ([ctypes.POINTER(P), P, I, I, I], I),
        "ct_loader_destroy": ([P], None),
        "ct_loader_start_epoch": ([P, ctypes.c_int32], I),
        "ct_loader_next": ([P, PB, ctypes.POINTER(I)], I),
        "ct_loader_batches": ([P], i64),
        "ct_loader_bytes_read": ([P], u64),
        "ct_loader_errmsg": ([P], ctypes.c_char_p),
        "ct_loader_set_zero_copy": ([P, I], I),
        "ct_sample_reader_create": ([ctypes.POINTER(P), P, I], I),
        "ct_sample_reader_destroy": ([P], None),
        "ct_sample_reader_read": ([P, P, i64, PB], I),
        "ct_sample_reader_bytes_read": ([P], u64),
        "ct_sample_reader_errmsg": ([P], ctypes.c_char_p),
    }
    for name, (args, res) in sig.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = res


_declare()


def _fail(st, msg=None):
    raise CtrainError(st, "ctrain: %s" % (msg if msg is not None else lib.ct_errmsg().decode()))


def _overrides(overrides):
    """A list of '++workload.SECTION.KEY=VALUE' strings, or a dict
    {'SECTION.KEY': value} (booleans as True/False)."""
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return ["++workload.%s=%s" % (k, v) for k, v in overrides.items()]
    if isinstance(overrides, str):
        return [overrides]
    return [str(o) for o in overrides]


def _default_rank(rank, world_size):
    if rank is not None and world_size is not None:
        return int(rank), int(world_size)
    r = s = None
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        r, s = dist.get_rank(), dist.get_world_size()
    else:
        for a, b in (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"), ("PMI_RANK", "PMI_SIZE"),
                     ("RANK", "WORLD_SIZE")):
            if a in os.environ and b in os.environ:
                r, s = int(os.environ[a]), int(os.environ[b])
                break
    return (int(rank) if rank is not None else (r or 0),
            int(world_size) if world_size is not None else (s or 1))


class Workload:
    """A DLIO workload (ct_dlio_config): the YAML file plus overrides,
    validated as `ctrain dlio validate` does. Unknown keys become Python
    warnings; invalid values raise CtrainError naming key, value and the
    allowed set."""

    def __init__(self, path, overrides=None):
        self.path = os.fspath(path)
        self.overrides = _overrides(overrides)
        self._pid = os.getpid()
        n = len(self.overrides)
        arr = (ctypes.c_char_p * max(n, 1))(*[o.encode() for o in self.overrides])
        msgs = []
        cb = _WARN(lambda ctx, m: msgs.append(m.decode()))
        h = ctypes.c_void_p()
        st = lib.ct_dlio_config_new(ctypes.byref(h), self.path.encode(), arr, n, cb, None)
        for m in msgs:
            warnings.warn("ctrain: " + m, stacklevel=2)
        if st:
            _fail(st)
        self.h = h

    def __del__(self):
        h = getattr(self, "h", None)
        if h is not None and lib is not None and self._pid == os.getpid():
            lib.ct_dlio_config_delete(h)
        self.h = None

    def __getstate__(self):
        return {"path": self.path, "overrides": self.overrides}

    def __repr__(self):
        return "Workload(%r, overrides=%r)" % (self.path, self.overrides)

    def __setstate__(self, s):
        self.__init__(s["path"], s["overrides"])

    def get(self, key):
        """A numeric field by name ('batch_size', 'seed', 'format', ...)."""
        v = ctypes.c_double()
        st = lib.ct_dlio_config_get(self.h, key.encode(), ctypes.byref(v))
        if st:
            _fail(st)
        return int(v.value) if v.value == int(v.value) and key not in (
            "record_length", "record_length_stdev", "record_length_resize", "model_size") else v.value

    def get_string(self, key):
        """'data_folder', 'file_prefix', 'format_name', 'output_folder', ..."""
        n = ctypes.c_size_t()
        st = lib.ct_dlio_config_get_string(self.h, key.encode(), None, 0, ctypes.byref(n))
        if st:
            _fail(st)
        buf = ctypes.create_string_buffer(n.value + 1)
        lib.ct_dlio_config_get_string(self.h, key.encode(), buf, n.value + 1, ctypes.byref(n))
        return buf.value.decode()

    @property
    def format(self):
        return self.get_string("format_name")

    def num_files(self, eval=False):
        return self.get("num_files_eval" if eval else "num_files_train")

    def file_path(self, i, eval=False):
        """Path of file i as DLIO names it."""
        n = lib.ct_dlio_file_path(self.h, int(bool(eval)), int(i), None, 0)
        buf = ctypes.create_string_buffer(n + 1)
        lib.ct_dlio_file_path(self.h, int(bool(eval)), int(i), buf, n + 1)
        return buf.value.decode()

    def epoch_ids(self, epoch=0, rank=0, world_size=1, eval=False):
        """The sample ids rank reads in epoch, in order (int64 array)."""
        n = ctypes.c_int64()
        st = lib.ct_dlio_epoch_ids(self.h, int(bool(eval)), rank, world_size, epoch, None, 0,
                                   ctypes.byref(n))
        if st:
            _fail(st)
        # the sampler needs room for the whole shard before drop_last trims it
        total = self.num_files(eval) * self.get("num_samples_per_file")
        ids = np.empty(max(n.value, total // max(world_size, 1) + 2), np.int64)
        st = lib.ct_dlio_epoch_ids(self.h, int(bool(eval)), rank, world_size, epoch,
                                   ids.ctypes.data, len(ids), ctypes.byref(n))
        if st:
            _fail(st)
        return ids[:n.value].copy()

    def batch_size(self, eval=False):
        return self.get("batch_size_eval" if eval else "batch_size")

    def read_samples(self, ids, eval=False):
        """Reads the given sample ids synchronously with ctrain's readers:
        (ids, data) as numpy_batches yields them, copied."""
        r = getattr(self, "_reader", None)
        if r is None or r[0] != bool(eval) or r[1]._pid != os.getpid():
            r = self._reader = (bool(eval), _SampleReader(self, eval))
        return _as_numpy(r[1].read(ids), copy=True)


def _workload(w, overrides):
    if isinstance(w, Workload):
        if overrides:
            return Workload(w.path, w.overrides + _overrides(overrides))
        return w
    return Workload(w, overrides)


def generate(workload, overrides=None, threads=2, rank=0, world_size=1, progress=False):
    """Writes the workload's data set as `ctrain dlio generate` does
    (byte-identical to dlio-benchmark 2.0.0's generators)."""
    w = _workload(workload, overrides)
    o = _GenOpts(int(threads), int(rank), int(world_size), int(bool(progress)))
    st = lib.ct_dlio_generate(w.h, ctypes.byref(o))
    if st:
        _fail(st)
    return w


def _u64s(addr, n):
    """The n uint64 at C address addr, as a NumPy view (cheaper than
    ctypes.cast and np.ctypeslib.as_array: _as_numpy of a bert batch took
    24 us with those, 15 us with this)."""
    return np.frombuffer((ctypes.c_uint64 * n).from_address(addr), np.uint64)


def _as_numpy(b, copy, owner=None):
    """(ids, data) NumPy views (or copies) of a ct_batch. A view keeps owner
    (the C handle's Python object) alive, so its memory is never freed under
    it; its bytes change when the handle fills the buffer again."""
    n = int(b.count)
    if n == 0:
        return np.empty(0, np.int64), np.empty((0, 0), np.uint8)
    ids = _u64s(b.ids, n).view(np.int64).copy()
    lens = _u64s(b.lengths, n)
    if not b.data:  # zero-copy mode: sample k at samples[k], a view of a file mapping
        ptrs = _u64s(b.samples, n)
        views = []
        for p, k in zip(ptrs.tolist(), lens.tolist()):
            if k == 0:
                views.append(np.empty(0, np.uint8))
                continue
            buf = (ctypes.c_uint8 * k).from_address(p)
            buf._owner = owner
            v = np.frombuffer(buf, np.uint8)
            views.append(v.copy() if copy else v)
        if all(len(v) == len(views[0]) for v in views):
            return ids, np.stack(views)  # one [B, L] array, as the copy path gives
        return ids, views
    offs = _u64s(b.offsets, n)
    total = int(offs[-1] + lens[-1])
    if total:
        buf = (ctypes.c_uint8 * total).from_address(b.data)
        buf._owner = owner
        flat = np.frombuffer(buf, np.uint8)
    else:
        flat = np.empty(0, np.uint8)
    if copy:
        flat = flat.copy()
    L = int(lens[0])
    if bool((lens == L).all()):
        return ids, flat.reshape(n, L)
    return ids, [flat[int(o):int(o) + int(k)] for o, k in zip(offs, lens)]


class _CLoader:
    """One ct_loader handle (read_threads reader threads); zero_copy: its
    zero-copy mode (samples as views of the mapped files)."""

    def __init__(self, w, eval, rank, world_size, zero_copy=False):
        self.w = w
        self._pid = os.getpid()
        h = ctypes.c_void_p()
        st = lib.ct_loader_create(ctypes.byref(h), w.h, int(bool(eval)), rank, world_size)
        if st:
            _fail(st)
        self.h = h
        if zero_copy:
            lib.ct_loader_set_zero_copy(h, 1)
        self.batch = _Batch()
        self.done = ctypes.c_int()

    def __del__(self):
        h = getattr(self, "h", None)
        if h is not None and lib is not None and self._pid == os.getpid():
            lib.ct_loader_destroy(h)
        self.h = None

    def batches(self):
        return int(lib.ct_loader_batches(self.h))

    def bytes_read(self):
        return int(lib.ct_loader_bytes_read(self.h))

    def start(self, epoch):
        st = lib.ct_loader_start_epoch(self.h, int(epoch))
        if st:
            _fail(st, lib.ct_loader_errmsg(self.h).decode())

    def next(self):
        """The next ct_batch, or None at the end of the epoch."""
        st = lib.ct_loader_next(self.h, ctypes.byref(self.batch), ctypes.byref(self.done))
        if st:
            _fail(st, lib.ct_loader_errmsg(self.h).decode())
        return None if self.done.value else self.batch

    def iterate(self, epoch, copy):
        self.start(epoch)
        while True:
            b = self.next()
            if b is None:
                return
            yield _as_numpy(b, copy, self)


class _SampleReader:
    def __init__(self, w, eval):
        self.w = w
        self._pid = os.getpid()
        h = ctypes.c_void_p()
        st = lib.ct_sample_reader_create(ctypes.byref(h), w.h, int(bool(eval)))
        if st:
            _fail(st)
        self.h = h
        self.batch = _Batch()

    def __del__(self):
        h = getattr(self, "h", None)
        if h is not None and lib is not None and self._pid == os.getpid():
            lib.ct_sample_reader_destroy(h)
        self.h = None

    def read(self, ids):
        ids = np.ascontiguousarray(ids, np.int64)
        st = lib.ct_sample_reader_read(self.h, ids.ctypes.data, len(ids), ctypes.byref(self.batch))
        if st:
            _fail(st, lib.ct_sample_reader_errmsg(self.h).decode())
        return self.batch


def numpy_batches(workload, overrides=None, rank=None, world_size=None, epoch=0, eval=False,
                  copy=False, zero_copy=False):
    """A generator of (ids, data) NumPy batches of one epoch of one rank,
    read by the C loader (read_threads threads, prefetch_size batches in
    flight). Zero copy: a batch is valid until the next one is requested,
    unless copy=True. JAX takes the arrays as they are (jnp.asarray copies).
    rank/world_size default to torch.distributed's when initialised, else
    to mpirun's (OMPI_COMM_WORLD_*, PMI_*) or RANK/WORLD_SIZE, else 0/1."""
    w = _workload(workload, overrides)
    rank, world_size = _default_rank(rank, world_size)
    loader = _CLoader(w, eval, rank, world_size, zero_copy)
    yield from loader.iterate(epoch, copy)


def _torch_pair(ids, data):
    import torch
    t = torch.from_numpy(ids)
    if isinstance(data, list):
        return t, [torch.from_numpy(d) for d in data]
    return t, torch.from_numpy(data)


class DataLoader:
    """A DataLoader-compatible iterator over a DLIO workload: each pass
    (`for ids, x in loader`) is one epoch of this rank, yielding torch
    tensors (ids int64 [B], x uint8 [B, L]) that are views of the C loader's
    batch buffer (valid until the next batch; copy=True for owned tensors;
    zero_copy=True: views of the files, see the module's "Buffer lifetime").
    The first pass is epoch `epoch`, each later pass the next epoch (as
    DLIO's training loop); set_epoch(e) chooses the next pass's epoch.
    len(loader) is the number of batches per epoch. One pass at a time:
    starting a pass ends the previous one (one C loader per DataLoader)."""

    def __init__(self, workload, overrides=None, rank=None, world_size=None, epoch=0, eval=False,
                 copy=False, zero_copy=False):
        self.workload = _workload(workload, overrides)
        self.rank, self.world_size = _default_rank(rank, world_size)
        self.eval, self.copy, self.epoch = bool(eval), bool(copy), int(epoch)
        self._loader = _CLoader(self.workload, self.eval, self.rank, self.world_size,
                                bool(zero_copy))

    def __len__(self):
        return self._loader.batches()

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    @property
    def batch_size(self):
        return self.workload.batch_size(self.eval)

    def bytes_read(self):
        """Bytes read from files since the loader was created."""
        return self._loader.bytes_read()

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        for ids, data in self._loader.iterate(epoch, self.copy):
            yield _torch_pair(ids, data)


def _torch_base():
    import torch.utils.data
    return torch.utils.data.IterableDataset


def __getattr__(name):
    if name == "TorchDataset":
        cls = _make_torch_dataset()
        globals()["TorchDataset"] = cls
        return cls
    raise AttributeError(f"module 'ctrain.data' has no attribute {name!r}")


def _make_torch_dataset():
    base = _torch_base()

    class TorchDataset(base):
        """A torch IterableDataset of one epoch of one rank's batches
        (ids int64 [B], x uint8 [B, L]); use it with
        torch.utils.data.DataLoader(ds, batch_size=None, num_workers=W).

        Worker-safe: worker w of W yields batches w, w+W, w+2W, ... of the
        rank's epoch, read by its own C sample reader, so the W workers
        together yield every batch exactly once, and torch's round-robin
        merge gives the batches in sampler order. Without workers the
        threaded C loader is used (zero copy: valid until the next batch,
        unless copy=True); worker batches are fresh shared-memory tensors.
        The epoch is fixed: call set_epoch(e) before each epoch (as with
        DistributedSampler; with persistent_workers=True the workers keep
        the epoch they started with)."""

        def __init__(self, workload, overrides=None, rank=None, world_size=None, epoch=0,
                     eval=False, copy=False):
            super().__init__()
            w = _workload(workload, overrides)
            self.path, self.overrides = w.path, w.overrides
            self.rank, self.world_size = _default_rank(rank, world_size)
            self.epoch, self.eval, self.copy = int(epoch), bool(eval), bool(copy)
            self._w, self._loader, self._reader = w, None, None

        def __getstate__(self):
            s = dict(self.__dict__)
            s["_w"] = s["_loader"] = s["_reader"] = None
            return s

        def set_epoch(self, epoch):
            self.epoch = int(epoch)

        def _workload(self):
            if self._w is None or self._w._pid != os.getpid():
                self._w, self._loader, self._reader = Workload(self.path, self.overrides), None, None
            return self._w

        def __len__(self):
            w = self._workload()
            n = len(w.epoch_ids(self.epoch, self.rank, self.world_size, self.eval))
            bs = w.batch_size(self.eval)
            return (n + bs - 1) // bs

        def __iter__(self):
            import torch
            from torch.utils.data import get_worker_info
            w = self._workload()
            info = get_worker_info()
            if info is None:
                if self._loader is None:
                    self._loader = _CLoader(w, self.eval, self.rank, self.world_size)
                for ids, data in self._loader.iterate(self.epoch, self.copy):
                    yield _torch_pair(ids, data)
                return
            if self._reader is None:
                self._reader = _SampleReader(w, self.eval)
            ids_all = w.epoch_ids(self.epoch, self.rank, self.world_size, self.eval)
            bs = w.batch_size(self.eval)
            nb = (len(ids_all) + bs - 1) // bs
            for b in range(info.id, nb, info.num_workers):
                batch = self._reader.read(ids_all[b * bs:(b + 1) * bs])
                ids, view = _as_numpy(batch, copy=False)
                flat = view.reshape(-1) if not isinstance(view, list) else (
                    np.concatenate(view) if view else np.empty(0, np.uint8))
                t = torch.empty(flat.size, dtype=torch.uint8).share_memory_()
                t.numpy()[:] = flat
                if isinstance(view, list):
                    parts, o = [], 0
                    for v in view:
                        parts.append(t[o:o + v.size])
                        o += v.size
                    yield torch.from_numpy(ids), parts
                else:
                    yield torch.from_numpy(ids), t.view(view.shape)

    TorchDataset.__module__ = __name__
    TorchDataset.__qualname__ = "TorchDataset"  # picklable (spawn start method)
    return TorchDataset


def tf_dataset(workload, overrides=None, rank=None, world_size=None, epoch=0, eval=False,
               ragged=None):
    """A tf.data.Dataset of one epoch of one rank's batches, elements
    (ids int64 [B], x uint8 [B, L]) — or x a tf.RaggedTensor [B, None] when
    samples differ in size (ragged=None: when dataset.record_length_bytes_stdev
    > 0). Each iteration over the dataset reads the epoch again with the C
    loader, in the same order. Batches are copied into TensorFlow."""
    import tensorflow as tf
    w = _workload(workload, overrides)
    rank, world_size = _default_rank(rank, world_size)
    if ragged is None:
        ragged = w.get("record_length_stdev") > 0
    ids_spec = tf.TensorSpec([None], tf.int64)
    if ragged:
        x_spec = tf.RaggedTensorSpec([None, None], tf.uint8, ragged_rank=1, row_splits_dtype=tf.int64)
    else:
        x_spec = tf.TensorSpec([None, None], tf.uint8)

    def gen():
        loader = _CLoader(w, eval, rank, world_size)
        for ids, data in loader.iterate(epoch, True):
            if ragged:
                rows = data if isinstance(data, list) else list(data)
                lens = np.array([len(r) for r in rows], np.int64)
                flat = np.concatenate(rows) if rows else np.empty(0, np.uint8)
                yield ids, tf.RaggedTensor.from_row_lengths(flat, lens)
            else:
                if isinstance(data, list):
                    raise CtrainError(5, "ctrain: tf_dataset: samples of different sizes in one "
                                         "batch; pass ragged=True")
                yield ids, data

    return tf.data.Dataset.from_generator(gen, output_signature=(ids_spec, x_spec))
