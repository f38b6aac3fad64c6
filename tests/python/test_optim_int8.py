"""8-bit optimizer state from Python (state_dtype="int8"): ctrain.optim and
ctrain.numpy against independent references.

- Each step of ctrain.optim's AdamW / Adam / SGD / RMSprop / Adagrad / Lion
  with 8-bit state is torch.optim's float32 step on the state dequantized by
  NumPy (test_optim_precision.py's re-derivation of Dettmers et al.'s map and
  blockwise quantizer), and the codes kept afterwards are NumPy's quantization
  of torch's new state.
- state_dict() is torch.optim's layout with the state dequantized, so
  torch.optim loads it; loading torch's state quantizes it as NumPy does;
  deepcopy and pickle copy the codes exactly and continue bit for bit; a
  state the codes cannot hold is refused with nothing changed.
"""
import copy
import pickle

import numpy as np
import pytest
import torch

import ctrain.numpy as cn
import ctrain.optim as co
from test_optim_precision import close_codes, dequantize, quantize

torch.set_num_threads(1)

N = 5000  # 19 full blocks and one of 136
# kind -> (ctrain.optim class, torch.optim class, kwargs, {state: signed map})
KINDS = {
    "AdamW": ({"lr": 1e-2, "weight_decay": 0.01}, {"exp_avg": True, "exp_avg_sq": False}),
    "Adam": ({"lr": 1e-2, "amsgrad": True},
             {"exp_avg": True, "exp_avg_sq": False, "max_exp_avg_sq": False}),
    "SGD": ({"lr": 1e-2, "momentum": 0.9, "nesterov": True}, {"momentum_buffer": True}),
    "RMSprop": ({"lr": 1e-3, "momentum": 0.9, "centered": True},
                {"square_avg": False, "momentum_buffer": True, "grad_avg": True}),
    "Adagrad": ({"lr": 1e-2}, {"sum": False}),
}


def grad_at(step, n=N):
    """Gradients whose 256-blocks differ in scale by up to 1e6, with an
    all-zero block, so every block has its own absmax."""
    g = torch.Generator().manual_seed(100 + step)
    x = torch.randn(n, generator=g) * 0.1
    s = 10.0 ** torch.linspace(-5, 1, (n + 255) // 256)
    x = x * s.repeat_interleave(256)[:n]
    x[512:768] = 0
    return x


def torch_step(name, kw, p0, grad, state, step):
    """torch.optim's float32 step from p0 with the given (dequantized) state."""
    p = p0.detach().clone().requires_grad_()
    opt = getattr(torch.optim, name)([p], **kw, foreach=False)
    p.grad = grad.clone()
    if step > 1 or name == "Adagrad":
        st = {k: v.clone() for k, v in state.items()}
        if name == "Adagrad" and step == 1:
            st = {"sum": torch.zeros_like(p)}
        if name != "SGD":
            st["step"] = torch.tensor(float(step - 1))
        opt.state[p] = st
    opt.step()
    return p.detach(), opt.state[p]


@pytest.mark.parametrize("name", list(KINDS))
def test_each_step_is_torch_on_the_dequantized_state(name):
    kw, bufs = KINDS[name]
    p = torch.randn(N, generator=torch.Generator().manual_seed(1)).requires_grad_()
    opt = getattr(co, name)([p], **kw, state_dtype="int8")
    state = {}
    for step in range(1, 6):
        p0 = p.detach().clone()
        p.grad = grad_at(step)
        opt.step()
        want, tst = torch_step(name, kw, p0, p.grad, state, step)
        torch.testing.assert_close(p.detach(), want, rtol=1e-6, atol=1e-7,
                                   msg=f"{name} step {step}")
        st = opt.state[p]
        assert set(st) == ({f"{b}_{s}" for b in bufs for s in ("codes", "absmax")}
                           | ({"step"} if name != "SGD" else set()))
        state = {}
        for b, signed in bufs.items():
            codes, absmax = st[b + "_codes"], st[b + "_absmax"]
            assert codes.dtype == torch.uint8 and codes.shape == p.shape
            assert absmax.dtype == torch.float32 and absmax.shape == ((N + 255) // 256,)
            want_c, want_a = quantize(tst[b].numpy(), signed)
            close_codes(codes.numpy(), want_c, f"{name} {b} step {step}")
            np.testing.assert_allclose(absmax.numpy(), want_a, rtol=1e-6)
            state[b] = torch.from_numpy(dequantize(codes.numpy(), absmax.numpy(), signed))


def test_lion_keeps_8bit_momentum():
    """Lion (not in torch.optim): the update is sign(b1 m + (1 - b1) g) on the
    dequantized m, and m is requantized from b2 m + (1 - b2) g."""
    p = torch.randn(N, generator=torch.Generator().manual_seed(2)).requires_grad_()
    opt = co.Lion([p], lr=1e-3, betas=(0.9, 0.99), state_dtype="int8")
    m = np.zeros(N, np.float32)
    for step in range(1, 5):
        p0 = p.detach().numpy().copy()
        g = grad_at(step).numpy()
        p.grad = torch.from_numpy(g)
        opt.step()
        c = np.float32(0.9) * m + np.float32(0.1) * g
        np.testing.assert_allclose(p.detach().numpy(), p0 - np.float32(1e-3) * np.sign(c),
                                   rtol=0, atol=1e-7)
        codes = opt.state[p]["exp_avg_codes"].numpy()
        absmax = opt.state[p]["exp_avg_absmax"].numpy()
        close_codes(codes, quantize(np.float32(0.99) * m + np.float32(0.01) * g, True)[0],
                    f"lion step {step}")
        m = dequantize(codes, absmax, True)


def _model_and_opt(state_dtype="int8", seed=0, **kw):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.Tanh(), torch.nn.Linear(96, 1))
    opt = co.AdamW(model.parameters(), lr=1e-2, state_dtype=state_dtype, **kw)
    return model, opt


def _train(model, opt, steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4096, 64, generator=g)
    y = torch.sin(x[:, :1] * 2) + 0.1 * torch.randn(4096, 1, generator=g)
    loss = None
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    return float(loss.detach())


def test_min_8bit_size_keeps_small_tensors_float32():
    model, opt = _model_and_opt()  # default min_8bit_size 4096: only the 64x96 weight
    _train(model, opt, 1)
    w, b = model[0].weight, model[0].bias
    assert w.numel() >= 4096 and {"exp_avg_codes", "exp_avg_sq_absmax"} <= set(opt.state[w])
    assert set(opt.state[b]) == {"step", "exp_avg", "exp_avg_sq"}
    assert opt.state[b]["exp_avg"].dtype == torch.float32
    model, opt = _model_and_opt(min_8bit_size=0)
    _train(model, opt, 1)
    assert "exp_avg_codes" in opt.state[model[0].bias]


def test_state_dict_is_torchs_layout_with_dequantized_state():
    model, opt = _model_and_opt(min_8bit_size=0)
    _train(model, opt, 5)
    sd = opt.state_dict()
    for k, p in enumerate(model.parameters()):
        st = sd["state"][k]
        assert set(st) == {"step", "exp_avg", "exp_avg_sq"}
        for name, signed in (("exp_avg", True), ("exp_avg_sq", False)):
            codes = opt.state[p][name + "_codes"].numpy().reshape(-1)
            absmax = opt.state[p][name + "_absmax"].numpy()
            assert st[name].shape == p.shape and st[name].dtype == torch.float32
            np.testing.assert_array_equal(st[name].numpy().reshape(-1),
                                          dequantize(codes, absmax, signed))
    # the optimizer's own state is untouched by state_dict()
    assert "exp_avg_codes" in opt.state[model[0].weight]
    # torch.optim takes it and continues as torch does from those values
    tm = copy.deepcopy(model)
    topt = torch.optim.AdamW(tm.parameters(), lr=1e-2)
    topt.load_state_dict(sd)
    for k, p in enumerate(tm.parameters()):
        assert torch.equal(topt.state[p]["exp_avg"], sd["state"][k]["exp_avg"])
    assert _train(tm, topt, 3) < 1.0


def test_torch_state_loads_quantized_as_numpy_quantizes():
    torch.manual_seed(0)
    model = torch.nn.Linear(100, 60)
    topt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = torch.randn(32, 100)
    for _ in range(3):
        topt.zero_grad()
        model(x).pow(2).mean().backward()
        topt.step()
    opt = co.AdamW(model.parameters(), lr=1e-2, state_dtype="int8", min_8bit_size=0)
    opt.load_state_dict(topt.state_dict())
    for p in model.parameters():
        assert float(opt.state[p]["step"]) == 3
        for name, signed in (("exp_avg", True), ("exp_avg_sq", False)):
            codes, absmax = quantize(topt.state[p][name].numpy().reshape(-1), signed)
            np.testing.assert_array_equal(opt.state[p][name + "_codes"].numpy().reshape(-1),
                                          codes)
            np.testing.assert_array_equal(opt.state[p][name + "_absmax"].numpy(), absmax)
    # and a state dict round trip through ctrain keeps the values within the
    # quantization error: one 8-bit optimizer's state_dict loads into another
    opt2 = co.AdamW(model.parameters(), lr=1e-2, state_dtype="int8", min_8bit_size=0)
    opt2.load_state_dict(opt.state_dict())
    for p in model.parameters():
        a, b = opt.state_dict(), opt2.state_dict()
        for k in a["state"]:
            for name in ("exp_avg", "exp_avg_sq"):
                x1, x2 = a["state"][k][name], b["state"][k][name]
                assert torch.allclose(x1, x2, rtol=0.02, atol=1e-12)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copies_continue_bit_for_bit(how):
    model, opt = _model_and_opt(min_8bit_size=0)
    _train(model, opt, 4)
    if how == "deepcopy":
        m2, o2 = copy.deepcopy((model, opt))
    else:
        m2, o2 = pickle.loads(pickle.dumps((model, opt)))
    for p, q in zip(model.parameters(), m2.parameters()):
        for key in opt.state[p]:
            assert torch.equal(opt.state[p][key], o2.state[q][key]), key
    _train(model, opt, 3, seed=7)
    _train(m2, o2, 3, seed=7)
    for p, q in zip(model.parameters(), m2.parameters()):
        assert torch.equal(p, q)
        for key in opt.state[p]:
            assert torch.equal(opt.state[p][key], o2.state[q][key]), key


def test_bad_state_is_refused_and_changes_nothing():
    model, opt = _model_and_opt(min_8bit_size=0)
    _train(model, opt, 2)
    before = {k: v.clone() for k, v in opt.state[model[0].weight].items()}
    engine = opt._engine
    for bad in ("nan", "negative", "size"):
        sd = opt.state_dict()
        st = sd["state"][0]
        if bad == "nan":
            st["exp_avg"][3, 5] = float("nan")
            match = "element 197 is nan"
        elif bad == "negative":
            st["exp_avg_sq"][0, 1] = -1.0
            match = "unsigned 8-bit codes and element 1 is -1"
        else:
            st["exp_avg"] = st["exp_avg"].reshape(-1)[:-1]
            match = "has 6143 elements, expected 6144"
        with pytest.raises(ValueError, match=match):
            opt.load_state_dict(sd)
        assert opt._engine is engine
        for k, v in opt.state[model[0].weight].items():
            assert torch.equal(v, before[k]), (bad, k)
    _train(model, opt, 1)  # still usable
    assert float(opt.state[model[0].weight]["step"]) == 3


def test_8bit_training_loss_matches_float32():
    """A regression MLP (16 -> 256 -> 1, 4096 noisy samples, noise floor 0.01)
    trained 300 steps with AdamW and a cosine schedule, with the default
    min_8bit_size (the 16x256 weight is 8-bit, the rest float32), from 4
    initializations: 8-bit state ends within 2% of float32 on average and 5%
    in every run (single runs land 3% either side: different trajectories)."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4096, 16, generator=g)
    y = torch.sin(x[:, :1] * 2) * torch.cos(x[:, 1:2]) + 0.1 * torch.randn(4096, 1, generator=g)
    ratios = []
    for seed in range(4):
        losses = {}
        for sdt in ("fp32", "int8"):
            torch.manual_seed(seed)
            model = torch.nn.Sequential(torch.nn.Linear(16, 256), torch.nn.Tanh(),
                                        torch.nn.Linear(256, 1))
            opt = co.AdamW(model.parameters(), lr=1e-2, state_dtype=sdt)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 300)
            for _ in range(300):
                opt.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                opt.step()
                sched.step()
            losses[sdt] = float(loss.detach())
        assert "exp_avg_codes" in opt.state[model[0].weight]
        assert "exp_avg" in opt.state[model[0].bias]
        assert losses["fp32"] < 0.05, losses  # it learned (the start is ~0.3)
        ratios.append(losses["int8"] / losses["fp32"])
    assert max(ratios) <= 1.05 and sum(ratios) / len(ratios) <= 1.02, ratios


def test_bf16_parameters_with_8bit_state():
    """bf16 parameters (fp32 master copy) with 8-bit moments: the master copy
    is float32 state, the moments are codes; the run learns as float32 does."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.Tanh(), torch.nn.Linear(96, 1))
    ref = copy.deepcopy(model)
    model = model.to(torch.bfloat16)
    opt = co.AdamW(model.parameters(), lr=1e-2, state_dtype="int8", min_8bit_size=0,
                   master_weights=True)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 64, generator=g)
    y = torch.sin(x[:, :1] * 2)
    for _ in range(200):
        opt.zero_grad()
        loss = ((model(x.bfloat16()).float() - y) ** 2).mean()
        loss.backward()
        opt.step()
    w = model[0].weight
    assert opt.state[w]["master"].dtype == torch.float32
    assert opt.state[w]["exp_avg_codes"].dtype == torch.uint8
    assert torch.equal(opt.state[w]["master"].bfloat16(), w.detach())
    ropt = torch.optim.AdamW(ref.parameters(), lr=1e-2)
    for _ in range(200):
        ropt.zero_grad()
        rloss = ((ref(x) - y) ** 2).mean()
        rloss.backward()
        ropt.step()
    loss, rloss = float(loss.detach()), float(rloss.detach())
    assert loss <= 1.25 * rloss + 1e-3, (loss, rloss)


# ---- ctrain.numpy --------------------------------------------------------------

def test_numpy_8bit_state_and_state_dict():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((80, 70)).astype(np.float32)
    b = rng.standard_normal(70).astype(np.float32)
    opt = cn.AdamW([w, b], lr=1e-2, state_dtype="int8")  # b: 70 < 4096, float32
    wt = torch.from_numpy(w.copy()).requires_grad_()
    state = {}
    for step in range(1, 4):
        gw = grad_at(step, w.size).numpy().reshape(w.shape)
        gb = rng.standard_normal(70).astype(np.float32)
        w0 = w.copy()
        opt.step([gw, gb])
        want, tst = torch_step("AdamW", {"lr": 1e-2}, torch.from_numpy(w0), torch.from_numpy(gw),
                               state, step)
        np.testing.assert_allclose(w, want.numpy(), rtol=1e-6, atol=1e-7)
        st = opt.state(0)
        state = {}
        for name, signed in (("exp_avg", True), ("exp_avg_sq", False)):
            codes, absmax = st[name + "_codes"], st[name + "_absmax"]
            assert codes.dtype == np.uint8 and codes.shape == w.shape
            close_codes(codes.reshape(-1), quantize(tst[name].numpy().reshape(-1), signed)[0],
                        f"numpy {name} step {step}")
            state[name] = torch.from_numpy(dequantize(codes.reshape(-1), absmax, signed)
                                           .reshape(w.shape))
    assert set(opt.state(1)) == {"step", "exp_avg", "exp_avg_sq"}
    del wt
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == 3 and sd["state"][0]["exp_avg"].dtype == np.float32
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"],
                                  state["exp_avg"].numpy())
    # into a fresh 8-bit optimizer: NumPy's codes of those values
    w2, b2 = w.copy(), b.copy()
    opt2 = cn.AdamW([w2, b2], lr=1e-2, state_dtype="int8")
    opt2.load_state_dict(sd)
    for name, signed in (("exp_avg", True), ("exp_avg_sq", False)):
        codes, absmax = quantize(sd["state"][0][name].reshape(-1), signed)
        np.testing.assert_array_equal(opt2.state(0)[name + "_codes"].reshape(-1), codes)
        np.testing.assert_array_equal(opt2.state(0)[name + "_absmax"], absmax)
    # and into a float32 optimizer, as float32 values
    w3, b3 = w.copy(), b.copy()
    opt3 = cn.AdamW([w3, b3], lr=1e-2)
    opt3.load_state_dict(sd)
    np.testing.assert_array_equal(opt3.state(0)["exp_avg"], sd["state"][0]["exp_avg"])
    # a value the codes cannot hold: refused, nothing changed
    bad = copy.deepcopy(sd)
    bad["state"][0]["exp_avg_sq"][0, 0] = np.inf
    bad["param_groups"][0]["lr"] = 0.5
    before = {k: np.array(v) for k, v in opt2.state(0).items() if k != "step"}
    with pytest.raises(ValueError, match="element 0 is inf"):
        opt2.load_state_dict(bad)
    assert opt2.param_groups[0]["lr"] == 1e-2
    for k, v in opt2.state(0).items():
        if k != "step":
            np.testing.assert_array_equal(v, before[k])


def test_numpy_bf16_state_shows_its_bits():
    w = np.linspace(-1, 1, 300, dtype=np.float32)
    opt = cn.Adam([w], lr=1e-2, state_dtype="bf16")
    opt.step([np.full(300, 0.5, np.float32)])
    st = opt.state(0)
    assert st["exp_avg_bf16"].dtype == np.uint16
    vals = (st["exp_avg_bf16"].astype(np.uint32) << 16).view(np.float32)
    np.testing.assert_array_equal(vals, opt.state_dict()["state"][0]["exp_avg"])
    assert np.all(np.abs(vals - 0.05) <= 0.05 * 2.0 ** -8)
