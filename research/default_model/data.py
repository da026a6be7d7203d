"""Task data (../shared/datasets) tokenized with a given tokenizer, cached under .cache/research/."""
import csv, os, random, torch
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DATA = os.environ.get('FEDPEP_DATA', '/work/shared/datasets')
CACHE = os.path.join(ROOT, '.cache', 'research')
os.makedirs(CACHE, exist_ok=True)

# task -> (eval split, text column, label column, label list)
TASKS = {'sst-2': ('dev', 'sentence', 'label', ['0', '1']),
         'mr': ('test', 'sentence', 'label', ['0', '1']),
         'subj': ('test', 'sentence', 'label', ['objective', 'subjective']),
         'trec': ('test', 'sentence', 'label', ['ABBR', 'ENTY', 'DESC', 'HUM', 'LOC', 'NUM'])}


def read(task, split):
    _, tc, lc, labels = TASKS[task]
    with open(os.path.join(DATA, task, split + '.tsv'), encoding='utf-8') as f:
        r = csv.DictReader(f, delimiter='\t', quoting=csv.QUOTE_NONE)
        rows = [(row[tc].strip(), labels.index(row[lc].strip())) for row in r]
    return rows


def load(task, split, tok, tag, max_len=64):
    p = os.path.join(CACHE, f'tok_{tag}_{task}_{split}.pt')
    if os.path.exists(p):
        return torch.load(p)
    rows = read(task, split)
    out = [(tok.encode(t)[:max_len], y) for t, y in rows]
    torch.save(out, p)
    return out


def subset(rows, n, seed=0):
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return rows[:n] if n else rows
