/* bpe_internal.h — private to model/bpe.c (loading, lookups, saving) and model/bpe_encode.c
 * (pre-tokenizing, merging, the word cache, decoding): the tokenizer's struct, its limits and
 * the small helpers both use (UTF-8, code-point classes, hashes). Must never be included
 * anywhere else: the public API is bpe.h. */
#ifndef FEDPEP_MODEL_BPE_INTERNAL_H
#define FEDPEP_MODEL_BPE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "model/bpe.h"

#define MAX_VOCAB (1 << 24)
#define CACHE_SLOTS (1 << 15)           /* power of two */
#define BPE_MAX_FILE ((size_t)64 << 20) /* vocab.json and merges.txt of GPT-2: 1 MB, 0.5 MB */
#define CACHE_MAX_WORD 64               /* longer pre-tokens are rare and not worth caching */
#define N_BYTE_CPS 324                  /* byte_to_unicode maps into [0, 324) */

typedef enum cp_class { CP_OTHER, CP_LETTER, CP_NUMBER, CP_SPACE } cp_class;

typedef struct special {
    char *str;
    size_t len;
    int id;
    bool lstrip; /* swallow whitespace before it (RoBERTa's <mask>) */
} special;

typedef struct cache_entry {
    char *word; /* NULL: empty slot */
    size_t len;
    int *ids;
    int n;
} cache_entry;

struct bpe {
    int n_vocab;    /* ids are [0, n_vocab); gaps allowed (tok_str NULL) */
    char **tok_str; /* vocabulary string of each id */
    size_t *tok_len;
    char **tok_bytes; /* the bytes each id decodes to */
    size_t *tok_nbytes;
    int *vocab_slots; /* open addressing over ids: slot holds id + 1, 0 empty */
    size_t vocab_mask;

    uint64_t *merge_keys; /* (left << 32 | right), UINT64_MAX empty */
    int *merge_rank;
    int *merge_id;
    size_t merge_mask;

    int byte_id[256]; /* id of each byte's one-character token */
    uint8_t ascii_class[128];

    special *specials;
    size_t n_specials;

    cache_entry *cache; /* CACHE_SLOTS entries, cleared whole when half full */
    size_t cache_used;
};

/* --- small helpers ------------------------------------------------------------------------ */

static inline uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static inline uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static inline size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c *= 2;
    return c;
}

static inline int utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    out[0] = (char)(0xe0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3; /* the byte table and our callers never need four bytes */
}

/* Decodes one code point at s[0..len) (len >= 1). Returns its byte length; *cp is -1 for an
 * invalid sequence (overlong, surrogate, out of range, truncated), which then spans one byte. */
static inline size_t utf8_next(const uint8_t *s, size_t len, int32_t *cp)
{
    uint8_t c = s[0];
    size_t n;
    int32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        *cp = -1;
        return 1;
    }
    if (n > len) {
        *cp = -1;
        return 1;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = -1;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        *cp = -1;
        return 1;
    }
    *cp = v;
    return n;
}

/* Unicode White_Space, the set the GPT-2 regex's \s means. */
static inline bool is_white_space(int32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
           cp == 0x205f || cp == 0x3000;
}

static inline cp_class classify_slow(int32_t cp)
{
    if (cp < 0)
        return CP_OTHER;
    if (is_white_space(cp))
        return CP_SPACE;
    utf8proc_category_t c = utf8proc_category(cp);
    if (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO)
        return CP_LETTER;
    if (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO)
        return CP_NUMBER;
    return CP_OTHER;
}

static inline cp_class classify(const bpe_t *self, int32_t cp)
{
    return cp >= 0 && cp < 128 ? (cp_class)self->ascii_class[cp] : classify_slow(cp);
}

/* The slot of merge key (left << 32 | right): its own, or the empty one where it would go. */
static inline size_t merge_slot(const bpe_t *self, uint64_t key)
{
    size_t i = hash_u64(key) & self->merge_mask;
    while (self->merge_keys[i] != UINT64_MAX && self->merge_keys[i] != key)
        i = (i + 1) & self->merge_mask;
    return i;
}

/* Empties the word cache (it is cleared whole when half full). */
static inline void cache_clear(bpe_t *self)
{
    for (size_t i = 0; self->cache && i < CACHE_SLOTS; i++) {
        free(self->cache[i].word);
        free(self->cache[i].ids);
        self->cache[i] = (cache_entry){0};
    }
    self->cache_used = 0;
}

#endif
