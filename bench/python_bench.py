#!/usr/bin/env python3
"""ctrain.optim against torch.optim from Python, in one run.

Measures, with the same threads (torch.set_num_threads and
ctrain.set_num_threads) and interleaved round by round:
  * the cost of one optimizer.step() as a function of the tensor count
    (1 .. 1,000 tensors of 64 elements, so the arithmetic is negligible and
    what remains is the per-call and per-tensor overhead): ctrain.optim.AdamW
    (one C call) against torch.optim.AdamW's for-loop, foreach and fused;
  * a whole training step (zero_grad, forward, backward, step) of an MLP and
    of a small transformer language model, with ctrain.optim.AdamW against
    torch's fastest AdamW measured in the same run.
Writes OUT/python.json and OUT/python.md.

usage: python_bench.py [--quick] [--out DIR]   (make bench: docs/benchmarks)
"""
import argparse
import datetime
import json
import os
import platform
import time

import torch

import ctrain
import ctrain.optim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best_time(fn, reps, rounds):
    """Best mean seconds per call over `rounds` rounds of `reps` calls."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def torch_impls():
    return {"torch for-loop": dict(foreach=False), "torch foreach": dict(foreach=True),
            "torch fused": dict(fused=True)}


def make_opt(impl, params):
    if impl == "ctrain":
        return ctrain.optim.AdamW(params, lr=1e-3)
    return torch.optim.AdamW(params, lr=1e-3, **torch_impls()[impl])


IMPLS = ["ctrain", "torch for-loop", "torch foreach", "torch fused"]


def step_overhead(counts, rounds):
    rows = []
    for n in counts:
        params = [torch.nn.Parameter(torch.randn(64)) for _ in range(n)]
        for p in params:
            p.grad = torch.randn(64)
        opts = {impl: make_opt(impl, params) for impl in IMPLS}
        for o in opts.values():
            o.step()  # state allocated
        reps = max(3, 2000 // n)
        times = {impl: float("inf") for impl in IMPLS}
        for _ in range(rounds):  # interleaved
            for impl, o in opts.items():
                times[impl] = min(times[impl], best_time(o.step, reps, 1))
        for impl in IMPLS:
            rows.append({"bench": "step_overhead", "impl": impl, "n_tensors": n,
                         "elements_per_tensor": 64, "us_per_step": times[impl] * 1e6,
                         "us_per_tensor": times[impl] * 1e6 / n})
    return rows


def mlp():
    return torch.nn.Sequential(torch.nn.Linear(784, 1024), torch.nn.ReLU(),
                               torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
                               torch.nn.Linear(1024, 10))


class TinyLM(torch.nn.Module):
    """A 2-layer transformer language model (d=256, 4 heads, vocab 2,000)."""

    def __init__(self, vocab=2000, d=256, layers=2, seq=64):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, d)
        self.pos = torch.nn.Parameter(torch.zeros(seq, d))
        layer = torch.nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True)
        self.body = torch.nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = torch.nn.Linear(d, vocab)
        self.mask = torch.nn.Transformer.generate_square_subsequent_mask(seq)

    def forward(self, x):
        h = self.body(self.emb(x) + self.pos, mask=self.mask, is_causal=True)
        return self.head(h)


def train_step_bench(name, build, batch, rounds, reps):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    if name == "mlp":
        x = torch.randn(batch, 784, generator=gen)
        y = torch.randint(0, 10, (batch,), generator=gen)
    else:
        x = torch.randint(0, 2000, (batch, 64), generator=gen)
        y = torch.randint(0, 2000, (batch, 64), generator=gen)
    models, opts = {}, {}
    for impl in IMPLS:
        torch.manual_seed(0)
        models[impl] = build()
        opts[impl] = make_opt(impl, models[impl].parameters())

    def step(impl):
        m, o = models[impl], opts[impl]
        o.zero_grad()
        out = m(x)
        loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        loss.backward()
        o.step()

    for impl in IMPLS:
        step(impl)  # warm-up
    times = {impl: float("inf") for impl in IMPLS}
    for _ in range(rounds):
        for impl in IMPLS:
            times[impl] = min(times[impl], best_time(lambda: step(impl), reps, 1))
    n_params = sum(p.numel() for p in models["ctrain"].parameters())
    n_tensors = sum(1 for _ in models["ctrain"].parameters())
    return [{"bench": "train_step", "model": name, "impl": impl, "batch": batch,
             "n_params": n_params, "n_tensors": n_tensors, "ms_per_step": times[impl] * 1e3,
             "samples_per_s": batch / times[impl]} for impl in IMPLS]


def markdown(rows, threads, quick):
    out = ["# ctrain.optim against torch.optim from Python", "",
           f"Measured {datetime.date.today()} on {platform.machine()} with {threads} "
           f"thread(s), torch {torch.__version__}, by `bench/python_bench.py"
           f"{' --quick' if quick else ''}` (part of `make bench`). Best of interleaved rounds; "
           "the machine may be shared, so compare columns of one run, not runs.", "",
           "## Cost of one `step()` against the tensor count", "",
           "AdamW on n tensors of 64 elements: the arithmetic is negligible, so this is "
           "the per-call and per-tensor overhead of each implementation.", "",
           "| tensors | " + " | ".join(f"{i} µs" for i in IMPLS) + " | torch best / ctrain |",
           "|---|" + "---|" * (len(IMPLS) + 1)]
    by = {}
    for r in rows:
        if r["bench"] == "step_overhead":
            by.setdefault(r["n_tensors"], {})[r["impl"]] = r["us_per_step"]
    for n, d in sorted(by.items()):
        best_torch = min(v for k, v in d.items() if k != "ctrain")
        out.append(f"| {n} | " + " | ".join(f"{d[i]:.1f}" for i in IMPLS) +
                   f" | {best_torch / d['ctrain']:.2f}× |")
    out += ["", "## Whole training step (zero_grad, forward, backward, step)", "",
            "| model | params | tensors | batch | " + " | ".join(f"{i} ms" for i in IMPLS) +
            " | torch best / ctrain |", "|---|---|---|---|" + "---|" * (len(IMPLS) + 1)]
    models = {}
    for r in rows:
        if r["bench"] == "train_step":
            models.setdefault(r["model"], {})[r["impl"]] = r
    for name, d in models.items():
        r0 = d["ctrain"]
        best_torch = min(v["ms_per_step"] for k, v in d.items() if k != "ctrain")
        out.append(f"| {name} | {r0['n_params']:,} | {r0['n_tensors']} | {r0['batch']} | " +
                   " | ".join(f"{d[i]['ms_per_step']:.2f}" for i in IMPLS) +
                   f" | {best_torch / r0['ms_per_step']:.2f}× |")
    out += ["", "The optimizer step is a small part of these models' training step; the "
            "difference it makes is the difference between the columns. " + OMP_NOTE, ""]
    return "\n".join(out)


OMP_NOTE = ("On this 2-CPU machine torch's OpenMP threads keep spinning after backward and "
            "compete with whatever runs next, so the machine's load decides this table: rerun "
            "with `OMP_WAIT_POLICY=PASSIVE` to take that out (measured so: ctrain within "
            "0.92-1.09x of torch fused on the MLP, median of paired steps).")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    out = a.out or (os.path.join(ROOT, "build", "bench-quick") if a.quick
                    else os.path.join(ROOT, "docs", "benchmarks"))
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(a.threads)
    ctrain.set_num_threads(a.threads)
    rounds = 3 if a.quick else 5
    rows = step_overhead([1, 10, 100, 1000], rounds)
    rows += train_step_bench("mlp", mlp, 64, rounds, 5 if a.quick else 20)
    rows += train_step_bench("tiny transformer LM", TinyLM, 8, rounds, 2 if a.quick else 5)
    with open(os.path.join(out, "python.json"), "w") as f:
        json.dump({"threads": a.threads, "torch": torch.__version__, "records": rows}, f,
                  indent=1)
    md = markdown(rows, a.threads, a.quick)
    with open(os.path.join(out, "python.md"), "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
