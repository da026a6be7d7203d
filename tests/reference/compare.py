"""compare.py — compares what fedpep's C code computed with the PyTorch reference.

  compare.py CASES_DIR OUT_DIR [TOL] [--no-weight-grads] [--grad-tol GTOL]

For every CASES_DIR/<case>.expected.safetensors, reads OUT_DIR/<case>.got.safetensors (written
by reference_dump) and checks logits, loss, dE, per-example loss and every block's output (real
rows only: what pad rows hold is no part of the contract) with the relative error
  max|got - want| / max|want|   (a norm-wise figure: per-element ratios blow up near zero)
against TOL (default 1e-4). dE must also be exactly zero in layers that are not trainable.
Cases with weight gradients also compare OUT_DIR/<case>.grads.safetensors tensor by tensor (the
same figure per tensor; the table line shows the worst tensor).
--no-weight-grads leaves out the cases with weight gradients (the bf16 run: weights with bf16
copies are frozen, and fedpep refuses weight gradients on them); --grad-tol gives dE and dI
their own tolerance (the bf16 run: a gradient passes through the forward and the backward chain
of products, so it carries about twice the forward error).
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


def compare_grads(name, want, path, tol):
    """Weight gradients: every tensor the reference differentiates must be in the C file with
    the same shape and within tol. Returns the number of failures (printed)."""
    if not os.path.exists(path):
        print(f"  FAIL {name}: no weight gradients from the C side ({path})")
        return 1
    got, _ = st_io.read(path)
    bad, worst, worst_name = 0, 0.0, ""
    for k in sorted(w for w in want if w.startswith("grad.")):
        t = k[len("grad."):]
        if t not in got or got[t].shape != want[k].shape:
            print(f"  FAIL {name}: weight gradient {t} missing or misshapen in the C output")
            bad += 1
            continue
        e = rel_err(got[t].astype(np.float64), want[k].astype(np.float64))
        if e > tol or not np.all(np.isfinite(got[t])):
            print(f"  FAIL {name}: weight gradient {t} rel err {e:.2e}")
            bad += 1
        if e > worst:
            worst, worst_name = e, t
    n = sum(1 for w in want if w.startswith("grad."))
    print(f"  {'ok  ' if not bad else 'FAIL'} {name:16s} {'weight grads':12s} rel err "
          f"{worst:.2e} (worst of {n}: {worst_name})")
    return bad


def main(cases, outs, tol, weight_grads=True, grad_tol=None):
    bad = 0
    n = 0
    for path in sorted(glob.glob(os.path.join(cases, "*.expected.safetensors"))):
        name = os.path.basename(path).split(".")[0]
        want, _ = st_io.read(path)
        if not weight_grads and any(k.startswith("grad.") for k in want):
            continue
        inputs, _ = st_io.read(os.path.join(cases, name + ".input.safetensors"))
        got_path = os.path.join(outs, name + ".got.safetensors")
        if not os.path.exists(got_path):
            print(f"  FAIL {name}: no output from the C side ({got_path})")
            bad += 1
            continue
        got, _ = st_io.read(got_path)
        n += 1
        # real rows [B][P_in + T]: the input prompt's virtual tokens first, then the text
        p_in = inputs["I"].shape[0] if "I" in inputs else 0
        rows = np.arange(p_in + inputs["ids"].shape[1])[None, :]
        real = rows < (inputs["lengths"][:, None] + p_in)
        for key in ("layers",):
            if key in got and got[key].shape == want[key].shape:
                got[key] = got[key][:, real]
                want[key] = want[key][:, real]
        for k in ("logits", "loss", "dE", "example_loss", "layers") + (("dI",) if p_in else ()):
            if k not in got or got[k].shape != want[k].shape:
                shape = got[k].shape if k in got else "missing"
                print(f"  FAIL {name}: {k} shape {shape}, want {want[k].shape}")
                bad += 1
                continue
            e = rel_err(got[k].astype(np.float64), want[k].astype(np.float64))
            t = grad_tol if grad_tol is not None and k in ("dE", "dI") else tol
            ok = e <= t and np.all(np.isfinite(got[k]))
            extra = ""
            if k == "dE":
                frozen = np.asarray(inputs["trainable"]) == 0
                if frozen.any() and np.any(got[k][:, frozen] != 0):
                    ok = False
                    extra = " (nonzero dE in a layer that is not trainable)"
            if k == "loss":
                extra = f" (C {got[k][0]:.7f}, torch {want[k][0]:.7f})"
            print(f"  {'ok  ' if ok else 'FAIL'} {name:16s} {k:12s} rel err {e:.2e}{extra}")
            bad += 0 if ok else 1
        grads = sorted(k for k in want if k.startswith("grad."))
        if grads:
            bad += compare_grads(name, want, os.path.join(outs, name + ".grads.safetensors"), tol)
    if n == 0:
        print("compare: no case was compared")
        return 1
    print(f"compare: {n} cases, {bad} mismatch(es), tolerance {tol:g}"
          + (f" (dE, dI {grad_tol:g})" if grad_tol is not None else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    args, grad_tol, i = [], None, 1
    while i < len(sys.argv):
        if sys.argv[i] == "--grad-tol" and i + 1 < len(sys.argv):
            grad_tol = float(sys.argv[i + 1])
            i += 1
        elif sys.argv[i] != "--no-weight-grads":
            args.append(sys.argv[i])
        i += 1
    if len(args) not in (2, 3):
        sys.exit("usage: compare.py CASES_DIR OUT_DIR [TOL] [--no-weight-grads] [--grad-tol GTOL]")
    sys.exit(main(args[0], args[1], float(args[2]) if len(args) == 3 else 1e-4,
                  "--no-weight-grads" not in sys.argv, grad_tol))
