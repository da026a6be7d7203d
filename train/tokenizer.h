/* tokenizer.h — the little train/ needs from a tokenizer, behind a table of functions so a second
 * tokenizer type (e.g. a SentencePiece unigram model) plugs in without touching train/:
 * encode text to ids, the id of a vocabulary string, the vocabulary size and the special ids.
 * train_tok_from_bpe adapts model/bpe.h, train_tok_from_unigram model/sentencepiece.h. This file
 * must never know a concrete tokenizer's internals beyond its adapter. */
#ifndef FEDPEP_TRAIN_TOKENIZER_H
#define FEDPEP_TRAIN_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"
#include "model/bpe.h"
#include "model/sentencepiece.h"
#include "model/token_ids.h"

typedef struct train_tok_ops {
    /* Appends the ids of text[0..len) (no special-token matching) to out. at_start: text opens
     * the string (SentencePiece's dummy "▁" goes before it); false: it continues a string
     * already begun, so its ids joined to the earlier ones give the whole string's ids. BPE
     * needs no such mark and ignores it. */
    fp_status (*encode)(void *impl, const char *text, size_t len, bool at_start, tok_ids *out,
                        fp_error *err);
    /* Id of a vocabulary string ("<mask>", "Ġgreat"), or -1. */
    int (*token_id)(const void *impl, const char *token);
    int (*vocab_size)(const void *impl);
    void (*destroy)(void *impl);
} train_tok_ops;

typedef struct train_tok {
    void *impl;
    const train_tok_ops *ops;
    int bos, eos, pad, mask; /* special ids; -1 = the tokenizer has none */
    /* Encoder rows get bos ... eos around them. True for BPE (RoBERTa was trained so), false
     * for unigram (USE-lite never saw <s>/</s>); a caller may flip it before encoding. */
    bool wrap_bos_eos;
} train_tok_t;

/* Wraps a BPE tokenizer (ownership moves into the result: train_tok_destroy frees it) and
 * looks up its specials (<s> or <|endoftext|>, </s>, <pad>, <mask>); wrap_bos_eos is true.
 * NULL on out of memory. */
train_tok_t *train_tok_from_bpe(bpe_t *bpe);
/* Wraps a SentencePiece unigram tokenizer (ownership moves in, as above) after appending
 * SP_ADDED_SPECIALS (<pad>, <mask>: USE-lite's spare rows 8000, 8001) when it lacks them; bos and
 * eos are its <s> 1 and </s> 2, wrap_bos_eos is false. NULL with err on failure (sp is then
 * destroyed). */
train_tok_t *train_tok_from_unigram(sp_t *sp, fp_error *err);
void train_tok_destroy(train_tok_t **self_p);

/* Encodes a whole string (train_tok_encode_part with at_start = true). */
fp_status train_tok_encode(train_tok_t *self, const char *text, size_t len, tok_ids *out,
                           fp_error *err);
/* Encodes one piece of a string cut into pieces: the first with at_start = true, the rest with
 * false (a piece starting with a blank keeps it: " It was" continues as "▁It▁was"). */
fp_status train_tok_encode_part(train_tok_t *self, const char *text, size_t len, bool at_start,
                                tok_ids *out, fp_error *err);
int train_tok_id(const train_tok_t *self, const char *token);
int train_tok_vocab_size(const train_tok_t *self);

#endif
