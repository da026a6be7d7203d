"""torch_model.py — an independent plain-PyTorch reference of fedpep's model core: RoBERTa-style
and GPT-2-style transformers with a deep prompt E [P][L][2][d], read from a Hugging Face
config.json + model.safetensors by HF tensor names (FEDPEPTAO.md §1).

Semantics (the contract the C core is checked against):
- Layer l gets a raw prefix: K = [E[:, l, 0] ; X Wk + bk], V = [E[:, l, 1] ; X Wv + bv]; queries
  come only from real tokens. Every query sees all P prefix columns; pad columns are masked;
  GPT-2 is causal over real tokens. A layer can be "inactive" (no prefix at all there).
- Sequences are right-padded; lengths[b] real tokens. Position ids are shifted by P:
  RoBERTa real token i -> position_offset + P + i (position_offset = pad_token_id + 1), pads ->
  pad_token_id (as HF's create_position_ids_from_input_ids with past_key_values_length = P);
  GPT-2 token i -> P + i.
- RoBERTa: post-LN, token_type row 0 added, embedding LayerNorm, exact-erf GELU, MLM head
  dense -> GELU -> LayerNorm -> tied decoder + lm_head.bias. Loss = mean over the batch of the
  full-vocabulary cross-entropy at the <mask> row with the label word as target.
- USE-lite-style RoBERTa (config.json keys fedpep_pre_ln, fedpep_embedding_layernorm,
  fedpep_prefix_shifts_positions, hidden_act "relu"): pre-LN blocks with LayerNorms named
  attention.LayerNorm / intermediate.LayerNorm and no final LN, no embedding LayerNorm, ReLU MLP,
  positions not shifted by P; the MLM head keeps its erf GELU.
- GPT-2: pre-LN, gelu_new (tanh), ln_f, tied head. targets[b][t] is the token row t must
  predict (already shifted; -1 = no target); loss = mean CE over all targets of the batch.
- Dropout is off. Only E requires grad; weights are frozen.

Torch only (no transformers, no hub). This file must never import fedpep code or read its
outputs: it is the independent side of `make check-reference`.
"""
import json
import math
import os

import numpy as np
import torch

import st_io


class Config:
    """The fields of model_config.h, from a HF config.json."""

    def __init__(self, path=None, raw=None):
        """From a config.json path, or from the same fields as a dict (raw)."""
        if raw is None:
            with open(path) as f:
                raw = json.load(f)
        c = raw
        self.raw = c
        mt = c.get("model_type")
        if mt == "roberta":
            self.arch = "roberta"
            self.vocab_size = c["vocab_size"]
            self.max_positions = c["max_position_embeddings"]
            self.n_layers = c["num_hidden_layers"]
            self.d_model = c["hidden_size"]
            self.n_heads = c["num_attention_heads"]
            self.d_ff = c["intermediate_size"]
            self.eps = c.get("layer_norm_eps", 1e-5)
            self.pad_token_id = c.get("pad_token_id", 1)
            self.position_offset = self.pad_token_id + 1
            self.act = c.get("hidden_act", "gelu")
            # fedpep's USE-lite switches (docs/loaders.md); absent = RoBERTa
            self.pre_ln = c.get("fedpep_pre_ln", False)
            self.embedding_ln = c.get("fedpep_embedding_layernorm", True)
            self.prefix_shifts = c.get("fedpep_prefix_shifts_positions", True)
        elif mt == "gpt2":
            self.arch = "gpt2"
            self.vocab_size = c["vocab_size"]
            self.max_positions = c["n_positions"]
            self.n_layers = c["n_layer"]
            self.d_model = c["n_embd"]
            self.n_heads = c["n_head"]
            self.d_ff = c.get("n_inner") or 4 * self.d_model
            self.eps = c.get("layer_norm_epsilon", 1e-5)
            self.pad_token_id = -1
            self.position_offset = 0
            self.act = c.get("activation_function", "gelu_new")
            self.pre_ln, self.embedding_ln, self.prefix_shifts = True, False, True
        else:
            raise ValueError(f"{path}: model_type {mt!r} is neither roberta nor gpt2")


# PyTorch's own fused ops, as Hugging Face's modules use them (nn.LayerNorm, F.gelu, nn.Linear,
# Conv1D's addmm): the same maths in float64 for the reference, and a fair float32 baseline for
# the benchmark.
F = torch.nn.functional


def gelu(x, kind):
    """gelu_new (GPT-2) is the tanh approximation 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)));
    gelu (RoBERTa) is exact: 0.5x(1 + erf(x/sqrt 2))."""
    if kind in ("gelu_new", "gelu_pytorch_tanh"):
        return F.gelu(x, approximate="tanh")
    if kind == "gelu":
        return F.gelu(x)
    if kind == "relu":
        return F.relu(x)
    raise ValueError(f"activation {kind} not supported")


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def conv1d(x, w, b):
    """GPT-2's Conv1D: weight [in][out], y = x W + b."""
    return torch.matmul(x, w) + b


class Model:
    """Frozen weights as torch tensors of one dtype (float64 for the reference, float32 for the
    benchmark); forward/loss are plain functions of (batch, E)."""

    def __init__(self, model_dir, dtype=torch.float64, weights=None):
        self.cfg = Config(os.path.join(model_dir, "config.json")) if isinstance(
            model_dir, str) else model_dir
        if weights is None:
            weights, _ = st_io.read(os.path.join(model_dir, "model.safetensors"))
        self.dtype = dtype
        self.named = {}  # HF tensor name (as in the file) -> the tensor used, for weight grads
        self.w = {}
        cfg = self.cfg
        if cfg.arch == "roberta":
            # roberta-base (RobertaForMaskedLM) names start with "roberta."; a bare RobertaModel
            # has none. The decoder weight is tied to the word embeddings.
            pre = "roberta." if "roberta.embeddings.word_embeddings.weight" in weights else ""
            g = lambda n: self._take(weights, pre + n)  # noqa: E731
            self.w["wte"] = g("embeddings.word_embeddings.weight")
            self.w["wpe"] = g("embeddings.position_embeddings.weight")
            self.w["tte"] = g("embeddings.token_type_embeddings.weight")
            if cfg.embedding_ln:
                self.w["emb_ln_w"] = g("embeddings.LayerNorm.weight")
                self.w["emb_ln_b"] = g("embeddings.LayerNorm.bias")
            self.layers = []
            for i in range(cfg.n_layers):
                p = f"encoder.layer.{i}."
                if cfg.pre_ln:  # HF roberta-prelayernorm's names: LN before each sublayer
                    ln = {"ln1_w": g(p + "attention.LayerNorm.weight"),
                          "ln1_b": g(p + "attention.LayerNorm.bias"),
                          "ln2_w": g(p + "intermediate.LayerNorm.weight"),
                          "ln2_b": g(p + "intermediate.LayerNorm.bias")}
                else:
                    ln = {"ln1_w": g(p + "attention.output.LayerNorm.weight"),
                          "ln1_b": g(p + "attention.output.LayerNorm.bias"),
                          "ln2_w": g(p + "output.LayerNorm.weight"),
                          "ln2_b": g(p + "output.LayerNorm.bias")}
                self.layers.append(ln)
                self.layers[-1].update({
                    "q_w": g(p + "attention.self.query.weight"),
                    "q_b": g(p + "attention.self.query.bias"),
                    "k_w": g(p + "attention.self.key.weight"),
                    "k_b": g(p + "attention.self.key.bias"),
                    "v_w": g(p + "attention.self.value.weight"),
                    "v_b": g(p + "attention.self.value.bias"),
                    "o_w": g(p + "attention.output.dense.weight"),
                    "o_b": g(p + "attention.output.dense.bias"),
                    "fc_w": g(p + "intermediate.dense.weight"),
                    "fc_b": g(p + "intermediate.dense.bias"),
                    "pr_w": g(p + "output.dense.weight"),
                    "pr_b": g(p + "output.dense.bias"),
                })
            h = lambda n: self._take(weights, n)  # noqa: E731
            self.w["head_w"] = h("lm_head.dense.weight")
            self.w["head_b"] = h("lm_head.dense.bias")
            self.w["head_ln_w"] = h("lm_head.layer_norm.weight")
            self.w["head_ln_b"] = h("lm_head.layer_norm.bias")
            self.w["head_bias"] = h("lm_head.bias")
        else:
            pre = "transformer." if "transformer.wte.weight" in weights else ""
            g = lambda n: self._take(weights, pre + n)  # noqa: E731
            self.w["wte"] = g("wte.weight")
            self.w["wpe"] = g("wpe.weight")
            self.w["lnf_w"] = g("ln_f.weight")
            self.w["lnf_b"] = g("ln_f.bias")
            self.layers = []
            for i in range(cfg.n_layers):
                p = f"h.{i}."
                # Conv1D stores [in][out]: y = x @ W + b.
                self.layers.append({
                    "ln1_w": g(p + "ln_1.weight"), "ln1_b": g(p + "ln_1.bias"),
                    "qkv_w": g(p + "attn.c_attn.weight"), "qkv_b": g(p + "attn.c_attn.bias"),
                    "o_w": g(p + "attn.c_proj.weight"), "o_b": g(p + "attn.c_proj.bias"),
                    "ln2_w": g(p + "ln_2.weight"), "ln2_b": g(p + "ln_2.bias"),
                    "fc_w": g(p + "mlp.c_fc.weight"), "fc_b": g(p + "mlp.c_fc.bias"),
                    "pr_w": g(p + "mlp.c_proj.weight"), "pr_b": g(p + "mlp.c_proj.bias"),
                })

    def _take(self, weights, name):
        t = self._t(weights[name])
        self.named[name] = t
        return t

    def _t(self, a):
        if isinstance(a, torch.Tensor):
            return a.to(self.dtype)
        return torch.tensor(np.asarray(a, dtype=np.float64), dtype=self.dtype)

    # --- pieces -----------------------------------------------------------------------------

    def positions(self, B, T, P, lengths):
        t = torch.arange(T).unsqueeze(0).expand(B, T)
        if not self.cfg.prefix_shifts:  # USE-lite: the deep prompt does not move positions
            P = 0
        if self.cfg.arch == "gpt2":
            return t + P
        real = t < lengths.unsqueeze(1)
        return torch.where(real, t + self.cfg.position_offset + P,
                           torch.full_like(t, self.cfg.pad_token_id))

    def attention_bias(self, B, T, P, lengths):
        """[B][1][T][P+T] additive mask: 0 on prefix columns, -inf on pad (and future) columns."""
        col_real = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)   # [B][T]
        allowed = col_real.unsqueeze(1).expand(B, T, T)                    # [B][Tq][Tk]
        if self.cfg.arch == "gpt2":
            causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
            allowed = allowed & causal
        allowed = torch.cat([torch.ones(B, T, P, dtype=torch.bool), allowed], dim=2)
        bias = torch.zeros(B, 1, T, P + T, dtype=self.dtype)
        return bias.masked_fill(~allowed.unsqueeze(1), float("-inf"))

    def attention(self, q, k, v, pk, pv, bias):
        """q,k,v [B][T][d]; pk,pv [P][d] or None; returns [B][T][d]."""
        B, T, d = q.shape
        H = self.cfg.n_heads
        dh = d // H
        split = lambda x: x.view(x.shape[0], -1, H, dh).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)                             # [B][H][T][dh]
        if pk is not None:
            P = pk.shape[0]
            pk = pk.view(P, H, dh).transpose(0, 1).unsqueeze(0).expand(B, H, P, dh)
            pv = pv.view(P, H, dh).transpose(0, 1).unsqueeze(0).expand(B, H, P, dh)
            k = torch.cat([pk, k], dim=2)
            v = torch.cat([pv, v], dim=2)
        else:
            bias = bias[..., bias.shape[-1] - T:]
        s = q @ k.transpose(-1, -2) / math.sqrt(dh) + bias
        a = torch.softmax(s, dim=-1)
        o = a @ v                                                           # [B][H][T][dh]
        return o.transpose(1, 2).reshape(B, T, d)

    # --- the model ----------------------------------------------------------------------------

    def hidden(self, ids, lengths, E, active=None, I=None):
        """ids [B][T] long, lengths [B] long, E [P][L][2][d] (P may be 0), active: list of L bools
        (prefix present in that layer; default all), I [P_in][d] an input soft prompt or None.
        The P_in rows of I replace word embeddings of virtual tokens put before the text: they
        are real tokens to attention and positions (the text then starts P_in positions later).
        Returns the final hidden states [B][P_in + T][d] (after ln_f for GPT-2) and the list of
        block outputs (same rows)."""
        cfg = self.cfg
        B, T = ids.shape
        P = E.shape[0]
        L = cfg.n_layers
        if active is None:
            active = [True] * L
        word = self.w["wte"][ids]
        if I is not None:
            word = torch.cat([I.unsqueeze(0).expand(B, -1, -1), word], dim=1)
            lengths = lengths + I.shape[0]
            T = T + I.shape[0]
        pos = self.positions(B, T, P, lengths)
        bias = self.attention_bias(B, T, P, lengths)
        x = word + self.w["wpe"][pos]
        outs = []
        if cfg.arch == "roberta":
            x = x + self.w["tte"][0]
            if cfg.embedding_ln:
                x = layer_norm(x, self.w["emb_ln_w"], self.w["emb_ln_b"], cfg.eps)
        for l, W in enumerate(self.layers):
            pk = E[:, l, 0, :] if (P > 0 and active[l]) else None
            pv = E[:, l, 1, :] if (P > 0 and active[l]) else None
            if cfg.arch == "roberta" and cfg.pre_ln:  # USE-lite: pre-LN, no final LN
                h = layer_norm(x, W["ln1_w"], W["ln1_b"], cfg.eps)
                q = F.linear(h, W["q_w"], W["q_b"])
                k = F.linear(h, W["k_w"], W["k_b"])
                v = F.linear(h, W["v_w"], W["v_b"])
                x = x + F.linear(self.attention(q, k, v, pk, pv, bias), W["o_w"], W["o_b"])
                h = layer_norm(x, W["ln2_w"], W["ln2_b"], cfg.eps)
                x = x + F.linear(gelu(F.linear(h, W["fc_w"], W["fc_b"]), cfg.act), W["pr_w"],
                                 W["pr_b"])
            elif cfg.arch == "roberta":
                q = F.linear(x, W["q_w"], W["q_b"])
                k = F.linear(x, W["k_w"], W["k_b"])
                v = F.linear(x, W["v_w"], W["v_b"])
                a = F.linear(self.attention(q, k, v, pk, pv, bias), W["o_w"], W["o_b"])
                x = layer_norm(x + a, W["ln1_w"], W["ln1_b"], cfg.eps)
                f = F.linear(gelu(F.linear(x, W["fc_w"], W["fc_b"]), cfg.act), W["pr_w"],
                             W["pr_b"])
                x = layer_norm(x + f, W["ln2_w"], W["ln2_b"], cfg.eps)
            else:
                h = layer_norm(x, W["ln1_w"], W["ln1_b"], cfg.eps)
                qkv = conv1d(h, W["qkv_w"], W["qkv_b"])
                q, k, v = qkv.split(cfg.d_model, dim=-1)
                x = x + conv1d(self.attention(q, k, v, pk, pv, bias), W["o_w"], W["o_b"])
                h = layer_norm(x, W["ln2_w"], W["ln2_b"], cfg.eps)
                x = x + conv1d(gelu(conv1d(h, W["fc_w"], W["fc_b"]), cfg.act), W["pr_w"],
                               W["pr_b"])
            outs.append(x)
        if cfg.arch == "gpt2":
            x = layer_norm(x, self.w["lnf_w"], self.w["lnf_b"], cfg.eps)
        return x, outs

    def head(self, h):
        """Rows of final hidden states [N][d] -> logits [N][V]."""
        cfg = self.cfg
        if cfg.arch == "roberta":
            z = gelu(F.linear(h, self.w["head_w"], self.w["head_b"]), "gelu")  # always erf
            z = layer_norm(z, self.w["head_ln_w"], self.w["head_ln_b"], cfg.eps)
            return F.linear(z, self.w["wte"], self.w["head_bias"])
        return F.linear(h, self.w["wte"])

    def loss(self, batch, E, active=None, I=None):
        """Returns (loss scalar, logits of the scored rows [N][V]).
        batch: dict of torch tensors: ids, lengths; RoBERTa: mask_pos [B], label [B];
        GPT-2: targets [B][T] (-1 = none). Rows are numbered in the text (I's rows excluded)."""
        h, _ = self.hidden(batch["ids"], batch["lengths"], E, active, I)
        if I is not None:
            h = h[:, I.shape[0]:]
        if self.cfg.arch == "roberta":
            rows = h[torch.arange(h.shape[0]), batch["mask_pos"]]
            logits = self.head(rows)
            loss = torch.nn.functional.cross_entropy(logits, batch["label"])
        else:
            sel = batch["targets"] >= 0
            logits = self.head(h[sel])
            loss = torch.nn.functional.cross_entropy(logits, batch["targets"][sel])
        return loss, logits


def batch_to_torch(inputs):
    """Arrays from a case file (stored as float32, exact for small integers) -> torch longs."""
    b = {"ids": torch.tensor(inputs["ids"].astype(np.int64)),
         "lengths": torch.tensor(inputs["lengths"].astype(np.int64))}
    if "mask_pos" in inputs:
        b["mask_pos"] = torch.tensor(inputs["mask_pos"].astype(np.int64))
        b["label"] = torch.tensor(inputs["label"].astype(np.int64))
    if "targets" in inputs:
        b["targets"] = torch.tensor(inputs["targets"].astype(np.int64))
    return b


def example_losses(model, batch, logits):
    """Per-example mean CE over that example's scored rows [B] (0 without rows), from the
    logits of loss() (rows in (b, t) order)."""
    B = batch["ids"].shape[0]
    if model.cfg.arch == "roberta":
        rows_b = torch.arange(B)
        tgt = batch["label"]
    else:
        sel = batch["targets"] >= 0
        rows_b = torch.nonzero(sel)[:, 0]
        tgt = batch["targets"][sel]
    ce = torch.nn.functional.cross_entropy(logits, tgt, reduction="none")
    out = torch.zeros(B, dtype=ce.dtype).index_add_(0, rows_b, ce)
    cnt = torch.zeros(B, dtype=ce.dtype).index_add_(0, rows_b, torch.ones_like(ce))
    return out / cnt.clamp(min=1)


def canonical_name(name):
    """fedpep writes RoBERTa bodies with the "roberta." prefix and GPT-2 without any."""
    return name[len("transformer."):] if name.startswith("transformer.") else name


def reference(model, inputs, weight_grads=False):
    """Runs a case; returns float64 numpy arrays:
      logits [N][V] (scored rows in (b, t) order), loss [1], dE [P][L][2][d] (zero outside the
      layers flagged in inputs["trainable"]), example_loss [B], layers [L][B][T][d] (output of
      every block, before GPT-2's ln_f), and with weight_grads "grad.<canonical HF name>" for
      every weight the model uses (tied word embeddings get both of their uses)."""
    batch = batch_to_torch(inputs)
    active = [bool(a) for a in inputs["active"]]
    trainable = np.asarray(inputs["trainable"]) != 0
    E = torch.tensor(inputs["E"].astype(np.float64), dtype=model.dtype, requires_grad=True)
    I = None
    if "I" in inputs:
        I = torch.tensor(inputs["I"].astype(np.float64), dtype=model.dtype, requires_grad=True)
    if weight_grads:
        for t in model.named.values():
            t.requires_grad_(True)
            t.grad = None
    loss, logits = model.loss(batch, E, active, I)
    loss.backward()
    dE = E.grad.detach().double().numpy().copy()
    dE[:, ~trainable] = 0.0
    out = {"logits": logits.detach().double().numpy(),
           "loss": np.array([loss.item()]),
           "dE": dE,
           "example_loss": example_losses(model, batch, logits).detach().double().numpy()}
    if I is not None:
        out["dI"] = I.grad.detach().double().numpy().copy()
    with torch.no_grad():
        _, layers = model.hidden(batch["ids"], batch["lengths"], E.detach(), active,
                                 None if I is None else I.detach())
    out["layers"] = torch.stack(layers).double().numpy()
    if weight_grads:
        for name, t in model.named.items():
            out["grad." + canonical_name(name)] = t.grad.detach().double().numpy().copy()
            t.requires_grad_(False)
            t.grad = None
    return out
