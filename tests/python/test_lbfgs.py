"""ctrain.optim.LBFGS against torch.optim.LBFGS.

Both optimizers run the same closures (the same autograd gradients); every
iterate, returned loss and state entry is compared: relative 1e-9 in float64
and 1e-5 in float32 (relative to the largest element of each tensor).
State dicts move both ways mid-run, through torch.save/torch.load
(weights_only=True) and deepcopy, and continuing gives the same iterates.
"""
import copy
import io

import pytest
import torch

import ctrain.optim as co

RTOL = {torch.float64: 1e-9, torch.float32: 1e-5}
MAX_ERR = {torch.float64: 0.0, torch.float32: 0.0}  # printed at the end (-s)


def rel(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    d = (a - b).abs().max().item() if a.numel() else 0.0
    m = b.abs().max().item() if b.numel() else 0.0
    return 0.0 if d == 0 else (d / m if m > 0 else float("inf"))


def assert_close(a, b, dtype, what):
    e = rel(a, b)
    MAX_ERR[dtype] = max(MAX_ERR[dtype], e)
    assert e <= RTOL[dtype], f"{what}: relative error {e:.3g}"


def assert_state_equal(sa, sb, dtype):
    """ctrain's state sa against torch's sb: same keys, types, lengths.

    """
    assert set(sa) == set(sb), (sorted(sa), sorted(sb))
    for k in sb:
        va, vb = sa[k], sb[k]
        if isinstance(vb, torch.Tensor):
            assert isinstance(va, torch.Tensor) and va.dtype == vb.dtype and va.shape == vb.shape, k
            assert_close(va, vb, dtype, k)
        elif isinstance(vb, list):
            assert isinstance(va, list) and len(va) == len(vb), k
            live = [i for i, v in enumerate(vb) if v is not None]
            assert [i for i, v in enumerate(va) if v is not None] == live, k
            if live:
                assert all(isinstance(va[i], torch.Tensor) and va[i].dtype == vb[i].dtype and
                           va[i].shape == vb[i].shape for i in live), k
                assert_close(torch.stack([va[i] for i in live]),
                             torch.stack([vb[i] for i in live]), dtype, k)
        else:
            assert type(va) is type(vb), (k, va, vb)
            if k in ("func_evals", "n_iter"):
                assert va == vb, (k, va, vb)
            else:
                assert_close(float(va), float(vb), dtype, k)


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def problem(name, dtype):
    g = torch.Generator().manual_seed(3)
    if name == "rosen2":
        return rosenbrock, torch.tensor([-1.2, 1.0], dtype=dtype)
    if name == "negrosen2":  # maximized
        return (lambda x: -rosenbrock(x)), torch.tensor([-1.2, 1.0], dtype=dtype)
    if name == "rosen10":
        return rosenbrock, torch.linspace(-1.2, 1.0, 10, dtype=dtype)
    if name == "quad":
        m = torch.randn(12, 12, generator=g, dtype=torch.float64)
        a = (m @ m.T / 12 + torch.eye(12, dtype=torch.float64)).to(dtype)
        b = torch.randn(12, generator=g, dtype=torch.float64).to(dtype)
        return (lambda x: 0.5 * x @ (a @ x) - b @ x), torch.zeros(12, dtype=dtype)
    if name == "logreg":
        f = torch.randn(48, 6, generator=g, dtype=torch.float64).to(dtype)
        y = (torch.randn(48, generator=g, dtype=torch.float64) > 0).to(dtype)
        return (lambda x: torch.nn.functional.binary_cross_entropy_with_logits(f @ x[:6] + x[6], y)
                + 1e-3 * (x[:6] ** 2).sum()), torch.zeros(7, dtype=dtype)
    raise ValueError(name)


def run(cls, name, dtype, steps, **kw):
    f, x0 = problem(name, dtype)
    x = x0.clone().requires_grad_()
    opt = cls([x], **kw)

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    out = []
    for _ in range(steps):
        loss = opt.step(closure)
        out.append((x.detach().clone(), float(loss.detach())))
    return out, opt.state[x]


CASES = [("rosen2", {}), ("rosen10", {}), ("rosen10", {"lr": 0.5, "history_size": 3, "max_iter": 7}),
         ("quad", {"history_size": 4}), ("logreg", {"lr": 0.8}),
         ("negrosen2", {"maximize": True, "max_iter": 5}),
         # an explicit max_eval below max_iter's 5/4, and loose tolerances
         ("rosen10", {"max_iter": 20, "max_eval": 9}),
         ("logreg", {"tolerance_grad": 1e-3, "tolerance_change": 1e-4, "history_size": 5})]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("ls", [None, "strong_wolfe"], ids=["fixed", "wolfe"])
@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_torch(name, kw, ls, dtype):
    a, sa = run(torch.optim.LBFGS, name, dtype, 3, line_search_fn=ls, **kw)
    b, sb = run(co.LBFGS, name, dtype, 3, line_search_fn=ls, **kw)
    for s, ((xa, la), (xb, lb)) in enumerate(zip(a, b)):
        assert_close(xb, xa, dtype, f"step {s} parameters")
    # losses as one vector, relative to the largest (a loss converging to 0
    # has no relative accuracy of its own)
    assert_close([lb for _, lb in b], [la for _, la in a], dtype, "returned losses")
    if not (dtype == torch.float32 and ls):
        assert_state_equal(sb, sa, dtype)
    # float32 with strong_wolfe: torch's float32 sqrt (MKL vsSqrt) is not
    # correctly rounded, so an interpolated step length can differ in its
    # last bit; converged runs of Rosenbrock amplify that in the state's
    # near-zero vectors (d, prev_flat_grad). test_replay_matches_torch
    # compares that state with torch's gradients shared between the runs.


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("ls", [None, "strong_wolfe"], ids=["fixed", "wolfe"])
@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_replay_matches_torch(name, kw, ls, dtype):
    """ctrain's closure answers with the loss and gradient torch got at the
    same evaluation (after checking ctrain asks for the same point), so the
    optimizers are compared evaluation by evaluation, state included."""
    f, x0 = problem(name, dtype)
    x = x0.clone().requires_grad_()
    topt = torch.optim.LBFGS([x], line_search_fn=ls, **kw)
    rec = []

    def tclosure():
        topt.zero_grad()
        loss = f(x)
        loss.backward()
        rec.append((x.detach().clone(), loss.detach().clone(), x.grad.clone()))
        return loss

    steps = []
    for _ in range(3):
        n0 = len(rec)
        loss = topt.step(tclosure)
        steps.append((x.detach().clone(), float(loss.detach()), len(rec) - n0))
    y = x0.clone().requires_grad_()
    opt = co.LBFGS([y], line_search_fn=ls, **kw)
    k = [0]

    def closure():
        px, pl, pg = rec[k[0]]
        assert_close(y.detach(), px, dtype, f"evaluation {k[0]} point")
        k[0] += 1
        y.grad = pg.clone()
        return pl.clone()

    for s, (sx, sl, ne) in enumerate(steps):
        n0 = k[0]
        loss = opt.step(closure)
        assert k[0] - n0 == ne, f"step {s}: {k[0] - n0} evaluations, torch {ne}"
        assert_close(y.detach(), sx, dtype, f"step {s} parameters")
        assert_close(float(loss), sl, dtype, f"step {s} returned loss")
    assert_state_equal(opt.state[y], topt.state[x], dtype)


class Net(torch.nn.Module):
    def __init__(self, dtype):
        super().__init__()
        torch.manual_seed(0)
        self.fc1 = torch.nn.Linear(5, 8).to(dtype)
        self.fc2 = torch.nn.Linear(8, 2).to(dtype)
        self.unused = torch.nn.Parameter(torch.ones(3, dtype=dtype))  # its grad stays None

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def net_run(cls, dtype, ls, steps, opt_hook=None, **kw):
    g = torch.Generator().manual_seed(5)
    xb = torch.randn(40, 5, generator=g, dtype=torch.float64).to(dtype)
    yb = torch.randn(40, 2, generator=g, dtype=torch.float64).to(dtype)
    net = Net(dtype)
    opt = cls(net.parameters(), line_search_fn=ls, **kw)
    losses = []

    def closure():
        opt.zero_grad()
        loss = ((net(xb) - yb) ** 2).mean()
        loss.backward()
        return loss

    for s in range(steps):
        if opt_hook:
            opt_hook(s, opt)
        losses.append(float(opt.step(closure).detach()))
    return net, opt, losses, closure


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("ls", [None, "strong_wolfe"], ids=["fixed", "wolfe"])
def test_module_several_parameters(ls, dtype):
    na, oa, la, _ = net_run(torch.optim.LBFGS, dtype, ls, 3, history_size=6)
    nb, ob, lb, _ = net_run(co.LBFGS, dtype, ls, 3, history_size=6)
    for (k, pa), pb in zip(na.named_parameters(), nb.parameters()):
        assert_close(pb.detach(), pa.detach(), dtype, k)
    assert_close(lb, la, dtype, "losses")
    assert nb.unused.grad is None and torch.equal(nb.unused, torch.ones(3, dtype=dtype))
    p0a, p0b = oa.param_groups[0]["params"][0], ob.param_groups[0]["params"][0]
    assert list(oa.state) == [p0a] and list(ob.state) == [p0b]
    assert_state_equal(ob.state[p0b], oa.state[p0a], dtype)


def test_group_changes_between_steps_apply():
    # lr, max_iter and tolerance_change edited in param_groups between steps,
    # as a scheduler or a user would (history_size is not: torch itself fails
    # with an IndexError when it grows and keeps every pair when it shrinks)
    def hook(s, opt):
        if s == 1:
            opt.param_groups[0]["lr"] = 0.3
        if s == 2:
            opt.param_groups[0]["max_iter"] = 4
            opt.param_groups[0]["tolerance_change"] = 1e-5
    dtype = torch.float64
    na, oa, la, _ = net_run(torch.optim.LBFGS, dtype, None, 4, opt_hook=hook)
    nb, ob, lb, _ = net_run(co.LBFGS, dtype, None, 4, opt_hook=hook)
    for pa, pb in zip(na.parameters(), nb.parameters()):
        assert_close(pb.detach(), pa.detach(), dtype, "parameters")
    assert_close(lb, la, dtype, "losses")


@pytest.mark.parametrize("ls", [None, "strong_wolfe"], ids=["fixed", "wolfe"])
@pytest.mark.parametrize("first", [co.LBFGS, torch.optim.LBFGS], ids=["ctrain-first", "torch-first"])
def test_state_dict_moves_both_ways(first, ls):
    dtype = torch.float64
    other = torch.optim.LBFGS if first is co.LBFGS else co.LBFGS
    # uninterrupted run of `first`, 4 steps
    n_ref, _, l_ref, _ = net_run(first, dtype, ls, 4, history_size=5)
    # 2 steps of `first`, state into `other` (and the weights), 2 more steps
    net, opt, l1, _ = net_run(first, dtype, ls, 2, history_size=5)
    sd = copy.deepcopy(opt.state_dict())
    net2 = Net(dtype)
    net2.load_state_dict(net.state_dict())
    opt2 = other(net2.parameters(), line_search_fn=ls, history_size=5)
    opt2.load_state_dict(sd)
    g = torch.Generator().manual_seed(5)
    xb = torch.randn(40, 5, generator=g, dtype=torch.float64).to(dtype)
    yb = torch.randn(40, 2, generator=g, dtype=torch.float64).to(dtype)

    def closure():
        opt2.zero_grad()
        loss = ((net2(xb) - yb) ** 2).mean()
        loss.backward()
        return loss

    l2 = [float(opt2.step(closure).detach()) for _ in range(2)]
    for pa, pb in zip(n_ref.parameters(), net2.parameters()):
        assert_close(pb.detach(), pa.detach(), dtype, "continued parameters")
    assert_close(l1 + l2, l_ref, dtype, "losses")


def test_torch_save_load_weights_only_and_deepcopy():
    dtype = torch.float32
    n_ref, o_ref, l_ref, _ = net_run(co.LBFGS, dtype, "strong_wolfe", 4)
    net, opt, _, closure = net_run(co.LBFGS, dtype, "strong_wolfe", 2)
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    sd = torch.load(buf, weights_only=True)
    # deepcopy of the optimizer: a working optimizer over copied parameters
    twin = copy.deepcopy(opt)
    tparams = twin.param_groups[0]["params"]
    assert all(a is not b and torch.equal(a, b) for a, b in zip(tparams, opt.param_groups[0]["params"]))
    # a fresh optimizer loads the saved state
    opt3 = co.LBFGS(net.parameters(), line_search_fn="strong_wolfe")
    opt3.load_state_dict(sd)
    for _ in range(2):
        opt3.step(closure)
    for pa, pb in zip(n_ref.parameters(), net.parameters()):
        assert torch.equal(pa, pb), "continuation after torch.save/torch.load differs"
    assert_state_equal(opt3.state[opt3.param_groups[0]["params"][0]],
                       o_ref.state[o_ref.param_groups[0]["params"][0]], dtype)
    # the deep copy continues the same way on its own parameters
    g = torch.Generator().manual_seed(5)
    xb = torch.randn(40, 5, generator=g, dtype=torch.float64).to(dtype)
    yb = torch.randn(40, 2, generator=g, dtype=torch.float64).to(dtype)
    _, w1, b1, w2, b2 = tparams  # a module's own parameters come first

    def tclosure():
        twin.zero_grad()
        out = torch.tanh(xb @ w1.T + b1) @ w2.T + b2
        loss = ((out - yb) ** 2).mean()
        loss.backward()
        return loss

    for _ in range(2):
        twin.step(tclosure)
    for pa, pb in zip(n_ref.parameters(), tparams):
        assert torch.equal(pa, pb), "the deep copy continues differently"


class Boom(Exception):
    pass


def failing(closure, at):
    calls = [0]

    def c():
        calls[0] += 1
        if calls[0] == at:
            raise Boom(f"evaluation {at}")
        return closure()
    return c, calls


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_closure_exception_propagates_fixed_step(dtype):
    for k in (1, 2, 4):
        net, opt, _, closure = net_run(co.LBFGS, dtype, None, 1, history_size=4)
        before = [p.detach().clone() for p in net.parameters()]
        c, _ = failing(closure, k)
        with pytest.raises(Boom) as ei:
            opt.step(c)
        assert str(ei.value) == f"evaluation {k}"
        if k == 1:
            assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
            continue
        # the parameters are the new iterate being evaluated and the state a
        # torch state of a step stopped there (max_iter = k-1): torch from the
        # same start with max_iter = k-1 gives the same parameters and state
        tnet, topt, _, tclosure = net_run(torch.optim.LBFGS, dtype, None, 1, history_size=4)
        topt.param_groups[0]["max_iter"] = k - 1
        topt.step(tclosure)
        for pa, pb in zip(tnet.parameters(), net.parameters()):
            assert_close(pb.detach(), pa.detach(), dtype, f"k={k} parameters")
        p0, tp0 = opt.param_groups[0]["params"][0], topt.param_groups[0]["params"][0]
        assert_state_equal(opt.state[p0], topt.state[tp0], dtype)
        # and both continue alike
        topt.param_groups[0]["max_iter"] = 20
        opt.step(closure), topt.step(tclosure)
        for pa, pb in zip(tnet.parameters(), net.parameters()):
            assert_close(pb.detach(), pa.detach(), dtype, f"k={k} continued")


def test_closure_exception_in_line_search():
    dtype = torch.float64
    net, opt, _, closure = net_run(co.LBFGS, dtype, "strong_wolfe", 1)
    c, calls = failing(closure, 3)
    with pytest.raises(Boom):
        opt.step(c)
    st = opt.state[opt.param_groups[0]["params"][0]]
    assert st["t"] == 0
    # the parameters are the line search's start: their gradient is prev_flat_grad
    loss = closure()
    flat = torch.cat([p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=dtype)
                      for p in net.parameters()])
    assert torch.equal(flat, st["prev_flat_grad"]) and float(loss.detach()) == st["prev_loss"]
    n_iter = st["n_iter"]
    opt.step(closure)
    assert opt.state[opt.param_groups[0]["params"][0]]["n_iter"] > n_iter


def test_returns_the_closures_first_loss_object():
    x = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    for cls in (torch.optim.LBFGS, co.LBFGS):
        opt = cls([x], max_iter=3)
        seen = []

        def closure():
            grad_on.append(torch.is_grad_enabled())
            opt.zero_grad()
            loss = rosenbrock(x)
            loss.backward()
            seen.append(loss)
            return loss
        grad_on = []
        with torch.no_grad():  # the closure still runs with grad enabled
            out = opt.step(closure)
        assert out is seen[0] and len(seen) > 1 and all(grad_on), cls


BAD_ARGS = [
    dict(lr=-1.0),
    dict(lr=torch.tensor([1.0, 2.0])),
]


@pytest.mark.parametrize("kw", BAD_ARGS, ids=["negative-lr", "tensor-lr"])
def test_constructor_errors_equal_torch(kw):
    p = torch.zeros(3, requires_grad=True)
    with pytest.raises(Exception) as et:
        torch.optim.LBFGS([p], **kw)
    with pytest.raises(Exception) as ec:
        co.LBFGS([p], **kw)
    assert type(ec.value) is type(et.value) and str(ec.value) == str(et.value)


def test_structural_errors_equal_torch():
    a, b = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    for args in (([{"params": [a]}, {"params": [b]}],), ([],)):
        with pytest.raises(Exception) as et:
            torch.optim.LBFGS(*args)
        with pytest.raises(Exception) as ec:
            co.LBFGS(*args)
        assert type(ec.value) is type(et.value) and str(ec.value) == str(et.value)


def test_defaults_and_signature_equal_torch():
    import inspect

    def params(cls):
        return [(q.name, q.kind, q.default) for q in
                inspect.signature(cls.__init__).parameters.values()]
    assert params(co.LBFGS) == params(torch.optim.LBFGS)
    p = torch.zeros(2, requires_grad=True)
    assert co.LBFGS([p]).defaults == torch.optim.LBFGS([p]).defaults
    assert co.LBFGS([p], max_iter=8).defaults["max_eval"] == 10


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.complex64])
def test_unsupported_dtypes_refused(dtype):
    p = torch.zeros(3, dtype=dtype, requires_grad=True)
    with pytest.raises(co.UnsupportedTensorError, match="float32 and float64"):
        co.LBFGS([p])


def test_mixed_dtypes_refused():
    a = torch.zeros(2, requires_grad=True)
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    with pytest.raises(co.UnsupportedTensorError, match="mix dtypes"):
        co.LBFGS([a, b])


def test_zz_report_max_errors():
    print(f"\nLBFGS max relative error vs torch: float64 {MAX_ERR[torch.float64]:.3g}, "
          f"float32 {MAX_ERR[torch.float32]:.3g}")
