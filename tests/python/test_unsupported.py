"""What ctrain.optim refuses, and that it says what is supported."""
import pytest
import torch

import ctrain.optim as co


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_dtypes_are_refused(dtype):
    p = torch.nn.Parameter(torch.zeros(3, dtype=dtype))
    with pytest.raises(co.UnsupportedTensorError, match="float32"):
        co.Adam([p])


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
