"""Weight averaging (include/ctrain/average.h) against torch.optim.swa_utils.

One update of an averaged copy of N float32 parameters (SWA's running mean,
and the EMA of get_ema_multi_avg_fn), timed side by side in one process:
ctrain.numpy.AveragedModel.update_parameters (the C engine, on one thread
and on as many as torch uses) against torch's AveragedModel.
update_parameters on CPU tensors, and both against the machine's memory
bandwidth measured by the STREAM-like triad of bench/optim_bench.c. An update
moves 12 bytes per parameter (the average read and written, the parameter
read). Rounds are interleaved; the best time of each is kept.

usage: python bench/average_bench.py [--n 10000000] [--rounds 15]
       [--bin build/bench/ctrain_bench] [--out docs/benchmarks] [--quick]
writes OUT/average.json and OUT/average.md.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import ctrain
import ctrain.numpy as cn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best_time(fn, rounds):
    fn()  # warm: first touch, the copy on the first update
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bench", "ctrain_bench"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks"))
    ap.add_argument("--quick", action="store_true", help="1M parameters, 5 rounds, build/bench-quick")
    a = ap.parse_args()
    if a.quick:
        a.n, a.rounds = 1_000_000, 5
        if a.out == os.path.join(ROOT, "docs", "benchmarks"):
            a.out = os.path.join(ROOT, "build", "bench-quick")
    os.makedirs(a.out, exist_ok=True)
    nt = torch.get_num_threads()
    triad = {t: json.loads(subprocess.run([a.bin, "triad", str(t)], check=True,
                                          capture_output=True, text=True).stdout)
             ["triad_bytes_per_s"] for t in sorted({1, nt})}
    rng = np.random.default_rng(0)
    w = rng.standard_normal(a.n, dtype=np.float32)
    tw = torch.nn.ParameterList([torch.nn.Parameter(torch.from_numpy(w.copy()))])
    rows = []
    bytes_moved = 12 * a.n
    for kind in ("swa", "ema"):
        ours = {}
        for t in sorted({1, nt}):
            ctrain.set_num_threads(t)
            ours[t] = cn.AveragedModel([w], multi_avg_fn=cn.get_ema_multi_avg_fn(0.999)
                                       if kind == "ema" else None)
            ours[t].update_parameters([w])
        ctrain.set_num_threads(1)
        ref = AveragedModel(tw, multi_avg_fn=get_ema_multi_avg_fn(0.999) if kind == "ema"
                            else None)
        ref.update_parameters(tw)
        best = {("ctrain", t): float("inf") for t in ours}
        best["torch"] = float("inf")
        for _ in range(a.rounds):  # interleaved, so every one sees the same machine
            for t, m in ours.items():
                best[("ctrain", t)] = min(best[("ctrain", t)],
                                          best_time(lambda: m.update_parameters([w]), 1))
            best["torch"] = min(best["torch"], best_time(lambda: ref.update_parameters(tw), 1))
        for t in sorted(ours):
            rows.append(dict(kind=kind, n=a.n, threads=t, ctrain_s=best[("ctrain", t)],
                             torch_s=best["torch"] if t == nt else None,
                             ctrain_bytes_per_s=bytes_moved / best[("ctrain", t)],
                             ctrain_vs_triad=bytes_moved / best[("ctrain", t)] / triad[t],
                             speedup_vs_torch=best["torch"] / best[("ctrain", t)]
                             if t == nt else None))
    doc = dict(command="python bench/average_bench.py " + " ".join(sys.argv[1:]),
               date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               load_average=os.getloadavg(), torch=torch.__version__,
               torch_threads=nt, python=platform.python_version(),
               triad_bytes_per_s={str(t): v for t, v in triad.items()}, rows=rows)
    with open(os.path.join(a.out, "average.json"), "w") as f:
        json.dump(doc, f, indent=1)
    L = ["# Weight averaging: ctrain against torch.optim.swa_utils.AveragedModel\n",
         f"`{doc['command'].strip()}` on {doc['date']} (load average "
         f"{doc['load_average'][0]:.1f}; torch {doc['torch']} with {nt} threads). One "
         f"`update_parameters` of an averaged copy of {a.n:,} float32 parameters, best of "
         f"{a.rounds} interleaved rounds; 12 bytes move per parameter. The triad is "
         "bench/optim_bench.c's (" + ", ".join(f"{v / 1e9:.1f} GB/s on {t} thread{'s' * (t > 1)}"
                                              for t, v in triad.items()) +
         " here, counted as STREAM does: 12 bytes per element, while its store into a "
         "fresh array also reads it first, so 16 move; an update reads what it writes, so "
         "its 12 bytes are all it moves, and it can pass the triad). Both give the same "
         "bits, whatever the thread count (tests/python/test_average.py).\n",
         "| average | threads | ctrain | torch | ctrain / torch speed | ctrain / triad |",
         "|---|---|---|---|---|---|"]
    for r in rows:
        tt = f"{r['torch_s'] * 1e3:.2f} ms ({bytes_moved / r['torch_s'] / 1e9:.1f} GB/s)" \
            if r["torch_s"] else "-"
        sp = f"x{r['speedup_vs_torch']:.2f}" if r["speedup_vs_torch"] else "-"
        L.append(f"| {r['kind'].upper()} | {r['threads']} | {r['ctrain_s'] * 1e3:.2f} ms "
                 f"({r['ctrain_bytes_per_s'] / 1e9:.1f} GB/s) | {tt} | {sp} | "
                 f"{r['ctrain_vs_triad']:.2f} |")
    L.append("\ntorch's SWA is its CPU default (get_swa_avg_fn: three temporaries per "
             "tensor); its EMA is one foreach lerp.")
    with open(os.path.join(a.out, "average.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    print("\n".join(L[2:]))


if __name__ == "__main__":
    main()
