"""ctrain.optim's optimizers that torch.optim lacks (LAMB, LARS, Lion,
Adafactor) against pytorch-optimizer 4.1.0, and Lookahead against
pytorch_optimizer.Lookahead: 100 steps on the MLP with real backward passes."""
import copy
import io
import pickle

import pytest
import pytorch_optimizer as po
import torch

import ctrain.optim as co
from conftest import assert_close, assert_models_close, batch, make_ct, mlp, train_step

CASES = [
    ("LAMB", po.Lamb, dict(lr=1e-3)),
    ("LAMB", po.Lamb, dict(lr=1e-3, weight_decay=1e-2, betas=(0.8, 0.99))),
    ("LAMB", po.Lamb, dict(lr=1e-3, weight_decay=1e-2, weight_decouple=False, adam=True)),
    ("LARS", po.LARS, dict(lr=1e-2)),
    ("LARS", po.LARS, dict(lr=1e-2, weight_decay=1e-2, nesterov=True)),
    ("Lion", po.Lion, dict(lr=1e-4)),
    ("Lion", po.Lion, dict(lr=1e-4, weight_decay=1e-2, betas=(0.95, 0.98))),
    ("Lion", po.Lion, dict(lr=1e-4, weight_decay=1e-2, weight_decouple=False, maximize=True)),
    ("Adafactor", po.AdaFactor, dict(lr=1e-3)),
    ("Adafactor", po.AdaFactor, dict(lr=1e-3, relative_step=False, scale_parameter=False,
                                     momentum_dtype=torch.float32)),
    ("Adafactor", po.AdaFactor, dict(lr=1e-3, betas=(None, 0.999), weight_decay=1e-2)),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, _, kw in CASES]


@pytest.mark.parametrize("name,ref_cls,kw", CASES, ids=IDS)
def test_100_steps_match_pytorch_optimizer(name, ref_cls, kw):
    ref_model, ct_model = mlp(), mlp()
    ref = ref_cls(ref_model.parameters(), **kw)
    ct = make_ct(getattr(co, name), ct_model.parameters(), **kw)
    x, y = batch()
    for i in range(100):
        train_step(ref_model, ref, x, y)
        train_step(ct_model, ct, x, y)
        assert_models_close(ct_model, ref_model, f"step {i}")
    for pc, pr in zip(ct_model.parameters(), ref_model.parameters()):
        for k, v in ref.state[pr].items():
            if isinstance(v, torch.Tensor) and k in ct.state[pc] and v.numel() == pc.numel():
                assert_close(ct.state[pc][k].float(), v.float(), f"state {k}")


@pytest.mark.parametrize("name,ref_cls,kw", CASES[::2], ids=IDS[::2])
def test_checkpoint_and_copies_continue_identically(name, ref_cls, kw):
    model = mlp()
    opt = make_ct(getattr(co, name), model.parameters(), **kw)
    x, y = batch()
    for _ in range(20):
        train_step(model, opt, x, y)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    m2 = mlp(5)
    m2.load_state_dict(ck["model"])
    o2 = getattr(co, name)(m2.parameters(), **kw)
    o2.load_state_dict(ck["opt"])
    m3, o3 = copy.deepcopy((model, opt))
    m4, o4 = pickle.loads(pickle.dumps((model, opt)))
    for _ in range(20):
        for m, o in ((model, opt), (m2, o2), (m3, o3), (m4, o4)):
            train_step(m, o, x, y)
    for m in (m2, m3, m4):
        for a, b in zip(model.parameters(), m.parameters()):
            assert torch.equal(a, b)


@pytest.mark.parametrize("inner,kw,k,alpha", [
    ("SGD", dict(lr=0.05, momentum=0.9), 5, 0.5),
    ("AdamW", dict(lr=1e-3), 3, 0.8),
])
def test_lookahead_matches_pytorch_optimizer(inner, kw, k, alpha):
    ref_model, ct_model = mlp(), mlp()
    ref = po.Lookahead(getattr(torch.optim, inner)(ref_model.parameters(), **kw), k=k,
                       alpha=alpha)
    ct = co.Lookahead(make_ct(getattr(co, inner), ct_model.parameters(), **kw), k=k,
                      alpha=alpha)
    x, y = batch()
    for i in range(60):
        train_step(ref_model, ref, x, y)
        train_step(ct_model, ct, x, y)
        assert_models_close(ct_model, ref_model, f"step {i}")
    for pc, pr in zip(ct_model.parameters(), ref_model.parameters()):
        assert_close(ct.state[pc]["slow_params"], ref.state[pr]["slow_params"], "slow_params")


def test_lookahead_refuses_bad_arguments():
    m = mlp()
    with pytest.raises(ValueError, match="k"):
        co.Lookahead(co.SGD(m.parameters()), k=0)
    with pytest.raises(ValueError, match="alpha"):
        co.Lookahead(co.SGD(m.parameters()), alpha=1.5)
    with pytest.raises(TypeError, match="ctrain.optim"):
        co.Lookahead(torch.optim.SGD(m.parameters()))


def test_lookahead_resumes_mid_cycle_like_pytorch_optimizer():
    """The steps since the last sync travel in each group's 'counter'
    (pytorch-optimizer's key): a state dict, deepcopy or pickle taken
    mid-cycle resumes the cycle, so the slow-weight syncs stay on the
    reference's schedule."""
    k, kw = 5, dict(lr=0.05, momentum=0.9)
    ref_model, ct_model = mlp(), mlp()
    ref = po.Lookahead(torch.optim.SGD(ref_model.parameters(), **kw), k=k, alpha=0.5)
    ct = co.Lookahead(co.SGD(ct_model.parameters(), **kw), k=k, alpha=0.5)
    x, y = batch()
    for _ in range(7):
        train_step(ref_model, ref, x, y)
        train_step(ct_model, ct, x, y)
    sd = ct.state_dict()
    assert [g["counter"] for g in sd["param_groups"]] == [
        g["counter"] for g in ref.param_groups] == [2]
    buf = io.BytesIO()
    torch.save({"model": ct_model.state_dict(), "opt": sd}, buf)
    buf.seek(0)
    ck = torch.load(buf, weights_only=True)
    resumed_model = mlp(seed=5)
    resumed_model.load_state_dict(ck["model"])
    resumed = co.Lookahead(co.SGD(resumed_model.parameters(), **kw), k=k, alpha=0.5)
    resumed.load_state_dict(ck["opt"])
    copies = [copy.deepcopy((ct_model, ct)), pickle.loads(pickle.dumps((ct_model, ct))),
              (resumed_model, resumed)]
    for i in range(10):
        train_step(ref_model, ref, x, y)
        for m, o in copies:
            train_step(m, o, x, y)
            assert_models_close(m, ref_model, f"step {8 + i} after resuming")
    with pytest.raises(ValueError, match="counter"):
        bad = ct.state_dict()
        bad["param_groups"][0]["counter"] = k
        co.Lookahead(co.SGD(mlp().parameters(), **kw), k=k, alpha=0.5).load_state_dict(bad)
