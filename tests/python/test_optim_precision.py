"""Reduced precision in ctrain's optimizer engine against independent references.

- 8-bit blockwise state (Dettmers et al. 2022, "8-bit Optimizers via Block-wise
  Quantization"): the dynamic maps re-derived here in NumPy from their definition
  (and compared with bitsandbytes' create_dynamic_map written with torch), the
  blockwise quantizer re-implemented in NumPy (absmax per 256-element block,
  nearest map entry by its thresholds); the codes and absmax ctrain saves must be
  those NumPy computes, bit for bit, and each step must be torch.optim's fp32 step
  on the dequantized state, requantized.
- bf16 state: torch.optim's fp32 step on the upcast state, rounded to nearest even.
- bf16 / fp16 parameters: with an fp32 master copy, torch.optim on a float32 copy
  fed the upcast gradients, rounded; without one, torch.optim's fp32 step from the
  upcast parameter each step, rounded; and how far that is from torch.optim run on
  the bf16 parameters themselves (torch computes in bf16 there).

The engine is driven through its C API (ctypes), since ctrain.optim's torch-facing
classes keep float32 torch-compatible state.
"""
import ctypes
import os
import tempfile

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ctrain import _lib

torch.set_num_threads(1)

L = ctypes.CDLL(_lib.lib._name)
P = ctypes.c_void_p
L.ct_optim_create.argtypes = [ctypes.POINTER(P), ctypes.c_char_p, ctypes.c_char_p]
L.ct_optim_add_group.argtypes = [P, ctypes.POINTER(_lib.CtParam), ctypes.c_size_t,
                                 ctypes.c_char_p, P]
L.ct_optim_step.argtypes = [P]
L.ct_optim_save.argtypes = [P, ctypes.c_char_p]
L.ct_optim_errmsg.argtypes = [P]
L.ct_optim_errmsg.restype = ctypes.c_char_p
L.ct_optim_destroy.argtypes = [P]
L.ct_optim_set_threads.argtypes = [P, ctypes.c_int]
L.ct_optim_set_serial_below.argtypes = [P, ctypes.c_size_t]
L.ct_optim_state_buffer.argtypes = [P, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_size_t,
                                    P, P, P]
CT_F32, CT_BF16, CT_F16 = 0, 1, 2
DT = {torch.float32: CT_F32, torch.bfloat16: CT_BF16, torch.float16: CT_F16}


class Engine:
    """One ct_optim over torch tensors (params and grads share memory with C)."""

    def __init__(self, kind, params, grads, options, threads=1):
        self.h = P()
        assert L.ct_optim_create(ctypes.byref(self.h), kind.encode(), b"") == 0
        arr = (_lib.CtParam * len(params))()
        for i, (p, g) in enumerate(zip(params, grads)):
            arr[i].data, arr[i].grad = p.data_ptr(), g.data_ptr()
            arr[i].numel, arr[i].dtype, arr[i].ndim = p.numel(), DT[p.dtype], 0
        self._check(L.ct_optim_add_group(self.h, arr, len(params), options.encode(), None))
        if threads != 1:
            self._check(L.ct_optim_set_threads(self.h, threads))
            self._check(L.ct_optim_set_serial_below(self.h, 0))
        self.tmp = tempfile.mkdtemp()

    def _check(self, st):
        if st:
            raise RuntimeError(L.ct_optim_errmsg(self.h).decode())

    def step(self):
        self._check(L.ct_optim_step(self.h))

    def state(self):
        path = os.path.join(self.tmp, "s.safetensors")
        self._check(L.ct_optim_save(self.h, path.encode()))
        return load_file(path)

    def __del__(self):
        L.ct_optim_destroy(self.h)


# ---- the dynamic map and the blockwise quantizer, in NumPy --------------------

def dynamic_map(signed):
    """Dettmers et al. 2022, section 2 / bitsandbytes create_dynamic_map(signed,
    max_exponent_bits=7, total_bits=8), evaluated in float64: for i = 0..6 the
    midpoints of linspace(0.1, 1, n + 1) times 10^(i-6), n = 2^i per sign
    (signed) or 2^(i+1) (unsigned); plus 0 and 1; sorted. Returns the float32 map
    and its float32 thresholds (midpoints of neighbours)."""
    d = []
    for i in range(7):
        n = 2 ** i if signed else 2 ** (i + 1)
        b = np.linspace(0.1, 1, n + 1)
        means = (b[:-1] + b[1:]) / 2
        d += list(10.0 ** (i - 6) * means)
        if signed:
            d += list(-(10.0 ** (i - 6)) * means)
    d = np.sort(np.array(d + [0.0, 1.0]))
    assert d.size == 256 and np.unique(d).size == 256
    return d.astype(np.float32), ((d[:-1] + d[1:]) / 2).astype(np.float32)


def bnb_dynamic_map(signed):
    """bitsandbytes.functional.create_dynamic_map as published (torch float32)."""
    data = []
    for i in range(7):
        items = 2 ** i + 1 if signed else 2 ** (i + 1) + 1
        boundaries = torch.linspace(0.1, 1, items, dtype=torch.float32)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-6 + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-6 + i)) * means).tolist()
    data += [0, 1.0]
    data.sort()
    return np.array(data, np.float32)


MAPS = {s: dynamic_map(s) for s in (True, False)}


def quantize(x, signed):
    """Blockwise: absmax of each 256-block; code = number of thresholds below
    x / absmax (float32 division), except that a nonzero value whose code is
    the 0 entry takes the neighbouring entry of its own sign (ctrain's rule,
    a generalisation of bitsandbytes' sign rule for first moments); an
    all-zero block codes 0.0."""
    m, mid = MAPS[signed]
    zero = int(np.flatnonzero(m == 0)[0])
    x = np.asarray(x, np.float32)
    nb = (x.size + 255) // 256
    codes = np.empty(x.size, np.uint8)
    absmax = np.empty(nb, np.float32)
    for b in range(nb):
        xb = x[b * 256:(b + 1) * 256]
        a = np.max(np.abs(xb))
        absmax[b] = a
        if a == 0:
            codes[b * 256:b * 256 + xb.size] = zero
        else:
            xn = xb / a
            c = np.searchsorted(mid, xn, side="left")
            c = np.where((c == zero) & (xn > 0), zero + 1, c)
            if zero > 0:
                c = np.where((c == zero) & (xn < 0), zero - 1, c)
            codes[b * 256:b * 256 + xb.size] = c
    return codes, absmax


def dequantize(codes, absmax, signed):
    m, _ = MAPS[signed]
    return (m[codes.astype(np.int64)] * np.repeat(absmax, 256)[: codes.size]).astype(np.float32)


def test_maps_follow_the_paper_and_bitsandbytes():
    for signed in (True, False):
        m, mid = MAPS[signed]
        bnb = bnb_dynamic_map(signed)
        assert bnb.size == 256
        np.testing.assert_allclose(m, bnb, rtol=2e-7, atol=0)
        assert m[-1] == 1 and (m[0] < -0.99 if signed else m[0] == 0)
        assert np.all(np.diff(m) > 0) and np.all((mid > m[:-1]) & (mid < m[1:]))
        assert np.sum(m < 0) == (127 if signed else 0)


def grads(n, seed, scales=True):
    """A gradient with blocks of very different magnitudes, an all-zero block
    and a partial last block."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=g)
    if scales:
        nb = (n + 255) // 256
        s = 10.0 ** torch.linspace(-8, 3, nb)
        x = x * s.repeat_interleave(256)[:n]
        x[256:512] = 0
    return x.float()


N = 5000  # 19 full blocks and one of 136


@pytest.mark.parametrize("threads", [1, 2])
def test_first_step_codes_are_numpys(threads):
    """Step 1 stores g (sgd momentum), g*g (adagrad), (1-b1) g and (1-b2) g g
    (adam): the quantizer alone, signed and unsigned, against NumPy."""
    g = grads(N, 1)
    gn = g.numpy()
    cases = [
        ("sgd", "lr=0.1 momentum=0.9", {"momentum_buffer": (gn, True)}),
        ("adagrad", "lr=0.1", {"sum": (gn * gn, False)}),
        ("adamw", "lr=0.001", {"exp_avg": (np.float32(0.1) * gn, True),
                               "exp_avg_sq": ((np.float32(1 - 0.999) * gn) * gn, False)}),
    ]
    for kind, opts, want in cases:
        p = torch.zeros(N)
        gg = g.clone()
        e = Engine(kind, [p], [gg], opts + " state_dtype=int8", threads)
        e.step()
        st = e.state()
        for name, (x, signed) in want.items():
            codes, absmax = quantize(x, signed)
            assert st[f"0.0.{name}"].dtype == torch.uint8
            np.testing.assert_array_equal(st[f"0.0.{name}"].numpy(), codes, err_msg=f"{kind} {name}")
            np.testing.assert_array_equal(st[f"0.0.{name}.absmax"].numpy(), absmax)


def test_dequantize_and_requantize_are_numpys():
    """SGD with momentum 1 and dampening 1 keeps buf = dequantized buf, and
    p = fma(-1, buf, p) with lr 1: the parameter shows the dequantized values."""
    g = grads(N, 2)
    p = torch.zeros(N)
    e = Engine("sgd", [p], [g], "lr=1 momentum=1 dampening=1 state_dtype=int8")
    e.step()  # buf = g, p = -g
    codes, absmax = quantize(g.numpy(), True)
    deq = dequantize(codes, absmax, True)
    e.step()  # buf = deq, p = -g - deq
    want = -(g.numpy().astype(np.float64) + deq.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(p.numpy(), want)
    c2, a2 = quantize(deq, True)
    st = e.state()
    np.testing.assert_array_equal(st["0.0.momentum_buffer"].numpy(), c2)
    np.testing.assert_array_equal(st["0.0.momentum_buffer.absmax"].numpy(), a2)


TORCH = {
    "adamw": (lambda p: torch.optim.AdamW([p], lr=1e-2, weight_decay=0.01, foreach=False),
              "lr=0.01 weight_decay=0.01", {"exp_avg": True, "exp_avg_sq": False}),
    "adam": (lambda p: torch.optim.Adam([p], lr=1e-2, foreach=False),
             "lr=0.01", {"exp_avg": True, "exp_avg_sq": False}),
    "sgd": (lambda p: torch.optim.SGD([p], lr=1e-2, momentum=0.9, foreach=False),
            "lr=0.01 momentum=0.9", {"momentum_buffer": True}),
    "adagrad": (lambda p: torch.optim.Adagrad([p], lr=1e-2, foreach=False),
                "lr=0.01", {"sum": False}),
    "rmsprop": (lambda p: torch.optim.RMSprop([p], lr=1e-3, momentum=0.9, centered=True,
                                              foreach=False),
                "lr=0.001 momentum=0.9 centered=true",
                {"square_avg": False, "momentum_buffer": True, "grad_avg": True}),
}


def torch_step_from(kind, p0, grad, state, step):
    """torch.optim's fp32 step from parameter p0 and the given state."""
    p = p0.clone()
    opt = TORCH[kind][0](p)
    p.grad = grad.clone()
    st = {k: v.clone() for k, v in state.items()}
    if kind in ("adam", "adamw", "rmsprop", "adagrad"):
        st["step"] = torch.tensor(float(step - 1))
    if kind == "adagrad" and step == 1:
        st = {"sum": torch.zeros_like(p), "step": torch.tensor(0.0)}
    if step > 1 or kind == "adagrad":
        opt.state[p] = st
    opt.step()
    return p, opt.state[p]


@pytest.mark.parametrize("kind", list(TORCH))
def test_int8_step_is_torch_step_on_dequantized_state(kind):
    """Every step: the parameter is torch.optim's fp32 step from the dequantized
    state (bit for bit), the new codes and absmax are NumPy's quantization of
    torch's new state, and the stored state is within the quantization error of
    torch's (half the gap between the neighbouring map entries, times absmax)."""
    _, opts, bufs = TORCH[kind]
    p = torch.randn(N, generator=torch.Generator().manual_seed(3))
    g = torch.zeros(N)
    e = Engine(kind, [p], [g], opts + " state_dtype=int8")
    state = {}
    for step in range(1, 7):
        g.copy_(grads(N, 10 + step, scales=step % 2 == 0) * 0.1)
        p0 = p.clone()
        e.step()
        tp, tst = torch_step_from(kind, p0, g, state, step)
        close_params(p, tp, f"{kind} step {step}: parameter differs from torch")
        st = e.state()
        state = {}
        for name, signed in bufs.items():
            x = tst[name].numpy()
            codes, absmax = quantize(x, signed)
            got_c, got_a = st[f"0.0.{name}"].numpy(), st[f"0.0.{name}.absmax"].numpy()
            close_codes(got_c, codes, f"{kind} {name} step {step}")
            np.testing.assert_allclose(got_a, absmax, rtol=1e-6)
            deq = dequantize(got_c, got_a, signed)
            m, mid = MAPS[signed]
            c = got_c.astype(np.int64)
            # the interval that codes to c: between the thresholds around m[c]
            # (the signed map's lowest entry is -0.99297: -1 codes to it)
            lo = np.where(c > 0, mid[np.clip(c - 1, 0, 254)], -1.0 if signed else 0.0)
            hi = np.where(c < 255, mid[np.clip(c, 0, 254)], 1.0)
            zero = int(np.flatnonzero(m == 0)[0])  # the entries next to 0 take all
            lo = np.where(c - 1 == zero, 0.0, lo)   # nonzero values of their sign
            hi = np.where(c + 1 == zero, 0.0, hi)
            half = np.maximum(m[c] - lo, hi - m[c])
            a = np.repeat(got_a, 256)[:N]
            bound = (half + 1e-5) * a + 1e-30  # + ctrain's ulp from torch in absmax
            assert np.all(np.abs(deq - x) <= bound), f"{kind} {name}: beyond quantization error"
            state[name] = torch.from_numpy(deq.copy())


def close_codes(got, want, what):
    """ctrain's fp32 kernels follow torch.optim within an ulp, not bit for bit
    (tests/test_optim_ref.c), so a value next to a rounding boundary may land
    on the neighbouring code: at most 1 apart, for at most 0.2% of elements."""
    d = np.abs(np.asarray(got, np.int64) - np.asarray(want, np.int64))
    assert d.max() <= 1 and np.mean(d > 0) <= 2e-3, (what, int(d.max()), float(np.mean(d > 0)))


def close_params(got, want, what):
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7, msg=what)


def to_bf16_bits(t):
    return t.to(torch.bfloat16).view(torch.int16)


@pytest.mark.parametrize("kind", ["adamw", "sgd", "rmsprop"])
def test_bf16_state_is_torch_rounded(kind):
    _, opts, bufs = TORCH[kind]
    p = torch.randn(N, generator=torch.Generator().manual_seed(4))
    g = torch.zeros(N)
    e = Engine(kind, [p], [g], opts + " state_dtype=bf16")
    state = {}
    for step in range(1, 6):
        g.copy_(grads(N, 20 + step) * 0.1)
        p0 = p.clone()
        e.step()
        tp, tst = torch_step_from(kind, p0, g, state, step)
        close_params(p, tp, f"{kind} step {step}")
        st = e.state()
        for name in bufs:
            assert st[f"0.0.{name}"].dtype == torch.bfloat16
            close_codes(st[f"0.0.{name}"].view(torch.int16).numpy(),
                        to_bf16_bits(tst[name]).numpy(), f"{kind} {name} step {step}")
        state = {n: st[f"0.0.{n}"].float() for n in bufs}


def test_bf16_state_stochastic_rounding():
    """Each stored value is one of the two bf16 neighbours of torch's fp32 value;
    about half the roundings go up for values half-way; 1 and 2 threads agree."""
    _, opts, bufs = TORCH["adamw"]
    runs = []
    for threads in (1, 2):
        p = torch.randn(40000, generator=torch.Generator().manual_seed(5))
        g = grads(40000, 30, scales=False)
        e = Engine("adamw", [p], [g], opts + " state_dtype=bf16 stochastic_rounding=true seed=9",
                   threads)
        p0 = p.clone()
        e.step()
        runs.append((p.clone(), e.state()))
    assert torch.equal(runs[0][0], runs[1][0])
    for n in bufs:
        assert torch.equal(runs[0][1][f"0.0.{n}"].view(torch.int16),
                           runs[1][1][f"0.0.{n}"].view(torch.int16))
    _, tst = torch_step_from("adamw", p0, g, {}, 1)
    for n in bufs:
        x = tst[n]
        lo = (x.view(torch.int32) & ~0xFFFF).view(torch.float32)  # truncation toward zero
        hi_bits = (lo.view(torch.int32) + 0x10000)
        got = runs[0][1][f"0.0.{n}"].float()
        exact = x == lo
        ok = (got == lo) | ((got.view(torch.int32) == hi_bits) & ~exact)
        assert bool(ok.all()), n
        up = (got != lo).double().mean().item()
        frac = ((x.view(torch.int32) & 0xFFFF).double() / 65536).mean().item()
        assert abs(up - frac) < 0.02, (n, up, frac)  # unbiased: P(up) = distance / ulp


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("kind", ["adamw", "adam", "sgd"])
def test_16bit_params_with_master(kind, dtype):
    """The fp32 master copy is torch.optim on a float32 copy fed the upcast
    gradients; the 16-bit parameter is that copy rounded, every step."""
    _, opts, _ = TORCH[kind]
    p32 = torch.randn(N, generator=torch.Generator().manual_seed(6))
    p = p32.to(dtype)
    ref = p.float().clone()
    topt = TORCH[kind][0](ref)
    g = torch.zeros(N, dtype=dtype)
    e = Engine(kind, [p], [g], opts + " master_weights=true")
    for step in range(1, 6):
        g.copy_(grads(N, 40 + step, scales=False) * 0.1)
        e.step()
        ref.grad = g.float()
        topt.step()
        close_codes(p.view(torch.int16).numpy(), ref.to(dtype).view(torch.int16).numpy(),
                    f"{kind} {dtype} step {step}")
    close_params(e.state()["0.0.master"], ref, "master")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("kind", ["adamw", "sgd"])
def test_16bit_params_without_master(kind, dtype):
    """Without a master copy each step is torch.optim's fp32 step from the
    upcast 16-bit parameter (fp32 state), rounded to nearest even. Against
    torch.optim run on the 16-bit parameter itself (bf16 arithmetic and bf16
    state in torch): close, not equal."""
    _, opts, _ = TORCH[kind]
    p = torch.randn(N, generator=torch.Generator().manual_seed(7)).to(dtype)
    native = p.clone()
    nopt = TORCH[kind][0](native)
    ref = p.float().clone()
    topt = TORCH[kind][0](ref)
    g = torch.zeros(N, dtype=dtype)
    e = Engine(kind, [p], [g], opts)
    for step in range(1, 6):
        g.copy_(grads(N, 50 + step, scales=False) * 0.1)
        e.step()
        with torch.no_grad():
            ref.copy_(ref.to(dtype).float())  # the stored parameter is the rounded one
        ref.grad = g.float()
        topt.step()
        close_codes(p.view(torch.int16).numpy(), ref.to(dtype).view(torch.int16).numpy(),
                    f"{kind} {dtype} step {step}")
        native.grad = g.clone()
        nopt.step()
    if dtype == torch.float16:
        return  # torch's fp16 arithmetic: eps=1e-8 is 0 in fp16 and v underflows: inf/NaN
    # torch's bf16 arithmetic (bf16 state, each op rounded): the same
    # trajectory to about one bf16 ulp on average; ctrain's is the fp32 one
    ulp = torch.finfo(dtype).eps * native.float().abs().clamp_min(1e-3)
    dev = (p.float() - native.float()).abs() / ulp
    assert float(dev.mean()) <= 2 and float((dev > 0).double().mean()) < 0.9, float(dev.mean())
