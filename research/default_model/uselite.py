"""USE-lite in PyTorch: SentencePiece-unigram tokenizer (Viterbi, TF.js parity) and weight loader.

Research only (never a dependency of `make test`). Follows ../../../shared/USE-LITE.md §1.3-§1.5.
"""
import json, os, unicodedata
import numpy as np
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
USE_DIR = os.environ.get('USE_LITE_DIR', os.path.join(ROOT, '.cache', 'use-lite', 'package', 'dist'))
SEP = '\u2581'


class Tokenizer:
    """Port of @tensorflow-models/universal-sentence-encoder's tokenizer (quirks kept)."""

    def __init__(self, path=os.path.join(USE_DIR, 'vocab.json')):
        vocab = json.load(open(path, encoding='utf-8'))
        self.pieces = [p for p, _ in vocab]
        self.score = {}
        for i, (p, s) in enumerate(vocab):
            if i >= 6:  # ids 0-5 are reserved, never matched
                self.score[p] = (0.0 if s is None else float(s), i)  # JS: null + x == x
        self.maxlen = max(len(p) for p in self.score)
        self.vocab_size = 8002

    def encode(self, text):
        text = unicodedata.normalize('NFKC', text)
        if not text:
            return []
        s = SEP + text.replace(' ', SEP)
        n = len(s)
        scores = [0.0] * (n + 1)
        words = [0] * (n + 1)
        # ends[e] = list of (start, score, id) in ascending start order
        ends = [[] for _ in range(n + 1)]
        for i in range(n):
            for L in range(1, min(self.maxlen, n - i) + 1):
                hit = self.score.get(s[i:i + L])
                if hit is not None:
                    ends[i + L].append((i, hit[0], hit[1]))
        for e in range(n + 1):
            for (st, sc, idx) in ends[e]:
                v = sc + scores[st]
                if scores[e] == 0 or v >= scores[e]:
                    scores[e] = v
                    words[e] = idx
        out = []
        it = n
        while it > 0:
            out.append(words[it])
            it -= len(self.pieces[words[it]])
        merged, prev_unk = [], False
        for t in out:
            if not (prev_unk and t == 0):
                merged.append(t)
            prev_unk = t == 0
        return merged[::-1]


def load_weights(d=USE_DIR):
    """Return {short name: float32 tensor} for the 30 real weights."""
    m = json.load(open(os.path.join(d, 'model.json')))
    man = m['weightsManifest'][0]
    buf = b''.join(open(os.path.join(d, p), 'rb').read() for p in man['paths'])
    off, raw = 0, {}
    for w in man['weights']:
        cnt = int(np.prod(w['shape'])) if w['shape'] else 1
        dt = np.float32 if w['dtype'] == 'float32' else np.int32
        raw[w['name']] = np.frombuffer(buf, dt, cnt, off).reshape(w['shape'])
        off += cnt * 4
    assert off == len(buf), (off, len(buf))
    P = 'module_apply_default/Encoder_en/KonaTransformer/Encode/'
    S = P + 'TransformerStack/'
    M = 'module/Encoder_en/KonaTransformer/Encode/'
    LN = 'layer_prepostprocess/layer_norm/layer_norm_'
    W = {'emb': raw['module/Embeddings_en'],
         'head_w': raw['module/Encoder_en/hidden_layers/tanh_layer_0/weights'],
         'head_b': raw['module/Encoder_en/hidden_layers/tanh_layer_0/bias'],
         'inv_ts': raw[S + 'Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1'],
         'l0.proj_w': raw[P + 'Layer_0/TransformerLayer/dense/kernel/ConcatPartitions/concat'],
         'l0.proj_b': raw[P + 'Layer_0/TransformerLayer/dense/bias/ConcatPartitions/concat']}
    for l in (0, 1):
        T = P + f'Layer_{l}/TransformerLayer/'
        W[f'l{l}.ln1_g'] = raw[T + LN + 'scale/ConcatPartitions/concat']
        W[f'l{l}.ln1_b'] = raw[T + LN + 'bias/ConcatPartitions/concat']
        W[f'l{l}.qkv_w'] = raw[M + f'Layer_{l}/TransformerLayer/MultiheadAttention/qkv_transform_single/kernel/part_0'][0, 0]
        W[f'l{l}.qkv_b'] = raw[T + 'MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat']
        W[f'l{l}.o_w'] = raw[M + f'Layer_{l}/TransformerLayer/MultiheadAttention/output_transform_single/kernel/part_0'][0, 0]
        W[f'l{l}.o_b'] = raw[T + 'MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat']
        W[f'l{l}.ln2_g'] = raw[T + 'FFN/' + LN + 'scale/ConcatPartitions/concat']
        W[f'l{l}.ln2_b'] = raw[T + 'FFN/' + LN + 'bias/ConcatPartitions/concat']
        W[f'l{l}.ff1_w'] = raw[S + f'Layer_{l}/TransformerLayer/FFN/conv1/Tensordot/Reshape_1']
        W[f'l{l}.ff1_b'] = raw[T + 'FFN/conv1/bias/ConcatPartitions/concat']
        W[f'l{l}.ff2_w'] = raw[S + f'Layer_{l}/TransformerLayer/FFN/conv2/Tensordot/Reshape_1']
        W[f'l{l}.ff2_b'] = raw[T + 'FFN/conv2/bias/ConcatPartitions/concat']
    return {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in W.items()}
