"""compare.py — compares what fedpep's C code computed with the PyTorch reference.

  compare.py CASES_DIR OUT_DIR [TOL]

For every CASES_DIR/<case>.expected.safetensors, reads OUT_DIR/<case>.got.safetensors (written
by reference_dump) and checks logits, loss and dE with the relative error
  max|got - want| / max|want|   (a norm-wise figure: per-element ratios blow up near zero)
against TOL (default 1e-4). dE must also be exactly zero in layers that are not trainable.
Prints one line per case and quantity; exits 1 on any mismatch or missing output.
"""
import glob
import os
import sys

import numpy as np

import st_io


def rel_err(got, want):
    scale = np.abs(want).max()
    return float(np.abs(got - want).max() / (scale if scale > 0 else 1.0))


def main(cases, outs, tol):
    bad = 0
    n = 0
    for path in sorted(glob.glob(os.path.join(cases, "*.expected.safetensors"))):
        name = os.path.basename(path).split(".")[0]
        want, _ = st_io.read(path)
        inputs, _ = st_io.read(os.path.join(cases, name + ".input.safetensors"))
        got_path = os.path.join(outs, name + ".got.safetensors")
        if not os.path.exists(got_path):
            print(f"  FAIL {name}: no output from the C side ({got_path})")
            bad += 1
            continue
        got, _ = st_io.read(got_path)
        n += 1
        for k in ("logits", "loss", "dE"):
            if k not in got or got[k].shape != want[k].shape:
                shape = got[k].shape if k in got else "missing"
                print(f"  FAIL {name}: {k} shape {shape}, want {want[k].shape}")
                bad += 1
                continue
            e = rel_err(got[k].astype(np.float64), want[k].astype(np.float64))
            ok = e <= tol and np.all(np.isfinite(got[k]))
            extra = ""
            if k == "dE":
                frozen = np.asarray(inputs["trainable"]) == 0
                if frozen.any() and np.any(got[k][:, frozen] != 0):
                    ok = False
                    extra = " (nonzero dE in a layer that is not trainable)"
            if k == "loss":
                extra = f" (C {got[k][0]:.7f}, torch {want[k][0]:.7f})"
            print(f"  {'ok  ' if ok else 'FAIL'} {name:16s} {k:6s} rel err {e:.2e}{extra}")
            bad += 0 if ok else 1
    if n == 0:
        print("compare: no case was compared")
        return 1
    print(f"compare: {n} cases, {bad} mismatch(es), tolerance {tol:g}")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: compare.py CASES_DIR OUT_DIR [TOL]")
    sys.exit(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) == 4 else 1e-4))
