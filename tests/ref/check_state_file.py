"""Checks that an optimizer state written by ct_optim_save is a standard
safetensors file: the Python `safetensors` package must load it, with the
tensor names, dtypes, shapes and values and the metadata ctrain documents.

tests/test_optim_state.c writes REFS/state_check/adamw_state.safetensors
(adamw, amsgrad, lookahead k=3, two groups) and adamw_state.expect.json
(what the engine's accessors report: every tensor's dtype, shape, sum and
first value's bits). Usage: check_state_file.py REFS_DIR
"""
import json
import math
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file


def main():
    d = os.path.join(sys.argv[1], "state_check")
    path = os.path.join(d, "adamw_state.safetensors")
    with open(os.path.join(d, "adamw_state.expect.json")) as f:
        expect = json.load(f)
    tensors = load_file(path)
    with safe_open(path, framework="numpy") as f:
        meta = f.metadata()
    errors = []

    def check(cond, msg):
        if not cond:
            errors.append(msg)

    want = expect["tensors"]
    check(set(tensors) == set(want),
          f"tensor names differ: extra {sorted(set(tensors) - set(want))}, "
          f"missing {sorted(set(want) - set(tensors))}")
    dtypes = {"F32": np.float32, "I64": np.int64}
    for name, w in want.items():
        t = tensors.get(name)
        if t is None:
            continue
        check(t.dtype == dtypes[w["dtype"]], f"{name}: dtype {t.dtype}, want {w['dtype']}")
        check(list(t.shape) == w["shape"], f"{name}: shape {list(t.shape)}, want {w['shape']}")
        s = float(np.sum(t.astype(np.float64)))
        check(math.isclose(s, w["sum"], rel_tol=1e-12, abs_tol=1e-30),
              f"{name}: sum {s!r}, want {w['sum']!r}")
        flat = t.reshape(-1)
        first = int(flat.view(np.uint32)[0]) if t.dtype == np.float32 else int(flat[0])
        check(first == w["first_bits"], f"{name}: first value (bits) {first}, want {w['first_bits']}")
    for key, val in expect["metadata"].items():
        check(meta.get(key) == val, f"metadata {key} = {meta.get(key)!r}, want {val!r}")
    check(meta.get("format_version", "").isdigit(), f"format_version {meta.get('format_version')!r}")
    groups = json.loads(meta["groups"])
    check(len(groups) == expect["groups"], f"{len(groups)} groups, want {expect['groups']}")
    for g, grp in enumerate(groups):
        check(set(grp) >= {"options", "numel", "lookahead_counter"}, f"group {g}: keys {sorted(grp)}")
        for i, n in enumerate(grp["numel"]):
            ea = tensors.get(f"{g}.{i}.exp_avg")
            check(ea is not None and ea.size == n, f"group {g} param {i}: numel {n} vs exp_avg")
        check(grp["options"].get("amsgrad") == 1, f"group {g}: amsgrad {grp['options'].get('amsgrad')}")
    la = json.loads(meta.get("lookahead", "{}"))
    check(la.get("k") == expect["lookahead_k"], f"lookahead {la}")
    # The data section follows the header directly and is 8-byte aligned.
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
    check(n % 8 == 0, f"header size {n} is not a multiple of 8")
    for e in errors:
        print("FAIL:", e)
    print(f"check_state_file: {len(tensors)} tensors, {len(meta)} metadata keys; "
          f"{len(errors)} problems")
    print(f"{1 if not errors else 0} passed, {len(errors)} failed")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
