/* bpe.h — GPT-2 byte-level BPE, the tokenizer of the GPT-2 and RoBERTa families.
 *
 * Reads the standard pair of files: vocab.json (token string → id; GPT-2's encoder.json is the
 * same file) and merges.txt (one "left right" merge per line in rank order, an optional first
 * line "#version: ..."; GPT-2's vocab.bpe is the same file). Encoding follows GPT-2 exactly:
 * the pre-tokenisation regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (done by hand over UTF-8 code points, Unicode classes from utf8proc), each piece's bytes mapped
 * through GPT-2's byte↔unicode table, then merges applied lowest rank first.
 *
 * Special tokens are whole strings that are never split: "<s>", "</s>", "<pad>", "<unk>",
 * "<mask>", "<|endoftext|>" are special whenever vocab.json holds them, and bpe_add_specials adds
 * more (appending the absent ones to the vocabulary). With specials enabled in bpe_encode they
 * are matched inside the text; "<mask>" swallows the whitespace before it (Hugging Face's
 * lstrip=True for RoBERTa's mask), so "It was <mask>." gives " was", <mask>, ".".
 *
 * A bpe_t keeps a cache of recent words, so bpe_encode mutates it: one bpe_t per thread. */
#ifndef FEDPEP_MODEL_BPE_H
#define FEDPEP_MODEL_BPE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"
#include "model/token_ids.h"

typedef struct bpe bpe_t;

/* The order in which RoBERTa's specials are appended to a vocabulary that lacks them (GPT-2's
 * files used by a RoBERTa-style model): <s>, <pad>, </s>, <unk>, <mask> → ids 50257..50261. */
extern const char *const BPE_ROBERTA_SPECIALS[5];

/* Loads vocab.json and merges.txt. NULL on failure with err naming the file (and line). */
bpe_t *bpe_new(const char *vocab_path, const char *merges_path, fp_error *err);
/* Loads a tokenizer for a RoBERTa-style model. A vocabulary that already has RoBERTa's specials
 * (RoBERTa's own vocab.json) loads as bpe_new does. One without them (GPT-2's files) gets
 * RoBERTa's layout: <s> 0, <pad> 1, </s> 2, <unk> 3, every file id + 4, <mask> last (50261 for
 * GPT-2), so pad_token_id is 1 and position ids start at 2 exactly as in roberta-base. */
bpe_t *bpe_new_roberta(const char *vocab_path, const char *merges_path, fp_error *err);
/* The same from bytes in memory (copied; tests and fuzzing). */
bpe_t *bpe_new_from_memory(const char *vocab_json, size_t vocab_len, const char *merges,
                           size_t merges_len, fp_error *err);
void bpe_destroy(bpe_t **self_p);

/* Appends each token of tokens[0..n) that the vocabulary lacks at the next free id, in the order
 * given, and marks all of them special. Tokens already present keep their id. */
fp_status bpe_add_specials(bpe_t *self, const char *const *tokens, size_t n, fp_error *err);

/* Writes the tokenizer as it now is (appended specials and RoBERTa layout included) as a
 * vocab.json + merges.txt pair, each atomically, so a saved model folder carries its own ids. */
fp_status bpe_save(const bpe_t *self, const char *vocab_path, const char *merges_path,
                   fp_error *err);

/* Ids are in [0, bpe_vocab_size). */
int bpe_vocab_size(const bpe_t *self);
/* Id of a vocabulary string (as written in vocab.json, e.g. "Ġthe" or "<mask>"), or -1. */
int bpe_token_id(const bpe_t *self, const char *token);
/* The vocabulary string of id (as in vocab.json), or NULL when id is outside the vocabulary. */
const char *bpe_token_str(const bpe_t *self, int id);

/* Encodes text[0..len) (UTF-8; invalid bytes are kept as single bytes, so decoding gives them
 * back) and appends the ids to out. specials: match special tokens inside the text; otherwise
 * "<mask>" in the text is ordinary text. FP_ENOMEM is the only failure. */
fp_status bpe_encode(bpe_t *self, const char *text, size_t len, bool specials, tok_ids *out,
                     fp_error *err);

/* Decodes ids[0..n) into a malloc'd NUL-terminated string (*len bytes before the NUL). The bytes
 * are exactly those encoded, even when a cut through a multi-byte character leaves invalid UTF-8.
 * FP_EINVAL names the first id outside the vocabulary. */
fp_status bpe_decode(const bpe_t *self, const int *ids, size_t n, char **text, size_t *len,
                     fp_error *err);

#endif
