"""ctrain.optim.LBFGS: torch.optim.LBFGS on ctrain's C engine (include/ctrain/lbfgs.h).

The parameters are concatenated into one flat vector that the engine updates;
the closure is called from C through a ctypes callback, which copies the
vector into the parameters, runs the closure and gathers the gradients (None
counts as zeros, as torch's _gather_flat_grad). The state lives in the
engine during a step and is exported after every step into self.state in
torch.optim.LBFGS's exact layout (func_evals, n_iter, d, t, old_dirs,
old_stps, ro, H_diag, prev_flat_grad, prev_loss, al), so state_dict(),
load_state_dict(), torch.save and deepcopy work as for torch's, and a state
moves both ways between the two classes. Before a step the state is read
back into the engine unless it is exactly what the last step exported.

An exception raised by the closure propagates unchanged. The parameters are
then left at a consistent point (see ct_lbfgs_step): where they were before
the step if the first evaluation raised; in a strong_wolfe line search, back
at the line search's start with state["t"] = 0; without a line search, at the
new iterate being evaluated. The state describes that point, so the next
step continues correctly.
"""
import ctypes

import torch

from . import _lib

CT_F32, CT_F64 = 0, 3
_CT_ESTATE = 8
_DTYPES = {torch.float32: CT_F32, torch.float64: CT_F64}
_CTYPES = {torch.float32: ctypes.c_float, torch.float64: ctypes.c_double}


class _State(ctypes.Structure):
    _fields_ = [
        ("func_evals", ctypes.c_int64),
        ("n_iter", ctypes.c_int64),
        ("num_old", ctypes.c_int64),
        ("al_len", ctypes.c_int64),
        ("num_al", ctypes.c_int64),
        ("has_history", ctypes.c_int32),
        ("t_is_tensor", ctypes.c_int32),
        ("h_diag_is_tensor", ctypes.c_int32),
        ("t_is_int", ctypes.c_int32),
        ("t", ctypes.c_double),
        ("h_diag", ctypes.c_double),
        ("prev_loss", ctypes.c_double),
    ]


_CLOSURE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                            ctypes.POINTER(ctypes.c_double))


def _declare(lib):
    P, S, I, D = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_double
    Dp = ctypes.POINTER(D)
    sig = {
        "ct_lbfgs_create": ([ctypes.POINTER(P), S, I, ctypes.c_char_p], I),
        "ct_lbfgs_destroy": ([P], None),
        "ct_lbfgs_errmsg": ([P], ctypes.c_char_p),
        "ct_lbfgs_set_options": ([P, ctypes.c_char_p], I),
        "ct_lbfgs_step": ([P, P, _CLOSURE, P, Dp], I),
        "ct_lbfgs_last_step": ([P, ctypes.POINTER(ctypes.c_int64),
                                ctypes.POINTER(ctypes.c_int64)], I),
        "ct_lbfgs_get_state": ([P, ctypes.POINTER(_State)], I),
        "ct_lbfgs_set_state": ([P, ctypes.POINTER(_State)], I),
        "ct_lbfgs_state_vector": ([P, ctypes.c_char_p, S, ctypes.POINTER(P)], I),
        "ct_lbfgs_get_scalars": ([P, ctypes.c_char_p, Dp, S, ctypes.POINTER(S)], I),
        "ct_lbfgs_set_scalars": ([P, ctypes.c_char_p, Dp, S], I),
    }
    for name, (args, res) in sig.items():
        f = getattr(lib, name)
        f.argtypes = args
        f.restype = res
    return lib


_L = _declare(_lib.lib)


def _view(ptr, n, dtype):
    """A tensor over n elements of engine memory at ptr (no copy)."""
    arr = (_CTYPES[dtype] * n).from_address(ptr)
    return torch.frombuffer(arr, dtype=dtype)


def _num(v):
    return repr(float(v))


class _Handle:
    def __init__(self, n, dtype, history_size):
        self.n, self.dtype, self.history_size = n, dtype, history_size
        self.ptr = ctypes.c_void_p()
        st = _L.ct_lbfgs_create(ctypes.byref(self.ptr), n, _DTYPES[dtype],
                                f"history_size={int(history_size)}".encode())
        if st:
            raise ValueError(_lib.lib.ct_errmsg().decode())
        self.views = {}

    def __del__(self):
        if getattr(self, "ptr", None) and self.ptr.value:
            _L.ct_lbfgs_destroy(self.ptr)
            self.ptr = ctypes.c_void_p()

    def check(self, st, exc=ValueError):
        if st:
            raise exc(_L.ct_lbfgs_errmsg(self.ptr).decode())

    def vector(self, name, i=0):
        p = ctypes.c_void_p()
        self.check(_L.ct_lbfgs_state_vector(self.ptr, name.encode(), i, ctypes.byref(p)))
        return self.view(p.value)

    def view(self, ptr):
        v = self.views.get(ptr)
        if v is None:
            v = self.views[ptr] = _view(ptr, self.n, self.dtype)
        return v

    def scalars(self, name):
        buf = (ctypes.c_double * max(1, self.history_size))()
        cnt = ctypes.c_size_t()
        self.check(_L.ct_lbfgs_get_scalars(self.ptr, name.encode(), buf, len(buf),
                                           ctypes.byref(cnt)))
        return list(buf[:cnt.value])


def _check_param(p, i):
    from .optim import UnsupportedTensorError

    what = f"ctrain.optim.LBFGS: parameter {i}"
    sup = "ctrain's LBFGS supports float32 and float64, dense (strided), real CPU tensors"
    if p.layout != torch.strided:
        raise UnsupportedTensorError(f"{what} has layout {p.layout}; {sup}")
    if p.device.type != "cpu":
        raise UnsupportedTensorError(f"{what} is on {p.device}; {sup}")
    if p.is_complex():
        raise UnsupportedTensorError(f"{what} is complex ({p.dtype}); {sup}")
    if p.dtype not in _DTYPES:
        raise UnsupportedTensorError(f"{what} has dtype {p.dtype}; {sup}")


class LBFGS(torch.optim.Optimizer):
    """torch.optim.LBFGS computed by ctrain's C engine: same arguments,
    defaults, errors, iterates, return values and state layout.

    One parameter group only, as torch. Parameters must be float32 or
    float64 (all the same dtype) CPU tensors. A line_search_fn other than
    None and 'strong_wolfe' is refused with torch's RuntimeError at the start
    of step (torch raises it after the first evaluation)."""

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None, *,
                 maximize=False):
        if isinstance(lr, torch.Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._setup()
        dtypes = {p.dtype for p in self._params}
        for i, p in enumerate(self._params):
            _check_param(p, i)
        if len(dtypes) > 1:
            from .optim import UnsupportedTensorError

            raise UnsupportedTensorError(
                "ctrain.optim.LBFGS: the parameters mix dtypes "
                f"{sorted(str(d) for d in dtypes)}; they must all be float32 or all float64")

    def _setup(self):
        self._params = self.param_groups[0]["params"]
        self._h = None
        self._x = None
        self._exported = None
        self._cb = _CLOSURE(self._callback)
        self._closure = None
        self._exc = None

    def __getstate__(self):
        return super().__getstate__()

    def __setstate__(self, state):
        super().__setstate__(state)
        self._setup()

    # ---- the engine ---------------------------------------------------

    def _handle(self, group):
        n = sum(p.numel() for p in self._params)
        dtype = self._params[0].dtype
        hs = group["history_size"]
        h = self._h
        if h is None or h.n != n or h.dtype != dtype or h.history_size != hs:
            h = self._h = _Handle(n, dtype, hs)
            self._x = torch.empty(n, dtype=dtype)
            self._exported = None
        ls = group["line_search_fn"]
        if ls is not None and ls != "strong_wolfe":
            raise RuntimeError("only 'strong_wolfe' is supported")
        lr = group["lr"]
        lr = lr.item() if isinstance(lr, torch.Tensor) else lr
        text = (f"lr={_num(lr)} max_iter={int(group['max_iter'])} "
                f"max_eval={int(group['max_eval'])} "
                f"tolerance_grad={_num(group['tolerance_grad'])} "
                f"tolerance_change={_num(group['tolerance_change'])} "
                f"line_search_fn={'none' if ls is None else ls} "
                f"maximize={'true' if group.get('maximize', False) else 'false'}")
        h.check(_L.ct_lbfgs_set_options(h.ptr, text.encode()))
        return h

    def _fingerprint(self, state):
        out = []
        for k in sorted(state):
            v = state[k]
            if isinstance(v, list):
                out.append((k, id(v), tuple((id(e), getattr(e, "_version", None)) for e in v)))
            elif isinstance(v, torch.Tensor):
                out.append((k, id(v), v._version))
            else:
                out.append((k, repr(v)))
        return (id(state), tuple(out))

    def _import(self, h, state):
        """Writes self.state (torch's layout) into the engine."""
        if self._exported is not None and self._exported == self._fingerprint(state):
            return
        st = _State()
        st.func_evals = int(state.get("func_evals", 0))
        st.n_iter = int(state.get("n_iter", 0))
        has = state.get("d") is not None
        st.has_history = 1 if has else 0
        old_dirs = state.get("old_dirs") or [] if has else []
        old_stps = state.get("old_stps") or [] if has else []
        ro = state.get("ro") or [] if has else []
        if not (len(old_dirs) == len(old_stps) == len(ro)):
            raise ValueError("ctrain.optim.LBFGS: old_dirs, old_stps and ro differ in length")
        st.num_old = len(old_dirs)
        if has:
            t = state.get("t")
            st.t_is_tensor = 1 if isinstance(t, torch.Tensor) else 0
            st.t_is_int = 1 if isinstance(t, int) and not isinstance(t, bool) else 0
            st.t = float(t) if t is not None else 0.0
            hd = state.get("H_diag", 1)
            st.h_diag_is_tensor = 1 if isinstance(hd, torch.Tensor) else 0
            st.h_diag = float(hd)
            st.prev_loss = float(state.get("prev_loss", 0.0))
        al = state.get("al")
        if al is None:
            st.al_len, st.num_al = -1, 0
        else:
            k = 0
            while k < len(al) and al[k] is not None:
                k += 1
            st.al_len, st.num_al = len(al), k
        h.check(_L.ct_lbfgs_set_state(h.ptr, ctypes.byref(st)))
        if has:
            h.vector("d").copy_(state["d"].reshape(-1))
            h.vector("prev_flat_grad").copy_(state["prev_flat_grad"].reshape(-1))
            for i in range(len(old_dirs)):
                h.vector("old_dirs", i).copy_(old_dirs[i].reshape(-1))
                h.vector("old_stps", i).copy_(old_stps[i].reshape(-1))
            vals = (ctypes.c_double * max(1, len(ro)))(*[float(r) for r in ro])
            h.check(_L.ct_lbfgs_set_scalars(h.ptr, b"ro", vals, len(ro)))
        if al is not None:
            vals = (ctypes.c_double * max(1, st.num_al))(*[float(a) for a in al[:st.num_al]])
            h.check(_L.ct_lbfgs_set_scalars(h.ptr, b"al", vals, st.num_al))

    def _export(self, h, state, lr):
        """Writes the engine's state into self.state in torch's layout."""
        st = _State()
        h.check(_L.ct_lbfgs_get_state(h.ptr, ctypes.byref(st)))
        dt = h.dtype
        state["func_evals"] = int(st.func_evals)
        state["n_iter"] = int(st.n_iter)
        if st.has_history:
            state["d"] = h.vector("d").clone()
            if st.t_is_tensor:
                state["t"] = torch.tensor(st.t, dtype=dt)
            elif st.t_is_int:
                state["t"] = int(st.t)
            elif isinstance(lr, int) and not isinstance(lr, bool) and st.t == lr:
                state["t"] = lr  # torch's t = lr keeps an int lr (the default 1) an int
            else:
                state["t"] = float(st.t)
            state["old_dirs"] = [h.vector("old_dirs", i).clone() for i in range(st.num_old)]
            state["old_stps"] = [h.vector("old_stps", i).clone() for i in range(st.num_old)]
            state["ro"] = [torch.tensor(v, dtype=dt) for v in h.scalars("ro")]
            state["H_diag"] = torch.tensor(st.h_diag, dtype=dt) if st.h_diag_is_tensor else 1
            state["prev_flat_grad"] = h.vector("prev_flat_grad").clone()
            state["prev_loss"] = float(st.prev_loss)
        if st.al_len >= 0:
            al = [torch.tensor(v, dtype=dt) for v in h.scalars("al")]
            state["al"] = al + [None] * (st.al_len - len(al))
        self._exported = self._fingerprint(state)

    # ---- the closure, called from C -----------------------------------

    def _callback(self, ctx, xptr, gptr, lossptr):
        try:
            h = self._h
            x = self._x
            off = 0
            for p in self._params:
                k = p.numel()
                p.copy_(x[off:off + k].view_as(p))
                off += k
            loss = self._closure()
            if self._first is None:
                self._first = (loss,)
            lossptr[0] = float(loss)
            g = h.view(gptr)
            off = 0
            for p in self._params:
                k = p.numel()
                if p.grad is None:
                    g[off:off + k].zero_()
                else:
                    gr = p.grad.to_dense() if p.grad.is_sparse else p.grad
                    g[off:off + k].copy_(gr.reshape(-1))
                off += k
            return 0
        except BaseException as e:  # noqa: B902 - re-raised by step
            self._exc = e
            return _CT_ESTATE

    @torch.no_grad()
    def step(self, closure):  # type: ignore[override]
        """Performs one torch.optim.LBFGS step; returns the closure's first
        loss (the object it returned)."""
        if len(self.param_groups) != 1:
            raise AssertionError(
                f"Expected exactly one param_group, but got {len(self.param_groups)}")
        closure = torch.enable_grad()(closure)
        if len(self._params) == 0:
            return closure()
        group = self.param_groups[0]
        h = self._handle(group)
        state = self.state[self._params[0]]
        self._import(h, state)
        x = self._x
        torch.cat([p.detach().reshape(-1) for p in self._params], out=x)
        self._closure, self._first, self._exc = closure, None, None
        loss = ctypes.c_double()
        try:
            st = _L.ct_lbfgs_step(h.ptr, ctypes.c_void_p(x.data_ptr()), self._cb, None,
                                  ctypes.byref(loss))
            off = 0
            for p in self._params:
                k = p.numel()
                p.copy_(x[off:off + k].view_as(p))
                off += k
            self._export(h, state, group["lr"])
            exc, self._exc = self._exc, None
            if exc is not None:
                raise exc
            h.check(st, RuntimeError)
            return self._first[0]
        finally:
            self._closure = None
            self._first = None
