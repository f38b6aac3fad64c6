"""Writes reference cases for ctrain's gradient clipping, computed with torch.

  clip_grad_norm  torch.nn.utils.clip_grad_norm_
  clip_grad_value torch.nn.utils.clip_grad_value_
  agc             adaptive gradient clipping (Brock et al. 2021, Sec. 4.1),
                  unit-wise as timm's adaptive_clip_grad (timm/utils/agc.py),
                  written out here in torch (timm itself is not needed)

One file OUTDIR/clip/clip_cases.safetensors (a subdirectory, so the optimizer
replay test's OUTDIR/*.safetensors does not pick it up) with, per case C and
parameter i:
  C.p{i}.data   parameter values                        F32 [shape]
  C.p{i}.grad   gradient before clipping (absent: None) F32 [shape]
  C.p{i}.out    gradient after clipping  (absent: None) F32 [shape]
  C.total_norm  clip_grad_norm_'s return value          F64 [1]
  C.total_norm_f64  the same computed on float64 copies F64 [1]
and metadata "cases": a JSON list of {name, kind, shapes, has_grad, args}
(args: max_norm, norm_type as a string ("inf" allowed), clip_value,
clipping, eps). tests/test_clip.c replays them.

Usage: gen_clip_refs.py OUTDIR
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.numpy import save_file


def unitwise_norm(x, norm_type=2.0):
    # timm.utils.agc.unitwise_norm
    if x.ndim <= 1:
        return x.norm(norm_type)
    return x.norm(norm_type, dim=tuple(range(1, x.ndim)), keepdim=True)


def adaptive_clip_grad(parameters, clip_factor=0.01, eps=1e-3, norm_type=2.0):
    # timm.utils.agc.adaptive_clip_grad
    for p in parameters:
        if p.grad is None:
            continue
        p_data = p.detach()
        g_data = p.grad.detach()
        max_norm = unitwise_norm(p_data, norm_type=norm_type).clamp_(min=eps).mul_(clip_factor)
        grad_norm = unitwise_norm(g_data, norm_type=norm_type)
        clipped_grad = g_data * (max_norm / grad_norm.clamp(min=1e-6))
        new_grads = torch.where(grad_norm < max_norm, g_data, clipped_grad)
        p.grad.detach().copy_(new_grads)


def make(gen, shapes, has_grad, gscale=1.0, pscale=1.0, zero_rows=()):
    params = []
    for i, (shape, hg) in enumerate(zip(shapes, has_grad)):
        p = torch.randn(shape, generator=gen) * pscale
        if i in zero_rows and len(shape) >= 2:
            p[0].zero_()  # a unit whose norm is below eps
        p.grad = torch.randn(shape, generator=gen) * gscale if hg else None
        params.append(p)
    return params


def main():
    outdir = os.path.join(sys.argv[1], "clip")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(4321)
    rec, cases = {}, []

    def norm_f64(before, max_norm, norm_type):
        # The same call on float64 copies: the total norm without float32
        # accumulation error (ctrain accumulates in double).
        ps = [torch.zeros(g.shape, dtype=torch.float64) for g in before if g is not None]
        for p, g in zip(ps, [g for g in before if g is not None]):
            p.grad = g.double()
        return torch.nn.utils.clip_grad_norm_(ps, max_norm, float(norm_type)).item()

    def record(name, kind, params, args, before, total=None):
        cases.append({"name": name, "kind": kind,
                      "shapes": [list(p.shape) for p in params],
                      "has_grad": [g is not None for g in before], "args": args})
        for i, p in enumerate(params):
            rec[f"{name}.p{i}.data"] = p.detach().numpy().copy()
            if before[i] is not None:
                rec[f"{name}.p{i}.grad"] = before[i].numpy().copy()
                rec[f"{name}.p{i}.out"] = p.grad.numpy().copy()
        if total is not None:
            rec[f"{name}.total_norm"] = np.array([float(total)], dtype=np.float64)
            rec[f"{name}.total_norm_f64"] = np.array(
                [norm_f64(before, args["max_norm"], args["norm_type"])], dtype=np.float64)

    shapes = [(7, 5), (13,), (3, 4, 2, 2), (1,), (300, 11), (2, 9)]
    masks = [[True] * 6, [True, False, True, True, False, True]]
    n = 0
    for norm_type in ["1", "2", "3.5", "inf"]:
        for mi, mask in enumerate(masks):
            for factor in [0.3, 2.0, 0.0]:
                params = make(gen, shapes, mask, gscale=1.7)
                before = [p.grad.clone() if p.grad is not None else None for p in params]
                grads = [g for g in before if g is not None]
                exact = torch.linalg.vector_norm(
                    torch.stack([torch.linalg.vector_norm(g.double(), float(norm_type))
                                 for g in grads]), float(norm_type)).item()
                max_norm = factor * exact
                total = torch.nn.utils.clip_grad_norm_(params, max_norm, float(norm_type))
                record(f"norm{n}", "clip_grad_norm", params,
                       {"max_norm": max_norm, "norm_type": norm_type, "error_if_nonfinite": False},
                       before, total)
                n += 1
    # Non-finite gradients without error_if_nonfinite: torch scales by the
    # non-finite coefficient (inf -> coefficient 0 -> inf*0 = NaN; NaN -> NaN).
    for bad in [float("inf"), float("-inf"), float("nan")]:
        for norm_type in ["2", "inf"]:
            params = make(gen, shapes[:3], [True] * 3)
            params[1].grad[4] = bad
            before = [p.grad.clone() for p in params]
            total = torch.nn.utils.clip_grad_norm_(params, 1.0, float(norm_type))
            record(f"norm{n}", "clip_grad_norm", params,
                   {"max_norm": 1.0, "norm_type": norm_type, "error_if_nonfinite": False},
                   before, total)
            n += 1
    # All gradients None: total norm 0, nothing happens.
    params = make(gen, shapes[:2], [False, False])
    total = torch.nn.utils.clip_grad_norm_(params, 1.0, 2.0)
    record(f"norm{n}", "clip_grad_norm", params,
           {"max_norm": 1.0, "norm_type": "2", "error_if_nonfinite": False}, [None, None], total)
    n += 1

    for k, (clip_value, mask) in enumerate([(0.3, masks[0]), (1.0, masks[1]), (0.0, masks[0]),
                                            (1e-3, masks[1])]):
        params = make(gen, shapes, mask)
        if k == 0:
            params[0].grad[0, 0] = float("nan")  # clamp keeps NaN
            params[0].grad[0, 1] = float("inf")
            params[0].grad[0, 2] = float("-inf")
        before = [p.grad.clone() if p.grad is not None else None for p in params]
        torch.nn.utils.clip_grad_value_(params, clip_value)
        record(f"value{k}", "clip_grad_value", params, {"clip_value": clip_value}, before)

    agc_shapes = [(8, 5), (6,), (4, 3, 3, 3), (1,), (5, 7), (64, 3, 5, 5), (2, 1)]
    k = 0
    for clipping, eps in [(0.01, 1e-3), (0.1, 1e-3), (0.5, 0.1), (1.0, 0.0)]:
        for gscale, mask in [(0.05, [True] * 7), (1.0, [True, True, False, True, True, True,
                                                        True])]:
            params = make(gen, agc_shapes, mask, gscale=gscale, zero_rows=(4,))
            # Some units below their bound, some above.
            for p in params:
                if p.grad is not None and p.ndim >= 2:
                    p.grad[::2] *= 0.001
            before = [p.grad.clone() if p.grad is not None else None for p in params]
            adaptive_clip_grad(params, clipping, eps)
            record(f"agc{k}", "agc", params, {"clipping": clipping, "eps": eps}, before)
            k += 1

    save_file(rec, os.path.join(outdir, "clip_cases.safetensors"),
              metadata={"cases": json.dumps(cases)})
    print(f"wrote {len(cases)} clipping cases to {outdir}")


if __name__ == "__main__":
    main()
