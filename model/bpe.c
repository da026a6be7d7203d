/* bpe.c — GPT-2 byte-level BPE: loading vocab.json + merges.txt, specials, lookups and saving;
 * encoding and decoding are in bpe_encode.c. See bpe.h.
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
#include "model/bpe_internal.h"

const char *const BPE_ROBERTA_SPECIALS[5] = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"};

/* Tokens that are special whenever the vocabulary holds them (RoBERTa's and GPT-2's). */
static const char *const KNOWN_SPECIALS[] = {"<s>",   "</s>",   "<pad>",
                                             "<unk>", "<mask>", "<|endoftext|>"};

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
