"""make_tiny.py — writes the tiny checkpoints and cases of `make check-reference`.

  make_tiny.py OUT_DIR

OUT_DIR/<model>/{config.json, model.safetensors}: tiny random models in exact Hugging Face format
  roberta       RobertaForMaskedLM names ("roberta." prefix, separate q/k/v, nn.Linear [out][in],
                tied decoder absent, lm_head.bias, a pooler the loader must ignore), F32
  gpt2          GPT-2 hub names (no prefix, fused c_attn, Conv1D [in][out], tied head), F32
  gpt2_bf16     the same GPT-2 stored as BF16 (the loader converts to F32; the reference reads
                the same rounded values)
  gpt2_lmhead   the same GPT-2 as GPT2LMHeadModel saves it: "transformer." prefix, F16
OUT_DIR/cases/<case>.input.safetensors: one batch (all stored as F32; integers are exact):
  ids [B][T], lengths [B] (right padding), E [P][L][2][d], active [L] (prefix present),
  trainable [L] (dE wanted); RoBERTa: mask_pos [B], label [B]; GPT-2: targets [B][T] (-1 none).
  Metadata: "model" = the model folder name, "arch".
  weight_grads [1] in the "full" cases: full-weight gradients wanted too; I [P_in][d] in the
  "input" cases: an input soft prompt (virtual tokens before the text), dI wanted.
OUT_DIR/cases/<case>.expected.safetensors: logits [N][V] (mask rows, or target rows in
  row-major batch order), loss [1], dE [P][L][2][d], example_loss [B], layers [L][B][P_in + T][d]
  (block outputs), dI [P_in][d] in "input" cases, and in "full" cases grad.<canonical HF name> for every weight, all computed
  in float64 by torch_model.py.

Everything is a pure function of the fixed seed, so the files are reproducible.
This script must never read what fedpep's C code writes.
"""
import json
import os
import sys

import numpy as np
import torch

import st_io
import torch_model

SEED = 20231106

# Position tables are exactly as long as the longest sequence needs (RoBERTa: pad + 1 + P + T;
# GPT-2: P + T), so an off-by-one in the position shift reads outside or the wrong row.
# The "input" cases add P_IN virtual tokens, so the tables have P_IN more rows.
P_IN = 2
ROBERTA = dict(vocab_size=120, hidden_size=48, num_hidden_layers=4, num_attention_heads=4,
               intermediate_size=80, max_position_embeddings=2 + 5 + P_IN + 11, P=5, B=3, T=11)
# USE-lite-style encoder: the prompt does not shift positions, so no P rows in the table.
USELITE = dict(ROBERTA, max_position_embeddings=2 + P_IN + 11)
GPT2 = dict(vocab_size=101, n_embd=40, n_layer=4, n_head=5, n_positions=3 + P_IN + 9, P=3, B=3,
            T=9)


def roberta_config(s):
    return {
        "architectures": ["RobertaForMaskedLM"], "model_type": "roberta",
        "attention_probs_dropout_prob": 0.1, "hidden_dropout_prob": 0.1,
        "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "hidden_act": "gelu",
        "hidden_size": s["hidden_size"], "initializer_range": 0.02,
        "intermediate_size": s["intermediate_size"], "layer_norm_eps": 1e-05,
        "max_position_embeddings": s["max_position_embeddings"],
        "num_attention_heads": s["num_attention_heads"],
        "num_hidden_layers": s["num_hidden_layers"], "type_vocab_size": 1,
        "vocab_size": s["vocab_size"], "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def uselite_config(s):
    """RoBERTa with fedpep's USE-lite switches (docs/loaders.md)."""
    c = roberta_config(s)
    c.update({"hidden_act": "relu", "fedpep_pre_ln": True, "fedpep_embedding_layernorm": False,
              "fedpep_prefix_shifts_positions": False})
    return c


def uselite_weights(rng, c):
    """RoBERTa's tensors re-laid for a pre-LN encoder without embedding LayerNorm."""
    w = roberta_weights(rng, c)
    del w["roberta.embeddings.LayerNorm.weight"], w["roberta.embeddings.LayerNorm.bias"]
    for i in range(c["num_hidden_layers"]):
        p = f"roberta.encoder.layer.{i}."
        for old, new in (("attention.output.LayerNorm", "attention.LayerNorm"),
                         ("output.LayerNorm", "intermediate.LayerNorm")):
            for k in ("weight", "bias"):
                w[f"{p}{new}.{k}"] = w.pop(f"{p}{old}.{k}")
    return w


def gpt2_config(s):
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "activation_function": "gelu_new", "attn_pdrop": 0.1, "embd_pdrop": 0.1,
        "resid_pdrop": 0.1, "bos_token_id": s["vocab_size"] - 1,
        "eos_token_id": s["vocab_size"] - 1, "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05, "n_ctx": s["n_positions"], "n_embd": s["n_embd"],
        "n_head": s["n_head"], "n_inner": None, "n_layer": s["n_layer"],
        "n_positions": s["n_positions"], "vocab_size": s["vocab_size"],
    }


def _ln(rng, d):
    return (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32), \
        (0.1 * rng.standard_normal(d)).astype(np.float32)


def roberta_weights(rng, c, std=0.15):
    """Random weights, HF names. Weights are larger than HF's init (0.02) so attention and GELU
    are far from linear and a wrong mask or layout cannot hide."""
    n = lambda *shape, s=std: (s * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    d, f, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    w = {}
    e = "roberta.embeddings."
    w[e + "word_embeddings.weight"] = n(V, d, s=0.5)
    w[e + "position_embeddings.weight"] = n(c["max_position_embeddings"], d, s=0.5)
    w[e + "token_type_embeddings.weight"] = n(1, d, s=0.5)
    w[e + "LayerNorm.weight"], w[e + "LayerNorm.bias"] = _ln(rng, d)
    for i in range(c["num_hidden_layers"]):
        p = f"roberta.encoder.layer.{i}."
        for m in ("query", "key", "value"):
            w[p + f"attention.self.{m}.weight"] = n(d, d)
            w[p + f"attention.self.{m}.bias"] = n(d, s=0.1)
        w[p + "attention.output.dense.weight"] = n(d, d)
        w[p + "attention.output.dense.bias"] = n(d, s=0.1)
        w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"] = \
            _ln(rng, d)
        w[p + "intermediate.dense.weight"] = n(f, d)
        w[p + "intermediate.dense.bias"] = n(f, s=0.1)
        w[p + "output.dense.weight"] = n(d, f)
        w[p + "output.dense.bias"] = n(d, s=0.1)
        w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"] = _ln(rng, d)
    w["roberta.pooler.dense.weight"] = n(d, d)
    w["roberta.pooler.dense.bias"] = n(d)
    w["lm_head.dense.weight"] = n(d, d)
    w["lm_head.dense.bias"] = n(d, s=0.1)
    w["lm_head.layer_norm.weight"], w["lm_head.layer_norm.bias"] = _ln(rng, d)
    w["lm_head.bias"] = n(V, s=0.1)
    return w


def gpt2_weights(rng, c, std=0.15):
    n = lambda *shape, s=std: (s * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    d, V = c["n_embd"], c["vocab_size"]
    f = c["n_inner"] or 4 * d
    w = {"wte.weight": n(V, d, s=0.5), "wpe.weight": n(c["n_positions"], d, s=0.3)}
    for i in range(c["n_layer"]):
        p = f"h.{i}."
        w[p + "ln_1.weight"], w[p + "ln_1.bias"] = _ln(rng, d)
        w[p + "attn.c_attn.weight"] = n(d, 3 * d)   # Conv1D: [in][out]
        w[p + "attn.c_attn.bias"] = n(3 * d, s=0.1)
        w[p + "attn.c_proj.weight"] = n(d, d)
        w[p + "attn.c_proj.bias"] = n(d, s=0.1)
        w[p + "ln_2.weight"], w[p + "ln_2.bias"] = _ln(rng, d)
        w[p + "mlp.c_fc.weight"] = n(d, f)
        w[p + "mlp.c_fc.bias"] = n(f, s=0.1)
        w[p + "mlp.c_proj.weight"] = n(f, d)
        w[p + "mlp.c_proj.bias"] = n(d, s=0.1)
    w["ln_f.weight"], w["ln_f.bias"] = _ln(rng, d)
    return w


def write_model(out, name, config, weights, dtype="F32"):
    os.makedirs(os.path.join(out, name), exist_ok=True)
    with open(os.path.join(out, name, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    st_io.write(os.path.join(out, name, "model.safetensors"), weights, {"format": "pt"}, dtype)


def roberta_batch(rng, s, mask_id):
    """Right-padded batch: <s> words... <mask> words... </s> <pad>...; lengths vary."""
    B, T, V = s["B"], s["T"], s["vocab_size"]
    lengths = np.array([T, T - 4, 5][:B])
    ids = np.ones((B, T), dtype=np.int64)  # pad = 1
    mask_pos = np.zeros(B, dtype=np.int64)
    for b in range(B):
        n = lengths[b]
        ids[b, :n] = rng.integers(3, V - 1, n)
        ids[b, 0], ids[b, n - 1] = 0, 2
        mask_pos[b] = rng.integers(1, n - 1)
        ids[b, mask_pos[b]] = mask_id
    label = rng.integers(3, V - 1, B)
    return {"ids": ids, "lengths": lengths, "mask_pos": mask_pos, "label": label}


def gpt2_batch(rng, s):
    """Right-padded; the last 1-2 real tokens of each example are 'label tokens': the row before
    each one must predict it. Pads carry the eos id and no target."""
    B, T, V = s["B"], s["T"], s["vocab_size"]
    lengths = np.array([T, T - 3, 4][:B])
    ids = np.full((B, T), V - 1, dtype=np.int64)
    targets = np.full((B, T), -1, dtype=np.int64)
    for b in range(B):
        n = lengths[b]
        ids[b, :n] = rng.integers(0, V - 1, n)
        k = 1 + b % 2
        for t in range(n - k, n):
            targets[b, t - 1] = ids[b, t]
    return {"ids": ids, "lengths": lengths, "targets": targets}


def layer_flags(L, which):
    return np.array([1.0 if l in which else 0.0 for l in range(L)], dtype=np.float32)


def cases_for(rng, arch, s, model_name, mask_id=None):
    """The cases of one architecture: all layers tuned; the upper layers tuned (gradient must
    stop at the lowest tuned layer); prefix present only in some layers; all layers tuned with
    full-weight gradients; an input soft prompt with the upper layers' deep prompt."""
    L = s["num_hidden_layers"] if arch == "roberta" else s["n_layer"]
    d = s["hidden_size"] if arch == "roberta" else s["n_embd"]
    batch = roberta_batch(rng, s, mask_id) if arch == "roberta" else gpt2_batch(rng, s)
    E = (0.5 * rng.standard_normal((s["P"], L, 2, d))).astype(np.float32)
    all_l = set(range(L))
    some = {1, 3}
    upper = set(range(L // 2, L))
    out = {}
    I = (0.5 * rng.standard_normal((P_IN, d))).astype(np.float32)
    for case, active, trainable in (("all", all_l, all_l), ("upper", all_l, upper),
                                    ("some", some, some), ("full", all_l, all_l),
                                    ("input", all_l, upper)):
        inputs = {k: v.astype(np.float32) for k, v in batch.items()}
        inputs["E"] = E
        inputs["active"] = layer_flags(L, active)
        inputs["trainable"] = layer_flags(L, trainable)
        if case == "full":  # full-weight gradients too (the pretraining path)
            inputs["weight_grads"] = np.ones(1, dtype=np.float32)
        if case == "input":  # an input soft prompt (fedavg-input) beside the deep prompt
            inputs["I"] = I
        out[f"{model_name}_{case}"] = inputs
    return out


def main(out):
    rng = np.random.default_rng(SEED)
    torch.set_num_threads(1)
    rc, gc = roberta_config(ROBERTA), gpt2_config(GPT2)
    rw, gw = roberta_weights(rng, rc), gpt2_weights(rng, gc)
    write_model(out, "roberta", rc, rw)
    write_model(out, "gpt2", gc, gw)
    write_model(out, "gpt2_bf16", gc, gw, dtype="BF16")
    write_model(out, "gpt2_lmhead", gc, {"transformer." + k: v for k, v in gw.items()}, "F16")
    cases = {}
    cases.update(cases_for(rng, "roberta", ROBERTA, "roberta", mask_id=rc["vocab_size"] - 1))
    cases.update(cases_for(rng, "gpt2", GPT2, "gpt2"))
    cases["gpt2_bf16_all"] = dict(cases["gpt2_all"])
    cases["gpt2_lmhead_all"] = dict(cases["gpt2_upper"])
    urng = np.random.default_rng(SEED + 1)  # its own stream: the other cases stay as they were
    uc = uselite_config(USELITE)
    write_model(out, "uselite", uc, uselite_weights(urng, uc))
    cases.update(cases_for(urng, "roberta", USELITE, "uselite", mask_id=uc["vocab_size"] - 1))
    os.makedirs(os.path.join(out, "cases"), exist_ok=True)
    models = {}
    for name, inputs in cases.items():
        model_name = name.rsplit("_", 1)[0]
        if model_name not in models:
            models[model_name] = torch_model.Model(os.path.join(out, model_name), torch.float64)
        model = models[model_name]
        meta = {"model": model_name, "arch": model.cfg.arch}
        st_io.write(os.path.join(out, "cases", name + ".input.safetensors"), inputs, meta)
        ref = torch_model.reference(model, inputs, weight_grads="weight_grads" in inputs)
        st_io.write(os.path.join(out, "cases", name + ".expected.safetensors"), ref, meta)
        print(f"  {name}: loss {ref['loss'][0]:.6f}, logits {ref['logits'].shape}, "
              f"|dE|max {np.abs(ref['dE']).max():.3e}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_tiny.py OUT_DIR")
    sys.exit(main(sys.argv[1]))
