"""Checks that a ctrain run's checkpoint is a torch.nn.Sequential state_dict.

Builds the torch.nn.Sequential that RUN_DIR/config.yaml describes (the same
layer kinds and torch.nn options; in_features / in_channels left out in the
config are inferred by running a batch through torch's Lazy modules), loads
RUN_DIR/model.safetensors with the `safetensors` package (strict: every
tensor, no extra), and compares its logits on X.npy (scaled by data.scale)
with ctrain's (LOGITS.npy from `ctrain predict -o`): |a-b| <= 1e-4 (|b| + 1)
and the same predicted class for every row.

Usage: check_nn_checkpoint.py RUN_DIR X.npy LOGITS.npy
"""
import sys

import numpy as np
import torch
import yaml
from safetensors.torch import load_file


def pair(v):
    return tuple(v) if isinstance(v, list) else v


def make_layer(kind, o):
    nn = torch.nn
    o = {k: pair(v) for k, v in (o or {}).items()}
    lazy = {"linear": ("in_features", nn.Linear, nn.LazyLinear),
            "conv1d": ("in_channels", nn.Conv1d, nn.LazyConv1d),
            "conv2d": ("in_channels", nn.Conv2d, nn.LazyConv2d),
            "batchnorm1d": ("num_features", nn.BatchNorm1d, nn.LazyBatchNorm1d),
            "batchnorm2d": ("num_features", nn.BatchNorm2d, nn.LazyBatchNorm2d)}
    if kind in lazy:
        key, cls, lazy_cls = lazy[kind]
        return cls(**o) if key in o else lazy_cls(**o)
    simple = {"maxpool2d": nn.MaxPool2d, "avgpool2d": nn.AvgPool2d,
              "adaptive_avgpool2d": nn.AdaptiveAvgPool2d, "layernorm": nn.LayerNorm,
              "groupnorm": nn.GroupNorm, "dropout": nn.Dropout, "flatten": nn.Flatten,
              "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "silu": nn.SiLU,
              "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "softmax": nn.Softmax,
              "log_softmax": nn.LogSoftmax, "identity": nn.Identity}
    return simple[kind](**o)


def main():
    run, xpath, lpath = sys.argv[1:4]
    with open(f"{run}/config.yaml") as f:
        cfg = yaml.safe_load(f)
    layers = []
    for item in cfg["model"]:
        if isinstance(item, str):
            layers.append(make_layer(item, None))
        else:
            (kind, opts), = item.items()
            layers.append(make_layer(kind, opts))
    model = torch.nn.Sequential(*layers)
    data = cfg.get("data", {})
    scale = float(data.get("scale", 1.0 / 16 if data.get("source", "digits") == "digits" else 1.0))
    shape = data.get("shape")
    x = torch.from_numpy(np.load(xpath).astype(np.float32)) * scale
    x = x.reshape([x.shape[0]] + (shape or [-1]))
    model.eval()
    with torch.no_grad():
        model(x[:2])  # materialise the lazy modules
    state = load_file(f"{run}/model.safetensors")
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        ref = model(x).numpy()
    got = np.load(lpath)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    err = np.abs(got - ref) / (np.abs(ref) + 1)
    assert err.max() <= 1e-4, f"logits differ: max rel error {err.max():.3g}"
    same = (got.argmax(1) == ref.argmax(1)).all()
    assert same, "predicted classes differ"
    print(f"checkpoint: {len(state)} tensors load into torch.nn.Sequential; "
          f"{len(got)} predictions agree, max logit error {err.max():.2g}")


if __name__ == "__main__":
    main()
