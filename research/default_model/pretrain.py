"""Pretrain a deeper student on the unlabelled corpus (corpus.py), resumable, time-bounded.

Inits: stack  = USE-lite embedding + its 2 layers + (L-2) copies of its layer 1 on top;
       useemb = USE-lite token embeddings, L fresh pre-LN layers of width --d;
Objectives (weights): MLM on 15% of pieces (80/10/10, [mask] = id 8001) and distillation of
USE-lite's 512-d sentence embedding (cosine) computed on the unmasked line.
  nice python3 pretrain.py --name stack4 --init stack --layers 4 --minutes 20
Checkpoint: .cache/research/<name>.pt (cfg, state, opt, step, tokens, elapsed). Log: logs/<name>.log
"""
import argparse, copy, json, math, os, random, time
import torch, torch.nn as nn, torch.nn.functional as F
import corpus, data, model as M, uselite

ap = argparse.ArgumentParser()
ap.add_argument('--name', required=True)
ap.add_argument('--init', default='stack')
ap.add_argument('--layers', type=int, default=4)
ap.add_argument('--d', type=int, default=256)
ap.add_argument('--train', default='top', help='top (only layers >= 2 and heads) | all')
ap.add_argument('--w-mlm', type=float, default=1.0)
ap.add_argument('--w-distil', type=float, default=1.0)
ap.add_argument('--mask-rate', type=float, default=0.15)
ap.add_argument('--lr', type=float, default=3e-4)
ap.add_argument('--bs', type=int, default=64)
ap.add_argument('--warmup', type=int, default=100)
ap.add_argument('--total-steps', type=int, default=2000, help='for the cosine schedule')
ap.add_argument('--minutes', type=float, default=20, help='CPU minutes for this run')
ap.add_argument('--wall-minutes', type=float, default=25, help='hard wall-clock cap for this run')
ap.add_argument('--seed', type=int, default=0)
ap.add_argument('--smoke', action='store_true', help='skip evaluations (quick check)')
a = ap.parse_args()
torch.set_num_threads(1)
torch.manual_seed(a.seed)
rng = random.Random(a.seed)
MASK = 8001
ck_path = os.path.join(data.CACHE, a.name + '.pt')
log = open(os.path.join(os.path.dirname(__file__), 'logs', a.name + '.log'), 'a')


def say(*x):
    s = ' '.join(str(v) for v in x)
    print(s, flush=True)
    log.write(s + '\n')
    log.flush()


teacher = M.load_use_lite().eval()
for p in teacher.parameters():
    p.requires_grad_(False)

if a.init == 'stack':
    cfg = dict(M.USE_CFG, dims=[256] + [512] * a.layers, mlm=True, mask_id=MASK)
    net = M.Encoder(cfg)
    sd = teacher.state_dict()
    for l in range(2, a.layers):
        for k, v in list(sd.items()):
            if k.startswith('blocks.1.'):
                sd[k.replace('blocks.1.', f'blocks.{l}.', 1)] = v.clone()
    net.load_state_dict(sd, strict=False)
    frozen_prefix = ['emb.', 'blocks.0.', 'blocks.1.', 'head.']
elif a.init == 'useemb':
    cfg = dict(vocab=8002, dims=[a.d] * (a.layers + 1), heads=4, ffn=4 * a.d, act='gelu', norm='pre',
               pos='learned', max_pos=160, emb_scale=1.0, final_ln=True, tanh_head=True, mlm=True,
               mask_id=MASK, eps=1e-6)
    net = M.Encoder(cfg)
    for n, p in net.named_parameters():
        if p.dim() >= 2:
            nn.init.normal_(p, 0, 0.02)
    with torch.no_grad():
        E = 2 * teacher.emb.weight
        net.emb.weight.copy_(E[:, :a.d] if a.d <= 256 else torch.cat([E, torch.zeros(8002, a.d - 256)], 1))
        t = torch.arange(160).float()[:, None] * teacher.inv_ts[None]
        ts = torch.cat([t.sin(), t.cos()], -1)
        net.pos.copy_(ts[:, :a.d] if a.d <= 256 else torch.cat([ts, torch.zeros(160, a.d - 256)], 1))
    frozen_prefix = []
else:
    raise SystemExit('unknown init')
distil_proj = nn.Linear(cfg['dims'][-1], 512) if a.init == 'useemb' else None
if a.train == 'top':
    for n, p in net.named_parameters():
        if any(n.startswith(f) for f in frozen_prefix):
            p.requires_grad_(False)
params = [p for p in net.parameters() if p.requires_grad] + (list(distil_proj.parameters()) if distil_proj else [])
opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.01)
step, tokens, elapsed = 0, 0, 0.0
if os.path.exists(ck_path):
    ck = torch.load(ck_path)
    net.load_state_dict(ck['state'])
    opt.load_state_dict(ck['opt'])
    if distil_proj and 'proj' in ck:
        distil_proj.load_state_dict(ck['proj'])
    step, tokens, elapsed = ck['step'], ck['tokens'], ck['elapsed']
    say('resumed at step', step)
say(json.dumps(dict(vars(a), cfg=cfg, n_trainable=sum(p.numel() for p in params))))

C = corpus.build()
ids_all = [s for s in C['ids'] if len(s) >= 3]
# unigram baseline over corpus pieces
cnt = torch.zeros(8002)
for s in ids_all:
    cnt.index_add_(0, torch.tensor(s), torch.ones(len(s)))
uni = (cnt + 1) / (cnt + 1).sum()
tok = uselite.Tokenizer()
held = [s for s, _ in data.load('sst-2', 'dev', tok, 'use')]  # eval only, never trained on


def mask_batch(seqs, g):
    ids, mask = M.batchify(seqs)
    sel = (torch.rand(ids.shape, generator=g) < a.mask_rate) & mask
    for i in range(len(seqs)):  # at least one target per line
        if not sel[i].any():
            sel[i, 0] = True
    inp = ids.clone()
    r = torch.rand(ids.shape, generator=g)
    inp[sel & (r < 0.8)] = MASK
    rnd = sel & (r >= 0.8) & (r < 0.9)
    inp[rnd] = torch.randint(6, 8000, (int(rnd.sum()),), generator=g)
    return ids, inp, mask, sel


def losses(seqs, g):
    ids, inp, mask, sel = mask_batch(seqs, g)
    x, _ = net(inp, mask)
    lg = net.mlm_logits(x[sel])
    mlm = F.cross_entropy(lg, ids[sel])
    acc = (lg.argmax(-1) == ids[sel]).float().mean()
    unil = -uni.log()[ids[sel]].mean()
    with torch.no_grad():
        te = teacher.sentence(ids, mask)
    pooled = M.Encoder.pool(x, mask)
    se = F.normalize(distil_proj(pooled), dim=-1) if distil_proj else \
        F.normalize(torch.tanh(net.head(pooled)), dim=-1)
    dis = (1 - (se * te).sum(-1)).mean()
    return mlm, dis, acc, unil


def evaluate():
    g = torch.Generator().manual_seed(123)
    net.eval()
    m = d = ac = u = 0.0
    n = 0
    with torch.no_grad():
        for i in range(0, len(held), 128):
            a_, b_, c_, u_ = losses(held[i:i + 128], g)
            k = len(held[i:i + 128])
            m, d, ac, u, n = m + a_.item() * k, d + b_.item() * k, ac + c_.item() * k, u + u_.item() * k, n + k
    net.train()
    return dict(mlm=m / n, unigram=u / n, mlm_acc=ac / n, distil_1mcos=d / n)


def save():
    ck = dict(cfg=cfg, state=net.state_dict(), opt=opt.state_dict(), step=step, tokens=tokens,
              elapsed=elapsed, args=vars(a))
    if distil_proj:
        ck['proj'] = distil_proj.state_dict()
    torch.save(ck, ck_path + '.tmp')
    os.replace(ck_path + '.tmp', ck_path)


say('corpus lines', len(ids_all), 'tokens', sum(map(len, ids_all)),
    'eval at start', json.dumps(evaluate()) if step == 0 and not a.smoke else '-')
net.train()
g = torch.Generator().manual_seed(a.seed + step)
order = list(range(len(ids_all)))
rng.shuffle(order)
t0 = time.time() - elapsed
run_start, cpu_start = time.time(), time.process_time()
while time.process_time() - cpu_start < a.minutes * 60 and time.time() - run_start < a.wall_minutes * 60:
    lr = a.lr * min(1, (step + 1) / a.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1, step / a.total_steps))))
    for gr in opt.param_groups:
        gr['lr'] = lr
    j = (step * a.bs) % len(order)
    seqs = [ids_all[k][:64] for k in order[j:j + a.bs]]
    mlm, dis, acc, _ = losses(seqs, g)
    loss = a.w_mlm * mlm + a.w_distil * dis
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    step += 1
    tokens += sum(map(len, seqs))
    if step % 25 == 0 or a.smoke:
        say(f'step {step} tokens {tokens} lr {lr:.2e} mlm {mlm.item():.3f} acc {acc.item():.3f} distil {dis.item():.4f} t {time.time() - t0:.0f}s')
    if step % 200 == 0:
        elapsed = time.time() - t0
        save()
elapsed = time.time() - t0
save()
say('END step', step, 'tokens', tokens, 'elapsed_min', round(elapsed / 60, 1), 'eval', '-' if a.smoke else json.dumps(evaluate()))
