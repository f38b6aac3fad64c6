"""The behaviours PyTorch's own test/test_optim.py checks of every
torch.optim optimizer, asked of ctrain.optim's twins.

test/test_optim.py is not shipped in the torch wheel, so these are ctrain's
own tests of the same properties, driven by the inputs of
torch.testing._internal.common_optimizers.optim_db where a property depends
on the options: an optimizer goes the right direction (and the opposite one
with maximize), with a scheduler too; a tensor lr works; a step without
gradients is a no-op; a step on zero gradients does what torch's does; the
optimizer prints like torch's; state dicts are deterministic, load from
older releases (missing option keys, a Python-number step) and through
torch.load(weights_only=True); deepcopy keeps every public attribute; every
hook kind runs in torch's order; gradients are never modified in place;
named parameters keep their names both ways.
"""
import copy
import io

import pytest
import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from torch.optim.optimizer import (register_optimizer_step_post_hook,
                                   register_optimizer_step_pre_hook)
from torch.testing._internal.common_optimizers import optim_db

import ctrain.optim as co
from conftest import assert_close

NAMES = ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam", "RAdam",
         "Rprop", "ASGD"]
INFOS = {i.optim_cls.__name__: i for i in optim_db if i.optim_cls.__name__ in NAMES}


def _runnable(kw):
    """optim_db inputs without the options ctrain refuses by design
    (capturable, differentiable: test_torch_optim_db checks the refusal)."""
    return not (kw.get("capturable") or kw.get("differentiable"))


def _inputs():
    out = []
    for name in NAMES:
        for k, inp in enumerate(INFOS[name].optim_inputs_func(device="cpu", dtype=torch.float32)):
            kw = {a: b for a, b in inp.kwargs.items() if a not in ("foreach", "fused")}
            if _runnable(kw):
                out.append(pytest.param(name, kw, id=f"{name}-{k}-{inp.desc}"))
    return out


INPUTS = _inputs()


def _weight_bias(seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(10, 5, generator=g).requires_grad_()
    b = torch.randn(10, generator=g).requires_grad_()
    x = torch.randn(5, generator=g)
    return w, b, x


def _closure(opt, w, b, x):
    def fn():
        opt.zero_grad()
        loss = (w.mv(x) + b).pow(2).sum()
        loss.backward()
        return loss
    return fn


def _pair(name, kw, seed=0, groups=False):
    """The same problem for ctrain and torch: ([w, b, x] each, optimizers)."""
    out = []
    for cls in (getattr(co, name), getattr(torch.optim, name)):
        w, b, x = _weight_bias(seed)
        params = [{"params": [w]}, {"params": [b], "lr": 0.5 * kw.get("lr", 1e-2)}] \
            if groups else [w, b]
        out.append(((w, b, x), cls(params, **kw)))
    return out


@pytest.mark.parametrize("name,kw", INPUTS)
def test_goes_the_right_direction(name, kw):
    (wbx, opt), (wbx_t, opt_t) = _pair(name, kw)
    fn, fn_t = _closure(opt, *wbx), _closure(opt_t, *wbx_t)
    first = fn().item()
    for _ in range(20):
        loss = opt.step(fn)
        loss_t = opt_t.step(fn_t)
        assert_close(loss.detach(), loss_t.detach(), "loss returned by step(closure)")
    last = fn().item()
    if kw.get("maximize"):
        assert last > first
    else:
        assert last < first


@pytest.mark.parametrize("sched", ["StepLR", "ReduceLROnPlateau"])
@pytest.mark.parametrize("name", NAMES)
def test_param_groups_with_a_scheduler_go_the_right_direction(name, sched):
    kw = {"lr": 1e-2} if name != "Adadelta" else {"lr": 1.0}
    pairs = _pair(name, kw, groups=True)
    losses = []
    for (w, b, x), opt in pairs:
        s = StepLR(opt, step_size=5, gamma=0.5) if sched == "StepLR" else \
            ReduceLROnPlateau(opt, patience=1, factor=0.5)
        fn = _closure(opt, w, b, x)
        first = fn().item()
        for _ in range(20):
            loss = opt.step(fn)
            s.step(loss.item()) if sched == "ReduceLROnPlateau" else s.step()
        losses.append((first, fn().item(), [g["lr"] for g in opt.param_groups]))
    (first, last, lrs), (_, last_t, lrs_t) = losses
    assert last < first
    assert lrs == lrs_t
    assert_close(torch.tensor(last), torch.tensor(last_t), "final loss")


@pytest.mark.parametrize("name", NAMES)
def test_tensor_lr_matches_torch(name):
    kw = {"lr": torch.tensor(0.01)}
    (wbx, opt), (wbx_t, opt_t) = _pair(name, kw)
    fn, fn_t = _closure(opt, *wbx), _closure(opt_t, *wbx_t)
    for _ in range(10):
        opt.step(fn)
        opt_t.step(fn_t)
    for a, e in zip(wbx[:2], wbx_t[:2]):
        assert_close(a.detach(), e.detach(), "parameters with a tensor lr")


@pytest.mark.parametrize("name,kw", INPUTS)
def test_step_without_gradients_is_a_noop(name, kw):
    """Parameters stay as they were, and the state is what torch's is
    (empty, except Adagrad's accumulators, created at construction)."""
    (wbx, opt), (wbx_t, opt_t) = _pair(name, kw)
    opt.step()
    opt_t.step()
    w, b, _ = _weight_bias()
    assert torch.equal(wbx[0], w) and torch.equal(wbx[1], b)
    assert [sorted(s) for s in opt.state.values()] == [sorted(s) for s in opt_t.state.values()]


@pytest.mark.parametrize("name,kw", INPUTS)
def test_step_on_zero_gradients_does_what_torch_does(name, kw):
    """With zero gradients and no weight decay, torch's optimizers leave the
    parameters unchanged, except ASGD, whose decay term shrinks them; ctrain
    gives torch's parameters and state in both cases."""
    (wbx, opt), (wbx_t, opt_t) = _pair(name, kw)
    for (w, b, _), o in ((wbx, opt), (wbx_t, opt_t)):
        w.grad, b.grad = torch.zeros_like(w), torch.zeros_like(b)
        for _ in range(3):
            o.step()
    for a, e in zip(wbx[:2], wbx_t[:2]):
        assert_close(a.detach(), e.detach(), "parameters after zero-gradient steps")
    if not opt_t.param_groups[0].get("weight_decay") and name != "ASGD":
        w, b, _ = _weight_bias()
        assert torch.equal(wbx[0], w) and torch.equal(wbx[1], b)


@pytest.mark.parametrize("name,kw", INPUTS)
def test_prints_like_torch(name, kw):
    (_, opt), (_, opt_t) = _pair(name, kw, groups=True)
    assert repr(opt).replace("ctrain.optim.", "") == repr(opt_t)


@pytest.mark.parametrize("name,kw", INPUTS)
def test_state_dict_is_deterministic_and_loading_does_not_modify_it(name, kw):
    w, b, x = _weight_bias()
    opt = getattr(co, name)([w, b], **kw)
    fn = _closure(opt, w, b, x)
    for _ in range(20):
        opt.step(fn)
    w_c = w.detach().clone().requires_grad_()
    b_c = b.detach().clone().requires_grad_()
    opt_c = getattr(co, name)([w_c, b_c], **kw)
    fn_c = _closure(opt_c, w_c, b_c, x)
    sd = copy.deepcopy(opt.state_dict())
    sd_c = copy.deepcopy(opt.state_dict())
    opt_c.load_state_dict(sd_c)
    for _ in range(20):
        opt.step(fn)
        opt_c.step(fn_c)
        assert torch.equal(w, w_c) and torch.equal(b, b_c)
    torch.testing.assert_close(sd_c, sd, rtol=0, atol=0)
    torch.testing.assert_close(opt_c.state_dict(), opt.state_dict(), rtol=0, atol=0)
    # repeated groups are represented identically
    opt_c.param_groups.extend(opt_c.param_groups)
    assert opt.state_dict()["param_groups"][-1] == opt_c.state_dict()["param_groups"][-1]


@pytest.mark.parametrize("name,kw", INPUTS)
def test_loads_older_state_dicts_as_torch_does(name, kw):
    """State dicts of older releases lack some option keys and may hold the
    step as a Python number; both optimizers load them and continue alike."""
    (wbx, opt), (wbx_t, opt_t) = _pair(name, kw)
    fns = [_closure(opt, *wbx), _closure(opt_t, *wbx_t)]
    for _ in range(5):
        opt.step(fns[0])
        opt_t.step(fns[1])
    for o in (opt, opt_t):
        sd = copy.deepcopy(o.state_dict())
        for g in sd["param_groups"]:
            for k in ("maximize", "foreach", "differentiable", "fused", "capturable"):
                g.pop(k, None)
        for s in sd["state"].values():
            if torch.is_tensor(s.get("step")):
                s["step"] = s["step"].item()
        o.load_state_dict(sd)
    for _ in range(5):
        opt.step(fns[0])
        opt_t.step(fns[1])
    for a, e in zip(wbx[:2], wbx_t[:2]):
        assert_close(a.detach(), e.detach(), "after loading an older state dict")
    assert opt.param_groups[0].keys() == opt_t.param_groups[0].keys()


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_through_weights_only_load_both_ways(name):
    (wbx, opt), (wbx_t, opt_t) = _pair(name, {})
    fn, fn_t = _closure(opt, *wbx), _closure(opt_t, *wbx_t)
    for _ in range(5):
        opt.step(fn)
        opt_t.step(fn_t)
    for src, dst in ((opt, opt_t), (opt_t, opt)):
        buf = io.BytesIO()
        torch.save(src.state_dict(), buf)
        buf.seek(0)
        dst.load_state_dict(torch.load(buf, weights_only=True))
    for _ in range(5):
        opt.step(fn)
        opt_t.step(fn_t)
    for a, e in zip(wbx[:2], wbx_t[:2]):
        assert_close(a.detach(), e.detach(), "after swapping state dicts")


@pytest.mark.parametrize("name", NAMES)
def test_deepcopy_copies_every_public_attribute(name):
    (wbx, opt), _ = _pair(name, {})
    opt.step(_closure(opt, *wbx))
    public = [k for k in opt.__dict__ if not k.startswith("_")]
    assert public and sorted(public) == sorted(
        k for k in copy.deepcopy(opt).__dict__ if not k.startswith("_"))


@pytest.mark.parametrize("name", NAMES)
def test_hooks_run_as_in_torch(name):
    """Step pre/post hooks (per optimizer and global), state_dict pre/post
    hooks (a post hook may edit the dict), load_state_dict pre hooks (in
    order, prepend first, a returned dict replaces the input) and post
    hooks: the same calls in the same order for ctrain and torch."""
    logs = []
    for (w, b, x), opt in _pair(name, {}):
        log = []
        opt.register_step_pre_hook(lambda o, a, k: log.append("pre"))
        opt.register_step_post_hook(lambda o, a, k: log.append("post"))
        g_pre = register_optimizer_step_pre_hook(lambda o, a, k: log.append("global-pre"))
        g_post = register_optimizer_step_post_hook(lambda o, a, k: log.append("global-post"))
        try:
            opt.step(_closure(opt, w, b, x))
        finally:
            g_pre.remove()
            g_post.remove()
        opt.register_state_dict_pre_hook(lambda o: log.append("sd-pre"))

        def sd_post(o, sd):
            log.append("sd-post")
            sd["extra"] = 1
            return sd
        opt.register_state_dict_post_hook(sd_post)
        sd = opt.state_dict()
        assert sd["extra"] == 1
        del sd["extra"]

        def load_pre(o, sd):
            log.append("load-pre")
            sd = copy.deepcopy(sd)
            sd["param_groups"][0]["lr"] = 0.123
            return sd
        opt.register_load_state_dict_pre_hook(load_pre)
        opt.register_load_state_dict_pre_hook(lambda o, sd: log.append("load-pre-first"),
                                              prepend=True)
        opt.register_load_state_dict_post_hook(lambda o: log.append("load-post"))
        opt.load_state_dict(sd)
        assert opt.param_groups[0]["lr"] == 0.123
        logs.append(log)
    assert logs[0] == logs[1]
    assert logs[0][:4] == ["global-pre", "pre", "post", "global-post"]


@pytest.mark.parametrize("name,kw", INPUTS)
def test_gradients_are_never_modified_in_place(name, kw):
    (w, b, x), opt = _pair(name, kw)[0]
    fn = _closure(opt, w, b, x)
    for _ in range(3):
        fn()
        grads = [w.grad.clone(), b.grad.clone()]
        opt.step()
        assert torch.equal(w.grad, grads[0]) and torch.equal(b.grad, grads[1])


@pytest.mark.parametrize("name", NAMES)
def test_state_after_a_step_has_torchs_keys(name):
    (wbx, opt), (wbx_t, opt_t) = _pair(name, {})
    opt.step(_closure(opt, *wbx))
    opt_t.step(_closure(opt_t, *wbx_t))
    for p, p_t in zip(wbx[:2], wbx_t[:2]):
        assert sorted(opt.state[p]) == sorted(opt_t.state[p_t])
    if name != "SGD":  # plain SGD keeps no state, in torch as in ctrain
        assert all(opt.state[p] for p in wbx[:2])


@pytest.mark.parametrize("name", NAMES)
def test_named_parameters_keep_their_names_both_ways(name):
    torch.manual_seed(0)
    m, m_t = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    m_t.load_state_dict(m.state_dict())
    opt = getattr(co, name)(m.named_parameters(), lr=0.01)
    opt_t = getattr(torch.optim, name)(m_t.named_parameters(), lr=0.01)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    x = torch.randn(4, 3)
    for model, o in ((m, opt), (m_t, opt_t)):
        model(x).pow(2).sum().backward()
        o.step()
    opt_t.load_state_dict(opt.state_dict())
    opt.load_state_dict(opt_t.state_dict())
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]
    for model, o in ((m, opt), (m_t, opt_t)):
        o.zero_grad()
        model(x).pow(2).sum().backward()
        o.step()
    for a, e in zip(m.parameters(), m_t.parameters()):
        assert_close(a.detach(), e.detach(), "named parameters after swapping state dicts")


def _every_scheduler():
    S = torch.optim.lr_scheduler
    return {
        "LambdaLR": lambda o: S.LambdaLR(o, lambda e: 0.95 ** e),
        "MultiplicativeLR": lambda o: S.MultiplicativeLR(o, lambda e: 0.97),
        "StepLR": lambda o: S.StepLR(o, step_size=4, gamma=0.5),
        "MultiStepLR": lambda o: S.MultiStepLR(o, milestones=[3, 9], gamma=0.3),
        "ConstantLR": lambda o: S.ConstantLR(o, factor=0.5, total_iters=5),
        "LinearLR": lambda o: S.LinearLR(o, start_factor=0.2, total_iters=8),
        "ExponentialLR": lambda o: S.ExponentialLR(o, gamma=0.93),
        "PolynomialLR": lambda o: S.PolynomialLR(o, total_iters=20, power=2.0),
        "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=10),
        "CosineAnnealingWarmRestarts": lambda o: S.CosineAnnealingWarmRestarts(o, T_0=4,
                                                                               T_mult=2),
        "CyclicLR": lambda o: S.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3),
        "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=0.2, total_steps=30),
        "ReduceLROnPlateau": lambda o: S.ReduceLROnPlateau(o, patience=1, factor=0.5),
        "SequentialLR": lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1,
                                                                total_iters=4),
                                                     S.ExponentialLR(o, gamma=0.9)],
                                                 milestones=[5]),
        "ChainedScheduler": lambda o: S.ChainedScheduler([S.ExponentialLR(o, gamma=0.95),
                                                          S.StepLR(o, step_size=5, gamma=0.5)]),
        "SWALR": lambda o: torch.optim.swa_utils.SWALR(o, swa_lr=0.01, anneal_epochs=5),
    }


def test_every_torch_scheduler_is_covered():
    S = torch.optim.lr_scheduler
    public = {n for n in dir(S) if isinstance(getattr(S, n), type) and n[0] != "_"
              and issubclass(getattr(S, n), (S.LRScheduler, S.ReduceLROnPlateau))
              and getattr(S, n) not in (S.LRScheduler, S._LRScheduler)}
    assert public <= set(_every_scheduler()), public - set(_every_scheduler())


@pytest.mark.parametrize("sched", sorted(_every_scheduler()))
def test_every_torch_scheduler_drives_ctrain_as_torch(sched):
    """Each scheduler of torch.optim.lr_scheduler (and swa_utils.SWALR) on
    ctrain's SGD with momentum and two groups: the same lrs and momenta,
    hence the same parameters, as on torch.optim.SGD."""
    kw = {"lr": 0.1, "momentum": 0.9}
    pairs = _pair("SGD", kw, groups=True)
    scheds = [_every_scheduler()[sched](opt) for _, opt in pairs]
    for i in range(30):
        for ((w, b, x), opt), s in zip(pairs, scheds):
            loss = opt.step(_closure(opt, w, b, x))
            s.step(loss.item()) if sched == "ReduceLROnPlateau" else s.step()
        (wbx, opt), (wbx_t, opt_t) = pairs
        for g, g_t in zip(opt.param_groups, opt_t.param_groups):
            assert g["lr"] == g_t["lr"] and g["momentum"] == g_t["momentum"], f"step {i}"
        for a, e in zip(wbx[:2], wbx_t[:2]):
            assert_close(a.detach(), e.detach(), f"{sched} step {i}")
