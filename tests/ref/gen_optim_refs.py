"""Writes reference trajectories of PyTorch optimizers and schedules.

For every case of the cases_*.py modules beside this file, runs the real
optimizer (torch.optim, or pytorch-optimizer for what torch lacks) for a
number of steps on parameters in one or more groups, with gradients that
depend on the parameters, and records in one safetensors file per case:

  p{i}.init            initial values of parameter i            [numel]
  p{i}.grad            the gradient given at each step           [T, numel]
  p{i}.has_grad        1 if parameter i had a gradient at step t [T] U8
  p{i}.param           values after each step                    [T, numel]
  p{i}.step            torch's state "step" after each step, -1 if
                       torch keeps none (SGD)                    [T] I64
  p{i}.state.{key}     every other state tensor after each step  [T, n]
  lr0                  lr of each group before the first step    [G] F64
  lr                   lr of each group after step t (and the
                       schedule's step)                          [T, G] F64
  metrics              the metric given to a plateau schedule    [T] F64
  mom                  with a schedule: betas[0] (or momentum) of
                       each group after step t, NaN if none      [T, G] F64

and metadata: optimizer (ctrain's name), groups (JSON list of ctrain option
strings), params (JSON list of {group, shape}), steps, and optionally sched
and lookahead (JSON {k, alpha}). sched is JSON {kind, options}; or a list of
those, stepped in order (torch's ChainedScheduler); or {kind: "sequential",
children: [...], milestones: [...]} (SequentialLR).

The C test tests/test_optim_ref.c replays the gradients through ctrain and
compares everything. Usage: gen_optim_refs.py OUTDIR [CASE_NAME_SUBSTRING]
"""
import importlib
import json
import os
import pkgutil
import sys

import numpy as np
import torch
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


def load_cases():
    sys.path.insert(0, HERE)
    cases = []
    for mod in sorted(m.name for m in pkgutil.iter_modules([HERE])):
        if mod.startswith("cases_"):
            cases.extend(importlib.import_module(mod).CASES)
    names = [c["name"] for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SystemExit(f"duplicate case names: {sorted(dup)}")
    return cases


def make_params(case, gen):
    """Parameters as torch tensors, grouped; each gets a per-element
    curvature and target so the gradient depends on where it is."""
    params, groups, info = [], [], []
    for g, shapes in enumerate(case["shapes"]):
        group = []
        for shape in shapes:
            p = torch.randn(shape, generator=gen, dtype=torch.float32)
            p.requires_grad_(False)
            group.append(p)
            params.append(p)
            info.append({"group": g, "shape": list(shape)})
        groups.append(group)
    curv = [torch.rand(p.shape, generator=gen) * 2 + 0.05 for p in params]
    target = [torch.randn(p.shape, generator=gen) for p in params]
    return params, groups, info, curv, target


def run_case(case, outdir):
    steps = case.get("steps", 100)
    gen = torch.Generator().manual_seed(case.get("seed", 1234))
    params, groups, info, curv, target = make_params(case, gen)
    init = [p.detach().clone() for p in params]
    torch_groups = [{"params": grp, **kw} for grp, kw in zip(groups, case["torch_groups"])]
    opt = case["torch_opt"](torch_groups)
    sched = case["torch_sched"](opt) if "torch_sched" in case else None
    metrics = case.get("metrics")
    grad_mask = case.get("grad_mask", lambda t, i: True)
    grad_fn = case.get("grad_fn")
    rec = {f"p{i}.init": init[i].numpy().ravel() for i in range(len(params))}
    lr0 = np.array([g["lr"] for g in opt.param_groups], dtype=np.float64)
    traj = {i: {"grad": [], "param": [], "step": [], "state": {}} for i in range(len(params))}
    has = {i: [] for i in range(len(params))}
    lrs, moms = [], []

    def momenta():  # what a schedule may cycle: betas[0], else momentum
        def first(g):
            m = g["betas"][0] if "betas" in g else g.get("momentum")
            return float(m) if isinstance(m, (int, float)) else float("nan")
        return [first(g) for g in opt.param_groups]
    for t in range(steps):
        for i, p in enumerate(params):
            if grad_mask(t, i):
                if grad_fn is not None:
                    g = grad_fn(p, curv[i], target[i], t, gen)
                else:
                    noise = torch.randn(p.shape, generator=gen) * 0.1
                    g = curv[i] * (p.detach() - target[i]) + noise
                    g[torch.rand(p.shape, generator=gen) < 0.05] = 0.0
                p.grad = g.to(torch.float32).contiguous()
                has[i].append(1)
            else:
                p.grad = None
                has[i].append(0)
            traj[i]["grad"].append(
                p.grad.numpy().ravel().copy() if p.grad is not None else np.zeros(p.numel(), np.float32))
        closure = case.get("closure")
        opt.step(closure(params) if closure else None)
        if sched is not None:
            if metrics is not None:
                sched.step(metrics[t])
            else:
                sched.step()
        lrs.append([g["lr"] for g in opt.param_groups])
        if sched is not None:
            moms.append(momenta())
        for i, p in enumerate(params):
            traj[i]["param"].append(p.detach().numpy().ravel().copy())
            st = opt.state.get(p, {})
            step = st.get("step", -1)  # -1: torch keeps no step count
            traj[i]["step"].append(int(step.item() if torch.is_tensor(step) else step))
            for key, val in st.items():
                if key == "step" or not torch.is_tensor(val):
                    continue
                traj[i]["state"].setdefault(key, [])
                arr = val.detach().to(torch.float32).numpy().ravel().copy()
                # Pad the history of a state that appeared late with zeros.
                while len(traj[i]["state"][key]) < t:
                    traj[i]["state"][key].append(np.zeros_like(arr))
                traj[i]["state"][key].append(arr)
    for i in range(len(params)):
        rec[f"p{i}.grad"] = np.stack(traj[i]["grad"]).astype(np.float32)
        rec[f"p{i}.param"] = np.stack(traj[i]["param"]).astype(np.float32)
        rec[f"p{i}.step"] = np.array(traj[i]["step"], dtype=np.int64)
        rec[f"p{i}.has_grad"] = np.array(has[i], dtype=np.uint8)
        for key, hist in traj[i]["state"].items():
            rec[f"p{i}.state.{key}"] = np.stack(hist).astype(np.float32)
    rec["lr0"] = lr0
    rec["lr"] = np.array(lrs, dtype=np.float64)
    if sched is not None:
        rec["mom"] = np.array(moms, dtype=np.float64)
    if metrics is not None:
        rec["metrics"] = np.array(metrics[:steps], dtype=np.float64)
    meta = {
        "optimizer": case["ctrain_opt"],
        "groups": json.dumps(case["ctrain_groups"]),
        "params": json.dumps(info),
        "steps": str(steps),
    }
    if "ctrain_sched" in case:
        meta["sched"] = json.dumps(case["ctrain_sched"])
        epoch = getattr(sched, "last_epoch", None)  # ChainedScheduler has none
        if epoch is not None:
            meta["last_epoch"] = str(epoch)
    if "lookahead" in case:
        meta["lookahead"] = json.dumps(case["lookahead"])
    save_file(rec, os.path.join(outdir, case["name"] + ".safetensors"), metadata=meta)


def main():
    outdir = sys.argv[1]
    only = sys.argv[2] if len(sys.argv) > 2 else ""
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    n = 0
    for case in load_cases():
        if only in case["name"]:
            run_case(case, outdir)
            n += 1
    print(f"wrote {n} reference trajectories to {outdir}")


if __name__ == "__main__":
    main()
