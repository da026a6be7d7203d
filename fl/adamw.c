/* adamw.c — AdamW with HF semantics and byte-exact state blobs (see adamw.h). */
#include "adamw.h"

#include <math.h>
#include <stdlib.h>

#include "blob.h"

#define ADAMW_MAGIC "FPAW"
#define ADAMW_VERSION 1u

fl_adamw_config fl_adamw_defaults(void)
{
    return (fl_adamw_config){.lr = 0.04,
                             .beta1 = 0.9,
                             .beta2 = 0.999,
                             .eps = 1e-8,
                             .weight_decay = 0.1,
                             .max_grad_norm = 1.0,
                             .total_steps = 0};
}

fl_adamw_t *fl_adamw_new(size_t n)
{
    fl_adamw_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->n = n;
    self->m = calloc(2 * n + 1, sizeof *self->m); /* +1: a valid pointer even when n = 0 */
    if (!self->m) {
        free(self);
        return NULL;
    }
    self->v = self->m + n;
    return self;
}

void fl_adamw_destroy(fl_adamw_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->m);
    free(*self_p);
    *self_p = NULL;
}

double fl_adamw_lr_at(const fl_adamw_config *cfg, uint64_t t)
{
    if (cfg->total_steps == 0)
        return cfg->lr;
    /* HF get_linear_schedule_with_warmup(0 warm-up): step t uses the factor of its
     * scheduler count t − 1, i.e. (T − (t − 1)) / T, never below zero. */
    double left = (double)cfg->total_steps - (double)(t - 1);
    return cfg->lr * (left > 0 ? left : 0.0) / (double)cfg->total_steps;
}

fp_status fl_adamw_step(fl_adamw_t *self, const fl_adamw_config *cfg, float *theta, const float *g,
                        fp_error *err)
{
    for (size_t i = 0; i < self->n; i++)
        if (!isfinite(g[i]))
            return fp_fail(err, FP_ENUMERIC, "adamw: gradient[%zu] is not finite", i);
    uint64_t t = self->step + 1;
    double lr = fl_adamw_lr_at(cfg, t);
    double b1 = cfg->beta1, b2 = cfg->beta2;
    double step_size = lr * sqrt(1.0 - pow(b2, (double)t)) / (1.0 - pow(b1, (double)t));
    double decay = lr * cfg->weight_decay;
    float *restrict m = self->m, *restrict v = self->v;
    for (size_t i = 0; i < self->n; i++) {
        double gi = g[i];
        double mi = b1 * m[i] + (1.0 - b1) * gi;
        double vi = b2 * v[i] + (1.0 - b2) * gi * gi;
        m[i] = (float)mi;
        v[i] = (float)vi;
        double p = theta[i] - step_size * (double)m[i] / (sqrt((double)v[i]) + cfg->eps);
        p -= decay * p;
        theta[i] = (float)p;
    }
    self->step = t;
    return FP_OK;
}

/* The "FPAW" blob (adamw.h), for fl_blob_measure and fl_blob_build. */
static void adamw_write(const void *ctx, fl_blob_writer *w)
{
    const fl_adamw_t *self = ctx;
    fl_blob_put_header(w, ADAMW_MAGIC, ADAMW_VERSION);
    fl_blob_put_u64(w, self->n);
    fl_blob_put_u64(w, self->step);
    fl_blob_put_f32s(w, self->m, self->n);
    fl_blob_put_f32s(w, self->v, self->n);
}

size_t fl_adamw_blob_size(size_t n)
{
    /* a measuring pass reads no value, only the sizes */
    return fl_blob_measure(adamw_write, &(fl_adamw_t){.n = n});
}

fp_status fl_adamw_save(const fl_adamw_t *self, uint8_t **blob, size_t *len, fp_error *err)
{
    return fl_blob_build(adamw_write, self, "adamw", blob, len, err);
}

fp_status fl_adamw_load(const uint8_t *blob, size_t len, fl_adamw_t **out, fp_error *err)
{
    fl_blob_reader r = {.buf = blob, .len = len};
    uint64_t n, step;
    fp_status st = fl_blob_get_header(&r, ADAMW_MAGIC, ADAMW_VERSION, err);
    if (!st)
        st = fl_blob_get_u64(&r, &n, err);
    if (!st)
        st = fl_blob_get_u64(&r, &step, err);
    if (st)
        return st;
    /* Check the length before allocating: a forged n must not make us allocate terabytes. */
    if (n > (len - r.pos) / 8 || r.pos + 8 * n != len)
        return fp_fail(err, FP_EFORMAT, "adamw blob: %zu bytes cannot hold n = %llu", len,
                       (unsigned long long)n);
    fl_adamw_t *self = fl_adamw_new((size_t)n);
    if (!self)
        return fp_fail(err, FP_ENOMEM, "adamw: cannot allocate state for %llu parameters",
                       (unsigned long long)n);
    self->step = step;
    fl_blob_get_f32s(&r, self->m, self->n, err);
    fl_blob_get_f32s(&r, self->v, self->n, err);
    *out = self;
    return FP_OK;
}
