/* sentencepiece.c — the SentencePiece unigram tokenizer of sentencepiece.h: vocabulary loading,
 * a hash over every piece and every code-point prefix of a piece (the trie of the JS tokenizer,
 * flattened), Viterbi encoding and decoding. Must never change an sp_t while encoding (callers
 * share one across threads) and never abort on any input bytes. */
#include "model/sentencepiece.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/file_io.h"

const char *const SP_ADDED_SPECIALS[2] = {"<pad>", "<mask>"};

static const char SEP[] = "\xe2\x96\x81"; /* U+2581 "▁", 3 bytes */
#define SP_MAX_FILE ((size_t)64 << 20)    /* USE-lite's vocab.json is 0.3 MB */
#define SEP_LEN 3

/* One key of the hash: a whole vocabulary string and/or a code-point prefix of a piece. */
typedef struct sp_slot {
    const char *key; /* points into a string owned by the sp_t; NULL = empty slot */
    uint32_t len;
    uint32_t hash;
    int32_t match; /* piece id the encoder matches (ids >= SP_RESERVED, the last duplicate), -1 */
    int32_t token; /* id sp_token_id answers (any id, the first duplicate), -1 */
} sp_slot;

struct sp {
    int n_pieces; /* from the file */
    int n_ids;    /* pieces + added specials */
    int cap_ids;
    char **str;      /* [n_ids] NUL-terminated copies */
    uint32_t *bytes; /* [n_ids] byte length of str */
    uint32_t *cplen; /* [n_ids] length in code points */
    double *score;   /* [n_ids] null and specials → 0 */
    sp_slot *slots;  /* open addressing, power-of-two size */
    size_t n_slots, used;
    int max_cp; /* longest matchable piece, in code points */
};

#define FNV_BASIS 2166136261u
static uint32_t hash_more(uint32_t h, const char *s, size_t len);

static uint32_t hash_bytes(const char *s, size_t len)
{
    return hash_more(FNV_BASIS, s, len);
}

/* FNV-1a extends byte by byte: the encoder hashes each longer candidate from the shorter one. */
static uint32_t hash_more(uint32_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* The slot of key (whose hash_bytes is h), or NULL. */
static const sp_slot *find_hashed(const sp_t *self, const char *key, size_t len, uint32_t h)
{
    size_t mask = self->n_slots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const sp_slot *s = &self->slots[i];
        if (!s->key)
            return NULL;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

static const sp_slot *find_slot(const sp_t *self, const char *key, size_t len)
{
    return find_hashed(self, key, len, hash_bytes(key, len));
}

static fp_status grow_slots(sp_t *self, fp_error *err)
{
    size_t n = self->n_slots ? 2 * self->n_slots : 1024;
    sp_slot *slots = calloc(n, sizeof *slots);
    if (!slots)
        return fp_fail(err, FP_ENOMEM, "sentencepiece: out of memory");
    for (size_t i = 0; i < self->n_slots; i++) {
        const sp_slot *s = &self->slots[i];
        if (!s->key)
            continue;
        size_t j = s->hash & (n - 1);
        while (slots[j].key)
            j = (j + 1) & (n - 1);
        slots[j] = *s;
    }
    free(self->slots);
    self->slots = slots;
    self->n_slots = n;
    return FP_OK;
}

/* The slot of key, created (match = token = -1) when absent. NULL on out of memory. */
static sp_slot *slot_for(sp_t *self, const char *key, size_t len, fp_error *err)
{
    if (2 * (self->used + 1) > self->n_slots && grow_slots(self, err))
        return NULL;
    uint32_t h = hash_bytes(key, len);
    size_t mask = self->n_slots - 1;
    size_t i = h & mask;
    for (; self->slots[i].key; i = (i + 1) & mask) {
        sp_slot *s = &self->slots[i];
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
    self->slots[i] = (sp_slot){key, (uint32_t)len, h, -1, -1};
    self->used++;
    return &self->slots[i];
}

static bool is_cont_byte(char c)
{
    return ((uint8_t)c & 0xC0) == 0x80;
}

static uint32_t count_code_points(const char *s, size_t len)
{
    uint32_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += !is_cont_byte(s[i]);
    return n;
}

/* Appends id with string s[0..len) and score; ids grow by doubling. */
static fp_status push_id(sp_t *self, const char *s, size_t len, double score, fp_error *err)
{
    if (self->n_ids == self->cap_ids) {
        int cap = self->cap_ids ? 2 * self->cap_ids : 1024;
        char **str = realloc(self->str, (size_t)cap * sizeof *str);
        if (str)
            self->str = str;
        uint32_t *bytes = realloc(self->bytes, (size_t)cap * sizeof *bytes);
        if (bytes)
            self->bytes = bytes;
        uint32_t *cplen = realloc(self->cplen, (size_t)cap * sizeof *cplen);
        if (cplen)
            self->cplen = cplen;
        double *sc = realloc(self->score, (size_t)cap * sizeof *sc);
        if (sc)
            self->score = sc;
        if (!str || !bytes || !cplen || !sc)
            return fp_fail(err, FP_ENOMEM, "sentencepiece: out of memory");
        self->cap_ids = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return fp_fail(err, FP_ENOMEM, "sentencepiece: out of memory");
    memcpy(copy, s, len);
    copy[len] = '\0';
    int id = self->n_ids++;
    self->str[id] = copy;
    self->bytes[id] = (uint32_t)len;
    self->cplen[id] = count_code_points(s, len);
    self->score[id] = score;
    return FP_OK;
}

/* Registers id in the hash: its whole string for sp_token_id and, for a matchable piece, every
 * code-point prefix so the encoder can stop as soon as no piece continues. */
static fp_status index_id(sp_t *self, int id, bool matchable, fp_error *err)
{
    const char *s = self->str[id];
    size_t len = self->bytes[id];
    sp_slot *slot = slot_for(self, s, len, err);
    if (!slot)
        return err ? err->status : FP_ENOMEM;
    if (slot->token < 0)
        slot->token = id;
    if (!matchable)
        return FP_OK;
    slot->match = id; /* the JS trie overwrites: the last duplicate wins */
    for (size_t end = 1; end < len; end++) {
        if (is_cont_byte(s[end]))
            continue;
        if (!slot_for(self, s, end, err))
            return err ? err->status : FP_ENOMEM;
    }
    if ((int)self->cplen[id] > self->max_cp)
        self->max_cp = (int)self->cplen[id];
    return FP_OK;
}

static fp_status parse_vocab(sp_t *self, const json_t *root, const char *name, fp_error *err)
{
    if (!json_is_array(root))
        return fp_fail(err, FP_EFORMAT, "%s: not a JSON array of [piece, score] pairs", name);
    size_t n = json_array_size(root);
    if (n <= SP_RESERVED)
        return fp_fail(err, FP_EFORMAT, "%s: %zu entries, need more than the %d reserved", name, n,
                       SP_RESERVED);
    if (n > INT32_MAX / 2)
        return fp_fail(err, FP_ELIMIT, "%s: %zu entries", name, n);
    for (size_t i = 0; i < n; i++) {
        const json_t *pair = json_array_get(root, i);
        const json_t *piece = json_array_get(pair, 0), *score = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_string(piece))
            return fp_fail(err, FP_EFORMAT, "%s: entry %zu is not a [piece, score] pair", name, i);
        if (!json_is_number(score) && !json_is_null(score))
            return fp_fail(err, FP_EFORMAT, "%s: entry %zu: score is not a number or null", name,
                           i);
        size_t len = json_string_length(piece);
        if (len == 0 && i >= SP_RESERVED)
            return fp_fail(err, FP_EFORMAT, "%s: entry %zu: empty piece", name, i);
        if (len > 1024)
            return fp_fail(err, FP_ELIMIT, "%s: entry %zu: piece of %zu bytes", name, i, len);
        double sc = json_is_null(score) ? 0.0 : json_number_value(score);
        fp_status st = push_id(self, json_string_value(piece), len, sc, err);
        if (!st)
            st = index_id(self, (int)i, i >= SP_RESERVED, err);
        if (st)
            return st;
    }
    self->n_pieces = self->n_ids;
    return FP_OK;
}

sp_t *sp_new_from_memory(const char *json, size_t len, const char *name, fp_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!root) {
        fp_fail(err, FP_EFORMAT, "%s:%d: %s", name, jerr.line, jerr.text);
        return NULL;
    }
    sp_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "%s: out of memory", name);
    } else if (parse_vocab(self, root, name, err)) {
        sp_destroy(&self);
    }
    json_decref(root);
    return self;
}

sp_t *sp_new(const char *vocab_path, fp_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    sp_t *self = NULL;
    if (fp_file_read(vocab_path, SP_MAX_FILE, &buf, &len, err) == FP_OK)
        self = sp_new_from_memory(buf, len, vocab_path, err);
    free(buf);
    return self;
}

void sp_destroy(sp_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sp_t *self = *self_p;
    for (int i = 0; i < self->n_ids; i++)
        free(self->str[i]);
    free(self->str);
    free(self->bytes);
    free(self->cplen);
    free(self->score);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

fp_status sp_add_specials(sp_t *self, const char *const *tokens, size_t n, fp_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (sp_token_id(self, tokens[i]) >= 0)
            continue;
        fp_status st = push_id(self, tokens[i], strlen(tokens[i]), 0.0, err);
        if (!st)
            st = index_id(self, self->n_ids - 1, false, err);
        if (st)
            return st;
    }
    return FP_OK;
}

int sp_vocab_size(const sp_t *self)
{
    return self->n_ids;
}

int sp_piece_count(const sp_t *self)
{
    return self->n_pieces;
}

int sp_token_id(const sp_t *self, const char *token)
{
    const sp_slot *s = find_slot(self, token, strlen(token));
    return s ? s->token : -1;
}

const char *sp_token_str(const sp_t *self, int id)
{
    return id >= 0 && id < self->n_ids ? self->str[id] : NULL;
}

double sp_token_score(const sp_t *self, int id)
{
    return id >= 0 && id < self->n_ids ? self->score[id] : 0.0;
}

/* *out = "▁" (when prefix) + t[0..m) with every space turned into "▁" (malloc'd); nothing when
 * m is 0. */
static fp_status add_separators(const uint8_t *t, size_t m, bool prefix, char **out,
                                size_t *out_len, fp_error *err)
{
    if (m == 0)
        return FP_OK;
    size_t spaces = 0;
    for (size_t i = 0; i < m; i++)
        spaces += t[i] == ' ';
    char *s = malloc(SEP_LEN + m + 2 * spaces);
    if (!s)
        return fp_fail(err, FP_ENOMEM, "sentencepiece: out of memory");
    size_t w = 0;
    if (prefix) {
        memcpy(s, SEP, SEP_LEN);
        w = SEP_LEN;
    }
    for (size_t i = 0; i < m; i++) {
        if (t[i] == ' ') {
            memcpy(s + w, SEP, SEP_LEN);
            w += SEP_LEN;
        } else {
            s[w++] = (char)t[i];
        }
    }
    *out = s;
    *out_len = w;
    return FP_OK;
}

/* text as valid UTF-8 (each byte utf8proc rejects becomes U+FFFD), NFKC-normalised, then
 * "▁" + text with every space turned into "▁". *out is malloc'd; *out_len 0 for empty text. */
static fp_status normalise(const char *text, size_t len, bool prefix, char **out, size_t *out_len,
                           fp_error *err)
{
    *out = NULL;
    *out_len = 0;
    if (len == 0)
        return FP_OK;
    if (len > (SIZE_MAX - 1) / 3)
        return fp_fail(err, FP_ENOMEM, "sentencepiece: text too long");
    bool ascii = true;
    for (size_t i = 0; i < len && ascii; i++)
        ascii = (uint8_t)text[i] < 0x80;
    if (ascii) /* NFKC is the identity on ASCII: skip validation and normalisation */
        return add_separators((const uint8_t *)text, len, prefix, out, out_len, err);
    uint8_t *valid = malloc(3 * len + 1); /* an invalid byte grows to 3 */
    if (!valid)
        return fp_fail(err, FP_ENOMEM, "sentencepiece: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k =
            utf8proc_iterate((const uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0) {
            memcpy(valid + n, "\xef\xbf\xbd", 3);
            n += 3;
            i += 1;
        } else {
            memcpy(valid + n, text + i, (size_t)k);
            n += (size_t)k;
            i += (size_t)k;
        }
    }
    utf8proc_uint8_t *nfkc = NULL;
    utf8proc_ssize_t m = utf8proc_map(valid, (utf8proc_ssize_t)n, &nfkc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
    free(valid);
    if (m < 0) {
        free(nfkc);
        return fp_fail(err, m == UTF8PROC_ERROR_NOMEM ? FP_ENOMEM : FP_EINVAL,
                       "sentencepiece: NFKC: %s", utf8proc_errmsg(m));
    }
    fp_status st = add_separators(nfkc, (size_t)m, prefix, out, out_len, err);
    free(nfkc);
    return st;
}

/* The Viterbi pass over s (n code points starting at byte offsets off[0..n]): fills words[0..n]
 * with the id of the best piece ending at each position, as the JS tokenizer does it. */
static void viterbi(const sp_t *self, const char *s, const size_t *off, size_t n, double *best,
                    int *words)
{
    for (size_t i = 0; i <= n; i++) {
        best[i] = 0.0;
        words[i] = 0;
    }
    /* Edges pushed from each start in ascending order: every edge into e is applied in ascending
     * start order, after best[start] is final — the same order as the JS end-major loops. */
    for (size_t i = 0; i < n; i++) {
        bool any = false;
        uint32_t h = FNV_BASIS;
        for (size_t l = 1; l <= (size_t)self->max_cp && i + l <= n; l++) {
            h = hash_more(h, s + off[i + l - 1], off[i + l] - off[i + l - 1]);
            const sp_slot *slot = find_hashed(self, s + off[i], off[i + l] - off[i], h);
            if (!slot)
                break;
            if (slot->match < 0)
                continue;
            any = true;
            double v = self->score[slot->match] + best[i];
            if (best[i + l] == 0.0 || v >= best[i + l]) { /* 0 = unset; ties: later wins */
                best[i + l] = v;
                words[i + l] = slot->match;
            }
        }
        if (!any) { /* one-character unknown, score 0 */
            double v = best[i];
            if (best[i + 1] == 0.0 || v >= best[i + 1]) {
                best[i + 1] = v;
                words[i + 1] = SP_UNK_ID;
            }
        }
    }
}

fp_status sp_encode(const sp_t *self, const char *text, size_t len, tok_ids *out, fp_error *err)
{
    return sp_encode_ex(self, text, len, true, out, err);
}

fp_status sp_encode_ex(const sp_t *self, const char *text, size_t len, bool dummy_prefix,
                       tok_ids *out, fp_error *err)
{
    char *s;
    size_t slen;
    fp_status st = normalise(text, len, dummy_prefix, &s, &slen, err);
    if (st || slen == 0)
        return st;
    size_t n = count_code_points(s, slen);
    size_t *off = malloc((n + 1) * sizeof *off);
    double *best = malloc((n + 1) * sizeof *best);
    int *words = malloc((n + 1) * sizeof *words);
    int *rev = malloc(n * sizeof *rev);
    if (!off || !best || !words || !rev) {
        st = fp_fail(err, FP_ENOMEM, "sentencepiece: out of memory");
        goto done;
    }
    size_t k = 0;
    for (size_t b = 0; b < slen; b++)
        if (!is_cont_byte(s[b]))
            off[k++] = b;
    off[n] = slen;
    viterbi(self, s, off, n, best, words);
    /* Backtrack from the end, merging consecutive unknowns (the JS steps back by the piece's
     * UTF-16 length; no matchable piece holds a non-BMP character in USE-lite's vocabulary, so
     * code points are the same thing — docs/sentencepiece.md). */
    size_t m = 0;
    bool prev_unk = false;
    for (size_t it = n; it > 0;) {
        int id = words[it];
        if (!(prev_unk && id == SP_UNK_ID))
            rev[m++] = id;
        prev_unk = id == SP_UNK_ID;
        it -= id == SP_UNK_ID ? 1 : self->cplen[id];
    }
    size_t before = out->n;
    for (size_t i = m; i > 0; i--) {
        if (tok_ids_push(out, rev[i - 1])) {
            out->n = before;
            st = fp_fail(err, FP_ENOMEM, "sentencepiece: out of memory");
            break;
        }
    }
done:
    free(s);
    free(off);
    free(best);
    free(words);
    free(rev);
    return st;
}

fp_status sp_decode(const sp_t *self, const int *ids, size_t n, char **text, size_t *len,
                    fp_error *err)
{
    *text = NULL;
    *len = 0;
    size_t cap = 1;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= self->n_ids)
            return fp_fail(err, FP_EINVAL,
                           "sentencepiece: id %d (position %zu) outside the "
                           "vocabulary of %d",
                           ids[i], i, self->n_ids);
        cap += self->bytes[ids[i]] + 3;
    }
    char *t = malloc(cap);
    if (!t)
        return fp_fail(err, FP_ENOMEM, "sentencepiece: out of memory");
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        int id = ids[i];
        if (id > SP_UNK_ID && id < SP_RESERVED)
            continue; /* control ids decode to nothing */
        const char *p = self->str[id];
        size_t pl = self->bytes[id];
        if (id == SP_UNK_ID) {
            p = "\xef\xbf\xbd"; /* whatever the file names it, unknown reads as U+FFFD */
            pl = 3;
        }
        for (size_t j = 0; j < pl;) {
            if (pl - j >= SEP_LEN && memcmp(p + j, SEP, SEP_LEN) == 0) {
                t[w++] = ' ';
                j += SEP_LEN;
            } else {
                t[w++] = p[j++];
            }
        }
    }
    size_t skip = w > 0 && t[0] == ' ';
    memmove(t, t + skip, w - skip);
    w -= skip;
    t[w] = '\0';
    *text = t;
    *len = w;
    return FP_OK;
}

bool sp_vocab_file_is_unigram(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    int c;
    while ((c = fgetc(f)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        ;
    fclose(f);
    return c == '[';
}
