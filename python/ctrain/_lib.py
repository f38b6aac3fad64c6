"""ctypes binding of the C library (include/ctrain/optim.h).

Nothing here is compiled against Python or PyTorch: the shared library
libctrain is loaded with ctypes, and every buffer is passed as a raw address
(a tensor's data_ptr(), a NumPy array's __array_interface__), so the C engine
updates the caller's memory in place, without copies.
"""
import ctypes
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))

CT_F32, CT_BF16, CT_F16, CT_F64 = 0, 1, 2, 3
CT_STATE_F32, CT_STATE_BF16, CT_STATE_Q8 = 0, 1, 2  # ct_state_storage
U8 = "uint8"  # state_views' tag of 8-bit codes (no ct_dtype)
CT_NONFINITE_ERROR, CT_NONFINITE_SKIP, CT_NONFINITE_NONE = 0, 1, 2
CT_EUNSUPPORTED = 7

_STATUS = {
    1: "invalid argument",
    2: "out of memory",
    3: "I/O error",
    4: "bad format",
    5: "mismatch",
    6: "non-finite value",
    7: "unsupported",
    8: "invalid state",
}


class CtrainError(RuntimeError):
    """A call into the C library failed; .status is its ct_status code."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class NotImplementedKind(CtrainError, NotImplementedError):
    """The C library knows the optimizer but it is not implemented yet."""


class CtParam(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("grad", ctypes.c_void_p),
        ("numel", ctypes.c_size_t),
        ("dtype", ctypes.c_int32),
        ("ndim", ctypes.c_int32),
        ("shape", ctypes.c_int64 * 8),
    ]


def _find_library():
    env = os.environ.get("CTRAIN_LIBRARY")
    if env:
        return env
    names = ["libctrain.so", "libctrain.dylib", "ctrain.dll"]
    for n in names:
        p = os.path.join(_HERE, n)
        if os.path.exists(p):
            return p
    raise OSError(
        "ctrain: the shared library libctrain was not found next to %s; install the "
        "package with 'pip install .' or set CTRAIN_LIBRARY to its path" % _HERE
    )


# ct_sched_lambda_fn: (ctx, schedule, group, epoch, double *factor) -> ct_status
SCHED_LAMBDA_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                   ctypes.c_int64, ctypes.POINTER(ctypes.c_double))


def _load():
    lib = ctypes.CDLL(_find_library())
    P, S, I, D = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_double
    Pp = ctypes.POINTER(ctypes.c_void_p)
    sig = {
        "ct_errmsg": ([], ctypes.c_char_p),
        "ct_version": ([], ctypes.c_char_p),
        "ct_optim_kind_name": ([S], ctypes.c_char_p),
        "ct_optim_create": ([ctypes.POINTER(P), ctypes.c_char_p, ctypes.c_char_p], I),
        "ct_optim_destroy": ([P], None),
        "ct_optim_errmsg": ([P], ctypes.c_char_p),
        "ct_optim_add_group": (
            [P, ctypes.POINTER(CtParam), S, ctypes.c_char_p, ctypes.POINTER(S)],
            I,
        ),
        "ct_optim_set_options": ([P, S, ctypes.c_char_p], I),
        "ct_optim_get_option": (
            [P, S, ctypes.c_char_p, ctypes.POINTER(D), S, ctypes.POINTER(S)],
            I,
        ),
        "ct_optim_set_lr": ([P, S, D], I),
        "ct_optim_get_lr": ([P, S, ctypes.POINTER(D)], I),
        "ct_optim_step": ([P], I),
        "ct_optim_step_buffers": ([P, Pp, Pp, S], I),
        "ct_optim_set_threads": ([P, I], I),
        "ct_optim_set_nonfinite_policy": ([P, I], I),
        "ct_optim_enable_lookahead": ([P, I, D], I),
        "ct_optim_get_lookahead_counter": ([P, S, ctypes.POINTER(ctypes.c_int64)], I),
        "ct_optim_set_lookahead_counter": ([P, S, ctypes.c_int64], I),
        "ct_optim_state_count": ([P, S, S, ctypes.POINTER(S)], I),
        "ct_optim_state_view": (
            [P, S, S, S, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_void_p),
             ctypes.POINTER(S), ctypes.POINTER(ctypes.c_int)],
            I,
        ),
        "ct_optim_state_info": (
            [P, S, S, S, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(S),
             ctypes.POINTER(ctypes.c_int)],
            I,
        ),
        "ct_optim_state_q8_view": (
            [P, S, S, S, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_void_p),
             ctypes.POINTER(S), ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(S)],
            I,
        ),
        "ct_optim_state_read": ([P, S, S, S, P, S], I),
        "ct_optim_state_write": ([P, S, S, S, P, S], I),
        "ct_optim_get_step": ([P, S, S, ctypes.POINTER(ctypes.c_int64)], I),
        "ct_optim_set_step": ([P, S, S, ctypes.c_int64], I),
        "ct_sched_create": ([ctypes.POINTER(P), P, ctypes.c_char_p, ctypes.c_char_p], I),
        "ct_sched_create_lambda": (
            [ctypes.POINTER(P), P, ctypes.c_char_p, ctypes.c_char_p, SCHED_LAMBDA_FN, P], I),
        "ct_sched_fail": ([P, ctypes.c_char_p], None),
        "ct_avg_create": ([ctypes.POINTER(P), ctypes.c_char_p, ctypes.c_char_p], I),
        "ct_avg_update": ([P, ctypes.POINTER(CtParam), ctypes.POINTER(CtParam), S], I),
        "ct_avg_count": ([P, ctypes.POINTER(ctypes.c_int64)], I),
        "ct_avg_set_count": ([P, ctypes.c_int64], I),
        "ct_avg_set_threads": ([P, I], I),
        "ct_avg_errmsg": ([P], ctypes.c_char_p),
        "ct_avg_destroy": ([P], None),
        "ct_sched_create_sequential": (
            [ctypes.POINTER(P), P, ctypes.POINTER(P), S, ctypes.POINTER(ctypes.c_int64)], I),
        "ct_sched_state_size": ([P, ctypes.POINTER(S)], I),
        "ct_sched_get_state": ([P, ctypes.POINTER(D), S], I),
        "ct_sched_set_state": ([P, ctypes.POINTER(D), S], I),
        "ct_sched_step": ([P], I),
        "ct_sched_step_metric": ([P, D], I),
        "ct_sched_last_lr": ([P, S, ctypes.POINTER(D)], I),
        "ct_sched_last_epoch": ([P, ctypes.POINTER(ctypes.c_int64)], I),
        "ct_sched_errmsg": ([P], ctypes.c_char_p),
        "ct_sched_destroy": ([P], None),
    }
    for name, (args, res) in sig.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = res
    return lib


lib = _load()


def version():
    return lib.ct_version().decode()


def kind_names():
    out, i = [], 0
    while True:
        n = lib.ct_optim_kind_name(i)
        if not n:
            return out
        out.append(n.decode())
        i += 1


def fmt_value(v):
    """An option value as the C option parser reads it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (tuple, list)):
        return ",".join(fmt_value(x) for x in v)
    return repr(float(v))


_threads = [max(1, int(os.environ.get("CTRAIN_NUM_THREADS", "1") or 1))]


def set_num_threads(n):
    """Threads every optimizer created afterwards uses for its step (default
    1, or $CTRAIN_NUM_THREADS). Results are bit-identical for any count."""
    n = int(n)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    _threads[0] = n


def get_num_threads():
    return _threads[0]


class Engine:
    """One ct_optim handle. Frees it when the last reference goes (state
    tensors handed out keep a reference, so their memory stays valid)."""

    def __init__(self, kind, threads=None, lookahead=None):
        threads = _threads[0] if threads is None else threads
        h = ctypes.c_void_p()
        st = lib.ct_optim_create(ctypes.byref(h), kind.encode(), b"")
        if st:
            msg = lib.ct_errmsg().decode()
            cls = NotImplementedKind if st == CT_EUNSUPPORTED else CtrainError
            raise cls(st, "ctrain: %s" % msg)
        self.h = h
        self.kind = kind
        self._check(lib.ct_optim_set_nonfinite_policy(h, CT_NONFINITE_NONE))
        if threads != 1:
            self._check(lib.ct_optim_set_threads(h, int(threads)))
        if lookahead is not None:
            self._check(lib.ct_optim_enable_lookahead(h, int(lookahead[0]), float(lookahead[1])))
        self.n_params = 0
        self.n_groups = 0

    def __del__(self):
        h = getattr(self, "h", None)
        if h is not None and lib is not None:
            lib.ct_optim_destroy(h)
            self.h = None

    def _check(self, st, exc=ValueError):
        if st:
            msg = lib.ct_optim_errmsg(self.h).decode()
            if exc is ValueError and st not in (1,):
                raise CtrainError(st, "ctrain: %s" % msg)
            raise exc("ctrain: %s" % msg)

    def add_group(self, specs, options):
        """specs: list of (data address, numel, shape tuple[, CT_* dtype])."""
        n = len(specs)
        arr = (CtParam * n)()
        for i, (ptr, numel, shape, *dt) in enumerate(specs):
            arr[i].data = ptr
            arr[i].grad = None
            arr[i].numel = numel
            arr[i].dtype = dt[0] if dt else CT_F32
            if len(shape) <= 8:
                arr[i].ndim = len(shape)
                for d, s in enumerate(shape):
                    arr[i].shape[d] = s
        self._check(lib.ct_optim_add_group(self.h, arr, n, options.encode(), None))
        self.n_params += n
        self.n_groups += 1

    def set_options(self, g, text):
        self._check(lib.ct_optim_set_options(self.h, g, text.encode()))

    def set_lr(self, g, lr):
        self._check(lib.ct_optim_set_lr(self.h, g, float(lr)))

    def get_lr(self, g):
        v = ctypes.c_double()
        self._check(lib.ct_optim_get_lr(self.h, g, ctypes.byref(v)))
        return v.value

    def get_option(self, g, key):
        vals = (ctypes.c_double * 8)()
        cnt = ctypes.c_size_t()
        self._check(lib.ct_optim_get_option(self.h, g, key.encode(), vals, 8, ctypes.byref(cnt)))
        return [vals[i] for i in range(cnt.value)]

    def step_buffers(self, data_arr, grad_arr, n):
        st = lib.ct_optim_step_buffers(self.h, data_arr, grad_arr, n)
        if st:
            self._check(st, CtrainError)

    def state_layout(self, g, i):
        """[(name, numel, storage)] of one parameter's state buffers, storage
        a CT_STATE_* value."""
        cnt = ctypes.c_size_t()
        self._check(lib.ct_optim_state_count(self.h, g, i, ctypes.byref(cnt)))
        out = []
        for k in range(cnt.value):
            name = ctypes.c_char_p()
            numel = ctypes.c_size_t()
            storage = ctypes.c_int()
            self._check(lib.ct_optim_state_info(self.h, g, i, k, ctypes.byref(name),
                                                ctypes.byref(numel), ctypes.byref(storage)))
            out.append((name.value.decode(), numel.value, storage.value))
        return out

    def state_views(self, g, i):
        """[(key, ctypes array sharing the C memory, tag)] of one parameter's
        state: a float32 or bfloat16 buffer under its name (tag CT_F32 or
        CT_BF16); an 8-bit one as two arrays, its codes under NAME_codes
        (tag U8) and its scales, one per 256 elements, under NAME_absmax
        (tag CT_F32)."""
        out = []
        for k, (name, numel, storage) in enumerate(self.state_layout(g, i)):
            bufs = []
            if storage == CT_STATE_Q8:
                codes, absmax = ctypes.c_void_p(), ctypes.c_void_p()
                n, nb = ctypes.c_size_t(), ctypes.c_size_t()
                self._check(lib.ct_optim_state_q8_view(self.h, g, i, k, None, ctypes.byref(codes),
                                                       ctypes.byref(n), ctypes.byref(absmax),
                                                       ctypes.byref(nb)))
                bufs.append((name + "_codes", ctypes.c_uint8, codes.value, n.value, U8))
                bufs.append((name + "_absmax", ctypes.c_float, absmax.value, nb.value, CT_F32))
            else:
                data = ctypes.c_void_p()
                self._check(lib.ct_optim_state_view(self.h, g, i, k, None, ctypes.byref(data),
                                                    None, None))
                dt = CT_F32 if storage == CT_STATE_F32 else CT_BF16
                ct = ctypes.c_float if dt == CT_F32 else ctypes.c_uint16
                bufs.append((name, ct, data.value, numel, dt))
            for key, ct, addr, n, tag in bufs:
                buf = (ct * n).from_address(addr)
                buf._engine = self  # keeps the C memory alive as long as the buffer
                out.append((key, buf, tag))
        return out

    def state_read(self, g, i, k, addr, numel):
        """Copies state buffer k out as numel float32 values at addr
        (bfloat16 widened, 8-bit codes dequantized)."""
        self._check(lib.ct_optim_state_read(self.h, g, i, k, addr, numel))

    def state_write(self, g, i, k, addr, numel):
        """Sets state buffer k from numel float32 values at addr, stored as
        the buffer is (rounded to bfloat16, quantized to 8 bits)."""
        self._check(lib.ct_optim_state_write(self.h, g, i, k, addr, numel))

    def get_step(self, g, i):
        v = ctypes.c_int64()
        self._check(lib.ct_optim_get_step(self.h, g, i, ctypes.byref(v)))
        return v.value

    def set_step(self, g, i, step):
        self._check(lib.ct_optim_set_step(self.h, g, i, int(step)))

    def get_lookahead_counter(self, g):
        v = ctypes.c_int64()
        self._check(lib.ct_optim_get_lookahead_counter(self.h, g, ctypes.byref(v)))
        return v.value

    def set_lookahead_counter(self, g, counter):
        self._check(lib.ct_optim_set_lookahead_counter(self.h, g, int(counter)))


class Avg:
    """One ct_avg handle (weight averaging, include/ctrain/average.h)."""

    def __init__(self, kind, options="", threads=None):
        h = ctypes.c_void_p()
        if lib.ct_avg_create(ctypes.byref(h), kind.encode(), options.encode()):
            raise ValueError("ctrain: %s" % lib.ct_errmsg().decode())
        self.h = h
        threads = _threads[0] if threads is None else threads
        if threads != 1:
            self._check(lib.ct_avg_set_threads(h, int(threads)))

    def __del__(self):
        h = getattr(self, "h", None)
        if h is not None and lib is not None:
            lib.ct_avg_destroy(h)
        self.h = None

    def _check(self, st):
        if st:
            raise ValueError("ctrain: %s" % lib.ct_avg_errmsg(self.h).decode())

    def update(self, avg, cur):
        """avg, cur: lists of (data address, numel, CT_* dtype), pairwise."""
        n = len(avg)
        a, c = (CtParam * max(n, 1))(), (CtParam * max(n, 1))()
        for arr, specs in ((a, avg), (c, cur)):
            for i, (ptr, numel, dt) in enumerate(specs):
                arr[i].data, arr[i].numel, arr[i].dtype = ptr, numel, dt
        self._check(lib.ct_avg_update(self.h, a, c, n))

    def count(self):
        v = ctypes.c_int64()
        self._check(lib.ct_avg_count(self.h, ctypes.byref(v)))
        return v.value

    def set_count(self, n):
        self._check(lib.ct_avg_set_count(self.h, int(n)))


class _Owned:
    """What a sequential schedule keeps of a child: its pending errors and
    its factor callback (the C child calls it as long as it lives)."""

    def __init__(self, child):
        self._errors, self._fn = child._errors, getattr(child, "_fn", None)


class Sched:
    """One ct_sched handle on an Engine (kept alive as long as the schedule).

    factor(group, epoch) -> float gives the lambda kinds' factors; an
    exception it raises fails the C call that ran it (nothing changes) and
    is raised again from the Python call that made it."""

    def __init__(self, engine, kind, options, factor=None):
        self.h, self.engine, self._errors, self._children = None, engine, [], []
        self.owned_by = None  # the sequential Sched this one belongs to
        h = ctypes.c_void_p()
        if factor is None:
            st = lib.ct_sched_create(ctypes.byref(h), engine.h, kind.encode(), options.encode())
        else:
            self._fn = SCHED_LAMBDA_FN(self._callback(factor, self._errors))
            st = lib.ct_sched_create_lambda(ctypes.byref(h), engine.h, kind.encode(),
                                            options.encode(), self._fn, None)
        if st:
            self._raise_pending()
            raise ValueError("ctrain: %s" % lib.ct_errmsg().decode())
        self.h = h

    @staticmethod
    def _callback(factor, errors):
        def call(ctx, s, group, epoch, out):
            try:
                out[0] = factor(group, epoch)
                return 0
            except BaseException as e:  # raised again by the call that ran us
                errors.append(e)
                lib.ct_sched_fail(s, ("%s: %s" % (type(e).__name__, e)).encode()[:400])
                return 1
        return call

    def _raise_pending(self):
        for box in [self._errors] + [c._errors for c in self._children]:
            if box:
                e = box[0]
                box.clear()
                raise e

    @classmethod
    def sequential(cls, engine, children, milestones):
        """SequentialLR over children (Sched objects), which it takes over:
        from then on they belong to the C sequential schedule (each keeps
        its handle for reading, and this object alive), also when creating
        it fails (the C call destroys them then)."""
        hs = (ctypes.c_void_p * len(children))(*[c.h for c in children])
        ms = (ctypes.c_int64 * max(len(milestones), 1))(*[int(m) for m in milestones])
        self = cls.__new__(cls)
        self.h, self.engine, self._errors, self.owned_by = None, engine, [], None
        self._children = [_Owned(c) for c in children]  # not the children: no cycle
        h = ctypes.c_void_p()
        st = lib.ct_sched_create_sequential(ctypes.byref(h), engine.h, hs, len(children), ms)
        if st:
            for c in children:
                c.h = None
            self._raise_pending()
            raise ValueError("ctrain: %s" % lib.ct_errmsg().decode())
        self.h = h
        for c in children:
            c.owned_by = self
        return self

    def get_state(self):
        n = ctypes.c_size_t()
        self._check(lib.ct_sched_state_size(self.h, ctypes.byref(n)))
        buf = (ctypes.c_double * n.value)()
        self._check(lib.ct_sched_get_state(self.h, buf, n.value))
        return list(buf)

    def set_state(self, values):
        buf = (ctypes.c_double * len(values))(*[float(v) for v in values])
        self._check(lib.ct_sched_set_state(self.h, buf, len(values)))

    def __del__(self):
        h = getattr(self, "h", None)
        if h is not None and lib is not None and getattr(self, "owned_by", None) is None:
            lib.ct_sched_destroy(h)  # an owned child goes with its sequential schedule
        self.h = None

    def _check(self, st):
        if st:
            self._raise_pending()
            raise ValueError("ctrain: %s" % lib.ct_sched_errmsg(self.h).decode())

    def step(self, metric=None):
        if metric is None:
            self._check(lib.ct_sched_step(self.h))
        else:
            self._check(lib.ct_sched_step_metric(self.h, float(metric)))

    def last_lr(self, g):
        v = ctypes.c_double()
        self._check(lib.ct_sched_last_lr(self.h, g, ctypes.byref(v)))
        return v.value

    def last_epoch(self):
        v = ctypes.c_int64()
        self._check(lib.ct_sched_last_epoch(self.h, ctypes.byref(v)))
        return v.value


def make_ptr_array(n):
    return (ctypes.c_void_p * n)()


if sys.byteorder != "little":  # pragma: no cover
    raise ImportError("ctrain's Python binding supports little-endian hosts only")
