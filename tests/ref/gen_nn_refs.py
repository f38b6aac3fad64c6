"""Writes reference cases for ctrain's tensor ops, layers and losses, computed
with torch (float32, CPU, one thread).

OUTDIR/nn/ops.safetensors holds, per case C (metadata "cases": a JSON list
of {name, op, args, grad: [bool per input], n_in, h, has_idx}):
  C.in{i}    input i                                       F32
  C.idx      integer argument (targets, indices), if any   I64
  C.out      output of the op                              F32
  C.up       upstream gradient (same shape as out)         F32
  C.grad{i}  d sum(out * up) / d input i (inputs with grad) F32
  C.extra{k} further outputs (batch norm running stats)    F32
tests/test_nn_ops.c rebuilds each op by name from args, checks output and
gradients against these (rel 1e-4) and against central finite differences
(step h).

OUTDIR/nn/cnn.safetensors: a small CNN (torch.nn.Sequential), its weights
under their state_dict names, a batch (x, y), its cross-entropy loss and the
gradient of every parameter ("grad.<name>"); metadata "layers" lists the
ctrain layers (kind, options) of the same model.

Usage: gen_nn_refs.py OUTDIR
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

torch.set_num_threads(1)
gen = torch.Generator().manual_seed(20240607)


def randn(*shape, away=0.0):
    """Normal values; with away > 0, none within `away` of zero (kinks)."""
    x = torch.randn(*shape, generator=gen)
    if away:
        x = x + torch.sign(x) * away
        x[x == 0] = away
    return x


def distinct(*shape):
    """Values with pairwise gaps >= 0.01 (max pooling, max without ties)."""
    n = int(np.prod(shape))
    v = torch.randperm(n, generator=gen).float() * 0.01 - n * 0.005
    return v.reshape(shape)


def positive(*shape):
    return torch.rand(*shape, generator=gen) + 0.5


cases, tensors = [], {}


def focal_ref(x, t, alpha, gamma):
    # torchvision.ops.sigmoid_focal_loss (torchvision/ops/focal_loss.py) with
    # reduction "none", written out here in torch (torchvision is not needed)
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss


def case(name, op, inputs, fn, args=None, grad=None, idx=None, h=1e-2, extra=None):
    """inputs: list of tensors; fn(*inputs) -> output (uses idx/args itself)."""
    grad = grad if grad is not None else [True] * len(inputs)
    xs = [x.clone().requires_grad_(g) for x, g in zip(inputs, grad)]
    out = fn(*xs)
    up = torch.randn(out.shape, generator=gen)
    if any(grad):
        (out * up).sum().backward()
    for i, x in enumerate(xs):
        tensors[f"{name}.in{i}"] = x.detach().numpy().copy()
        if grad[i]:
            tensors[f"{name}.grad{i}"] = x.grad.numpy().copy()
    tensors[f"{name}.out"] = out.detach().numpy().copy()
    tensors[f"{name}.up"] = up.numpy().copy()
    if idx is not None:
        tensors[f"{name}.idx"] = np.asarray(idx, dtype=np.int64)
    for k, e in enumerate(extra or []):
        tensors[f"{name}.extra{k}"] = e.detach().numpy().copy()
    cases.append({"name": name, "op": op, "args": args or {}, "grad": grad, "n_in": len(inputs),
                  "h": h, "has_idx": idx is not None, "n_extra": len(extra or [])})


def main():
    outdir = os.path.join(sys.argv[1], "nn")
    os.makedirs(outdir, exist_ok=True)

    # ---- element-wise, broadcasting ----
    for op, f in [("add", torch.add), ("sub", torch.sub), ("mul", torch.mul)]:
        case(f"{op}_same", op, [randn(3, 4), randn(3, 4)], f)
        case(f"{op}_bcast", op, [randn(2, 3, 4), randn(3, 1)], f)
        case(f"{op}_bcast2", op, [randn(4), randn(3, 1)], f)
    case("div_bcast", "div", [randn(2, 3), positive(3) * torch.tensor([1.0, -1.0, 1.0])], torch.div)
    case("neg", "neg", [randn(3, 5)], torch.neg)
    case("scale", "scale", [randn(3, 5)], lambda x: x * 0.75, args={"s": 0.75})
    case("exp", "exp", [randn(3, 5)], torch.exp)
    case("log", "log", [positive(3, 5)], torch.log)
    case("sqrt", "sqrt", [positive(3, 5)], torch.sqrt)
    case("pow3", "pow", [randn(3, 5)], lambda x: x.pow(3.0), args={"p": 3.0})
    case("pow_half", "pow", [positive(3, 5)], lambda x: x.pow(0.5), args={"p": 0.5})
    case("relu", "relu", [randn(4, 6, away=0.05)], F.relu, h=1e-3)
    case("leaky_relu", "leaky_relu", [randn(4, 6, away=0.05)],
         lambda x: F.leaky_relu(x, 0.1), args={"slope": 0.1}, h=1e-3)
    case("sigmoid", "sigmoid", [randn(4, 6)], torch.sigmoid)
    case("tanh", "tanh", [randn(4, 6)], torch.tanh)
    case("gelu", "gelu", [randn(4, 6)], F.gelu)
    case("silu", "silu", [randn(4, 6)], F.silu)
    cond = (torch.rand(3, 4, generator=gen) > 0.5).float()
    case("where", "where", [cond, randn(3, 4), randn(4)],
         lambda c, a, b: torch.where(c != 0, a, b), grad=[False, True, True])

    # ---- views ----
    case("transpose_mul", "transpose_mul", [randn(3, 4), randn(4, 3)],
         lambda a, b: a.transpose(0, 1) * b)
    case("permute_contig", "permute", [randn(2, 3, 4)],
         lambda x: x.permute(2, 0, 1).contiguous() * 1.0, args={"perm": [2, 0, 1]})
    case("slice_exp", "slice_exp", [randn(5, 4)], lambda x: torch.exp(x[1:4]),
         args={"dim": 0, "start": 1, "end": 4})
    case("reshape_sum", "reshape_sum_dim", [randn(2, 6)],
         lambda x: x.reshape(3, 4).sum(1), args={"shape": [3, 4], "dim": 1})

    # ---- reductions ----
    case("sum", "sum", [randn(3, 4)], torch.sum)
    case("mean", "mean", [randn(3, 4)], torch.mean)
    case("sum_dim1", "sum_dim", [randn(2, 3, 4)], lambda x: x.sum(1),
         args={"dim": 1, "keepdim": 0})
    case("sum_dim_keep", "sum_dim", [randn(2, 3, 4)], lambda x: x.sum(-1, keepdim=True),
         args={"dim": -1, "keepdim": 1})
    case("mean_dim0", "mean_dim", [randn(3, 5)], lambda x: x.mean(0),
         args={"dim": 0, "keepdim": 0})
    case("max_dim", "max_dim", [distinct(3, 5)], lambda x: x.max(1).values,
         args={"dim": 1, "keepdim": 0}, h=1e-3)

    # ---- linear algebra ----
    case("matmul", "matmul", [randn(3, 4), randn(4, 5)], torch.matmul)
    case("matmul_3d2d", "matmul", [randn(2, 3, 4), randn(4, 5)], torch.matmul)
    case("bmm", "matmul", [randn(2, 3, 4), randn(2, 4, 5)], torch.matmul)
    case("linear", "linear", [randn(5, 4), randn(3, 4), randn(3)], F.linear)
    case("linear_nobias_3d", "linear", [randn(2, 5, 4), randn(3, 4)], F.linear)

    # ---- shape ----
    case("concat1", "concat", [randn(2, 3), randn(2, 2)], lambda a, b: torch.cat([a, b], 1),
         args={"dim": 1})
    case("concat0", "concat", [randn(1, 3), randn(2, 3)], lambda a, b: torch.cat([a, b], 0),
         args={"dim": 0})
    ix = [2, 0, 2, 1]
    case("index_select1", "index_select", [randn(3, 4)],
         lambda x: torch.index_select(x, 1, torch.tensor(ix)), args={"dim": 1}, idx=ix)
    case("embedding", "embedding", [randn(5, 3)],
         lambda w: F.embedding(torch.tensor([4, 1, 1, 0]), w), idx=[4, 1, 1, 0])

    # ---- convolution and pooling ----
    convs = [
        ("conv2d_pad1", (2, 1, 6, 6), (4, 1, 3, 3), True, dict(stride=1, padding=1)),
        ("conv2d_stride2", (2, 3, 7, 6), (5, 3, 3, 3), True, dict(stride=2, padding=1)),
        ("conv2d_dilation", (1, 2, 8, 8), (3, 2, 3, 3), True, dict(stride=1, padding=2, dilation=2)),
        ("conv2d_groups", (2, 4, 5, 5), (6, 2, 3, 3), True, dict(stride=1, padding=1, groups=2)),
        ("conv2d_rect_nobias", (2, 2, 6, 5), (3, 2, 3, 2), False, dict(stride=(2, 1), padding=(1, 0))),
        # >= 256 output pixels per sample: ctrain's per-sample path
        ("conv2d_large_map", (3, 2, 18, 17), (4, 2, 3, 3), True, dict(stride=1, padding=1)),
        ("conv2d_large_groups", (2, 4, 20, 16), (6, 2, 5, 3), True,
         dict(stride=1, padding=(2, 1), groups=2)),
    ]
    for name, xs, ws, bias, kw in convs:
        ins = [randn(*xs), randn(*ws) * 0.5] + ([randn(ws[0])] if bias else [])
        args = {k: (list(v) if isinstance(v, tuple) else [v, v]) if k != "groups" else v
                for k, v in kw.items()}
        case(name, "conv2d", ins, lambda x, w, b=None, kw=kw: F.conv2d(x, w, b, **kw), args=args)
    case("conv1d", "conv1d", [randn(2, 3, 9), randn(4, 3, 3), randn(4)],
         lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1),
         args={"stride": [1, 2], "padding": [0, 1]})
    case("maxpool_k2", "maxpool2d", [distinct(2, 3, 6, 6)], lambda x: F.max_pool2d(x, 2),
         args={"kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]}, h=1e-3)
    case("maxpool_k3s2p1", "maxpool2d", [distinct(1, 2, 7, 7)],
         lambda x: F.max_pool2d(x, 3, 2, 1),
         args={"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]}, h=1e-3)
    case("avgpool_k2", "avgpool2d", [randn(2, 3, 6, 6)], lambda x: F.avg_pool2d(x, 2),
         args={"kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]})
    case("avgpool_k3s2p1", "avgpool2d", [randn(1, 2, 7, 7)], lambda x: F.avg_pool2d(x, 3, 2, 1),
         args={"kernel": [3, 3], "stride": [2, 2], "padding": [1, 1]})
    case("adaptive_avgpool", "adaptive_avgpool2d", [randn(2, 2, 5, 7)],
         lambda x: F.adaptive_avg_pool2d(x, (3, 2)), args={"out": [3, 2]})

    # ---- normalisation ----
    for name, shape in [("batchnorm2d", (4, 3, 3, 3)), ("batchnorm1d", (6, 4))]:
        c = shape[1]
        rm, rv = randn(c) * 0.1, positive(c)
        rm2, rv2 = rm.clone(), rv.clone()

        def bn(x, w, b, rm2=rm2, rv2=rv2):
            return F.batch_norm(x, rm2, rv2, w, b, training=True, momentum=0.2, eps=1e-5)
        case(name + "_train", "batch_norm", [randn(*shape), positive(c), randn(c)], bn,
             args={"training": 1, "momentum": 0.2, "eps": 1e-5, "running_mean": rm.tolist(),
                   "running_var": rv.tolist()}, extra=[rm2, rv2])
    rm, rv = randn(3) * 0.1, positive(3)
    case("batchnorm2d_eval", "batch_norm", [randn(2, 3, 4, 4), positive(3), randn(3)],
         lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-5),
         args={"training": 0, "momentum": 0.1, "eps": 1e-5, "running_mean": rm.tolist(),
               "running_var": rv.tolist()})
    case("layernorm", "layer_norm", [randn(3, 2, 5), positive(5), randn(5)],
         lambda x, w, b: F.layer_norm(x, (5,), w, b, 1e-5), args={"eps": 1e-5})
    case("groupnorm", "group_norm", [randn(2, 6, 3, 2), positive(6), randn(6)],
         lambda x, w, b: F.group_norm(x, 3, w, b, 1e-5), args={"groups": 3, "eps": 1e-5})

    # ---- softmax ----
    case("softmax1", "softmax", [randn(3, 5)], lambda x: F.softmax(x, 1), args={"dim": 1})
    case("softmax0_3d", "softmax", [randn(3, 2, 4)], lambda x: F.softmax(x, 0), args={"dim": 0})
    case("log_softmax1", "log_softmax", [randn(3, 5)], lambda x: F.log_softmax(x, 1),
         args={"dim": 1})
    case("log_softmax_mid", "log_softmax", [randn(2, 3, 4)], lambda x: F.log_softmax(x, 1),
         args={"dim": 1})

    # ---- losses ----
    red = {"mean": 0, "sum": 1, "none": 2}
    y = [3, 0, 4, 1, 1, 2]
    w = positive(5)
    ce_cases = [
        ("ce", {}, y),
        ("ce_smooth", {"label_smoothing": 0.1}, y),
        ("ce_weight", {"weight": True}, y),
        ("ce_weight_smooth", {"weight": True, "label_smoothing": 0.2}, y),
        ("ce_ignore", {"ignore_index": 1}, y),
        ("ce_ignore_smooth", {"ignore_index": 1, "label_smoothing": 0.15}, y),
        ("ce_ignore_weight_smooth", {"ignore_index": -100, "weight": True, "label_smoothing": 0.1},
         [3, -100, 4, 1, -100, 2]),
        ("ce_sum", {"reduction": "sum", "label_smoothing": 0.1}, y),
        ("ce_none", {"reduction": "none", "weight": True, "label_smoothing": 0.1,
                     "ignore_index": 0}, y),
    ]
    for name, o, tgt in ce_cases:
        kw = {"label_smoothing": o.get("label_smoothing", 0.0),
              "ignore_index": o.get("ignore_index", -100),
              "reduction": o.get("reduction", "mean")}
        if o.get("weight"):
            kw["weight"] = w
        args = {"label_smoothing": kw["label_smoothing"], "ignore_index": kw["ignore_index"],
                "reduction": red[kw["reduction"]]}
        if o.get("weight"):
            args["weight"] = w.tolist()
        case(name, "cross_entropy", [randn(6, 5)],
             lambda x, kw=kw, tgt=tgt: F.cross_entropy(x, torch.tensor(tgt), **kw),
             args=args, idx=tgt)
    t3 = [[0, 2, 1], [3, -100, 1]]
    case("ce_3d_smooth", "cross_entropy", [randn(2, 4, 3)],
         lambda x: F.cross_entropy(x, torch.tensor(t3), label_smoothing=0.1),
         args={"label_smoothing": 0.1, "ignore_index": -100, "reduction": 0},
         idx=sum(t3, []))
    case("ce_3d_none", "cross_entropy", [randn(2, 4, 3)],
         lambda x: F.cross_entropy(x, torch.tensor(t3), reduction="none"),
         args={"label_smoothing": 0, "ignore_index": -100, "reduction": 2}, idx=sum(t3, []))
    lp = F.log_softmax(randn(6, 5), 1)
    case("nll", "nll_loss", [lp], lambda x: F.nll_loss(x, torch.tensor(y), weight=w),
         args={"weight": w.tolist(), "ignore_index": -100, "reduction": 0, "label_smoothing": 0},
         idx=y)
    a, b = randn(4, 3), randn(4, 3)
    d = a - b
    b = a - (d + torch.sign(d) * 0.05)  # differences away from 0 (kinks)
    for r in ["mean", "sum", "none"]:
        case(f"mse_{r}", "mse_loss", [a, b], lambda x, t, r=r: F.mse_loss(x, t, reduction=r),
             args={"reduction": red[r]})
    case("l1", "l1_loss", [a, b], lambda x, t: F.l1_loss(x, t), args={"reduction": 0}, h=1e-3)
    bb = a - torch.where((a - b).abs() - 0.5 < 0.02, (a - b) * 1.3, a - b)
    case("smooth_l1", "smooth_l1_loss", [a, bb], lambda x, t: F.smooth_l1_loss(x, t, beta=0.5),
         args={"reduction": 0, "beta": 0.5}, h=1e-3)
    case("huber", "huber_loss", [a, bb], lambda x, t: F.huber_loss(x, t, delta=0.5, reduction="sum"),
         args={"reduction": 1, "delta": 0.5}, h=1e-3)
    p = torch.rand(4, 3, generator=gen) * 0.8 + 0.1
    t = torch.rand(4, 3, generator=gen)
    case("bce", "bce_loss", [p, t], lambda x, tt: F.binary_cross_entropy(x, tt),
         args={"reduction": 0}, grad=[True, False], h=1e-3)
    pw = positive(3)
    case("bce_logits", "bce_with_logits_loss", [randn(4, 3), t],
         lambda x, tt: F.binary_cross_entropy_with_logits(x, tt, pos_weight=pw, reduction="sum"),
         args={"reduction": 1, "pos_weight": pw.tolist()}, grad=[True, False])
    case("bce_logits_none", "bce_with_logits_loss", [randn(4, 3), t],
         lambda x, tt: F.binary_cross_entropy_with_logits(x, tt, reduction="none"),
         args={"reduction": 2}, grad=[True, False])

    # composite losses
    xt = torch.rand(4, 3, generator=gen)
    case("focal", "sigmoid_focal_loss", [randn(4, 3), (xt > 0.5).float()],
         lambda x, tt: focal_ref(x, tt, 0.25, 2.0).mean(),
         args={"alpha": 0.25, "gamma": 2.0, "reduction": 0}, grad=[True, False])
    case("focal_noalpha_sum", "sigmoid_focal_loss", [randn(4, 3), xt],
         lambda x, tt: focal_ref(x, tt, -1.0, 1.5).sum(),
         args={"alpha": -1.0, "gamma": 1.5, "reduction": 1}, grad=[True, False])
    case("triplet", "triplet_margin_loss", [randn(5, 4), randn(5, 4), randn(5, 4)],
         lambda a, pp, n: F.triplet_margin_loss(a, pp, n, margin=1.0, eps=1e-6),
         args={"margin": 1.0, "eps": 1e-6, "reduction": 0})
    ysgn = torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0])
    case("cosine_embedding", "cosine_embedding_loss", [randn(5, 4), randn(5, 4), ysgn],
         lambda a, b, yy: F.cosine_embedding_loss(a, b, yy, margin=-0.2),
         args={"margin": -0.2, "reduction": 0}, grad=[True, True, False])

    save_file(tensors, os.path.join(outdir, "ops.safetensors"),
              metadata={"cases": json.dumps(cases)})

    # ---- a whole CNN: loss and every parameter gradient ----
    torch.manual_seed(7)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.GELU(),
        torch.nn.Linear(32, 10))
    layers = [["conv2d", "in_channels=1 out_channels=8 kernel_size=3 padding=1"], ["relu", ""],
              ["maxpool2d", "kernel_size=2"],
              ["conv2d", "in_channels=8 out_channels=16 kernel_size=3 padding=1"],
              ["batchnorm2d", "num_features=16"], ["relu", ""], ["maxpool2d", "kernel_size=2"],
              ["flatten", ""], ["linear", "in_features=64 out_features=32"], ["gelu", ""],
              ["linear", "in_features=32 out_features=10"]]
    x = torch.randn(16, 1, 8, 8, generator=gen)
    yb = torch.randint(0, 10, (16,), generator=gen)
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    model.train()
    loss = F.cross_entropy(model(x), yb, label_smoothing=0.05)
    loss.backward()
    rec = dict(state)
    rec["x"] = x.numpy()
    rec["y"] = yb.numpy().astype(np.int64)
    rec["loss"] = np.array([loss.item()], dtype=np.float32)
    for k, v in model.named_parameters():
        rec["grad." + k] = v.grad.numpy().copy()
    for k, v in model.state_dict().items():
        if "running" in k:
            rec["after." + k] = v.numpy().copy()
    save_file(rec, os.path.join(outdir, "cnn.safetensors"),
              metadata={"layers": json.dumps(layers), "label_smoothing": "0.05"})
    # ---- an MLP with a residual block, layer norm and dropout off ----
    class ResidualMLP(torch.nn.Sequential):
        # ctrain's "residual layers=3" at index 2 wraps layers 3..5: a flat
        # Sequential whose forward adds the skip, so state_dict names match
        def forward(self, x):
            for i, m in enumerate(self):
                if i == 2:
                    skip = x
                x = m(x)
                if i == 5:
                    x = x + skip
            return x
    torch.manual_seed(8)
    model = ResidualMLP(torch.nn.Linear(12, 16), torch.nn.SiLU(), torch.nn.Identity(),
                        torch.nn.LayerNorm(16), torch.nn.Linear(16, 16), torch.nn.Tanh(),
                        torch.nn.Linear(16, 5))
    layers = [["linear", "out_features=16"], ["silu", ""], ["residual", "layers=3"],
              ["layernorm", ""], ["linear", "out_features=16"], ["tanh", ""],
              ["linear", "out_features=5"]]
    x = torch.randn(9, 12, generator=gen)
    yb = torch.randint(0, 5, (9,), generator=gen)
    rec = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    loss = F.cross_entropy(model(x), yb)
    loss.backward()
    rec["x"] = x.numpy()
    rec["y"] = yb.numpy().astype(np.int64)
    rec["loss"] = np.array([loss.item()], dtype=np.float32)
    for k, v in model.named_parameters():
        rec["grad." + k] = v.grad.numpy().copy()
    save_file(rec, os.path.join(outdir, "res.safetensors"),
              metadata={"layers": json.dumps(layers), "label_smoothing": "0"})

    # ---- a bag-of-embeddings classifier: Embedding, Flatten, Linear ----
    class FloatIndexEmbedding(torch.nn.Embedding):
        # ctrain's model input is float: indices arrive as floats
        def forward(self, x):
            return super().forward(x.long())
    torch.manual_seed(9)
    model = torch.nn.Sequential(FloatIndexEmbedding(11, 4), torch.nn.Flatten(),
                                torch.nn.Linear(12, 3))
    layers = [["embedding", "num_embeddings=11 embedding_dim=4"], ["flatten", ""],
              ["linear", "out_features=3"]]
    x = torch.randint(0, 11, (6, 3), generator=gen).float()
    yb = torch.randint(0, 3, (6,), generator=gen)
    rec = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    loss = F.cross_entropy(model(x), yb)
    loss.backward()
    rec["x"] = x.numpy()
    rec["y"] = yb.numpy().astype(np.int64)
    rec["loss"] = np.array([loss.item()], dtype=np.float32)
    for k, v in model.named_parameters():
        rec["grad." + k] = v.grad.numpy().copy()
    save_file(rec, os.path.join(outdir, "emb.safetensors"),
              metadata={"layers": json.dumps(layers), "label_smoothing": "0"})
    print(f"gen_nn_refs: {len(cases)} op cases, a CNN, a residual MLP, an embedding model in {outdir}")


if __name__ == "__main__":
    main()
