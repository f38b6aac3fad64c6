"""Training throughput of ctrain vs PyTorch eager on CPU, and GEMM efficiency.

For each model (the digits MLP, the digits CNN of configs/digits_cnn.yaml,
LeNet-5 on 28x28 inputs) both train the same architecture with AdamW, the
same batch size and thread count on the same number of samples; samples/s
is the mean over the timed epochs (the first epoch is a warm-up). ctrain is
run as `ctrain train` (checkpoint only at the end, no validation split) and
its per-epoch samples/s line is read; torch runs a plain loop
(zero_grad, forward, cross_entropy, backward, step).

GEMM: ct_matmul (graph, no_grad) vs cblas_sgemm called directly through
ctypes on the same libopenblas, square sizes, one thread.

Usage: bench/train_bench.py BUILD_DIR [THREADS]   (prints a Markdown table;
`make bench` writes it to docs/benchmarks/train_results.md)
"""
import ctypes
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

MODELS = {
    "digits MLP": {
        "shape": [64], "n": 1437, "batch": 32, "epochs": 12,
        "layers": [("linear", {"out_features": 128}), ("relu", None),
                   ("linear", {"out_features": 10})],
        "torch": lambda: nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)),
    },
    "digits CNN": {
        "shape": [1, 8, 8], "n": 1437, "batch": 32, "epochs": 12,
        "layers": [("conv2d", {"out_channels": 16, "kernel_size": 3, "padding": 1}),
                   ("relu", None), ("maxpool2d", {"kernel_size": 2}),
                   ("conv2d", {"out_channels": 32, "kernel_size": 3, "padding": 1}),
                   ("relu", None), ("maxpool2d", {"kernel_size": 2}), ("flatten", None),
                   ("linear", {"out_features": 10})],
        "torch": lambda: nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(128, 10)),
    },
    "LeNet-5 28x28": {
        "shape": [1, 28, 28], "n": 4096, "batch": 64, "epochs": 4,
        "layers": [("conv2d", {"out_channels": 6, "kernel_size": 5, "padding": 2}),
                   ("relu", None), ("maxpool2d", {"kernel_size": 2}),
                   ("conv2d", {"out_channels": 16, "kernel_size": 5}), ("relu", None),
                   ("maxpool2d", {"kernel_size": 2}), ("flatten", None),
                   ("linear", {"out_features": 120}), ("relu", None),
                   ("linear", {"out_features": 84}), ("relu", None),
                   ("linear", {"out_features": 10})],
        "torch": lambda: nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10)),
    },
}


def yaml_layers(layers):
    out = []
    for kind, opts in layers:
        if opts:
            o = ", ".join(f"{k}: {v}" for k, v in opts.items())
            out.append(f"  - {kind}: {{{o}}}")
        else:
            out.append(f"  - {kind}")
    return "\n".join(out)


def run_ctrain(build, name, spec, x, y, threads, tmp):
    np.save(f"{tmp}/x.npy", x)
    np.save(f"{tmp}/y.npy", y)
    cfg = f"""name: bench
seed: 1
data: {{source: npy, x: {tmp}/x.npy, y: {tmp}/y.npy, shape: {spec['shape']}, test_split: 0.0, val_split: 0.0}}
model:
{yaml_layers(spec['layers'])}
optimizer: {{name: adamw, lr: 0.001}}
train: {{epochs: {spec['epochs']}, batch_size: {spec['batch']}, threads: {threads}, checkpoint_every: 0}}
output: {{dir: {tmp}/runs}}
"""
    with open(f"{tmp}/bench.yaml", "w") as f:
        f.write(cfg)
    out = subprocess.run([f"{build}/tools/ctrain", "train", f"{tmp}/bench.yaml"],
                         capture_output=True, text=True, check=True).stdout
    secs = [float(s) for s in re.findall(r"^\d+,\d+,[^,]*,[^,]*,[^,]*,[^,]*,[^,]*,[^,]*,([0-9.]+)$",
                                         open(f"{tmp}/runs/bench/log.csv").read(), re.M)]
    # per-epoch times from the cumulative seconds column; skip the warm-up epoch
    per = np.diff([0.0] + secs)[1:]
    return len(y) / float(np.mean(per)), out


def run_torch(spec, x, y, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = spec["torch"]()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    xt = torch.from_numpy(x).reshape([len(x)] + spec["shape"])
    yt = torch.from_numpy(y)
    b = spec["batch"]
    times = []
    for ep in range(spec["epochs"]):
        perm = torch.randperm(len(xt))
        t0 = time.perf_counter()
        for i in range(0, len(xt), b):
            idx = perm[i:i + b]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    return len(x) / float(np.mean(times[1:]))


def gemm_efficiency(build, sizes=(64, 128, 256, 512, 1024)):
    lib = ctypes.CDLL(f"{build}/libctrain.so")
    blas = ctypes.CDLL("libopenblas.so.0")
    blas.openblas_set_num_threads(1)
    vp, i, f = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    blas.cblas_sgemm.argtypes = [i, i, i, i, i, i, f, vp, i, vp, i, f, vp, i]
    lib.ct_graph_create.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.ct_tensor_from.restype = ctypes.c_void_p
    lib.ct_tensor_from.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                   ctypes.c_void_p, ctypes.c_int]
    lib.ct_matmul.restype = ctypes.c_void_p
    lib.ct_matmul.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.ct_graph_reset.argtypes = [ctypes.c_void_p]
    lib.ct_graph_set_no_grad.argtypes = [ctypes.c_void_p, ctypes.c_int]
    g = ctypes.c_void_p()
    lib.ct_graph_create(ctypes.byref(g))
    lib.ct_graph_set_no_grad(g, 1)
    rows = []
    for n in sizes:
        a = np.random.rand(n, n).astype(np.float32)
        b = np.random.rand(n, n).astype(np.float32)
        c = np.zeros((n, n), np.float32)
        shape = (ctypes.c_int64 * 2)(n, n)
        reps = max(3, int(2e9 / (2 * n ** 3)))

        def ct():
            lib.ct_graph_reset(g)
            ta = lib.ct_tensor_from(g, a.ctypes.data, 2, shape, 0)
            tb = lib.ct_tensor_from(g, b.ctypes.data, 2, shape, 0)
            lib.ct_matmul(g, ta, tb)

        def direct():
            blas.cblas_sgemm(101, 111, 111, n, n, n, ctypes.c_float(1.0), a.ctypes.data, n,
                             b.ctypes.data, n, ctypes.c_float(0.0), c.ctypes.data, n)

        res = []
        for fn in (ct, direct):
            fn()
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            res.append(2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9)
        rows.append((n, res[0], res[1]))
    return rows


def main():
    build = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = np.random.default_rng(0)
    print(f"| model | batch | samples | ctrain samples/s | PyTorch {torch.__version__} eager samples/s | ratio |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in MODELS.items():
            d = int(np.prod(spec["shape"]))
            x = rng.random((spec["n"], d), dtype=np.float32)
            y = rng.integers(0, 10, spec["n"]).astype(np.int64)
            c, _ = run_ctrain(build, name, spec, x, y, threads, tmp)
            t = run_torch(spec, x, y, threads)
            print(f"| {name} | {spec['batch']} | {spec['n']} | {c:,.0f} | {t:,.0f} | {c / t:.2f}x |")
    print()
    print("| n (square sgemm) | ct_matmul GFLOP/s | cblas_sgemm GFLOP/s | efficiency |")
    print("|---|---|---|---|")
    for n, ct, direct in gemm_efficiency(build):
        print(f"| {n} | {ct:.1f} | {direct:.1f} | {ct / direct:.0%} |")


if __name__ == "__main__":
    main()
