/* distill_text.c — see distill_text.h. Lines are matched by 64-bit keys in open-addressing sets;
 * with a few hundred thousand lines a false match has odds below 1e-8. */
#include "train/distill_text.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/file_io.h"
#include "data/dataset.h"
#include "data/task.h"

enum { TEXT_FILE_MAX = 256 << 20 };

uint64_t distill_text_key(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && !isalnum(c))
            continue;
        h ^= c < 0x80 ? (unsigned char)tolower(c) : c;
        h *= 1099511628211ull;
    }
    return h ? h : 1; /* 0 marks an empty slot */
}

/* ---- a set of keys */

typedef struct key_set {
    uint64_t *slot;
    size_t cap, n; /* cap a power of two */
} key_set;

static void set_free(key_set *s)
{
    free(s->slot);
    *s = (key_set){0};
}

static bool set_has(const key_set *s, uint64_t k)
{
    if (!s->cap)
        return false;
    for (size_t i = k & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->slot[i] == k)
            return true;
        if (!s->slot[i])
            return false;
    }
}

static fp_status set_add(key_set *s, uint64_t k, fp_error *err)
{
    if (2 * (s->n + 1) > s->cap) {
        key_set g = {calloc(s->cap ? 2 * s->cap : 1024, sizeof(uint64_t)),
                     s->cap ? 2 * s->cap : 1024, 0};
        if (!g.slot)
            return fp_fail(err, FP_ENOMEM, "distillation text: out of memory");
        for (size_t i = 0; i < s->cap; i++)
            if (s->slot[i])
                set_add(&g, s->slot[i], err); /* cannot grow again: half empty */
        set_free(s);
        *s = g;
    }
    size_t i = k & (s->cap - 1);
    while (s->slot[i] && s->slot[i] != k)
        i = (i + 1) & (s->cap - 1);
    if (!s->slot[i]) {
        s->slot[i] = k;
        s->n++;
    }
    return FP_OK;
}

/* ---- growing sequence lists */

static fp_status seqs_push(distill_seqs *q, const int *ids, size_t n, size_t *cap_ids,
                           size_t *cap_seqs, fp_error *err)
{
    if (q->n + 2 > *cap_seqs) {
        size_t cap = *cap_seqs ? 2 * *cap_seqs : 4096;
        size_t *start = realloc(q->start, cap * sizeof *start);
        if (!start)
            return fp_fail(err, FP_ENOMEM, "distillation text: out of memory");
        q->start = start;
        *cap_seqs = cap;
    }
    if (q->tokens + n > *cap_ids) {
        size_t cap = *cap_ids ? 2 * *cap_ids : 65536;
        while (cap < q->tokens + n)
            cap *= 2;
        int *grown = realloc(q->ids, cap * sizeof *grown);
        if (!grown)
            return fp_fail(err, FP_ENOMEM, "distillation text: out of memory");
        q->ids = grown;
        *cap_ids = cap;
    }
    if (!q->n)
        q->start[0] = 0;
    memcpy(q->ids + q->tokens, ids, n * sizeof *ids);
    q->tokens += n;
    q->start[++q->n] = q->tokens;
    return FP_OK;
}

typedef struct builder {
    const distill_text_spec *spec;
    train_tok_t *tok;
    distill_text *out;
    key_set seen, excluded;
    tok_ids ids;
    size_t cap_ids[2], cap_seqs[2];
} builder;

static void trim(const char **s, size_t *len)
{
    while (*len && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

/* One candidate sentence through the filters into train or held. */
static fp_status take_line(builder *b, const char *s, size_t len, fp_error *err)
{
    distill_text *o = b->out;
    trim(&s, &len);
    o->lines++;
    if (!len) {
        o->empty++;
        return FP_OK;
    }
    uint64_t key = distill_text_key(s, len);
    if (set_has(&b->excluded, key)) {
        o->excluded++;
        return FP_OK;
    }
    if (set_has(&b->seen, key)) {
        o->duplicates++;
        return FP_OK;
    }
    fp_status st = set_add(&b->seen, key, err);
    b->ids.n = 0;
    if (!st)
        st = train_tok_encode(b->tok, s, len, &b->ids, err);
    if (st)
        return st;
    if (!b->ids.n) {
        o->empty++;
        return FP_OK;
    }
    size_t n = b->ids.n;
    if (n > (size_t)b->spec->max_len) {
        n = (size_t)b->spec->max_len;
        o->truncated++;
    }
    const bool held = (int)((key >> 32) % 1000) < b->spec->held_per_mille;
    return seqs_push(held ? &o->held : &o->train, b->ids.ids, n, &b->cap_ids[held],
                     &b->cap_seqs[held], err);
}

/* Calls fn for each line of path (fields: each tab-separated field instead). */
static fp_status each_line(builder *b, const char *path, bool fields, bool missing_ok,
                           fp_status (*fn)(builder *, const char *, size_t, fp_error *),
                           fp_error *err)
{
    char *text = NULL;
    size_t len = 0;
    fp_status st = fp_file_read(path, TEXT_FILE_MAX, &text, &len, err);
    if (st == FP_ENOTFOUND && missing_ok)
        return FP_OK;
    if (st)
        return st;
    const char *p = text, *end = text + len;
    while (!st && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        const char *f = p;
        while (!st && f <= line_end) {
            const char *tab = fields ? memchr(f, '\t', (size_t)(line_end - f)) : NULL;
            const char *f_end = tab ? tab : line_end;
            st = fn(b, f, (size_t)(f_end - f), err);
            f = f_end + 1;
        }
        p = line_end + 1;
    }
    free(text);
    return st;
}

static fp_status exclude_field(builder *b, const char *s, size_t len, fp_error *err)
{
    trim(&s, &len);
    return len ? set_add(&b->excluded, distill_text_key(s, len), err) : FP_OK;
}

static fp_status exclude_eval_text(builder *b, fp_error *err)
{
    static const char *const FILES[] = {"dev.tsv", "test.tsv"};
    fp_status st = FP_OK;
    for (int t = 0; !st && t < FP_TASK_COUNT; t++)
        for (size_t f = 0; !st && f < sizeof FILES / sizeof *FILES; f++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s/%s", b->spec->datasets_dir, task_get(t)->folder,
                     FILES[f]);
            st = each_line(b, path, true, true, exclude_field, err);
        }
    return st;
}

static fp_status take_task_train(builder *b, fp_error *err)
{
    fp_status st = FP_OK;
    for (int t = 0; !st && t < FP_TASK_COUNT; t++) {
        const fp_task *task = task_get(t);
        if (task->carve || !(b->spec->task_mask >> t & 1)) /* carved: its training split is part
                                                              of a dev file */
            continue;
        dataset_t *ds = NULL;
        st = dataset_load(task, FP_SPLIT_TRAIN, b->spec->datasets_dir, 0, 0.5, &ds, err);
        for (size_t i = 0; !st && i < ds->n; i++) {
            const fp_example *e = &ds->examples[i];
            st = take_line(b, e->text_a, strlen(e->text_a), err);
            if (!st && e->text_b)
                st = take_line(b, e->text_b, strlen(e->text_b), err);
        }
        dataset_destroy(&ds);
    }
    return st;
}

fp_status distill_text_build(const distill_text_spec *spec, train_tok_t *tok, distill_text *out,
                             fp_error *err)
{
    *out = (distill_text){0};
    if (spec->max_len <= 0 || spec->held_per_mille < 0 || spec->held_per_mille > 1000)
        return fp_fail(err, FP_EINVAL, "distillation text: bad max_len or held-out share");
    builder b = {.spec = spec, .tok = tok, .out = out};
    fp_status st = spec->datasets_dir ? exclude_eval_text(&b, err) : FP_OK;
    for (size_t f = 0; !st && f < spec->n_files; f++)
        st = each_line(&b, spec->files[f], false, false, take_line, err);
    if (!st && spec->datasets_dir)
        st = take_task_train(&b, err);
    if (!st && (!out->train.n || !out->held.n))
        st = fp_fail(err, FP_EINVAL,
                     "distillation text: %zu training and %zu held-out sentences "
                     "(need both)",
                     out->train.n, out->held.n);
    set_free(&b.seen);
    set_free(&b.excluded);
    tok_ids_free(&b.ids);
    if (st)
        distill_text_free(out);
    return st;
}

void distill_text_free(distill_text *t)
{
    free(t->train.ids);
    free(t->train.start);
    free(t->held.ids);
    free(t->held.start);
    *t = (distill_text){0};
}
