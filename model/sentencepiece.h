/* sentencepiece.h — SentencePiece unigram tokenizer (Viterbi) with bit-parity to the TF.js
 * tokenizer of @tensorflow-models/universal-sentence-encoder, the one USE-lite ships with
 * (../shared/USE-LITE.md §1.4; docs/sentencepiece.md).
 *
 * The vocabulary is a JSON array of [piece, score] pairs (USE-lite's vocab.json): the id is the
 * array index, score a log-probability (null counts as 0, as JS's `null + x == x` does). Ids 0..5
 * are reserved (0 = unknown, 1 <s>, 2 </s>, 3..5 extra) and never matched inside text.
 *
 * Encoding: NFKC, then "▁" prepended and every U+0020 turned into "▁"; a lattice over code
 * points of every piece (ids >= 6) starting at each position, a 1-character unknown (id 0,
 * score 0) where none starts; forward DP keeping the JS quirks (best == 0 means unset, ties go
 * to the later start); backtrack; consecutive unknowns merged into one id 0.
 *
 * Added specials (sp_add_specials) get ids after the file's pieces, e.g. USE-lite's <pad> and
 * <mask> at 8000 and 8001 (its embedding table has 8,002 rows). They are never produced by
 * sp_encode. An sp_t is immutable after loading and specials: sp_encode is thread-safe. */
#ifndef FEDPEP_MODEL_SENTENCEPIECE_H
#define FEDPEP_MODEL_SENTENCEPIECE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"
#include "model/token_ids.h"

typedef struct sp sp_t;

/* Ids below this are reserved and never matched by the encoder. */
#define SP_RESERVED 6
#define SP_UNK_ID 0
#define SP_BOS_ID 1
#define SP_EOS_ID 2

/* The specials fedpep appends to a unigram vocabulary for training, in this order: USE-lite's
 * two spare embedding rows 8000 and 8001 become <pad> and <mask>. */
extern const char *const SP_ADDED_SPECIALS[2];

/* Loads a vocab.json of [piece, score] pairs. NULL on failure with err naming the file and the
 * offending entry (not an array, a pair that is not [string, number|null], an empty piece, fewer
 * than SP_RESERVED + 1 entries). */
sp_t *sp_new(const char *vocab_path, fp_error *err);
/* The same from bytes in memory (copied); name is used in messages. */
sp_t *sp_new_from_memory(const char *json, size_t len, const char *name, fp_error *err);
void sp_destroy(sp_t **self_p);

/* Appends each of tokens[0..n) that the vocabulary lacks at the next free id, in order (a token
 * already present keeps its id). Added tokens are never matched inside text. */
fp_status sp_add_specials(sp_t *self, const char *const *tokens, size_t n, fp_error *err);

/* Ids are in [0, sp_vocab_size): the file's pieces then the added specials. */
int sp_vocab_size(const sp_t *self);
/* Pieces read from the file (8000 for USE-lite). */
int sp_piece_count(const sp_t *self);
/* Id of a vocabulary string ("▁the", "<s>", "<mask>"), or -1. Duplicates: the first id. */
int sp_token_id(const sp_t *self, const char *token);
/* The vocabulary string of id, or NULL outside the vocabulary. */
const char *sp_token_str(const sp_t *self, int id);
/* Score of piece id as the encoder uses it (null → 0); 0 for added specials and bad ids. */
double sp_token_score(const sp_t *self, int id);

/* Encodes text[0..len) (UTF-8; each invalid byte reads as U+FFFD, which is unknown, as a JS
 * TextDecoder would give) and appends the ids to out. Empty (or NFKC-empty) text appends
 * nothing. FP_ENOMEM is the only failure. */
fp_status sp_encode(const sp_t *self, const char *text, size_t len, tok_ids *out, fp_error *err);

/* sp_encode with the leading "▁" optional (SentencePiece's add_dummy_prefix): false encodes text
 * as the continuation of a longer text, e.g. the "." after a template's <mask>. Spaces inside the
 * text still become "▁". sp_encode is sp_encode_ex(..., true, ...), the TF.js behaviour. */
fp_status sp_encode_ex(const sp_t *self, const char *text, size_t len, bool dummy_prefix,
                       tok_ids *out, fp_error *err);

/* Decodes ids[0..n) into a malloc'd NUL-terminated string (*len bytes before the NUL): pieces
 * concatenated, "▁" → " ", one leading space dropped (the one sp_encode prepends); id 0 gives
 * U+FFFD, the control ids 1..5 give nothing, added specials give their own text. FP_EINVAL
 * names the first id outside the vocabulary. */
fp_status sp_decode(const sp_t *self, const int *ids, size_t n, char **text, size_t *len,
                    fp_error *err);

/* True when the file at path looks like a unigram vocabulary (its first non-blank byte is '['),
 * false for a BPE vocab.json (an object) or an unreadable file. */
bool sp_vocab_file_is_unigram(const char *path);

#endif
