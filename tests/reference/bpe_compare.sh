#!/usr/bin/env bash
# bpe_compare.sh — encodes every line of every dataset split and of the corpus with fedpep's BPE
# and with OpenAI's GPT-2 encoder (npm gpt-3-encoder@1.1.4 under node), prints fedpep's
# throughput and the lines whose ids differ. Run from the repository root; takes a few minutes.
set -euo pipefail
SHARED="${FEDPEP_SHARED:-../shared}"
CACHE="${FEDPEP_CACHE:-.cache}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent gpt-3-encoder@1.1.4 >/dev/null && tar xzf ./*.tgz)
cc -O3 -march=native -std=c11 -D_GNU_SOURCE -I. tests/reference/bpe_dump.c model/bpe.c model/bpe_encode.c model/safetensors.c common/file_io.c \
    common/status.c $(pkg-config --cflags --libs jansson libutf8proc) -o "$tmp/dump"
for f in "$SHARED"/datasets/*/*.tsv "$SHARED"/corpus/*.txt; do cat "$f"; done | tr -d '\r' \
    >"$tmp/lines.txt"
"$tmp/dump" "$CACHE/gpt2/vocab.json" "$CACHE/gpt2/merges.txt" <"$tmp/lines.txt" >"$tmp/c.txt"
nice node --max-old-space-size=3000 tests/reference/bpe_dump.js "$tmp/package" \
    <"$tmp/lines.txt" >"$tmp/js.txt"
echo "lines: $(wc -l <"$tmp/lines.txt"), differing: $(diff "$tmp/c.txt" "$tmp/js.txt" | grep -c '^<' || true)"
diff <(cat -n "$tmp/c.txt") <(cat -n "$tmp/js.txt") | head -20 || true
