#!/usr/bin/env bash
# sp_reference.sh — the TF.js reference for fedpep's SentencePiece unigram tokenizer, on USE-lite's
# vocabulary, through sp_reference.js (a port of the TF.js tokenizer) under node. Run from the
# repository root after `make setup`.
#   sp_reference.sh            regenerates tests/data/sp_expected.tsv: the tricky strings of
#                              sp_tricky.py, the first 1,000 SST-2 train sentences and the first
#                              300 MR train sentences; then cross-checks every line with the
#                              Python port research/default_model/uselite.py.
#   sp_reference.sh --compare  encodes every line of every dataset split with fedpep
#                              (sp_dump.c, -O2) and with the JS port; prints fedpep's throughput
#                              and the lines whose ids differ (about a minute).
set -euo pipefail
SHARED="${FEDPEP_SHARED:-../shared}"
CACHE="${FEDPEP_CACHE:-.cache}"
VOCAB="$CACHE/use-lite/package/dist/vocab.json"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "${1:-}" = --compare ]; then
    cc -O2 -std=c11 -D_GNU_SOURCE -I. tests/reference/sp_dump.c model/sentencepiece.c \
        common/status.c $(pkg-config --cflags --libs jansson libutf8proc) -o "$tmp/dump"
    for f in "$SHARED"/datasets/*/*.tsv; do cat "$f"; done | tr -d '\r' >"$tmp/lines.txt"
    "$tmp/dump" "$VOCAB" <"$tmp/lines.txt" >"$tmp/c.txt"
    nice node --max-old-space-size=3000 tests/reference/sp_reference.js "$VOCAB" \
        <"$tmp/lines.txt" | cut -f1 >"$tmp/js.txt"
    echo "lines: $(wc -l <"$tmp/lines.txt"), differing: $(diff "$tmp/c.txt" "$tmp/js.txt" | grep -c '^<' || true)"
    diff <(cat -n "$tmp/c.txt") <(cat -n "$tmp/js.txt") | head -20 || true
    exit 0
fi
{
    python3 tests/reference/sp_tricky.py
    sed -n 2,1001p "$SHARED/datasets/sst-2/train.tsv" | cut -f1
    sed -n 2,301p "$SHARED/datasets/mr/train.tsv" | cut -f2
} | tr -d '\r' >"$tmp/lines.txt"
node tests/reference/sp_reference.js "$VOCAB" <"$tmp/lines.txt" >tests/data/sp_expected.tsv
echo "wrote tests/data/sp_expected.tsv: $(wc -l <tests/data/sp_expected.tsv) lines"
USE_LITE_DIR="$(dirname "$VOCAB")" python3 - "$tmp/lines.txt" <<'PY'
import sys, types
for m in ('numpy', 'torch'):  # the tokenizer needs neither
    sys.modules.setdefault(m, types.ModuleType(m))
sys.path.insert(0, 'research/default_model')
from uselite import Tokenizer
tok = Tokenizer()
exp = [l.split('\t', 1)[0] for l in open('tests/data/sp_expected.tsv', encoding='utf-8').read().split('\n')[:-1]]
lines = open(sys.argv[1], encoding='utf-8').read().split('\n')[:-1]
bad = [i for i, (l, e) in enumerate(zip(lines, exp)) if ' '.join(map(str, tok.encode(l))) != e]
print(f'uselite.py agrees with the JS port on {len(lines) - len(bad)}/{len(lines)} lines', bad[:10])
PY
