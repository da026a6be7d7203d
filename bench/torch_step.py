"""torch_step.py — the PyTorch side of bench_step: one prompt-tuning step (forward + backward to
the deep prompt E only, frozen float32 weights, dropout off) on random weights of a given shape,
timed with the same batch, sequence length, prompt length and thread count as fedpep's C step:
the best of --steps steps after one warm-up, process CPU time with one thread, wall time with
more.

  torch_step.py --arch roberta|gpt2 --L 12 --d 768 --H 12 --ff 3072 --V 50265 --P 20 --B 8
                --T 64,128 --threads 1,2 --tuned all|half [--min-time 2.0] [--steps N]
                [--autocast bf16]

Prints one line per (T, threads):
  torch arch=roberta T=64 threads=1 tuned=all step_ms=... examples_per_s=...
The model is tests/reference/torch_model.py (the same code `make check-reference` trusts), run
in float32; with --autocast bf16 the forward pass runs under CPU autocast to bfloat16, the one
line a PyTorch user adds for speed (oneDNN's bf16 kernels for linear and matmul; weights stay
float32 and are cast on each use, as autocast does). Only E requires grad; in "half" the lower half of E is detached, so autograd stops
at the lowest tuned layer exactly as the C code does. Never used by `make test`.
"""
import argparse
import ctypes
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "reference"))
import torch_model  # noqa: E402


def set_threads(n):
    """torch.set_num_threads sets PyTorch's own pools (OpenMP, oneDNN) but not OpenBLAS, which
    Debian's PyTorch calls for its GEMMs (BLAS_INFO=generic) and which would otherwise run (and
    spin) as many threads as there are cores: set both, as bench_step.c does for its side."""
    torch.set_num_threads(n)
    try:
        ctypes.CDLL("libopenblas.so.0").openblas_set_num_threads(n)
    except (OSError, AttributeError):
        print("torch_step: cannot set OpenBLAS threads", file=sys.stderr)


def random_weights(arch, L, d, ff, V, max_pos, gen):
    """HF-named random float32 weights (values do not matter for timing; finite and mild)."""
    n = lambda *s: torch.randn(*s, generator=gen) * 0.02  # noqa: E731
    one = lambda k: torch.ones(k)  # noqa: E731
    w = {}
    if arch == "roberta":
        e = "roberta.embeddings."
        w.update({e + "word_embeddings.weight": n(V, d), e + "position_embeddings.weight":
                  n(max_pos, d), e + "token_type_embeddings.weight": n(1, d),
                  e + "LayerNorm.weight": one(d), e + "LayerNorm.bias": n(d)})
        for i in range(L):
            p = f"roberta.encoder.layer.{i}."
            for m in ("query", "key", "value"):
                w[p + f"attention.self.{m}.weight"] = n(d, d)
                w[p + f"attention.self.{m}.bias"] = n(d)
            w.update({p + "attention.output.dense.weight": n(d, d),
                      p + "attention.output.dense.bias": n(d),
                      p + "attention.output.LayerNorm.weight": one(d),
                      p + "attention.output.LayerNorm.bias": n(d),
                      p + "intermediate.dense.weight": n(ff, d), p + "intermediate.dense.bias":
                      n(ff), p + "output.dense.weight": n(d, ff), p + "output.dense.bias": n(d),
                      p + "output.LayerNorm.weight": one(d), p + "output.LayerNorm.bias": n(d)})
        w.update({"lm_head.dense.weight": n(d, d), "lm_head.dense.bias": n(d),
                  "lm_head.layer_norm.weight": one(d), "lm_head.layer_norm.bias": n(d),
                  "lm_head.bias": n(V)})
        raw = {"model_type": "roberta", "vocab_size": V, "max_position_embeddings": max_pos,
               "num_hidden_layers": L, "hidden_size": d, "num_attention_heads": 1,
               "intermediate_size": ff, "pad_token_id": 1}
    else:
        w.update({"wte.weight": n(V, d), "wpe.weight": n(max_pos, d), "ln_f.weight": one(d),
                  "ln_f.bias": n(d)})
        for i in range(L):
            p = f"h.{i}."
            w.update({p + "ln_1.weight": one(d), p + "ln_1.bias": n(d),
                      p + "attn.c_attn.weight": n(d, 3 * d), p + "attn.c_attn.bias": n(3 * d),
                      p + "attn.c_proj.weight": n(d, d), p + "attn.c_proj.bias": n(d),
                      p + "ln_2.weight": one(d), p + "ln_2.bias": n(d),
                      p + "mlp.c_fc.weight": n(d, ff), p + "mlp.c_fc.bias": n(ff),
                      p + "mlp.c_proj.weight": n(ff, d), p + "mlp.c_proj.bias": n(d)})
        raw = {"model_type": "gpt2", "vocab_size": V, "n_positions": max_pos, "n_layer": L,
               "n_embd": d, "n_head": 1, "n_inner": ff}
    return w, raw


def make_batch(arch, B, T, V, gen):
    """Full-length sequences; RoBERTa: one <mask> per example (target = a word); GPT-2: the last
    two tokens are label tokens (targets on the two rows before them)."""
    ids = torch.randint(3, V - 1, (B, T), generator=gen)
    lengths = torch.full((B,), T, dtype=torch.long)
    if arch == "roberta":
        ids[:, 0], ids[:, -1] = 0, 2
        mask_pos = torch.full((B,), T - 3, dtype=torch.long)
        ids[:, T - 3] = V - 1
        return {"ids": ids, "lengths": lengths, "mask_pos": mask_pos,
                "label": torch.randint(3, V - 1, (B,), generator=gen)}
    targets = torch.full((B, T), -1, dtype=torch.long)
    targets[:, T - 3:T - 1] = ids[:, T - 2:T]
    return {"ids": ids, "lengths": lengths, "targets": targets}


def layer_norm_fp32(x, w, b, eps):
    """LayerNorm in float32 under autocast: PyTorch 1.13's CPU autocast leaves F.layer_norm out of
    its cast lists, so a bf16 input meets float32 weights and fails; later releases run it in
    float32, which this does (the bf16 work stays in the products, where autocast puts it)."""
    return torch.nn.functional.layer_norm(x.float(), (x.shape[-1],), w, b, eps)


def time_steps(model, batch, E_frozen, E_tuned, lo, min_time, steps, clock, autocast):
    def step():
        E = torch.cat([E_frozen, E_tuned], dim=1) if lo > 0 else E_tuned
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss, _ = model.loss(batch, E)
        E_tuned.grad = None
        loss.float().backward()
    step()  # warm-up (allocator, BLAS buffers)
    times = []
    start = time.perf_counter()
    while len(times) < steps or (time.perf_counter() - start < min_time and len(times) < 50):
        t0 = clock()
        step()
        times.append(clock() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    for k in ("L", "d", "H", "ff", "V", "P", "B"):
        ap.add_argument("--" + k, type=int, required=True)
    ap.add_argument("--arch", choices=("roberta", "gpt2"), required=True)
    ap.add_argument("--T", default="64,128")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--tuned", choices=("all", "half"), default="all")
    ap.add_argument("--min-time", type=float, default=2.0)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--autocast", choices=("none", "bf16"), default="none")
    a = ap.parse_args()
    Ts = [int(t) for t in a.T.split(",")]
    gen = torch.Generator().manual_seed(1)
    max_pos = max(Ts) + a.P + 2
    w, raw = random_weights(a.arch, a.L, a.d, a.ff, a.V, max_pos, gen)
    raw["num_attention_heads" if a.arch == "roberta" else "n_head"] = a.H
    model = torch_model.Model(torch_model.Config(raw=raw), torch.float32, weights=w)
    del w
    if a.autocast == "bf16":
        torch_model.layer_norm = layer_norm_fp32
    lo = a.L // 2 if a.tuned == "half" else 0
    E0 = torch.randn(a.P, a.L, 2, a.d, generator=gen) * 0.02
    E_frozen = E0[:, :lo].clone()
    E_tuned = E0[:, lo:].clone().requires_grad_(True)
    for T in Ts:
        batch = make_batch(a.arch, a.B, T, a.V, gen)
        for th in (int(t) for t in a.threads.split(",")):
            set_threads(th)
            # As bench_step.c: process CPU time with one thread (waiting for a core on a shared
            # machine is not counted), wall time with more.
            clock = time.process_time if th == 1 else time.perf_counter
            s = time_steps(model, batch, E_frozen, E_tuned, lo, a.min_time, a.steps, clock,
                           a.autocast == "bf16")
            print(f"torch arch={a.arch} T={T} threads={th} tuned={a.tuned} autocast={a.autocast} "
                  f"step_ms={s * 1e3:.2f} examples_per_s={a.B / s:.3f}", flush=True)


if __name__ == "__main__":
    main()
