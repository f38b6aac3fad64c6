"""bfloat16 / float16 parameters in ctrain.optim.

The promise (python/ctrain/optim.py, docs/pytorch.md): a step computes in
float32 from the stored values (parameter or master copy, gradient, state)
with the optimizer's float32 numerics and rounds once to each buffer's
storage dtype. The reference here is torch.optim itself, run in float32 on
the upcast values, with the results rounded by torch's own .to(dtype)
(round to nearest even): an independent implementation of the same rule.
ctrain's float32 numerics follow torch's kernels operation by operation but
not always to the last bit (torch's CPU sqrt, its vectorized bodies against
its scalar tails; see docs/pytorch.md "Numerics"), so the comparison allows
float32 rounding noise and one ulp of 16-bit storage, and at most 10% of
the elements may differ at all: a wrong order of rounding, a skipped
conversion or a stale state would move most of them by more. RMSprop's and
Adadelta's buffers divide by torch's non-IEEE sqrt (conftest.SQRT_ULP), so
for them half the elements may be an ulp off and a value near zero is
compared against 1e-4 of the buffer's largest.
"""
import copy
import pickle

import pytest
import torch

import ctrain.optim as co

STEPS = 5
SQRT_DRIFT = ("RMSprop", "Adadelta")
SHAPES = [(37,), (8, 33), (1000,)]  # odd sizes: the SIMD kernels' tails too

CASES = [  # (class, kwargs, default state dtype for bf16 parameters)
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01), torch.bfloat16),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True), torch.bfloat16),
    ("Adam", dict(lr=1e-2, weight_decay=0.01), torch.bfloat16),
    ("Adam", dict(lr=1e-2, amsgrad=True), torch.bfloat16),
    ("AdamW", dict(lr=1e-2), torch.bfloat16),
    ("Adagrad", dict(lr=0.05, initial_accumulator_value=0.1), torch.bfloat16),
    ("RMSprop", dict(lr=1e-2, momentum=0.9), torch.bfloat16),
    # no bf16 state in the engine for these: float32
    ("NAdam", dict(lr=1e-2), torch.float32),
    ("RAdam", dict(lr=1e-2), torch.float32),
    ("Adamax", dict(lr=1e-2), torch.float32),
    ("ASGD", dict(lr=1e-2, t0=2), torch.float32),
    ("Adadelta", dict(lr=1.0), torch.float32),
    ("Rprop", dict(lr=1e-2), torch.float32),
]


def _params(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g).to(dtype).requires_grad_() for s in SHAPES]


def _grads(dtype, step, seed=1):
    g = torch.Generator().manual_seed(seed * 1000 + step)
    return [torch.randn(s, generator=g).to(dtype) for s in SHAPES]


class _Reference:
    """torch.optim in float32 on upcast copies, rounded once per step."""

    def __init__(self, name, kw, params, state_dtype, master):
        self.name, self.kw = name, kw
        self.dtype = params[0].dtype
        self.state_dtype = state_dtype
        self.master = [p.detach().float().clone() for p in params] if master else None
        self.params = [p.detach().clone() for p in params]
        self.state = [dict() for _ in params]
        self.step_no = 0

    def step(self, grads):
        self.step_no += 1
        for k, (p, g) in enumerate(zip(self.params, grads)):
            w = torch.nn.Parameter(self.master[k] if self.master else p.float())
            w.grad = g.float()
            opt = getattr(torch.optim, self.name)([w], foreach=False, **self.kw)
            if self.state[k]:
                opt.state[w] = {n: (v.float().clone() if n != "step" else v.clone())
                                for n, v in self.state[k].items()}
            opt.step()
            st = opt.state[w]
            self.state[k] = {n: (v.to(self.state_dtype) if n != "step" else v)
                             for n, v in st.items()}
            if self.master:
                self.master[k] = w.detach().clone()
            self.params[k] = w.detach().to(self.dtype)


def _run_pair(name, kw, dtype, group_extra, ref_state_dtype, master):
    ps = _params(dtype)
    opt = getattr(co, name)([dict(params=ps, **group_extra)], **kw)
    ref = _Reference(name, kw, ps, ref_state_dtype, master)
    for t in range(STEPS):
        gs = _grads(dtype, t)
        for p, g in zip(ps, gs):
            p.grad = g.clone()
        opt.step()
        ref.step(gs)
    return ps, opt, ref


def _same(a, b, name):
    """Equal up to float32 noise (one ulp of 16-bit storage), at most 10% of
    the elements different at all."""
    if a.dtype != b.dtype:
        return False
    x, y = a.double(), b.double()
    rtol = {torch.float32: 1e-5, torch.bfloat16: 2 ** -7, torch.float16: 2 ** -10}[a.dtype]
    floor, frac = (1e-4, 1.0) if name in SQRT_DRIFT else (1e-3 * rtol, 0.10)
    tol = rtol * y.abs() + floor * y.abs().max()
    return bool(((x - y).abs() <= tol).all()) and float((x != y).double().mean()) <= frac


def _assert_same(ps, opt, ref, name):
    for k, p in enumerate(ps):
        assert p.dtype == ref.dtype
        assert _same(p.detach(), ref.params[k], name), f"{name}: parameter {k} differs"
        st = opt.state[p]
        for n, v in ref.state[k].items():
            if n == "step":
                assert float(st["step"]) == float(v)
                continue
            assert st[n].dtype == v.dtype, f"{name}: state {n} is {st[n].dtype}, not {v.dtype}"
            assert _same(st[n], v.reshape(st[n].shape), name), f"{name}: state {n} of {k} differs"
        if ref.master:
            assert st["master"].dtype == torch.float32
            assert _same(st["master"], ref.master[k], name), f"{name}: master {k} differs"


@pytest.mark.parametrize("name,kw,sdt", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bf16_parameters_default_state(name, kw, sdt):
    ps, opt, ref = _run_pair(name, kw, torch.bfloat16, {}, sdt, master=False)
    _assert_same(ps, opt, ref, name)


@pytest.mark.parametrize("name,kw,sdt", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
@pytest.mark.parametrize("state_dtype", ["fp32", "bf16"])
def test_bf16_parameters_master_weights(name, kw, sdt, state_dtype):
    if state_dtype == "bf16" and sdt != torch.bfloat16:  # no bf16 state for this kind
        with pytest.raises(co.UnsupportedTensorError, match="state_dtype"):
            getattr(co, name)([dict(params=_params(torch.bfloat16), state_dtype="bf16")], **kw)
        return
    ref_sdt = torch.float32 if state_dtype == "fp32" else torch.bfloat16
    ps, opt, ref = _run_pair(name, kw, torch.bfloat16,
                             {"master_weights": True, "state_dtype": state_dtype}, ref_sdt,
                             master=True)
    _assert_same(ps, opt, ref, name)


@pytest.mark.parametrize("name,kw,sdt", CASES[:6], ids=[c[0] for c in CASES[:6]])
def test_fp16_parameters(name, kw, sdt):
    ps, opt, ref = _run_pair(name, kw, torch.float16, {}, torch.float32, master=False)
    _assert_same(ps, opt, ref, name)


def test_float32_parameters_with_bf16_state():
    ps, opt, ref = _run_pair("AdamW", dict(lr=1e-2), torch.float32, {"state_dtype": "bf16"},
                             torch.bfloat16, master=False)
    _assert_same(ps, opt, ref, "AdamW")


def test_master_weights_keep_small_updates():
    """The reason for a master copy: updates below half a bf16 ulp vanish
    from a bf16 parameter but accumulate in the master."""
    p1 = torch.ones(64, dtype=torch.bfloat16, requires_grad=True)
    p2 = torch.ones(64, dtype=torch.bfloat16, requires_grad=True)
    plain = co.SGD([p1], lr=1e-3)
    mast = co.SGD([{"params": [p2], "master_weights": True}], lr=1e-3)
    for _ in range(20):
        p1.grad = torch.ones_like(p1)
        p2.grad = torch.ones_like(p2)
        plain.step()
        mast.step()
    assert torch.all(p1 == 1)  # 1 - 1e-3 rounds back to 1 in bf16, every step
    assert torch.allclose(mast.state[p2]["master"], torch.full((64,), 0.98), atol=1e-5)
    assert torch.all(p2 < 1)


def test_state_dict_moves_both_ways_with_torch():
    ps = _params(torch.bfloat16)
    c = co.AdamW(ps, lr=1e-2)
    qs = [p.detach().clone().requires_grad_() for p in ps]
    t = torch.optim.AdamW(qs, lr=1e-2)
    for step in range(3):
        for p, q, g in zip(ps, qs, _grads(torch.bfloat16, step)):
            p.grad, q.grad = g.clone(), g.clone()
        c.step()
        t.step()
    # ctrain -> torch: torch keeps the bf16 tensors ctrain saved
    sd = c.state_dict()
    t2 = torch.optim.AdamW([p.detach().clone().requires_grad_() for p in ps], lr=1e-2)
    t2.load_state_dict(sd)
    for k in range(len(ps)):
        for n in ("exp_avg", "exp_avg_sq"):
            assert t2.state_dict()["state"][k][n].dtype == torch.bfloat16
            assert torch.equal(t2.state_dict()["state"][k][n], sd["state"][k][n])
    # torch -> ctrain: the loaded state is ctrain's, bit for bit, and steps on
    tsd = t.state_dict()
    c2 = co.AdamW([q.detach().clone().requires_grad_() for q in qs], lr=1e-2)
    c2.load_state_dict(tsd)
    got = c2.state_dict()
    for k in range(len(qs)):
        for n in ("exp_avg", "exp_avg_sq"):
            assert got["state"][k][n].dtype == torch.bfloat16
            assert torch.equal(got["state"][k][n], tsd["state"][k][n])
        assert float(got["state"][k]["step"]) == 3.0


def test_deepcopy_and_pickle_continue_bit_identically():
    ps = _params(torch.bfloat16)
    opt = co.Adam([{"params": ps, "master_weights": True}], lr=1e-2)
    for step in range(2):
        for p, g in zip(ps, _grads(torch.bfloat16, step)):
            p.grad = g.clone()
        opt.step()
    twin_d = copy.deepcopy((ps, opt))
    twin_p = pickle.loads(pickle.dumps((ps, opt)))
    for qs, o in ((ps, opt), twin_d, twin_p):
        for p, g in zip(qs, _grads(torch.bfloat16, 9)):
            p.grad = g.clone()
        o.step()
    for qs, o in (twin_d, twin_p):
        for p, q in zip(ps, qs):
            assert torch.equal(p.detach(), q.detach())
            assert torch.equal(opt.state[p]["master"], o.state[q]["master"])
            assert torch.equal(opt.state[p]["exp_avg"], o.state[q]["exp_avg"])


def test_state_tensors_share_memory_with_the_engine():
    p = torch.randn(100).to(torch.bfloat16).requires_grad_()
    opt = co.Adam([p], lr=1e-2)
    p.grad = torch.ones_like(p)
    opt.step()
    m = opt.state[p]["exp_avg"]
    assert m.dtype == torch.bfloat16
    m.zero_()  # seen by the engine: the next exp_avg is (1 - beta1) * grad
    p.grad = torch.ones_like(p)
    opt.step()
    assert torch.equal(opt.state[p]["exp_avg"], torch.full((100,), 0.1).to(torch.bfloat16))


def test_refusals_are_clear():
    p = torch.zeros(10, dtype=torch.bfloat16, requires_grad=True)
    with pytest.raises(co.UnsupportedTensorError, match="float64"):
        co.Adam([torch.zeros(10, dtype=torch.float64, requires_grad=True)])
    with pytest.raises(co.UnsupportedTensorError, match="lamb|LAMB|16-bit|bf16|bfloat16"):
        co.LAMB([p])
    with pytest.raises(ValueError, match="state_dtype 'int4' is not one of fp32, bf16, int8"):
        co.Adam([{"params": [p], "state_dtype": "int4"}])
    with pytest.raises(co.UnsupportedTensorError, match="adamax.*state_dtype"):
        co.Adamax([p], state_dtype="int8")
    with pytest.raises(ValueError, match="min_8bit_size must be an int >= 0, got -1"):
        co.Adam([p], state_dtype="int8", min_8bit_size=-1)
    opt = co.Adam([p])
    p.grad_dtype = None  # torch refuses a float32 .grad on a bf16 tensor otherwise
    p.grad = torch.zeros(10, dtype=torch.float32)
    with pytest.raises(co.UnsupportedTensorError, match="dtype torch.float32, the parameter"):
        opt.step()
    assert torch.all(p == 0) and opt.state[p] == {}  # nothing changed
