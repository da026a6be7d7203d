"""How far do C-core-friendly changes move frozen USE-lite? Cosine of the 512-d sentence embedding
on SST-2 dev sentences vs the exact model: ReLU->GELU; real-token positions shifted by P=20."""
import torch, torch.nn.functional as F, data, model as M, uselite
torch.set_num_threads(1)
tok = uselite.Tokenizer()
dev = [s for s, _ in data.load('sst-2', 'dev', tok, 'use')]
ids, mask = M.batchify(dev)
ref = M.load_use_lite().eval()


def emb(m, shift=0):
    with torch.no_grad():
        if shift:
            orig = m.embed
            def embed(i):
                B, T = i.shape
                t = (torch.arange(T).float() + shift)[:, None] * m.inv_ts[None]
                return m.emb(i) * 2.0 + torch.cat([t.sin(), t.cos()], -1)
            m.embed = embed
        return m.sentence(ids, mask)


e0 = emb(ref)
g = M.load_use_lite().eval()
for b in g.blocks:
    b.act = F.gelu
s = M.load_use_lite().eval()
for name, e in [('gelu', emb(g)), ('pos shift 20', emb(s, 20))]:
    c = (e * e0).sum(-1)
    print(f'{name}: cos to exact mean {c.mean():.4f} min {c.min():.4f}')
