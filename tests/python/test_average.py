"""Weight averaging (include/ctrain/average.h) through ctrain.numpy's
AveragedModel against torch.optim.swa_utils.AveragedModel: the averaged
parameters are torch's to the bit, update after update, for SWA (the
default) and EMA (get_ema_multi_avg_fn), float32 and float64; state_dict
resumes exactly; bad input is refused with nothing changed."""
import numpy as np
import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import ctrain.numpy as cn

SHAPES = [(37, 5), (5,), (3, 4, 6), (1,)]


def _models(dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g, dtype=dtype) for s in SHAPES]
    model = torch.nn.ParameterList([torch.nn.Parameter(p.clone()) for p in params])
    return model, [p.numpy().copy() for p in params]


def _perturb(model, arrays, g, t):
    """A training-like drift, applied the same way to both copies."""
    with torch.no_grad():
        for p, a in zip(model, arrays):
            step = torch.randn(p.shape, generator=g, dtype=p.dtype) * (0.1 / (1 + t))
            p.add_(step)
            a[...] = p.numpy()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("kind", ["swa", "ema", "ema-0.3", "ema-0.6"])
def test_averages_are_torchs_to_the_bit(kind, dtype):
    model, arrays = _models(dtype)
    decay = {"ema": 0.999, "ema-0.3": 0.3, "ema-0.6": 0.6}.get(kind)
    ref = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay) if decay else None)
    ours = cn.AveragedModel(arrays,
                            multi_avg_fn=cn.get_ema_multi_avg_fn(decay) if decay else None)
    g = torch.Generator().manual_seed(1)
    for t in range(25):
        _perturb(model, arrays, g, t)
        ref.update_parameters(model)
        ours.update_parameters(arrays)
        assert ours.n_averaged == int(ref.n_averaged) == t + 1
        for a, p in zip(ours.params, ref.module):
            np.testing.assert_array_equal(a, p.detach().numpy(), err_msg=f"update {t + 1}")
    # the average is not the last value (it really averages)
    assert not np.array_equal(ours.params[0], arrays[0])


def test_threads_give_the_same_bits():
    """Two threads split every tensor (above the serial threshold); the
    average is the one-thread average, bit for bit."""
    import ctrain
    g = np.random.default_rng(5)
    arrays = [g.standard_normal(300_001).astype(np.float32), g.standard_normal(7)]
    out = []
    for threads in (1, 2):
        ctrain.set_num_threads(threads)
        try:
            m = cn.AveragedModel(arrays, multi_avg_fn=cn.get_ema_multi_avg_fn(0.9))
        finally:
            ctrain.set_num_threads(1)
        for t in range(4):
            m.update_parameters([a * (1 + 0.1 * t) for a in arrays])
        out.append(m.params)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


def test_state_dict_resumes_exactly():
    model, arrays = _models(torch.float32, seed=3)
    ref = AveragedModel(model)
    ours = cn.AveragedModel(arrays)
    g = torch.Generator().manual_seed(4)
    for t in range(6):
        _perturb(model, arrays, g, t)
        ref.update_parameters(model)
        ours.update_parameters(arrays)
    sd = ours.state_dict()
    fresh = cn.AveragedModel([np.zeros_like(a) for a in arrays])
    fresh.load_state_dict(sd)
    assert fresh.n_averaged == 6
    for t in range(6, 12):
        _perturb(model, arrays, g, t)
        ref.update_parameters(model)
        fresh.update_parameters(arrays)
    for a, p in zip(fresh.params, ref.module):
        np.testing.assert_array_equal(a, p.detach().numpy())


def test_bad_input_is_refused_and_changes_nothing():
    _, arrays = _models(torch.float32)
    ours = cn.AveragedModel(arrays)
    ours.update_parameters(arrays)
    before = [a.copy() for a in ours.params]
    with pytest.raises(ValueError, match=r"params\[1\] is float32\[6\]"):
        ours.update_parameters([arrays[0], np.zeros(6, np.float32)] + arrays[2:])
    with pytest.raises(ValueError, match="3 arrays given for 4"):
        ours.update_parameters(arrays[:3])
    with pytest.raises(TypeError, match="float32 or float64"):
        ours.update_parameters([a.astype(np.float16) for a in arrays])
    with pytest.raises(TypeError, match="avg_fn is not supported"):
        cn.AveragedModel(arrays, avg_fn=lambda a, c, n: a)
    with pytest.raises(TypeError, match="get_ema_multi_avg_fn"):
        cn.AveragedModel(arrays, multi_avg_fn=get_ema_multi_avg_fn(0.9))  # torch's, a callable
    with pytest.raises(ValueError, match="decay"):
        cn.get_ema_multi_avg_fn(1.5)
    with pytest.raises(ValueError, match="n_averaged=-1"):
        ours.load_state_dict({"n_averaged": -1, "params": before})
    assert ours.n_averaged == 1
    for a, b in zip(ours.params, before):
        np.testing.assert_array_equal(a, b)
