#!/usr/bin/env python3
"""make_tiny_bpe.py — writes tests/data/tiny_bpe/{vocab.json,merges.txt}: a RoBERTa-layout
byte-level BPE small enough to reason about by hand (tests/test_bpe.c checks merge order on it).

Ids: <s> 0, <pad> 1, </s> 2, <unk> 3, the 256 byte characters 4..259 in byte order, merge results
in merge order, <mask> last, as in RoBERTa's own vocab.json. Run from the repository root."""
import json

def bytes_to_unicode():  # GPT-2's table, written out independently of model/bpe.c
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}

table = bytes_to_unicode()
vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
for b in range(256):
    vocab[table[b]] = len(vocab)
# Rank order matters: "h e" before "t h" makes "the" → t + he, never th + e.
merges = [("h", "e"), ("t", "h"), ("Ġ", "t"), ("Ġt", "he"), ("a", "a"), ("aa", "aa"),
          ("Ġ", "a"), ("'", "s"), ("1", "2")]
for a, b in merges:
    if a + b not in vocab:
        vocab[a + b] = len(vocab)
vocab["<mask>"] = len(vocab)
with open("tests/data/tiny_bpe/vocab.json", "w", encoding="utf-8") as f:
    json.dump(vocab, f, ensure_ascii=False)
with open("tests/data/tiny_bpe/merges.txt", "w", encoding="utf-8") as f:
    f.write("#version: 0.2\n")
    for a, b in merges:
        f.write(f"{a} {b}\n")
print({k: vocab[k] for k in ["he", "th", "Ġt", "Ġthe", "aa", "aaaa", "Ġa", "'s", "12", "<mask>"]})
