"""Convert USE-lite into a UNIFORM-width pre-LN encoder that the C core's RoBERTa-style path can run
(d=512 everywhere, learned position table, no residual projection), and measure how close it is.

  wte  = 2·E·Wd + bd                    [8002, 512]   (factor 2 and layer 0's projection folded in)
  wpe  = TS(i)·Wd, i < max_pos          [max_pos, 512] (sinusoid folded in; real tokens start at 0)
  layer 0: attention width 512 = 4 heads × 128, each head's first 64 dims = USE's head, rest 0
           (q scaled by √2 so 1/√128 acts like USE's 1/8); USE's LN over the 256-d input is
           replaced by LN over the 512-d stream, and q/k/v weights refitted by least squares to
           reproduce USE's q/k/v (the only approximation); FFN copied.
  layer 1: copied exactly.  ReLU, LN eps 1e-6, no embedding LN, no final LN.
Writes .cache/research/<name>.pt; prints the cosine to the exact USE-lite sentence embedding.
  python3 convert.py --name uni2 [--act gelu]
"""
import argparse, math, os, torch, torch.nn.functional as F
import corpus, data, model as M, uselite

ap = argparse.ArgumentParser()
ap.add_argument('--name', default='uni2')
ap.add_argument('--act', default='relu')
ap.add_argument('--max-pos', type=int, default=256)
ap.add_argument('--fit-lines', type=int, default=3000)
a = ap.parse_args()
torch.set_num_threads(1)
T = M.load_use_lite().eval()
W = {k: v for k, v in T.state_dict().items()}
E, Wd, bd = W['emb.weight'], W['blocks.0.proj.weight'].T, W['blocks.0.proj.bias']  # Wd [256,512]
t = torch.arange(a.max_pos).float()[:, None] * T.inv_ts[None]
TS = torch.cat([t.sin(), t.cos()], -1)

cfg = dict(vocab=8002, dims=[512, 512, 512], heads=4, ffn=1536, act=a.act, norm='pre', pos='learned',
           max_pos=a.max_pos, emb_scale=1.0, final_ln=False, tanh_head=True, eps=1e-6)
S = M.Encoder(cfg)
sd = S.state_dict()
sd['emb.weight'] = 2 * E @ Wd + bd
sd['pos'] = TS @ Wd
sd['head.weight'], sd['head.bias'] = W['head.weight'], W['head.bias']
for k in W:
    if k.startswith('blocks.1.') or k.startswith('blocks.0.ln2') or k.startswith('blocks.0.ff'):
        sd[k] = W[k].clone()

# Fit  (x-μ)/σ  (USE's LN256 without affine)  ≈  LN512(r)·M + c  on corpus tokens.
C = corpus.build()
seqs = [s for s in C['ids'][:a.fit_lines] if s]
ids, mask = M.batchify([s[:64] for s in seqs])
with torch.no_grad():
    x = T.embed(ids)[mask]                     # [N,256]
    r = x @ Wd + bd
    u = F.layer_norm(x, (256,), eps=1e-6)
    h = F.layer_norm(r, (512,), eps=1e-6)
    A = torch.cat([h, torch.ones(len(h), 1)], 1)
    g0, b0 = W['blocks.0.ln1.weight'], W['blocks.0.ln1.bias']
    Wqkv, bqkv = W['blocks.0.qkv.weight'].T, W['blocks.0.qkv.bias']  # [256,768]
    target = (u * g0 + b0) @ Wqkv + bqkv                           # USE's q|k|v per token
    sol = torch.linalg.lstsq(A.double(), target.double()).solution.float()
    Wf, bf = sol[:512], sol[512]                                     # [512,768], [768]
    res = ((A @ sol - target) ** 2).mean() / (target ** 2).mean()
    print(f'q/k/v fit on {len(h)} tokens: relative residual {res:.5f}')
    Wn, bn = torch.zeros(512, 1536), torch.zeros(1536)
    for part in range(3):  # q, k, v
        scale = math.sqrt(2) if part == 0 else 1.0
        for hh in range(4):
            src = slice(part * 256 + hh * 64, part * 256 + hh * 64 + 64)
            dst = slice(part * 512 + hh * 128, part * 512 + hh * 128 + 64)
            Wn[:, dst] = Wf[:, src] * scale
            bn[dst] = bf[src] * scale
    sd['blocks.0.qkv.weight'], sd['blocks.0.qkv.bias'] = Wn.T.contiguous(), bn
    Wo = W['blocks.0.o.weight'].T  # [256,512]
    On = torch.zeros(512, 512)
    for hh in range(4):
        On[hh * 128: hh * 128 + 64] = Wo[hh * 64: hh * 64 + 64]
    sd['blocks.0.o.weight'], sd['blocks.0.o.bias'] = On.T.contiguous(), W['blocks.0.o.bias']
    sd['blocks.0.ln1.weight'], sd['blocks.0.ln1.bias'] = torch.ones(512), torch.zeros(512)
S.load_state_dict(sd)
S.eval()
tok = uselite.Tokenizer()
dev = [s for s, _ in data.load('sst-2', 'dev', tok, 'use')]
di, dm = M.batchify(dev)
with torch.no_grad():
    cos = (S.sentence(di, dm) * T.sentence(di, dm)).sum(-1)
    h0 = ((S(di, dm)[0] - T(di, dm)[0])[dm].norm(dim=-1) / T(di, dm)[0][dm].norm(dim=-1)).mean()
print(f'{a.name}: sentence cos to USE-lite on SST-2 dev: mean {cos.mean():.4f} min {cos.min():.4f}; '
      f'last-layer relative error {h0:.4f}')
torch.save({'cfg': cfg, 'state': S.state_dict()}, os.path.join(data.CACHE, a.name + '.pt'))
