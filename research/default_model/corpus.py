"""Unlabelled pretraining text: task TRAIN splits + ../shared/corpus/*.txt, deduplicated, with every
line equal (lower-cased, alphanumerics only) to a dev/test sentence of any task removed.
Tokenized with USE-lite's SentencePiece vocabulary; cached in .cache/research/corpus_use.pt."""
import glob, os, re, random, torch
import data, uselite

CORPUS = os.environ.get('FEDPEP_CORPUS', '/work/shared/corpus')


def key(s):
    return re.sub(r'[^a-z0-9]', '', s.lower())


def task_lines(task, split):
    p = os.path.join(data.DATA, task, split + '.tsv')
    if not os.path.exists(p):
        return []
    lines = open(p, encoding='utf-8-sig').read().split('\n')
    out = []
    for i, ln in enumerate(lines):
        f = ln.split('\t')
        if not ln.strip() or (i == 0 and task != 'cola'):
            continue
        if task == 'cola':
            out.append(f[3] if len(f) > 3 else f[-1])
        elif task == 'mrpc':
            out += f[3:5]
        elif task in ('rte', 'qnli'):
            out += f[1:3]
        elif task == 'mr':
            out.append(f[1])
        else:
            out.append(f[1] if task == 'sst-2' and split == 'test' else f[0])
    return out


TASKS = ['sst-2', 'mr', 'subj', 'mpqa', 'trec', 'cola', 'mrpc', 'rte', 'qnli']


def build():
    p = os.path.join(data.CACHE, 'corpus_use.pt')
    if os.path.exists(p):
        return torch.load(p)
    banned = set()
    for t in TASKS:
        for sp in ('dev', 'test'):
            banned |= {key(s) for s in task_lines(t, sp)}
    text, seen = [], set()
    srcs = [(t, task_lines(t, 'train')) for t in TASKS]
    srcs += [(os.path.basename(f), open(f, encoding='utf-8').read().split('\n'))
             for f in sorted(glob.glob(os.path.join(CORPUS, '*.txt')))]
    stats = {}
    for name, lines in srcs:
        n = 0
        for s in lines:
            s = s.strip()
            k = key(s)
            if not k or k in seen or k in banned:
                continue
            seen.add(k)
            text.append(s)
            n += 1
        stats[name] = n
    random.Random(0).shuffle(text)
    tok = uselite.Tokenizer()
    ids = [tok.encode(s)[:128] for s in text]
    out = {'ids': ids, 'stats': stats, 'n_tokens': sum(map(len, ids))}
    torch.save(out, p)
    return out


if __name__ == '__main__':
    c = build()
    print(c['stats'], 'lines', len(c['ids']), 'tokens', c['n_tokens'])
