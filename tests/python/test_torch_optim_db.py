"""ctrain.optim through PyTorch's own optimizer test inputs
(torch.testing._internal.common_optimizers.optim_db): every OptimizerInput
of a twin runs 20 steps against torch.optim, and every ErrorOptimizerInput
raises the same exception type with a message matching torch's regex.

Inputs torch marks as CUDA-only or that ctrain refuses by design
(capturable=True, differentiable=True) must be refused with ValueError.
foreach / fused only pick torch's implementation: the reference runs its
default (single-tensor) path, which ctrain's numerics follow.
"""
import re
import warnings

import pytest
import torch
from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db

import ctrain.optim as co
from conftest import SQRT_ULP, assert_models_close, batch, mlp, train_step

# torch.optim.Adafactor is another algorithm than ctrain.optim.Adafactor
# (pytorch-optimizer's AdaFactor), so it is not a twin.
INFOS = [i for i in optim_db if hasattr(co, i.optim_cls.__name__)
         and i.optim_cls.__name__ != "Adafactor"]


# optim_db's RMSprop inputs use the default lr=1e-2, at which torch's
# non-IEEE sqrt (conftest.SQRT_ULP) drifts past 1e-5 within 20 steps.
KNOWN = {"RMSprop-0-default", "RMSprop-2-nonzero weight_decay", "RMSprop-3-maximize",
         "RMSprop-5-maximize, weight_decay", "RMSprop-6-momentum",
         "RMSprop-7-maximize, centered, weight_decay, w/ momentum"}


def _inputs():
    out = []
    for info in INFOS:
        for k, inp in enumerate(info.optim_inputs_func(device="cpu", dtype=torch.float32)):
            i = f"{info.optim_cls.__name__}-{k}-{inp.desc}"
            out.append(pytest.param(info, inp, id=i, marks=[SQRT_ULP] if i in KNOWN else []))
    return out


def _errors():
    out = []
    for info in INFOS:
        for k, e in enumerate(info.optim_error_inputs_func(device="cpu", dtype=torch.float32)):
            out.append(pytest.param(info, e, id=f"{info.optim_cls.__name__}-{k}-"
                                    f"{e.optimizer_error_input.desc}"))
    return out


def test_every_twin_is_in_optim_db():
    assert sorted(i.optim_cls.__name__ for i in INFOS) == sorted(
        ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam", "RAdam",
         "Rprop", "ASGD", "LBFGS"])


@pytest.mark.parametrize("info,inp", _inputs())
def test_optimizer_input_matches_torch(info, inp):
    name = info.optim_cls.__name__
    kw = dict(inp.kwargs)
    if kw.get("capturable") or kw.get("differentiable"):
        with pytest.raises(ValueError, match="capturable|differentiable"):
            getattr(co, name)(mlp().parameters(), **kw)
        return
    ref_kw = {k: v for k, v in kw.items() if k not in ("foreach", "fused")}
    ref_model, ct_model = mlp(), mlp()
    ref = info.optim_cls(ref_model.parameters(), **ref_kw)
    ct = getattr(co, name)(ct_model.parameters(), **kw)
    x, y = batch()
    closure = name == "LBFGS"  # it steps with a closure only
    for i in range(20):
        train_step(ref_model, ref, x, y, closure=closure)
        train_step(ct_model, ct, x, y, closure=closure)
        if not all(p.isfinite().all() for p in ref_model.parameters()):
            # LBFGS maximizing an unbounded loss diverges within two steps:
            # ctrain must diverge at the same step, to the same values
            for a, b in zip(ct_model.parameters(), ref_model.parameters()):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7, equal_nan=True)
            break
        assert_models_close(ct_model, ref_model, f"{inp.desc}: step {i}")


@pytest.mark.parametrize("info,err", _errors())
def test_error_input_raises_as_torch(info, err):
    name = info.optim_cls.__name__
    inp = err.optimizer_error_input
    params = inp.params if inp.params is not None else list(mlp().parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("error" if issubclass(err.error_type, Warning) else "ignore")
        with pytest.raises(err.error_type) as e:
            opt = getattr(co, name)(params, **inp.kwargs)
            if err.error_on == OptimizerErrorEnum.STEP_ERROR:
                opt.step()
    assert re.search(err.error_regex, str(e.value)), (str(e.value), err.error_regex)
