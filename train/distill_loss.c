/* distill_loss.c — see distill_loss.h. The mapped states Z and their gradient dZ live in the
 * scratch; the weight products go through model/linear (OpenBLAS). */
#include "train/distill_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/linear.h"

struct distill_loss {
    int max_rows, max_batch, d_s, d_t;
    float *Z, *dZ;           /* [max_rows][d_t] */
    double *pool_s, *pool_t; /* [max_batch][d_t]: σ ⊙ mean Z + μ, mean H_t */
    double *q, *p;           /* [max_batch][d_s], [max_batch][d_t]: unit pools for rel */
    double *qn;              /* [max_batch] |mean H_s| */
    double *dq;              /* [max_batch][d_s] */
    double *gs, *gt;         /* [max_batch]² cosine matrices */
    int *count;              /* [max_batch] real rows */
};

distill_loss_t *distill_loss_new(int max_rows, int max_batch, int d_s, int d_t, fp_error *err)
{
    if (max_rows <= 0 || max_batch <= 0 || d_s <= 0 || d_t <= 0) {
        fp_fail(err, FP_EINVAL, "distillation loss: bad sizes");
        return NULL;
    }
    distill_loss_t *s = calloc(1, sizeof *s);
    if (!s) {
        fp_fail(err, FP_ENOMEM, "distillation loss: out of memory");
        return NULL;
    }
    *s = (distill_loss_t){.max_rows = max_rows, .max_batch = max_batch, .d_s = d_s, .d_t = d_t};
    size_t rows = (size_t)max_rows * d_t, nb = (size_t)max_batch;
    s->Z = malloc(rows * sizeof(float));
    s->dZ = malloc(rows * sizeof(float));
    s->pool_s = malloc(nb * d_t * sizeof(double));
    s->pool_t = malloc(nb * d_t * sizeof(double));
    s->q = malloc(nb * d_s * sizeof(double));
    s->p = malloc(nb * d_t * sizeof(double));
    s->qn = malloc(nb * sizeof(double));
    s->dq = malloc(nb * d_s * sizeof(double));
    s->gs = malloc(nb * nb * sizeof(double));
    s->gt = malloc(nb * nb * sizeof(double));
    s->count = malloc(nb * sizeof(int));
    if (!s->Z || !s->dZ || !s->pool_s || !s->pool_t || !s->q || !s->p || !s->qn || !s->dq ||
        !s->gs || !s->gt || !s->count) {
        distill_loss_destroy(&s);
        fp_fail(err, FP_ENOMEM, "distillation loss: out of memory");
        return NULL;
    }
    return s;
}

void distill_loss_destroy(distill_loss_t **self_p)
{
    distill_loss_t *s = *self_p;
    if (!s)
        return;
    free(s->Z);
    free(s->dZ);
    free(s->pool_s);
    free(s->pool_t);
    free(s->q);
    free(s->p);
    free(s->qn);
    free(s->dq);
    free(s->gs);
    free(s->gt);
    free(s->count);
    free(s);
    *self_p = NULL;
}

static double dot(const double *a, const double *b, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Normalises v[n] in place; returns its former norm (a zero vector stays zero). */
static double normalise(double *v, int n)
{
    double norm = sqrt(dot(v, v, n));
    if (norm > 0)
        for (int i = 0; i < n; i++)
            v[i] /= norm;
    return norm;
}

/* Mean over the real rows of example b of x [B][T][d] (float) into out[d] (double). */
static void mean_rows(double *out, const float *x, const int *mask, int b, int T, int d, int n)
{
    memset(out, 0, (size_t)d * sizeof(double));
    for (int t = 0; t < T; t++) {
        if (!mask[b * T + t])
            continue;
        const float *row = x + ((size_t)b * T + t) * d;
        for (int k = 0; k < d; k++)
            out[k] += row[k];
    }
    for (int k = 0; k < d; k++)
        out[k] /= n;
}

/* tok: the standardised MSE; dZ = its gradient scaled by w (dZ may be NULL). */
static double token_part(distill_loss_t *s, const distill_batch *x, int n_real, float w)
{
    const int N = x->B * x->T, d = s->d_t;
    double sum = 0;
    const double scale = 2.0 * w / ((double)n_real * d);
    for (int r = 0; r < N; r++) {
        float *dz = s->dZ + (size_t)r * d;
        if (!x->mask[r]) {
            memset(dz, 0, (size_t)d * sizeof(float));
            continue;
        }
        const float *z = s->Z + (size_t)r * d, *h = x->h_t + (size_t)r * d;
        for (int k = 0; k < d; k++) {
            double diff = z[k] - (h[k] - x->mu[k]) / x->sigma[k];
            sum += diff * diff;
            dz[k] = (float)(scale * diff);
        }
    }
    return sum / ((double)n_real * d);
}

/* pool: mean over examples of 1 − cos(σ ⊙ mean Z + μ, mean H_t); adds its gradient (× w) to
 * dZ. Returns the mean cosine. */
static double pool_part(distill_loss_t *s, const distill_batch *x, float w, bool grad)
{
    const int B = x->B, T = x->T, d = s->d_t;
    double cos_sum = 0;
    for (int b = 0; b < B; b++) {
        double *ps = s->pool_s + (size_t)b * d, *pt = s->pool_t + (size_t)b * d;
        mean_rows(ps, s->Z, x->mask, b, T, d, s->count[b]);
        for (int k = 0; k < d; k++)
            ps[k] = x->sigma[k] * ps[k] + x->mu[k];
        mean_rows(pt, x->h_t, x->mask, b, T, d, s->count[b]);
        double ns = sqrt(dot(ps, ps, d)), nt = sqrt(dot(pt, pt, d));
        if (ns == 0 || nt == 0)
            continue; /* cosine undefined: contributes 1 − 0 and no gradient */
        double c = dot(ps, pt, d) / (ns * nt);
        cos_sum += c;
        if (!grad || w == 0)
            continue;
        /* d(1 − c)/dps = −(pt/(ns nt) − c ps/ns²); through ps = σ ⊙ mean Z + μ to each row */
        const double g = w / (double)B / s->count[b];
        for (int t = 0; t < T; t++) {
            if (!x->mask[b * T + t])
                continue;
            float *dz = s->dZ + ((size_t)b * T + t) * d;
            for (int k = 0; k < d; k++)
                dz[k] += (float)(-g * x->sigma[k] * (pt[k] / (ns * nt) - c * ps[k] / (ns * ns)));
        }
    }
    return cos_sum / B;
}

/* rel: the cosine matrices of the student's and the teacher's pools; with dh_s, adds its
 * gradient (× w) to the real rows of dh_s. */
static double rel_part(distill_loss_t *s, const distill_batch *x, float w, float *dh_s)
{
    const int B = x->B, T = x->T, ds = s->d_s, dt = s->d_t;
    for (int b = 0; b < B; b++) {
        mean_rows(s->q + (size_t)b * ds, x->h_s, x->mask, b, T, ds, s->count[b]);
        s->qn[b] = normalise(s->q + (size_t)b * ds, ds);
        mean_rows(s->p + (size_t)b * dt, x->h_t, x->mask, b, T, dt, s->count[b]);
        normalise(s->p + (size_t)b * dt, dt);
    }
    double sum = 0;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < B; c++) {
            double gs = dot(s->q + (size_t)b * ds, s->q + (size_t)c * ds, ds);
            double gt = dot(s->p + (size_t)b * dt, s->p + (size_t)c * dt, dt);
            s->gs[b * B + c] = gs - gt; /* keeps the difference */
            sum += (gs - gt) * (gs - gt);
        }
    if (!dh_s || w == 0)
        return sum / ((double)B * B);
    /* dL/du_b = Σ_c 2 (G_bc − G'_bc)·2/B² u_c (G symmetric); through u = q/|q| to q, then to
     * every real row of b (q is their mean) */
    const double g = 4.0 * w / ((double)B * B);
    for (int b = 0; b < B; b++) {
        double *dq = s->dq + (size_t)b * ds;
        const double *u = s->q + (size_t)b * ds;
        memset(dq, 0, (size_t)ds * sizeof(double));
        for (int c = 0; c < B; c++) {
            const double *uc = s->q + (size_t)c * ds, f = g * s->gs[b * B + c];
            for (int k = 0; k < ds; k++)
                dq[k] += f * uc[k];
        }
        double along = dot(dq, u, ds);
        double inv = s->qn[b] > 0 ? 1.0 / (s->qn[b] * s->count[b]) : 0.0;
        for (int t = 0; t < T; t++) {
            if (!x->mask[b * T + t])
                continue;
            float *row = dh_s + ((size_t)b * T + t) * ds;
            for (int k = 0; k < ds; k++)
                row[k] += (float)((dq[k] - along * u[k]) * inv);
        }
    }
    return sum / ((double)B * B);
}

fp_status distill_loss_eval(distill_loss_t *s, const distill_batch *x, distill_weights w,
                            distill_parts *out, float *dh_s, float *dM, float *db, fp_error *err)
{
    const int N = x->B * x->T;
    if (x->B <= 0 || x->T <= 0 || N > s->max_rows || x->B > s->max_batch)
        return fp_fail(err, FP_EINVAL, "distillation loss: batch %d × %d does not fit %d rows",
                       x->B, x->T, s->max_rows);
    int n_real = 0;
    for (int b = 0; b < x->B; b++) {
        s->count[b] = 0;
        for (int t = 0; t < x->T; t++)
            s->count[b] += x->mask[b * x->T + t] != 0;
        if (!s->count[b])
            return fp_fail(err, FP_EINVAL, "distillation loss: example %d has no real token", b);
        n_real += s->count[b];
    }
    const lin_w M = {x->M, s->d_s, LIN_OUT_IN, NULL};
    linear_forward(s->Z, s->d_t, x->h_s, s->d_s, M, x->b, N, s->d_s, s->d_t, false);
    const bool grad = dh_s != NULL;
    out->tok = token_part(s, x, n_real, w.tok);
    out->pool_cos = pool_part(s, x, w.pool, grad);
    if (grad)
        linear_backward_input(dh_s, s->d_s, s->dZ, s->d_t, M, N, s->d_s, s->d_t, false);
    out->rel = rel_part(s, x, w.rel, dh_s);
    out->loss = w.tok * out->tok + w.pool * (1.0 - out->pool_cos) + w.rel * out->rel;
    if (grad) {
        memset(dM, 0, (size_t)s->d_t * s->d_s * sizeof(float));
        memset(db, 0, (size_t)s->d_t * sizeof(float));
        linear_backward_weight(dM, M, db, x->h_s, s->d_s, s->dZ, s->d_t, N, s->d_s, s->d_t);
    }
    return FP_OK;
}
