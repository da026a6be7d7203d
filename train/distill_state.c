/* distill_state.c — see distill_state.h. */
#include "train/distill_state.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/file_io.h"
#include "common/little_endian.h"

enum { STATE_VERSION = 1 };
#define STATE_MAX_BYTES ((size_t)4 << 30)

typedef struct writer {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} writer;

static void put(writer *w, const void *bytes, size_t n)
{
    if (w->oom)
        return;
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 1 << 20;
        while (cap < w->n + n)
            cap *= 2;
        uint8_t *g = realloc(w->p, cap);
        if (!g) {
            w->oom = true;
            return;
        }
        w->p = g;
        w->cap = cap;
    }
    memcpy(w->p + w->n, bytes, n);
    w->n += n;
}

static void put_u32(writer *w, uint32_t v)
{
    uint8_t b[4];
    le_put_u32(b, v);
    put(w, b, 4);
}

static void put_u64(writer *w, uint64_t v)
{
    uint8_t b[8];
    le_put_u64(b, v);
    put(w, b, 8);
}

static void put_f64(writer *w, double v)
{
    uint8_t b[8];
    le_put_f64(b, v);
    put(w, b, 8);
}

static void put_floats(writer *w, const float *x, size_t n)
{
    put_u64(w, n);
    for (size_t i = 0; i < n; i++) {
        uint8_t b[4];
        le_put_f32(b, x[i]);
        put(w, b, 4);
    }
}

static void put_adamw(writer *w, const fl_adamw_t *opt, fp_error *err)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    if (fl_adamw_save(opt, &blob, &len, err)) {
        w->oom = true;
        return;
    }
    put_u64(w, len);
    put(w, blob, len);
    free(blob);
}

fp_status distill_state_save(const distill_state *s, const char *path, fp_error *err)
{
    writer w = {0};
    put(&w, "FPDS", 4);
    put_u32(&w, STATE_VERSION);
    size_t rlen = strlen(s->recipe);
    put_u64(&w, rlen);
    put(&w, s->recipe, rlen);
    put_u64(&w, s->step);
    put_u32(&w, s->epoch);
    put_u32(&w, s->batch_pos);
    put_f64(&w, s->tokens);
    put_f64(&w, s->cpu_s);
    put_floats(&w, s->block, s->numel);
    put_floats(&w, s->map, s->map_n);
    put_floats(&w, s->mu, (size_t)s->d_t);
    put_floats(&w, s->sigma, (size_t)s->d_t);
    put_adamw(&w, s->opt_w, err);
    put_adamw(&w, s->opt_map, err);
    fp_status st = w.oom ? fp_fail(err, FP_ENOMEM, "distillation state: out of memory") : FP_OK;
    if (!st) {
        const void *parts[] = {w.p};
        st = fp_file_write_atomic(path, parts, &w.n, 1, err);
    }
    free(w.p);
    return st;
}

typedef struct reader {
    const uint8_t *p;
    size_t n, at;
    const char *path;
} reader;

static fp_status take(reader *r, size_t n, const uint8_t **out, const char *what, fp_error *err)
{
    if (n > r->n - r->at)
        return fp_fail(err, FP_EFORMAT, "%s: truncated at %s (offset %zu)", r->path, what, r->at);
    *out = r->p + r->at;
    r->at += n;
    return FP_OK;
}

static fp_status get_u64(reader *r, uint64_t *v, const char *what, fp_error *err)
{
    const uint8_t *b = NULL;
    fp_status st = take(r, 8, &b, what, err);
    if (!st)
        *v = le_get_u64(b);
    return st;
}

static fp_status get_floats(reader *r, float *x, size_t n, const char *what, fp_error *err)
{
    uint64_t have;
    const uint8_t *b = NULL;
    fp_status st = get_u64(r, &have, what, err);
    if (!st && have != n)
        st = fp_fail(err, FP_EFORMAT, "%s: %s holds %llu floats, this recipe needs %zu", r->path,
                     what, (unsigned long long)have, n);
    if (!st)
        st = take(r, n * 4, &b, what, err);
    for (size_t i = 0; !st && i < n; i++)
        x[i] = le_get_f32(b + 4 * i);
    return st;
}

static fp_status get_adamw(reader *r, size_t n, fl_adamw_t **out, const char *what, fp_error *err)
{
    uint64_t len;
    const uint8_t *b = NULL;
    fp_status st = get_u64(r, &len, what, err);
    if (!st)
        st = take(r, len, &b, what, err);
    if (!st)
        st = fl_adamw_load(b, len, out, err);
    if (!st && (*out)->n != n) {
        size_t have = (*out)->n;
        fl_adamw_destroy(out);
        st = fp_fail(err, FP_EFORMAT, "%s: %s is for %zu parameters, not %zu", r->path, what, have,
                     n);
    }
    return st;
}

void distill_state_free_owned(distill_state *s)
{
    free(s->recipe);
    s->recipe = NULL;
    fl_adamw_destroy(&s->opt_w);
    fl_adamw_destroy(&s->opt_map);
}

fp_status distill_state_load(distill_state *s, const char *path, fp_error *err)
{
    char *bytes = NULL;
    size_t len = 0;
    fp_status st = fp_file_read(path, STATE_MAX_BYTES, &bytes, &len, err);
    if (st)
        return st;
    reader r = {(const uint8_t *)bytes, len, 0, path};
    const uint8_t *b = NULL;
    uint64_t rlen = 0;
    if (!(st = take(&r, 8, &b, "header", err)) &&
        (memcmp(b, "FPDS", 4) || le_get_u32(b + 4) != STATE_VERSION))
        st = fp_fail(err, FP_EFORMAT, "%s: not a distillation state of version %d", path,
                     STATE_VERSION);
    if (!st)
        st = get_u64(&r, &rlen, "recipe", err);
    if (!st)
        st = take(&r, rlen, &b, "recipe", err);
    if (!st && !(s->recipe = malloc(rlen + 1)))
        st = fp_fail(err, FP_ENOMEM, "distillation state: out of memory");
    if (!st) {
        memcpy(s->recipe, b, rlen);
        s->recipe[rlen] = '\0';
        st = get_u64(&r, &s->step, "step", err);
    }
    if (!st && !(st = take(&r, 24, &b, "position", err))) {
        s->epoch = le_get_u32(b);
        s->batch_pos = le_get_u32(b + 4);
        s->tokens = le_get_f64(b + 8);
        s->cpu_s = le_get_f64(b + 16);
    }
    if (!st)
        st = get_floats(&r, s->block, s->numel, "weights", err);
    if (!st)
        st = get_floats(&r, s->map, s->map_n, "map", err);
    if (!st)
        st = get_floats(&r, s->mu, (size_t)s->d_t, "mean", err);
    if (!st)
        st = get_floats(&r, s->sigma, (size_t)s->d_t, "deviation", err);
    if (!st)
        st = get_adamw(&r, s->n_trainable, &s->opt_w, "weights' AdamW state", err);
    if (!st)
        st = get_adamw(&r, s->map_n, &s->opt_map, "map's AdamW state", err);
    if (!st && r.at != r.n)
        st = fp_fail(err, FP_EFORMAT, "%s: %zu bytes after the end", path, r.n - r.at);
    free(bytes);
    return st;
}
