"""Deep prompt tuning (P-tuning v2: raw prefix K/V per layer) of a FROZEN encoder, then eval.

  nice python3 prompt_tune.py --model use --layers all --head linear
Appends one JSON line (config + result) to results.jsonl.
"""
import argparse, json, math, os, random, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
import data, model as M, uselite

ap = argparse.ArgumentParser()
ap.add_argument('--model', default='use', help='use | random-use | path/to/ckpt.pt | random:path/to/ckpt.pt')
ap.add_argument('--task', default='sst-2')
ap.add_argument('--layers', default='all', help='all | bottom | top | comma list')
ap.add_argument('--head', default='linear', help='linear | cos (frozen label descriptions through the tanh head) | cospool (same on the mean pool) | mlm')
ap.add_argument('--P', type=int, default=20)
ap.add_argument('--n-train', type=int, default=4000)
ap.add_argument('--epochs', type=int, default=2)
ap.add_argument('--bs', type=int, default=32)
ap.add_argument('--lr', type=float, default=1e-2)
ap.add_argument('--head-lr', type=float, default=1e-3)
ap.add_argument('--wd', type=float, default=0.01)
ap.add_argument('--init', default='normal', help='normal (N(0,0.02^2)) | tokens (K/V of random real tokens)')
ap.add_argument('--dropout', type=float, default=0.1)
ap.add_argument('--budget-min', type=float, default=15)
ap.add_argument('--seed', type=int, default=0)
ap.add_argument('--tag', default='')
ap.add_argument('--log', default=os.path.join(os.path.dirname(__file__), 'results.jsonl'))
a = ap.parse_args()
torch.set_num_threads(1)
torch.manual_seed(a.seed)
random.seed(a.seed)


def random_init(m):
    for n, p in m.named_parameters():
        if p.dim() >= 2:
            nn.init.normal_(p, 0, 0.02)
        elif 'ln' in n and n.endswith('weight'):
            nn.init.ones_(p)
        else:
            nn.init.zeros_(p)
    return m


tok = uselite.Tokenizer()
if a.model in ('use', 'random-use'):
    net = M.load_use_lite()
    if a.model == 'random-use':
        random_init(net)
else:
    path = a.model.split(':', 1)[-1]
    ck = torch.load(path)
    net = M.Encoder(ck['cfg'])
    net.load_state_dict(ck['state'], strict=False)
    if a.model.startswith('random:'):
        random_init(net)
net.eval()
for p in net.parameters():
    p.requires_grad_(False)
L = net.n_layers
if a.layers == 'all':
    layers = list(range(L))
elif a.layers == 'none':
    layers = []
elif a.layers == 'bottom':
    layers = list(range(L // 2))
elif a.layers == 'top':
    layers = list(range(L - L // 2, L))
else:
    layers = [int(x) for x in a.layers.split(',')]

train = data.subset(data.load(a.task, 'train', tok, 'use'), a.n_train, a.seed)
ev = data.load(a.task, data.TASKS[a.task][0], tok, 'use')
C = len(data.TASKS[a.task][3])
dims_in = [b.d_in for b in net.blocks]

# prompt parameters
prompt = nn.ParameterList()
if a.init == 'tokens':
    with torch.no_grad():
        seqs = [s for s, _ in train[:64]]
        ids, mask = M.batchify(seqs)
        x = net.embed(ids)
        reals = []
        for l, blk in enumerate(net.blocks):
            h = blk.ln1(x) if blk.norm == 'pre' else x
            q, k, v = blk.qkv(h).split(blk.d_in, -1)
            sel = mask.nonzero()[torch.randperm(int(mask.sum()))[:a.P]]
            reals.append((k[sel[:, 0], sel[:, 1]].clone(), v[sel[:, 0], sel[:, 1]].clone()))
            x = blk(x, mask)
for l in range(L):
    if a.init == 'tokens':
        pk, pv = reals[l]
    else:
        pk, pv = torch.randn(a.P, dims_in[l]) * 0.02, torch.randn(a.P, dims_in[l]) * 0.02
    prompt.append(nn.Parameter(pk))
    prompt.append(nn.Parameter(pv))
d = net.cfg['dims'][-1]
head = nn.Linear(d, C)
groups = [] if not layers else [{'params': [prompt[2 * l] for l in layers] + [prompt[2 * l + 1] for l in layers], 'lr': a.lr}]
if a.head == 'linear':
    groups.append({'params': head.parameters(), 'lr': a.head_lr})
opt = torch.optim.AdamW(groups, weight_decay=a.wd)

TEMPL = {'sst-2': ['It was terrible .', 'It was great .'], 'mr': ['It was terrible .', 'It was great .'],
         'subj': ['It is objective .', 'It is subjective .'],
         'trec': ['An abbreviation .', 'An entity .', 'A description .', 'A human .', 'A location .', 'A number .']}
LW = {'sst-2': ['▁terrible', '▁great'], 'mr': ['▁terrible', '▁great'], 'subj': ['▁objective', '▁subjective']}


def make_prefix(train_mode):
    out = []
    for l in range(L):
        if l in layers:
            pk, pv = prompt[2 * l], prompt[2 * l + 1]
            if train_mode and a.dropout > 0:
                pk, pv = F.dropout(pk, a.dropout, True), F.dropout(pv, a.dropout, True)
            out.append((pk, pv))
        else:
            out.append(None)
    return out


def logits(seqs, train_mode):
    prefix = make_prefix(train_mode)
    if a.head == 'mlm':
        mask_id = net.cfg['mask_id']
        seqs = [s + tok.encode('It was')[:] + [mask_id] + tok.encode('.') for s in seqs]
        ids, mask = M.batchify(seqs)
        x, _ = net(ids, mask, prefix)
        pos = torch.tensor([len(s) - 2 for s in seqs])
        lg = net.mlm_logits(x[torch.arange(len(seqs)), pos])
        return lg, [tok.score[w][1] for w in LW[a.task]]
    ids, mask = M.batchify(seqs)
    x, _ = net(ids, mask, prefix)
    pooled = M.Encoder.pool(x, mask)
    if a.head == 'cos':
        return 20.0 * F.normalize(torch.tanh(net.head(pooled)), dim=-1) @ temb.T, None
    if a.head == 'cospool':
        return 20.0 * F.normalize(pooled, dim=-1) @ temb.T, None
    return head(pooled), None


def evaluate():
    correct = 0
    with torch.no_grad():
        for i in range(0, len(ev), 128):
            b = ev[i:i + 128]
            lg, cols = logits([s for s, _ in b], False)
            if cols is not None:
                lg = lg[:, cols]
            correct += (lg.argmax(-1) == torch.tensor([y for _, y in b])).sum().item()
    return correct / len(ev)


if a.head in ('cos', 'cospool'):
    with torch.no_grad():
        tids, tmask = M.batchify([tok.encode(t) for t in TEMPL[a.task]])
        temb = net.sentence(tids, tmask) if a.head == 'cos' else \
            F.normalize(M.Encoder.pool(net(tids, tmask)[0], tmask), dim=-1)
zero = evaluate() if a.head in ('cos', 'cospool', 'mlm') else None
print('zero-shot', zero, flush=True)
t0, c0 = time.time(), time.process_time()
step, hist = 0, []
stopped = False
for ep in range(a.epochs):
    order = list(range(len(train)))
    random.shuffle(order)
    tot = 0.0
    for i in range(0, len(order), a.bs):
        b = [train[j] for j in order[i:i + a.bs]]
        lg, cols = logits([s for s, _ in b], True)
        y = torch.tensor([yy for _, yy in b])
        if cols is not None:
            y = torch.tensor(cols)[y]
        loss = F.cross_entropy(lg, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tot += loss.item()
        step += 1
        if step % 50 == 0:
            print(f'ep {ep} step {step} loss {tot / ((i // a.bs) + 1):.4f} t {time.time() - t0:.0f}s', flush=True)
        if time.process_time() - c0 > a.budget_min * 60:
            stopped = True
            break
    acc = evaluate()
    hist.append(acc)
    print(f'epoch {ep} dev acc {acc:.4f} time {time.time() - t0:.0f}s', flush=True)
    if stopped:
        break
pn = [round(prompt[2 * l].norm().item() + prompt[2 * l + 1].norm().item(), 2) for l in layers]
res = dict(vars(a), layers_used=layers, zero_shot=zero, dev_acc=hist[-1] if hist else zero, dev_hist=hist,
           train_min=round((time.time() - t0) / 60, 2), cpu_min=round((time.process_time() - c0) / 60, 2), steps=step, prompt_norms=pn,
           when=time.strftime('%Y-%m-%d %H:%M'))
print(json.dumps(res))
with open(a.log, 'a') as f:
    f.write(json.dumps(res) + '\n')
