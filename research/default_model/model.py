"""A small transformer encoder with deep prefix K/V (P-tuning v2), in PyTorch, for research.

Covers USE-lite exactly (pre-LN, ReLU, sinusoidal timing, x2 embedding, 256->512 residual
projection in layer 0, no final LN) and RoBERTa-like students (learned positions, GELU, pre/post-LN,
MLM head). Never a dependency of the C build.
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d_in, d_out, heads, ffn, act='relu', norm='pre', eps=1e-6):
        super().__init__()
        self.d_in, self.d_out, self.h, self.norm = d_in, d_out, heads, norm
        self.act = F.relu if act == 'relu' else F.gelu
        self.ln1 = nn.LayerNorm(d_in if norm == 'pre' else d_out, eps=eps)
        self.qkv = nn.Linear(d_in, 3 * d_in)
        self.o = nn.Linear(d_in, d_out)
        self.proj = nn.Linear(d_in, d_out) if d_in != d_out else None
        self.ln2 = nn.LayerNorm(d_out, eps=eps)
        self.ff1 = nn.Linear(d_out, ffn)
        self.ff2 = nn.Linear(ffn, d_out)

    def attn(self, h, mask, pk, pv):
        # h [B,T,d_in]; mask [B,T] (True = real); pk, pv [P,d_in] or None
        B, T, D = h.shape
        q, k, v = self.qkv(h).split(D, dim=-1)
        if pk is not None:
            P = pk.shape[0]
            k = torch.cat([pk.unsqueeze(0).expand(B, P, D), k], 1)
            v = torch.cat([pv.unsqueeze(0).expand(B, P, D), v], 1)
            mask = torch.cat([mask.new_ones(B, P), mask], 1)
        dh = D // self.h
        q = q.view(B, T, self.h, dh).transpose(1, 2) * (1.0 / math.sqrt(dh))
        k = k.view(B, -1, self.h, dh).transpose(1, 2)
        v = v.view(B, -1, self.h, dh).transpose(1, 2)
        s = q @ k.transpose(-1, -2) + (~mask)[:, None, None, :].float() * -1e9
        a = s.softmax(-1)
        return self.o((a @ v).transpose(1, 2).reshape(B, T, D))

    def forward(self, x, mask, pk=None, pv=None):
        r = self.proj(x) if self.proj is not None else x
        if self.norm == 'pre':
            y = r + self.attn(self.ln1(x), mask, pk, pv)
            return y + self.ff2(self.act(self.ff1(self.ln2(y))))
        y = self.ln1(r + self.attn(x, mask, pk, pv))
        return self.ln2(y + self.ff2(self.act(self.ff1(y))))


class Encoder(nn.Module):
    """cfg keys: vocab, dims (list of widths, len L+1), heads, ffn, act, norm, pos ('sin'|'learned'),
    max_pos, emb_scale, final_ln, mlm (bool), tanh_head (bool)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        dims = cfg['dims']
        self.emb = nn.Embedding(cfg['vocab'], dims[0])
        if cfg['pos'] == 'learned':
            self.pos = nn.Parameter(torch.zeros(cfg['max_pos'], dims[0]))
        else:
            self.register_buffer('inv_ts', torch.exp(-torch.arange(dims[0] // 2).float()
                                                     * math.log(1e4) / (dims[0] // 2 - 1)))
        self.blocks = nn.ModuleList(Block(dims[i], dims[i + 1], cfg['heads'], cfg['ffn'][i] if isinstance(cfg['ffn'], list) else cfg['ffn'],
                                          cfg['act'], cfg['norm'], cfg.get('eps', 1e-6))
                                    for i in range(len(dims) - 1))
        d = dims[-1]
        self.final_ln = nn.LayerNorm(d, eps=cfg.get('eps', 1e-6)) if cfg.get('final_ln') else None
        if cfg.get('tanh_head'):
            self.head = nn.Linear(d, d)
        if cfg.get('mlm'):
            self.mlm_dense = nn.Linear(d, d)
            self.mlm_ln = nn.LayerNorm(d, eps=1e-6)
            self.mlm_out = nn.Linear(d, cfg['vocab'])

    @property
    def n_layers(self):
        return len(self.blocks)

    def embed(self, ids):
        B, T = ids.shape
        x = self.emb(ids) * self.cfg.get('emb_scale', 1.0)
        if self.cfg['pos'] == 'learned':
            return x + self.pos[:T]
        t = torch.arange(T).float()[:, None] * self.inv_ts[None]
        return x + torch.cat([t.sin(), t.cos()], -1)

    def forward(self, ids, mask, prefix=None, upto=None):
        """prefix: list (len L) of (pk, pv) or None per layer. Returns the last hidden state [B,T,d]
        (and all hidden states). upto: stop after that many blocks."""
        x = self.embed(ids)
        hs = []
        for l, blk in enumerate(self.blocks[:upto]):
            pk, pv = prefix[l] if prefix is not None and prefix[l] is not None else (None, None)
            x = blk(x, mask, pk, pv)
            hs.append(x)
        if self.final_ln is not None and upto is None:
            x = self.final_ln(x)
        return x, hs

    @staticmethod
    def pool(x, mask):
        m = mask.float().unsqueeze(-1)
        return (x * m).sum(1) / m.sum(1).clamp(min=1)

    def sentence(self, ids, mask, prefix=None):
        m = self.pool(self.forward(ids, mask, prefix)[0], mask)
        return F.normalize(torch.tanh(self.head(m)), dim=-1)

    def mlm_logits(self, x):
        return self.mlm_out(self.mlm_ln(F.gelu(self.mlm_dense(x))))


USE_CFG = dict(vocab=8002, dims=[256, 512, 512], heads=4, ffn=1536, act='relu', norm='pre',
               pos='sin', emb_scale=2.0, final_ln=False, tanh_head=True, eps=1e-6)


def load_use_lite():
    import uselite
    W = uselite.load_weights()
    m = Encoder(USE_CFG)
    sd = {'emb.weight': W['emb'], 'head.weight': W['head_w'].T, 'head.bias': W['head_b'],
          'inv_ts': W['inv_ts'][0], 'blocks.0.proj.weight': W['l0.proj_w'].T,
          'blocks.0.proj.bias': W['l0.proj_b']}
    for l in (0, 1):
        for ours, theirs in [('ln1', 'ln1'), ('ln2', 'ln2')]:
            sd[f'blocks.{l}.{ours}.weight'] = W[f'l{l}.{theirs}_g']
            sd[f'blocks.{l}.{ours}.bias'] = W[f'l{l}.{theirs}_b']
        for n in ('qkv', 'o', 'ff1', 'ff2'):
            sd[f'blocks.{l}.{n}.weight'] = W[f'l{l}.{n}_w'].T.contiguous()
            sd[f'blocks.{l}.{n}.bias'] = W[f'l{l}.{n}_b']
    m.load_state_dict(sd)
    return m


def batchify(seqs, pad=0):
    T = max(1, max(len(s) for s in seqs))
    ids = torch.full((len(seqs), T), pad, dtype=torch.long)
    mask = torch.zeros(len(seqs), T, dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, :len(s)] = True
    return ids, mask
