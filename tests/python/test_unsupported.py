"""What ctrain.optim refuses, and that it says what is supported."""
import pytest
import torch

import ctrain.optim as co


def test_float64_is_refused():
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    with pytest.raises(co.UnsupportedTensorError, match="float32, bfloat16 and float16"):
        co.Adam([p])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("cls", ["LAMB", "LARS", "Adafactor"])
def test_16_bit_parameters_are_refused_where_the_engine_cannot(cls, dtype):
    """bf16/fp16 parameters work with the one-pass optimizers
    (test_optim_lowp.py); the others say so."""
    p = torch.nn.Parameter(torch.zeros(4, 3, dtype=dtype))
    with pytest.raises(co.UnsupportedTensorError, match="ctrain.optim." + cls):
        getattr(co, cls)([p])


def test_16_bit_parameters_are_refused_with_lookahead():
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.bfloat16))
    opt = co.Adam([p], lr=0.5)
    p.grad = torch.ones_like(p)
    opt.step()
    before = opt.state_dict()
    with pytest.raises(co.UnsupportedTensorError, match="[Ll]ookahead"):
        co.Lookahead(opt)
    # nothing lost: the optimizer steps on as plain Adam with its state
    assert "slow_params" not in opt.state[p]
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], before["state"][0]["exp_avg"])
    opt.step()
    assert float(opt.state[p]["step"]) == 2


def test_complex_is_refused():
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.complex64))
    with pytest.raises(co.UnsupportedTensorError, match="complex"):
        co.Adam([p])


def test_non_contiguous_is_refused():
    p = torch.nn.Parameter(torch.zeros(4, 3).t())
    with pytest.raises(co.UnsupportedTensorError, match="contiguous"):
        co.SGD([p], lr=0.1)


def test_sparse_gradient_is_refused():
    emb = torch.nn.Embedding(10, 4, sparse=True)
    opt = co.SGD(emb.parameters(), lr=0.1)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(co.UnsupportedTensorError, match="sparse"):
        opt.step()


def test_non_contiguous_gradient_is_refused():
    p = torch.nn.Parameter(torch.zeros(4, 3))
    opt = co.SGD([p], lr=0.1)
    p.grad = torch.zeros(3, 4).t()
    with pytest.raises(co.UnsupportedTensorError, match="gradient.*contiguous"):
        opt.step()


def test_capturable_and_differentiable_are_refused():
    p = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="capturable"):
        co.Adam([p], capturable=True)
    with pytest.raises(ValueError, match="differentiable"):
        co.Adam([p], differentiable=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine")
def test_gpu_tensors_are_refused():  # pragma: no cover
    p = torch.nn.Parameter(torch.zeros(3, device="cuda"))
    with pytest.raises(co.UnsupportedTensorError, match="cpu|CPU"):
        co.Adam([p])


def test_meta_device_tensors_are_refused():
    p = torch.nn.Parameter(torch.zeros(3, device="meta"))
    with pytest.raises(co.UnsupportedTensorError, match="CPU"):
        co.Adam([p])


def test_empty_parameter_is_refused():
    with pytest.raises(co.UnsupportedTensorError, match="empty"):
        co.Adam([torch.nn.Parameter(torch.zeros(0, 3))])
