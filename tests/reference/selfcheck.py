"""selfcheck.py — checks the reference itself before anything is compared with it.

  selfcheck.py OUT_DIR     (the folder make_tiny.py wrote)

1. dL/dE by autograd equals central finite differences in float64, at 250 seeded random
   coordinates of the tuned layers of every case, and is zero where no prefix is; in the
   "full" cases the weight gradients do too (60 seeded coordinates), and in the "input" cases
   the input soft prompt's gradient dL/dI (every coordinate).
2. Masks: changing what sits in pad slots changes nothing; in GPT-2 changing a later token
   leaves every earlier row unchanged (causal); changing E in a layer without a prefix changes
   nothing.
3. Positions: the ids the reference uses are position_offset + P + i (RoBERTa, pads at
   pad_token_id) and P + i (GPT-2).
4. The safetensors writer/reader round-trips, and BF16 storage rounds to nearest even.
Exits non-zero on any failure.
"""
import glob
import os
import sys

import numpy as np
import torch

import st_io
import torch_model

FD_SAMPLES = 250
failures = []


def check(ok, what):
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def central_differences(loss_of, x, coords, h=1e-6):
    """{index: (loss(x + h e) - loss(x - h e)) / 2h} for each index of coords (x is restored)."""
    out = {}
    with torch.no_grad():
        for idx in coords:
            old = x[idx].item()
            x[idx] = old + h
            lp = loss_of(x).item()
            x[idx] = old - h
            lm = loss_of(x).item()
            x[idx] = old
            out[idx] = (lp - lm) / (2 * h)
    return out


def fd_check(model, inputs, name):
    batch = torch_model.batch_to_torch(inputs)
    active = [bool(a) for a in inputs["active"]]
    ref = torch_model.reference(model, inputs, weight_grads="weight_grads" in inputs)
    trainable = np.asarray(inputs["trainable"]) != 0
    E0 = torch.tensor(inputs["E"].astype(np.float64))
    I = torch.tensor(inputs["I"].astype(np.float64)) if "I" in inputs else None
    coords = [i for i in np.ndindex(*E0.shape) if trainable[i[1]]]
    # A seeded sample keeps the check quick; every (layer, key/value) slice is hit many times.
    pick = [coords[j] for j in np.random.default_rng(7).permutation(len(coords))[:FD_SAMPLES]]
    fd = central_differences(lambda E: model.loss(batch, E, active, I)[0], E0, pick)
    err = max(abs(fd[k] - ref["dE"][k]) for k in pick) / np.abs(ref["dE"]).max()
    check(err < 1e-6, f"{name}: dL/dE vs finite differences at {len(pick)} coordinates, "
                      f"rel err {err:.2e}")
    if I is not None:
        every = list(np.ndindex(*I.shape))
        fd = central_differences(lambda X: model.loss(batch, E0, active, X)[0], I, every)
        err = max(abs(fd[k] - ref["dI"][k]) for k in every) / np.abs(ref["dI"]).max()
        check(err < 1e-6, f"{name}: dL/dI vs finite differences at all {len(every)} "
                          f"coordinates, rel err {err:.2e}")
    if "weight_grads" in inputs:
        weight_fd_check(model, batch, inputs, active, ref, name)
    inactive = ~np.array(active)
    if inactive.any():
        check(np.all(ref["dE"][:, inactive] == 0), f"{name}: dE is zero where no prefix is")
        Ez = E0.clone()
        Ez[:, inactive] = 123.0
        with torch.no_grad():
            l2, _ = model.loss(batch, Ez, active, I)
        check(abs(l2.item() - ref["loss"][0]) == 0, f"{name}: E of prefix-less layers unused")
    return ref


def weight_fd_check(model, batch, inputs, active, ref, name):
    """Autograd weight gradients against central differences at 60 seeded (tensor, index)
    pairs; tied word embeddings included."""
    rng = np.random.default_rng(11)
    E = torch.tensor(inputs["E"].astype(np.float64))
    names = sorted(model.named)
    worst, scale = 0.0, 0.0
    for _ in range(60):
        n = names[rng.integers(len(names))]
        t = model.named[n]
        idx = tuple(int(rng.integers(s)) for s in t.shape)
        fd = central_differences(lambda _: model.loss(batch, E, active)[0], t, [idx])[idx]
        g = ref["grad." + torch_model.canonical_name(n)]
        worst = max(worst, abs(fd - g[idx]))
        scale = max(scale, np.abs(g).max())
    check(worst / scale < 1e-6, f"{name}: weight gradients vs finite differences at 60 "
                                f"coordinates, rel err {worst / scale:.2e}")


def mask_checks(model, inputs, name):
    batch = torch_model.batch_to_torch(inputs)
    E = torch.tensor(inputs["E"].astype(np.float64))
    active = [bool(a) for a in inputs["active"]]
    lengths = batch["lengths"]
    with torch.no_grad():
        h0, _ = model.hidden(batch["ids"], lengths, E, active)
        ids = batch["ids"].clone()
        for b in range(ids.shape[0]):
            ids[b, lengths[b]:] = 3 + b  # arbitrary non-pad content in pad slots
        h1, _ = model.hidden(ids, lengths, E, active)
        real = torch.arange(ids.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
        diff = (h0 - h1)[real].abs().max().item()
        check(diff == 0.0, f"{name}: pad slots do not leak into real rows (max diff {diff:.1e})")
        if model.cfg.arch == "gpt2":
            ids = batch["ids"].clone()
            n = int(lengths[0])
            ids[0, n - 1] = (ids[0, n - 1] + 1) % model.cfg.vocab_size
            h2, _ = model.hidden(ids, lengths, E, active)
            before = (h0[0, :n - 1] - h2[0, :n - 1]).abs().max().item()
            after = (h0[0, n - 1] - h2[0, n - 1]).abs().max().item()
            check(before == 0.0 and after > 0, f"{name}: causal (earlier rows unchanged)")


def position_checks(model, P):
    lengths = torch.tensor([4, 2])
    pos = model.positions(2, 4, P, lengths)
    if not model.cfg.prefix_shifts:  # USE-lite-style: the prompt does not shift positions
        P = 0
    if model.cfg.arch == "roberta":
        o, pad = model.cfg.position_offset, model.cfg.pad_token_id
        want = torch.tensor([[o + P + i for i in range(4)],
                             [o + P, o + P + 1, pad, pad]])
    else:
        want = torch.tensor([[P + i for i in range(4)]] * 2)
    check(torch.equal(pos, want), f"{model.cfg.arch}: positions shifted by P={P}: "
                                  f"{pos.tolist()}")


def st_checks(tmp):
    rng = np.random.default_rng(1)
    t = {"b": rng.standard_normal((3, 4)).astype(np.float32), "a": np.arange(5, dtype=np.float32)}
    path = os.path.join(tmp, "roundtrip.safetensors")
    st_io.write(path, t, {"k": "v"})
    r, meta = st_io.read(path)
    check(all(np.array_equal(t[k], r[k]) for k in t) and meta == {"k": "v"},
          "safetensors F32 round trip")
    st_io.write(path, t, None, dtype="BF16")
    r, _ = st_io.read(path)
    x = np.array([1.0, 1.00390625, 1.01171875, -2.5e-3], dtype=np.float32)
    bits = st_io.f32_to_bf16_bits(x)
    # 1 + 2^-8 is halfway between two bf16 values and rounds to even (1.0); 1 + 3*2^-8 rounds up.
    check(bits.tolist()[:3] == [0x3F80, 0x3F80, 0x3F82], "BF16 round to nearest even")
    check(np.abs(r["b"] - t["b"]).max() <= np.abs(t["b"]).max() * 2 ** -8,
          "safetensors BF16 round trip within one bf16 ulp")


def main(out):
    torch.set_num_threads(1)
    models = {}
    for path in sorted(glob.glob(os.path.join(out, "cases", "*.input.safetensors"))):
        name = os.path.basename(path).split(".")[0]
        inputs, meta = st_io.read(path)
        mname = meta["model"]
        if mname not in models:
            models[mname] = torch_model.Model(os.path.join(out, mname), torch.float64)
            position_checks(models[mname], inputs["E"].shape[0])
        model = models[mname]
        ref = fd_check(model, inputs, name)
        expected, _ = st_io.read(os.path.join(out, "cases", name + ".expected.safetensors"))
        same = all(np.array_equal(expected[k], ref[k].astype(np.float32)) for k in expected)
        check(same, f"{name}: expected file matches a fresh run")
        mask_checks(model, inputs, name)
    st_checks(out)
    if failures:
        print(f"selfcheck: {len(failures)} failure(s)")
        return 1
    print("selfcheck: reference ok")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: selfcheck.py OUT_DIR")
    sys.exit(main(sys.argv[1]))
