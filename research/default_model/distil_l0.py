"""Repair the one approximation of convert.py: train ONLY layer 0's LN/q/k/v/o of the uniform
model so that its layer-0 output matches USE-lite's (relative MSE), on corpus text, CPU-time-bounded.
  python3 distil_l0.py --src uni2 --dst uni2d --minutes 6
"""
import argparse, os, time, torch, torch.nn.functional as F
import corpus, data, model as M, uselite

ap = argparse.ArgumentParser()
ap.add_argument('--src', default='uni2')
ap.add_argument('--dst', default='uni2d')
ap.add_argument('--minutes', type=float, default=6)
ap.add_argument('--lr', type=float, default=3e-4)
ap.add_argument('--bs', type=int, default=32)
a = ap.parse_args()
torch.set_num_threads(1)
torch.manual_seed(0)
T = M.load_use_lite().eval()
ck = torch.load(os.path.join(data.CACHE, a.src + '.pt'))
S = M.Encoder(ck['cfg'])
S.load_state_dict(ck['state'])
for p in S.parameters():
    p.requires_grad_(False)
b0 = S.blocks[0]
params = [b0.ln1.weight, b0.ln1.bias, b0.qkv.weight, b0.qkv.bias, b0.o.weight, b0.o.bias]
for p in params:
    p.requires_grad_(True)
opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)
C = corpus.build()
lines = [s[:64] for s in C['ids'] if len(s) >= 2]
tok = uselite.Tokenizer()
dev = [s for s, _ in data.load('sst-2', 'dev', tok, 'use')][:300]  # a quick check only
log = open(os.path.join(os.path.dirname(__file__), 'logs', a.dst + '.log'), 'a')


def say(s):
    print(s, flush=True)
    log.write(s + '\n')
    log.flush()


def l0_loss(seqs):
    ids, mask = M.batchify(seqs)
    with torch.no_grad():
        yt = T.blocks[0](T.embed(ids), mask)[mask]
    ys = b0(S.embed(ids), mask)[mask]
    return ((ys - yt) ** 2).sum() / (yt ** 2).sum()


def dev_eval():
    di, dm = M.batchify(dev)
    with torch.no_grad():
        cos = (S.sentence(di, dm) * T.sentence(di, dm)).sum(-1)
        return l0_loss(dev).item(), cos.mean().item(), cos.min().item()


say(f'start: dev l0 rel-MSE / sentence cos mean / min {dev_eval()}')
c0, step, toks = time.process_time(), 0, 0
while time.process_time() - c0 < a.minutes * 60:
    b = lines[(step * a.bs) % len(lines):(step * a.bs) % len(lines) + a.bs]
    loss = l0_loss(b)
    opt.zero_grad()
    loss.backward()
    opt.step()
    step += 1
    toks += sum(map(len, b))
    if step % 50 == 0:
        say(f'step {step} tokens {toks} loss {loss.item():.5f} cpu {time.process_time() - c0:.0f}s')
say(f'end: steps {step} tokens {toks} dev l0 rel-MSE / sentence cos mean / min {dev_eval()}')
torch.save({'cfg': ck['cfg'], 'state': S.state_dict()}, os.path.join(data.CACHE, a.dst + '.pt'))
