/* bpe_encode.c — GPT-2 byte-level BPE encoding and decoding (see bpe.h): the pre-tokenizer of
 * GPT-2's regex, merges applied by rank with a heap over linked symbols, a per-tokenizer cache
 * of encoded words. Never allocates per symbol and never builds strings while merging. */
#include <stdio.h>
#include <string.h>

#include "common/status.h"
#include "model/bpe_internal.h"

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
