"""Shared helpers: a small MLP, a data batch, the comparison rule.

Every comparison is against the real PyTorch (torch.optim) or
pytorch-optimizer, never a stored number: |ctrain - reference| <=
1e-7 + 1e-5 |reference| elementwise (float32).
"""
import copy

import pytest
import torch

import ctrain

torch.set_num_threads(1)  # tiny models: threads only add overhead and contention

RTOL, ATOL = 1e-5, 1e-7


def mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))


def batch(seed=1, n=32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=g), torch.randn(n, 4, generator=g)


def loss_fn(model, x, y):
    return ((model(x) - y) ** 2).mean()


def train_step(model, opt, x, y, closure=False):
    if closure:
        def c():
            opt.zero_grad()
            loss = loss_fn(model, x, y)
            loss.backward()
            return loss
        return opt.step(c)
    opt.zero_grad()
    loss = loss_fn(model, x, y)
    loss.backward()
    opt.step()
    return loss


def assert_close(actual, expected, what=""):
    a, e = torch.as_tensor(actual), torch.as_tensor(expected)
    if a.shape == e.shape and a.dtype == e.dtype and bool(
            ((a - e).abs() <= ATOL + RTOL * e.abs()).all()):
        return
    torch.testing.assert_close(a, e, rtol=RTOL, atol=ATOL, msg=lambda m: f"{what}: {m}")


def assert_models_close(a, b, what=""):
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert_close(pa.detach(), pb.detach(), f"{what} parameter {n}")


def assert_states_close(ct_opt, ref_opt, ct_model, ref_model, what=""):
    for pc, pr in zip(ct_model.parameters(), ref_model.parameters()):
        sc, sr = ct_opt.state.get(pc, {}), ref_opt.state.get(pr, {})
        assert sorted(sc) == sorted(sr), f"{what}: state keys {sorted(sc)} != {sorted(sr)}"
        for k in sr:
            if isinstance(sr[k], torch.Tensor):
                assert sc[k].dtype == sr[k].dtype and sc[k].shape == sr[k].shape, (
                    f"{what}: state {k}: {sc[k].dtype}{tuple(sc[k].shape)} vs "
                    f"{sr[k].dtype}{tuple(sr[k].shape)}")
                assert_close(sc[k].float(), sr[k].float(), f"{what} state {k}")


def make_ct(cls, params, **kw):
    """Constructs a ctrain optimizer; an engine kind that is still a
    placeholder (CT_EUNSUPPORTED 'not implemented yet') fails the test."""
    try:
        return cls(params, **kw)
    except ctrain.NotImplementedKind as e:  # pragma: no cover - reported as a failure
        pytest.fail(f"C engine kind not implemented yet: {e}")


def clone_model(m):
    return copy.deepcopy(m)


def _torch_sqrt_is_ieee():
    import numpy as np
    v = torch.rand(4096, generator=torch.Generator().manual_seed(0))
    return bool(np.array_equal(torch.sqrt(v).numpy(), np.sqrt(v.numpy())))


# PyTorch's CPU sqrt is not correctly rounded on some builds/CPUs (MKL VML:
# ~20% of results 1 ulp from IEEE sqrtf, which the engine uses; ctrain equals
# torch's formula evaluated with IEEE sqrt bit for bit). In a closed training
# loop the 1-ulp differences feed back through the gradients; the cases
# marked with this drift past 1e-5 within the test's steps. Only where
# torch's sqrt is not IEEE, and strict: a case that passes there fails.
TORCH_SQRT_IS_IEEE = _torch_sqrt_is_ieee()
SQRT_ULP = pytest.mark.xfail(
    condition=not TORCH_SQRT_IS_IEEE, strict=True,
    reason="torch's CPU sqrt (not correctly rounded here) vs IEEE sqrtf: 1-ulp differences "
           "amplified by the training loop; see docs/pytorch.md 'Numerics'")
