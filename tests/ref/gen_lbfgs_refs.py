"""Writes reference runs of torch.optim.LBFGS for tests/test_lbfgs.c.

Problems: Rosenbrock in 2 and 10 dimensions, a convex quadratic
0.5 x'Ax - b'x (n = 20, A = MM'/n + I), an L2-regularized logistic
regression on fixed synthetic data (64 samples, 8 features and a bias), and
-Rosenbrock maximized; each in float64 and float32, without a line search
and with line_search_fn="strong_wolfe", for several step() calls.

Every closure call is recorded (the point torch evaluated, the loss and the
gradient it got), so the C test replays the run with a closure that checks
the point it is asked to evaluate and answers with torch's loss and
gradient: the optimizer is compared, not the objective's arithmetic.

One file OUTDIR/lbfgs/lbfgs_cases.safetensors (a subdirectory, so the
optimizer replay test's OUTDIR/*.safetensors does not pick it up) with, per
case C (dtype D = the case's, F64 for losses and scalars):
  C.x0            [n] D       start point
  C.eval_x        [E, n] D    every point the closure was called at
  C.eval_loss     [E] F64     float(closure())
  C.eval_grad     [E, n] D    the gradient the closure left (None -> 0)
  C.step_x        [S, n] D    parameters after each step
  C.step_loss     [S] F64     float(step(closure)) (the first loss)
  C.step_evals    [S] I64     closure calls per step
  C.{mid,final}.* torch's state after step 1 (mid) and after the last:
     scalars [12] F64: func_evals n_iter num_old al_len num_al has_history
                       t_is_tensor t h_diag_is_tensor h_diag prev_loss t_is_int
     d, prev_flat_grad [n] D; old_dirs, old_stps [num_old, n] D (when
     num_old > 0); ro [num_old] F64; al [num_al] F64
and metadata "cases": a JSON list of {name, dtype ("f32"/"f64"), n, steps,
options (ctrain's option text), rtol}.

Usage: gen_lbfgs_refs.py OUTDIR
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file


def rosenbrock(x):
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def make_quadratic(dtype):
    g = torch.Generator().manual_seed(1)
    n = 20
    m = torch.randn(n, n, generator=g, dtype=torch.float64)
    a = (m @ m.T / n + torch.eye(n, dtype=torch.float64)).to(dtype)
    b = torch.randn(n, generator=g, dtype=torch.float64).to(dtype)
    return lambda x: 0.5 * x @ (a @ x) - b @ x, torch.zeros(n, dtype=dtype)


def make_logreg(dtype):
    g = torch.Generator().manual_seed(2)
    m, k = 64, 8
    feats = torch.randn(m, k, generator=g, dtype=torch.float64)
    w_true = torch.randn(k, generator=g, dtype=torch.float64)
    labels = (feats @ w_true + 0.5 * torch.randn(m, generator=g, dtype=torch.float64) > 0)
    feats, labels = feats.to(dtype), labels.to(dtype)

    def f(x):
        z = feats @ x[:k] + x[k]
        return (torch.nn.functional.binary_cross_entropy_with_logits(z, labels)
                + 1e-3 * (x[:k] ** 2).sum())

    return f, torch.zeros(k + 1, dtype=dtype)


def problem(name, dtype):
    if name == "rosen2":
        return rosenbrock, torch.tensor([-1.2, 1.0], dtype=dtype)
    if name == "rosen10":
        return rosenbrock, torch.linspace(-1.2, 1.0, 10, dtype=dtype)
    if name == "quad":
        return make_quadratic(dtype)
    if name == "logreg":
        return make_logreg(dtype)
    if name == "negrosen2":
        return (lambda x: -rosenbrock(x)), torch.tensor([-1.2, 1.0], dtype=dtype)
    raise ValueError(name)


# name, problem, steps, torch kwargs
RUNS = [
    ("rosen2", "rosen2", 3, {}),
    ("rosen10", "rosen10", 3, {}),
    ("rosen10_h3", "rosen10", 4, {"lr": 0.5, "history_size": 3, "max_iter": 7}),
    ("quad", "quad", 3, {"history_size": 5, "max_iter": 10}),
    ("quad_tol", "quad", 4, {"tolerance_grad": 1e-4, "tolerance_change": 1e-6}),
    ("logreg", "logreg", 3, {"lr": 0.8}),
    ("quad_1iter", "quad", 3, {"max_iter": 1}),  # t a tensor; strong_wolfe with max_ls = 0
    ("negrosen2", "negrosen2", 2, {"maximize": True}),
]


def options_text(kw, ls):
    d = {"lr": 1, "max_iter": 20, "max_eval": None, "tolerance_grad": 1e-7,
         "tolerance_change": 1e-9, "history_size": 100, "maximize": False}
    d.update(kw)
    if d["max_eval"] is None:
        d["max_eval"] = d["max_iter"] * 5 // 4
    parts = [f"lr={float(d['lr'])!r}", f"max_iter={d['max_iter']}", f"max_eval={d['max_eval']}",
             f"tolerance_grad={float(d['tolerance_grad'])!r}",
             f"tolerance_change={float(d['tolerance_change'])!r}",
             f"history_size={d['history_size']}",
             f"line_search_fn={'strong_wolfe' if ls else 'none'}",
             f"maximize={'true' if d['maximize'] else 'false'}"]
    return " ".join(parts)


def state_tensors(prefix, st, n, npd, out):
    has = st.get("d") is not None
    old_dirs = st.get("old_dirs") or [] if has else []
    al = st.get("al")
    num_al = 0
    if al is not None:
        while num_al < len(al) and al[num_al] is not None:
            num_al += 1
    t = st.get("t", 0.0)
    hd = st.get("H_diag", 1)
    out[prefix + ".scalars"] = np.array([
        st.get("func_evals", 0), st.get("n_iter", 0), len(old_dirs),
        -1 if al is None else len(al), num_al, 1 if has else 0,
        1 if isinstance(t, torch.Tensor) else 0, float(t) if t is not None else 0.0,
        1 if isinstance(hd, torch.Tensor) else 0, float(hd),
        float(st.get("prev_loss", 0.0) or 0.0),
        1 if isinstance(t, int) and not isinstance(t, bool) else 0], dtype=np.float64)
    if has:
        out[prefix + ".d"] = st["d"].numpy().astype(npd)
        out[prefix + ".prev_flat_grad"] = st["prev_flat_grad"].numpy().astype(npd)
        if old_dirs:
            out[prefix + ".old_dirs"] = torch.stack(old_dirs).numpy().astype(npd)
            out[prefix + ".old_stps"] = torch.stack(st["old_stps"]).numpy().astype(npd)
            out[prefix + ".ro"] = np.array([float(r) for r in st["ro"]], dtype=np.float64)
    if num_al:
        out[prefix + ".al"] = np.array([float(a) for a in al[:num_al]], dtype=np.float64)


def run(name, prob, steps, kw, dtype, ls, out):
    f, x0 = problem(prob, dtype)
    npd = np.float64 if dtype == torch.float64 else np.float32
    x = x0.clone().requires_grad_()
    # lr as a float: an int lr (torch's default 1) makes torch's t an int,
    # a Python type the C engine does not see (ctrain.optim.LBFGS restores it)
    kw = dict(kw, lr=float(kw.get("lr", 1)))
    opt = torch.optim.LBFGS([x], line_search_fn="strong_wolfe" if ls else None, **kw)
    ex, el, eg = [], [], []

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        ex.append(x.detach().clone())
        el.append(float(loss.detach()))
        eg.append(x.grad.detach().clone())
        return loss

    sx, sl, se = [], [], []
    for s in range(steps):
        before = len(ex)
        loss = opt.step(closure)
        sx.append(x.detach().clone())
        sl.append(float(loss.detach()))
        se.append(len(ex) - before)
        if s == 0:
            state_tensors(name + ".mid", opt.state[x], x.numel(), npd, out)
    state_tensors(name + ".final", opt.state[x], x.numel(), npd, out)
    out[name + ".x0"] = x0.numpy().astype(npd)
    out[name + ".eval_x"] = torch.stack(ex).numpy().astype(npd)
    out[name + ".eval_loss"] = np.array(el, dtype=np.float64)
    out[name + ".eval_grad"] = torch.stack(eg).numpy().astype(npd)
    out[name + ".step_x"] = torch.stack(sx).numpy().astype(npd)
    out[name + ".step_loss"] = np.array(sl, dtype=np.float64)
    out[name + ".step_evals"] = np.array(se, dtype=np.int64)
    return len(ex)


def main():
    outdir = os.path.join(sys.argv[1], "lbfgs")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    out, cases = {}, []
    for base, prob, steps, kw in RUNS:
        for dtype, tag, rtol in ((torch.float64, "f64", 1e-9), (torch.float32, "f32", 1e-5)):
            for ls in (False, True):
                name = f"{base}_{tag}_{'wolfe' if ls else 'fixed'}"
                run(name, prob, steps, kw, dtype, ls, out)
                n = int(out[name + ".x0"].shape[0])
                cases.append({"name": name, "dtype": tag, "n": n, "steps": steps,
                              "options": options_text(kw, ls), "rtol": rtol})
    save_file({k: np.ascontiguousarray(v) for k, v in out.items()},
              os.path.join(outdir, "lbfgs_cases.safetensors"),
              metadata={"cases": json.dumps(cases)})
    print(f"gen_lbfgs_refs: {len(cases)} cases -> {outdir}")


if __name__ == "__main__":
    main()
