/* bpe.c — GPT-2 byte-level BPE: loading vocab.json + merges.txt, encoding, decoding; see bpe.h.
 *
 * Symbols are token ids from the start: every byte has a one-character token in a byte-level
 * vocabulary and every merge result is itself a token, so a merge is a lookup of the id pair
 * (left, right) → (rank, merged id) and no strings are built while encoding.
 * This file must never accept a vocabulary or merge list it cannot apply exactly: a merge that
 * names a token the vocabulary lacks is refused at load time, not skipped. */
#include "model/bpe.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "common/file_io.h"
#include "common/status.h"

#define MAX_VOCAB (1 << 24)
#define CACHE_SLOTS (1 << 15)           /* power of two */
#define BPE_MAX_FILE ((size_t)64 << 20) /* vocab.json and merges.txt of GPT-2: 1 MB, 0.5 MB */
#define CACHE_MAX_WORD 64               /* longer pre-tokens are rare and not worth caching */
#define N_BYTE_CPS 324                  /* byte_to_unicode maps into [0, 324) */

const char *const BPE_ROBERTA_SPECIALS[5] = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"};

/* Tokens that are special whenever the vocabulary holds them (RoBERTa's and GPT-2's). */
static const char *const KNOWN_SPECIALS[] = {"<s>",   "</s>",   "<pad>",
                                             "<unk>", "<mask>", "<|endoftext|>"};

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

static uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c *= 2;
    return c;
}

static int utf8_put(uint32_t cp, char *out)
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
static size_t utf8_next(const uint8_t *s, size_t len, int32_t *cp)
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
static bool is_white_space(int32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
           cp == 0x205f || cp == 0x3000;
}

static cp_class classify_slow(int32_t cp)
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

static cp_class classify(const bpe_t *self, int32_t cp)
{
    return cp >= 0 && cp < 128 ? (cp_class)self->ascii_class[cp] : classify_slow(cp);
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * are shifted to U+0100.. in byte order, so every byte becomes a visible character. */
static void byte_table(uint32_t byte_cp[256])
{
    int n = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
        byte_cp[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    }
}

/* --- vocabulary --------------------------------------------------------------------------- */

static int vocab_find(const bpe_t *self, const char *s, size_t len)
{
    if (!self->vocab_slots)
        return -1;
    for (size_t i = hash_bytes(s, len) & self->vocab_mask;; i = (i + 1) & self->vocab_mask) {
        int slot = self->vocab_slots[i];
        if (slot == 0)
            return -1;
        int id = slot - 1;
        if (self->tok_len[id] == len && memcmp(self->tok_str[id], s, len) == 0)
            return id;
    }
}

static fp_status vocab_index(bpe_t *self, fp_error *err)
{
    size_t cap = pow2_at_least(2 * (size_t)self->n_vocab + 2);
    int *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return fp_fail(err, FP_ENOMEM, "bpe: out of memory indexing the vocabulary");
    free(self->vocab_slots);
    self->vocab_slots = slots;
    self->vocab_mask = cap - 1;
    for (int id = 0; id < self->n_vocab; id++) {
        if (!self->tok_str[id])
            continue;
        size_t i = hash_bytes(self->tok_str[id], self->tok_len[id]) & self->vocab_mask;
        while (slots[i])
            i = (i + 1) & self->vocab_mask;
        slots[i] = id + 1;
    }
    return FP_OK;
}

/* The bytes a token stands for: each character through the byte table when all of them are
 * byte characters, else the string itself (an added special such as "<mask>" written plainly). */
static fp_status token_bytes(bpe_t *self, int id, const int16_t cp_byte[N_BYTE_CPS], fp_error *err)
{
    const uint8_t *s = (const uint8_t *)self->tok_str[id];
    size_t len = self->tok_len[id];
    char *out = malloc(len + 1);
    if (!out)
        return fp_fail(err, FP_ENOMEM, "bpe: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        i += utf8_next(s + i, len - i, &cp);
        if (cp < 0 || cp >= N_BYTE_CPS || cp_byte[cp] < 0) {
            memcpy(out, s, len);
            n = len;
            break;
        }
        out[n++] = (char)cp_byte[cp];
    }
    out[n] = '\0';
    self->tok_bytes[id] = out;
    self->tok_nbytes[id] = n;
    return FP_OK;
}

static fp_status vocab_grow(bpe_t *self, int n_vocab, fp_error *err)
{
    size_t n = (size_t)n_vocab;
    char **s = realloc(self->tok_str, n * sizeof *s);
    if (s)
        self->tok_str = s;
    size_t *l = realloc(self->tok_len, n * sizeof *l);
    if (l)
        self->tok_len = l;
    char **b = realloc(self->tok_bytes, n * sizeof *b);
    if (b)
        self->tok_bytes = b;
    size_t *nb = realloc(self->tok_nbytes, n * sizeof *nb);
    if (nb)
        self->tok_nbytes = nb;
    if (!s || !l || !b || !nb)
        return fp_fail(err, FP_ENOMEM, "bpe: out of memory for %d tokens", n_vocab);
    for (size_t i = (size_t)self->n_vocab; i < n; i++) {
        s[i] = b[i] = NULL;
        l[i] = nb[i] = 0;
    }
    self->n_vocab = n_vocab;
    return FP_OK;
}

static fp_status load_vocab(bpe_t *self, const char *text, size_t len, const char *name,
                            fp_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return fp_fail(err, FP_EFORMAT, "%s: line %d: %s", name, jerr.line, jerr.text);
    fp_status st = FP_OK;
    if (!json_is_object(root) || json_object_size(root) == 0) {
        st = fp_fail(err, FP_EFORMAT, "%s: not a non-empty JSON object of token → id", name);
        goto done;
    }
    int max_id = -1;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
        if (id < 0 || id >= MAX_VOCAB) {
            st = fp_fail(err, FP_EFORMAT, "%s: token '%.40s' has no id in [0, %d)", name, key,
                         MAX_VOCAB);
            goto done;
        }
        if (id > max_id)
            max_id = (int)id;
    }
    st = vocab_grow(self, max_id + 1, err);
    json_object_foreach(root, key, v)
    {
        if (st)
            break;
        int id = (int)json_integer_value(v);
        if (self->tok_str[id]) {
            st = fp_fail(err, FP_EFORMAT, "%s: id %d given to both '%.40s' and '%.40s'", name, id,
                         self->tok_str[id], key);
            break;
        }
        self->tok_str[id] = strdup(key);
        self->tok_len[id] = strlen(key);
        if (!self->tok_str[id])
            st = fp_fail(err, FP_ENOMEM, "bpe: out of memory");
    }
    if (!st)
        st = vocab_index(self, err);
done:
    json_decref(root);
    return st;
}

/* --- merges ------------------------------------------------------------------------------- */

static size_t merge_slot(const bpe_t *self, uint64_t key)
{
    size_t i = hash_u64(key) & self->merge_mask;
    while (self->merge_keys[i] != UINT64_MAX && self->merge_keys[i] != key)
        i = (i + 1) & self->merge_mask;
    return i;
}

static fp_status parse_merge_line(bpe_t *self, const char *line, size_t len, int rank,
                                  const char *name, int lineno, fp_error *err)
{
    const char *sp = memchr(line, ' ', len);
    if (!sp || sp == line || sp + 1 == line + len ||
        memchr(sp + 1, ' ', len - (size_t)(sp + 1 - line)))
        return fp_fail(err, FP_EFORMAT, "%s:%d: expected two tokens separated by one space", name,
                       lineno);
    size_t la = (size_t)(sp - line), lb = len - la - 1;
    int a = vocab_find(self, line, la);
    int b = vocab_find(self, sp + 1, lb);
    char joined[1024];
    int m = -1;
    if (la + lb < sizeof joined) {
        memcpy(joined, line, la);
        memcpy(joined + la, sp + 1, lb);
        m = vocab_find(self, joined, la + lb);
    }
    if (a < 0 || b < 0 || m < 0)
        return fp_fail(err, FP_EFORMAT, "%s:%d: merge '%.*s' names a token not in the vocabulary",
                       name, lineno, (int)(len < 80 ? len : 80), line);
    uint64_t key = (uint64_t)a << 32 | (uint32_t)b;
    size_t i = merge_slot(self, key);
    if (self->merge_keys[i] == UINT64_MAX) { /* a repeated merge keeps its first (best) rank */
        self->merge_keys[i] = key;
        self->merge_rank[i] = rank;
        self->merge_id[i] = m;
    }
    return FP_OK;
}

static fp_status load_merges(bpe_t *self, const char *text, size_t len, const char *name,
                             fp_error *err)
{
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    size_t cap = pow2_at_least(2 * lines);
    self->merge_keys = malloc(cap * sizeof *self->merge_keys);
    self->merge_rank = malloc(cap * sizeof *self->merge_rank);
    self->merge_id = malloc(cap * sizeof *self->merge_id);
    if (!self->merge_keys || !self->merge_rank || !self->merge_id)
        return fp_fail(err, FP_ENOMEM, "bpe: out of memory for %zu merges", lines);
    memset(self->merge_keys, 0xff, cap * sizeof *self->merge_keys);
    self->merge_mask = cap - 1;
    int rank = 0, lineno = 0;
    for (size_t at = 0; at < len;) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t n = nl ? (size_t)(nl - line) : len - at;
        at += n + 1;
        lineno++;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0 || (lineno == 1 && n >= 8 && memcmp(line, "#version", 8) == 0))
            continue;
        fp_status st = parse_merge_line(self, line, n, rank++, name, lineno, err);
        if (st)
            return st;
    }
    return FP_OK;
}

/* --- construction ------------------------------------------------------------------------- */

static fp_status register_special(bpe_t *self, const char *token, int id, fp_error *err)
{
    for (size_t i = 0; i < self->n_specials; i++)
        if (self->specials[i].id == id)
            return FP_OK;
    special *s = realloc(self->specials, (self->n_specials + 1) * sizeof *s);
    if (!s)
        return fp_fail(err, FP_ENOMEM, "bpe: out of memory");
    self->specials = s;
    special *sp = &s[self->n_specials];
    sp->str = strdup(token);
    if (!sp->str)
        return fp_fail(err, FP_ENOMEM, "bpe: out of memory");
    sp->len = strlen(token);
    sp->id = id;
    sp->lstrip = strcmp(token, "<mask>") == 0;
    self->n_specials++;
    return FP_OK;
}

static fp_status finish_load(bpe_t *self, const char *vocab_name, fp_error *err)
{
    uint32_t byte_cp[256];
    byte_table(byte_cp);
    int16_t cp_byte[N_BYTE_CPS];
    memset(cp_byte, 0xff, sizeof cp_byte);
    for (int b = 0; b < 256; b++) {
        char buf[4];
        int n = utf8_put(byte_cp[b], buf);
        cp_byte[byte_cp[b]] = (int16_t)b;
        self->byte_id[b] = vocab_find(self, buf, (size_t)n);
        if (self->byte_id[b] < 0)
            return fp_fail(err, FP_EFORMAT,
                           "%s: no token for byte 0x%02x ('%.*s'): not a byte-level vocabulary",
                           vocab_name, b, n, buf);
    }
    for (int id = 0; id < self->n_vocab; id++) {
        if (!self->tok_str[id])
            continue;
        fp_status st = token_bytes(self, id, cp_byte, err);
        if (st)
            return st;
    }
    for (int c = 0; c < 128; c++)
        self->ascii_class[c] = (uint8_t)classify_slow(c);
    for (size_t i = 0; i < sizeof KNOWN_SPECIALS / sizeof KNOWN_SPECIALS[0]; i++) {
        int id = vocab_find(self, KNOWN_SPECIALS[i], strlen(KNOWN_SPECIALS[i]));
        fp_status st = id >= 0 ? register_special(self, KNOWN_SPECIALS[i], id, err) : FP_OK;
        if (st)
            return st;
    }
    self->cache = calloc(CACHE_SLOTS, sizeof *self->cache);
    if (!self->cache)
        return fp_fail(err, FP_ENOMEM, "bpe: out of memory for the cache");
    return FP_OK;
}

static void cache_clear(bpe_t *self)
{
    for (size_t i = 0; self->cache && i < CACHE_SLOTS; i++) {
        free(self->cache[i].word);
        free(self->cache[i].ids);
        self->cache[i] = (cache_entry){0};
    }
    self->cache_used = 0;
}

void bpe_destroy(bpe_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bpe_t *self = *self_p;
    for (int i = 0; i < self->n_vocab; i++) {
        free(self->tok_str[i]);
        free(self->tok_bytes[i]);
    }
    free(self->tok_str);
    free(self->tok_len);
    free(self->tok_bytes);
    free(self->tok_nbytes);
    free(self->vocab_slots);
    free(self->merge_keys);
    free(self->merge_rank);
    free(self->merge_id);
    for (size_t i = 0; i < self->n_specials; i++)
        free(self->specials[i].str);
    free(self->specials);
    cache_clear(self);
    free(self->cache);
    free(self);
    *self_p = NULL;
}

/* RoBERTa's layout for a vocabulary without its specials: <s> <pad> </s> <unk> take ids 0..3
 * and every token moves up by 4 (<mask> is appended later). Runs before merges are read, so
 * they resolve against the final ids. */
static fp_status roberta_front(bpe_t *self, fp_error *err)
{
    for (int k = 0; k < 4; k++)
        if (vocab_find(self, BPE_ROBERTA_SPECIALS[k], strlen(BPE_ROBERTA_SPECIALS[k])) >= 0)
            return FP_OK; /* already a RoBERTa vocabulary: keep its ids */
    int n = self->n_vocab;
    fp_status st = vocab_grow(self, n + 4, err);
    if (st)
        return st;
    memmove(self->tok_str + 4, self->tok_str, (size_t)n * sizeof *self->tok_str);
    memmove(self->tok_len + 4, self->tok_len, (size_t)n * sizeof *self->tok_len);
    /* Front order: <s> 0, <pad> 1, </s> 2, <unk> 3 (BPE_ROBERTA_SPECIALS is in this order). */
    for (int k = 0; k < 4; k++) {
        self->tok_str[k] = strdup(BPE_ROBERTA_SPECIALS[k]);
        if (!self->tok_str[k])
            return fp_fail(err, FP_ENOMEM, "bpe: out of memory");
        self->tok_len[k] = strlen(self->tok_str[k]);
    }
    return vocab_index(self, err);
}

static bpe_t *load(const char *vocab, size_t vlen, const char *vname, const char *merges,
                   size_t mlen, const char *mname, bool roberta, fp_error *err)
{
    bpe_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "bpe: out of memory");
        return NULL;
    }
    fp_status st = load_vocab(self, vocab, vlen, vname, err);
    if (!st && roberta)
        st = roberta_front(self, err);
    if (!st)
        st = load_merges(self, merges, mlen, mname, err);
    if (!st)
        st = finish_load(self, vname, err);
    if (!st && roberta)
        st = bpe_add_specials(self, BPE_ROBERTA_SPECIALS, 5, err);
    if (st)
        bpe_destroy(&self);
    return self;
}

bpe_t *bpe_new_from_memory(const char *vocab_json, size_t vocab_len, const char *merges,
                           size_t merges_len, fp_error *err)
{
    if ((!vocab_json && vocab_len) || (!merges && merges_len)) {
        fp_fail(err, FP_EINVAL, "bpe: NULL buffer");
        return NULL;
    }
    return load(vocab_json ? vocab_json : "", vocab_len, "vocab.json", merges ? merges : "",
                merges_len, "merges.txt", false, err);
}

static char *read_file(const char *path, size_t *len, fp_error *err)
{
    char *buf = NULL;
    fp_status st = fp_file_read(path, BPE_MAX_FILE, &buf, len, err);
    if (st)
        fp_wrap(err, "bpe");
    return buf;
}

static bpe_t *load_files(const char *vocab_path, const char *merges_path, bool roberta,
                         fp_error *err)
{
    if (!vocab_path || !merges_path) {
        fp_fail(err, FP_EINVAL, "bpe: NULL path");
        return NULL;
    }
    size_t vlen = 0, mlen = 0;
    char *vocab = read_file(vocab_path, &vlen, err);
    char *merges = vocab ? read_file(merges_path, &mlen, err) : NULL;
    bpe_t *self = NULL;
    if (vocab && merges)
        self = load(vocab, vlen, vocab_path, merges, mlen, merges_path, roberta, err);
    free(vocab);
    free(merges);
    return self;
}

bpe_t *bpe_new(const char *vocab_path, const char *merges_path, fp_error *err)
{
    return load_files(vocab_path, merges_path, false, err);
}

bpe_t *bpe_new_roberta(const char *vocab_path, const char *merges_path, fp_error *err)
{
    return load_files(vocab_path, merges_path, true, err);
}

fp_status bpe_add_specials(bpe_t *self, const char *const *tokens, size_t n, fp_error *err)
{
    if (!self || (n && !tokens))
        return fp_fail(err, FP_EINVAL, "bpe_add_specials: NULL argument");
    for (size_t i = 0; i < n; i++) {
        const char *t = tokens[i];
        if (!t || !*t)
            return fp_fail(err, FP_EINVAL, "bpe_add_specials: empty token %zu", i);
        int id = vocab_find(self, t, strlen(t));
        if (id < 0) {
            id = self->n_vocab;
            fp_status st = vocab_grow(self, id + 1, err);
            if (st)
                return st;
            self->tok_str[id] = strdup(t);
            self->tok_bytes[id] = strdup(t); /* an added token decodes to itself */
            if (!self->tok_str[id] || !self->tok_bytes[id])
                return fp_fail(err, FP_ENOMEM, "bpe: out of memory");
            self->tok_len[id] = self->tok_nbytes[id] = strlen(t);
            st = vocab_index(self, err);
            if (st)
                return st;
        }
        fp_status st = register_special(self, t, id, err);
        if (st)
            return st;
    }
    return FP_OK;
}

int bpe_vocab_size(const bpe_t *self)
{
    return self ? self->n_vocab : 0;
}

int bpe_token_id(const bpe_t *self, const char *token)
{
    return self && token ? vocab_find(self, token, strlen(token)) : -1;
}

const char *bpe_token_str(const bpe_t *self, int id)
{
    return self && id >= 0 && id < self->n_vocab ? self->tok_str[id] : NULL;
}

/* --- saving ------------------------------------------------------------------------------ */

typedef struct ranked {
    int rank;
    uint64_t key;
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* merges.txt text: "#version: 0.2" then "left right" lines in rank order. */
static char *merges_text(const bpe_t *self, size_t *len)
{
    size_t n = 0, bytes = 16;
    for (size_t i = 0; i <= self->merge_mask; i++)
        if (self->merge_keys[i] != UINT64_MAX) {
            n++;
            bytes += self->tok_len[self->merge_keys[i] >> 32] +
                     self->tok_len[self->merge_keys[i] & 0xffffffffu] + 2;
        }
    ranked *r = malloc((n ? n : 1) * sizeof *r);
    char *text = malloc(bytes);
    if (!r || !text) {
        free(r);
        free(text);
        return NULL;
    }
    n = 0;
    for (size_t i = 0; i <= self->merge_mask; i++)
        if (self->merge_keys[i] != UINT64_MAX)
            r[n++] = (ranked){self->merge_rank[i], self->merge_keys[i]};
    qsort(r, n, sizeof *r, ranked_cmp);
    size_t at = (size_t)sprintf(text, "#version: 0.2\n");
    for (size_t i = 0; i < n; i++) {
        int a = (int)(r[i].key >> 32), b = (int)(r[i].key & 0xffffffffu);
        memcpy(text + at, self->tok_str[a], self->tok_len[a]);
        at += self->tok_len[a];
        text[at++] = ' ';
        memcpy(text + at, self->tok_str[b], self->tok_len[b]);
        at += self->tok_len[b];
        text[at++] = '\n';
    }
    free(r);
    *len = at;
    return text;
}

fp_status bpe_save(const bpe_t *self, const char *vocab_path, const char *merges_path,
                   fp_error *err)
{
    if (!self || !vocab_path || !merges_path)
        return fp_fail(err, FP_EINVAL, "bpe_save: NULL argument");
    json_t *o = json_object();
    for (int id = 0; o && id < self->n_vocab; id++)
        if (self->tok_str[id] && json_object_set_new(o, self->tok_str[id], json_integer(id))) {
            json_decref(o);
            o = NULL;
        }
    char *vocab = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    size_t mlen = 0;
    char *merges = vocab ? merges_text(self, &mlen) : NULL;
    fp_status st;
    if (!merges) {
        st = fp_fail(err, FP_ENOMEM, "bpe_save: out of memory");
    } else {
        const void *vp[1] = {vocab}, *mp[1] = {merges};
        size_t vs[1] = {strlen(vocab)}, ms[1] = {mlen};
        st = fp_file_write_atomic(vocab_path, vp, vs, 1, err);
        if (!st)
            st = fp_file_write_atomic(merges_path, mp, ms, 1, err);
    }
    free(vocab);
    free(merges);
    return st;
}

/* --- encoding ----------------------------------------------------------------------------- */

/* End of the run of code points of class cls starting at s[i]. */
static size_t run_end(const bpe_t *self, const uint8_t *s, size_t len, size_t i, cp_class cls)
{
    while (i < len) {
        int32_t cp;
        size_t n = utf8_next(s + i, len - i, &cp);
        if (classify(self, cp) != cls)
            break;
        i += n;
    }
    return i;
}

/* End of the GPT-2 regex match that starts at s[i] (i < len): the alternatives in order
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ . */
static size_t pretoken_end(const bpe_t *self, const uint8_t *s, size_t len, size_t i)
{
    if (s[i] == '\'' && i + 1 < len) {
        uint8_t a = s[i + 1], b = i + 2 < len ? s[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd')
            return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return i + 3;
    }
    int32_t cp;
    size_t n = utf8_next(s + i, len - i, &cp);
    cp_class cls = classify(self, cp);
    if (cp == ' ' && i + 1 < len) { /* " ?" takes the space when the class run follows */
        int32_t next;
        utf8_next(s + i + 1, len - i - 1, &next);
        cp_class nc = classify(self, next);
        if (nc != CP_SPACE)
            return run_end(self, s, len, i + 1, nc);
    }
    if (cls != CP_SPACE)
        return run_end(self, s, len, i + n, cls);
    /* \s+(?!\S): the whitespace run, less its last character when a non-space follows (that
     * character then leads the next piece, e.g. " word"); \s+ when the run is one character. */
    size_t last = i, j = i;
    while (j < len) {
        size_t m = utf8_next(s + j, len - j, &cp);
        if (classify(self, cp) != CP_SPACE)
            break;
        last = j;
        j += m;
    }
    return j < len && last > i ? last : j;
}

static int merge_lookup(const bpe_t *self, int a, int b, int *merged)
{
    uint64_t key = (uint64_t)a << 32 | (uint32_t)b;
    size_t i = merge_slot(self, key);
    if (self->merge_keys[i] == UINT64_MAX)
        return -1;
    *merged = self->merge_id[i];
    return self->merge_rank[i];
}

/* A pair that may merge: its rank, the position of its left symbol, the merged token. */
typedef struct pair_item {
    int rank;
    int pos;
    int id;
} pair_item;

static bool pair_before(pair_item a, pair_item b)
{
    return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
}

static void heap_push(pair_item *h, size_t *n, pair_item x)
{
    size_t i = (*n)++;
    while (i > 0 && pair_before(x, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = x;
}

static pair_item heap_pop(pair_item *h, size_t *n)
{
    pair_item top = h[0], x = h[--*n];
    size_t i = 0;
    for (size_t c = 1; c < *n; c = 2 * i + 1) {
        if (c + 1 < *n && pair_before(h[c + 1], h[c]))
            c++;
        if (!pair_before(h[c], x))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n)
        h[i] = x;
    return top;
}

/* Pushes the pair starting at symbol pos (its right neighbour is next[pos]) if it merges. */
static void push_pair(const bpe_t *self, const int *sym, const int *next, int pos, pair_item *h,
                      size_t *nh)
{
    int merged;
    int rank = next[pos] < 0 ? -1 : merge_lookup(self, sym[pos], sym[next[pos]], &merged);
    if (rank >= 0)
        heap_push(h, nh, (pair_item){rank, pos, merged});
}

/* Applies merges to sym[0..n) in place and returns the new length. Lowest rank first, leftmost
 * first among equals, as a heap over a linked list of symbols (Hugging Face's method): the same
 * tokens as GPT-2's bpe(), which merges every occurrence of the best pair per round, because a
 * merge's parts always rank before it; but O(n log n), so a long run of letters cannot stall.
 * scratch holds 2n ints and 3n pair_items. */
static size_t apply_merges(const bpe_t *self, int *sym, size_t n, int *links, pair_item *h)
{
    int *next = links, *prev = links + n;
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        next[i] = i + 1 < n ? (int)i + 1 : -1;
        prev[i] = (int)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++)
        push_pair(self, sym, next, (int)i, h, &nh);
    while (nh > 0) {
        pair_item it = heap_pop(h, &nh);
        int pos = it.pos, right = next[pos], merged;
        /* Stale entries: the left symbol was absorbed (prev[pos] == -2) or either side changed. */
        if (prev[pos] == -2 || right < 0 ||
            merge_lookup(self, sym[pos], sym[right], &merged) != it.rank)
            continue;
        sym[pos] = it.id;
        next[pos] = next[right];
        if (next[pos] >= 0)
            prev[next[pos]] = pos;
        prev[right] = -2;
        if (prev[pos] >= 0)
            push_pair(self, sym, next, prev[pos], h, &nh);
        push_pair(self, sym, next, pos, h, &nh);
    }
    size_t w = 0;
    for (int i = n ? 0 : -1; i >= 0; i = next[i])
        sym[w++] = sym[i];
    return w;
}

static cache_entry *cache_slot(bpe_t *self, const uint8_t *w, size_t len)
{
    for (size_t i = hash_bytes(w, len) & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        cache_entry *e = &self->cache[i];
        if (!e->word || (e->len == len && memcmp(e->word, w, len) == 0))
            return e;
    }
}

static fp_status encode_word(bpe_t *self, const uint8_t *w, size_t len, tok_ids *out, fp_error *err)
{
    cache_entry *e = len <= CACHE_MAX_WORD ? cache_slot(self, w, len) : NULL;
    if (e && e->word) {
        for (int i = 0; i < e->n; i++)
            if (tok_ids_push(out, e->ids[i]))
                return fp_fail(err, FP_ENOMEM, "bpe: out of memory");
        return FP_OK;
    }
    /* Symbols, links (2n) and heap (3n: n - 1 pairs at first, at most 2 more per merge). */
    int stack[3 * CACHE_MAX_WORD];
    pair_item stack_heap[3 * CACHE_MAX_WORD];
    bool small = len <= CACHE_MAX_WORD;
    int *sym = small ? stack : malloc(3 * len * sizeof *sym);
    pair_item *heap = small ? stack_heap : malloc(3 * len * sizeof *heap);
    if (!sym || !heap) {
        if (!small) {
            free(sym);
            free(heap);
        }
        return fp_fail(err, FP_ENOMEM, "bpe: out of memory");
    }
    for (size_t i = 0; i < len; i++)
        sym[i] = self->byte_id[w[i]];
    size_t n = apply_merges(self, sym, len, sym + len, heap);
    fp_status st = FP_OK;
    for (size_t i = 0; !st && i < n; i++)
        if (tok_ids_push(out, sym[i]))
            st = fp_fail(err, FP_ENOMEM, "bpe: out of memory");
    if (!st && e) {
        if (self->cache_used >= CACHE_SLOTS / 2) { /* keep probes short: start afresh */
            cache_clear(self);
            e = cache_slot(self, w, len);
        }
        e->word = malloc(len);
        e->ids = malloc(n * sizeof *e->ids);
        if (e->word && e->ids) {
            memcpy(e->word, w, len);
            memcpy(e->ids, sym, n * sizeof *sym);
            e->len = len;
            e->n = (int)n;
            self->cache_used++;
        } else { /* a cache that cannot grow is only slower */
            free(e->word);
            free(e->ids);
            *e = (cache_entry){0};
        }
    }
    if (!small) {
        free(sym);
        free(heap);
    }
    return st;
}

static fp_status encode_plain(bpe_t *self, const uint8_t *s, size_t len, tok_ids *out,
                              fp_error *err)
{
    for (size_t i = 0; i < len;) {
        size_t j = pretoken_end(self, s, len, i);
        fp_status st = encode_word(self, s + i, j - i, out, err);
        if (st)
            return st;
        i = j;
    }
    return FP_OK;
}

/* Earliest special token in s[from..len), longest on a tie; NULL if none. */
static const special *find_special(const bpe_t *self, const uint8_t *s, size_t len, size_t from,
                                   size_t *at)
{
    const special *best = NULL;
    for (size_t k = 0; k < self->n_specials; k++) {
        const special *sp = &self->specials[k];
        const uint8_t *p = memmem(s + from, len - from, sp->str, sp->len);
        if (!p)
            continue;
        size_t pos = (size_t)(p - s);
        if (!best || pos < *at || (pos == *at && sp->len > best->len)) {
            best = sp;
            *at = pos;
        }
    }
    return best;
}

/* Length of s[0..len) without its trailing whitespace. */
static size_t trim_trailing_space(const bpe_t *self, const uint8_t *s, size_t len)
{
    size_t keep = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        i += utf8_next(s + i, len - i, &cp);
        if (classify(self, cp) != CP_SPACE)
            keep = i;
    }
    return keep;
}

fp_status bpe_encode(bpe_t *self, const char *text, size_t len, bool specials, tok_ids *out,
                     fp_error *err)
{
    if (!self || (!text && len) || !out)
        return fp_fail(err, FP_EINVAL, "bpe_encode: NULL argument");
    const uint8_t *s = (const uint8_t *)text;
    size_t from = 0;
    while (specials && from < len) {
        size_t at = 0;
        const special *sp = find_special(self, s, len, from, &at);
        if (!sp)
            break;
        size_t seg = at - from;
        if (sp->lstrip)
            seg = trim_trailing_space(self, s + from, seg);
        fp_status st = encode_plain(self, s + from, seg, out, err);
        if (st)
            return st;
        if (tok_ids_push(out, sp->id))
            return fp_fail(err, FP_ENOMEM, "bpe: out of memory");
        from = at + sp->len;
    }
    return encode_plain(self, s + from, len - from, out, err);
}

fp_status bpe_decode(const bpe_t *self, const int *ids, size_t n, char **text, size_t *len,
                     fp_error *err)
{
    if (!self || (!ids && n) || !text)
        return fp_fail(err, FP_EINVAL, "bpe_decode: NULL argument");
    *text = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= self->n_vocab || !self->tok_bytes[ids[i]])
            return fp_fail(err, FP_EINVAL,
                           "bpe_decode: id %d at position %zu is not in the "
                           "vocabulary of %d",
                           ids[i], i, self->n_vocab);
        total += self->tok_nbytes[ids[i]];
    }
    char *out = malloc(total + 1);
    if (!out)
        return fp_fail(err, FP_ENOMEM, "bpe_decode: out of memory for %zu bytes", total);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(out + at, self->tok_bytes[ids[i]], self->tok_nbytes[ids[i]]);
        at += self->tok_nbytes[ids[i]];
    }
    out[at] = '\0';
    *text = out;
    if (len)
        *len = at;
    return FP_OK;
}
