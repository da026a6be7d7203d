/* blob.c — byte-exact little-endian encoding of fl/ optimizer states (see blob.h). */
#include "blob.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "common/little_endian.h"

/* Where the next n bytes go, or NULL for a measuring writer; either way len grows by n. */
static uint8_t *room(fl_blob_writer *w, size_t n)
{
    size_t at = w->len;
    w->len += n;
    if (!w->buf)
        return NULL;
    assert(at <= w->cap && n <= w->cap - at);
    return w->buf + at;
}

void fl_blob_put_u64(fl_blob_writer *w, uint64_t x)
{
    uint8_t *p = room(w, 8);
    if (p)
        le_put_u64(p, x);
}

void fl_blob_put_u32(fl_blob_writer *w, uint32_t x)
{
    uint8_t *p = room(w, 4);
    if (p)
        le_put_u32(p, x);
}

void fl_blob_put_f64(fl_blob_writer *w, double x)
{
    uint8_t *p = room(w, 8);
    if (p)
        le_put_f64(p, x);
}

void fl_blob_put_f32s(fl_blob_writer *w, const float *x, size_t n)
{
    uint8_t *p = room(w, 4 * n);
    if (p)
        for (size_t i = 0; i < n; i++)
            le_put_f32(p + 4 * i, x[i]);
}

void fl_blob_put_header(fl_blob_writer *w, const char magic[4], uint32_t version)
{
    uint8_t *p = room(w, 4);
    if (p)
        memcpy(p, magic, 4);
    fl_blob_put_u32(w, version);
}

size_t fl_blob_measure(fl_blob_write_fn write, const void *ctx)
{
    fl_blob_writer w = {0};
    write(ctx, &w);
    return w.len;
}

fp_status fl_blob_build(fl_blob_write_fn write, const void *ctx, const char *what, uint8_t **blob,
                        size_t *len, fp_error *err)
{
    size_t size = fl_blob_measure(write, ctx);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return fp_fail(err, FP_ENOMEM, "%s: cannot allocate a %zu-byte state blob", what, size);
    fl_blob_writer w = {.buf = buf, .cap = size};
    write(ctx, &w);
    assert(w.len == size);
    *blob = buf;
    *len = size;
    return FP_OK;
}

static fp_status need(fl_blob_reader *r, size_t n, fp_error *err)
{
    if (r->len - r->pos < n)
        return fp_fail(err, FP_EFORMAT, "state blob truncated at byte %zu (need %zu more)", r->pos,
                       n);
    return FP_OK;
}

fp_status fl_blob_get_u64(fl_blob_reader *r, uint64_t *x, fp_error *err)
{
    fp_status st = need(r, 8, err);
    if (st)
        return st;
    *x = le_get_u64(r->buf + r->pos);
    r->pos += 8;
    return FP_OK;
}

fp_status fl_blob_get_u32(fl_blob_reader *r, uint32_t *x, fp_error *err)
{
    fp_status st = need(r, 4, err);
    if (st)
        return st;
    *x = le_get_u32(r->buf + r->pos);
    r->pos += 4;
    return FP_OK;
}

fp_status fl_blob_get_f64(fl_blob_reader *r, double *x, fp_error *err)
{
    fp_status st = need(r, 8, err);
    if (st)
        return st;
    *x = le_get_f64(r->buf + r->pos);
    r->pos += 8;
    return FP_OK;
}

fp_status fl_blob_get_f32s(fl_blob_reader *r, float *x, size_t n, fp_error *err)
{
    if (n > (r->len - r->pos) / 4)
        return fp_fail(err, FP_EFORMAT, "state blob truncated at byte %zu (%zu floats announced)",
                       r->pos, n);
    for (size_t i = 0; i < n; i++)
        x[i] = le_get_f32(r->buf + r->pos + 4 * i);
    r->pos += 4 * n;
    return FP_OK;
}

fp_status fl_blob_get_header(fl_blob_reader *r, const char magic[4], uint32_t version,
                             fp_error *err)
{
    fp_status st = need(r, 8, err);
    if (st)
        return st;
    if (memcmp(r->buf + r->pos, magic, 4) != 0)
        return fp_fail(err, FP_EFORMAT, "state blob: bad magic (want %.4s)", magic);
    r->pos += 4;
    uint32_t v = 0;
    fl_blob_get_u32(r, &v, err);
    if (v != version)
        return fp_fail(err, FP_EVERSION, "state blob %.4s: version %u, this build reads %u", magic,
                       v, version);
    return FP_OK;
}

fp_status fl_blob_expect_end(const fl_blob_reader *r, fp_error *err)
{
    if (r->pos != r->len)
        return fp_fail(err, FP_EFORMAT, "state blob: %zu trailing bytes", r->len - r->pos);
    return FP_OK;
}
