/* layer_score.c — the layer-importance statistic and the layer selection (see layer_score.h). */
#include "layer_score.h"

#include <math.h>
#include <stdlib.h>

#include "common/rng.h"
#include "jacobi.h"

#define STREAM_RANDOM_LAYERS 0x4c415952u /* "LAYR" */

fp_status fl_cosine_similarity(const float *z, int b, size_t dim, double *c, fp_error *err)
{
    double norm[FL_LAYER_SCORE_MAX_BATCH];
    if (b < 1 || b > FL_LAYER_SCORE_MAX_BATCH)
        return fp_fail(err, FP_EINVAL, "cosine similarity: batch %d not in [1, %d]", b,
                       FL_LAYER_SCORE_MAX_BATCH);
    for (int i = 0; i < b; i++) {
        for (int j = 0; j <= i; j++) {
            const float *zi = z + (size_t)i * dim, *zj = z + (size_t)j * dim;
            double dot = 0.0;
            for (size_t e = 0; e < dim; e++)
                dot += (double)zi[e] * zj[e];
            c[i * b + j] = c[j * b + i] = dot;
        }
        norm[i] = sqrt(c[i * b + i]);
        if (!(norm[i] > 0) || !isfinite(norm[i]))
            return fp_fail(err, FP_ENUMERIC, "cosine similarity: example %d has norm %g", i,
                           norm[i]);
    }
    for (int i = 0; i < b; i++)
        for (int j = 0; j < b; j++)
            c[i * b + j] = i == j ? 1.0 : c[i * b + j] / (norm[i] * norm[j]);
    return FP_OK;
}

double fl_layer_statistic_from_eigen(const double *lambda, int b)
{
    double s = 0.0;
    for (int j = 0; j < b; j++) {
        double x = (lambda[j] > 0 ? lambda[j] : 0.0) + FL_LAYER_SCORE_EPS;
        s += log(x) + 1.0 / x;
    }
    return s;
}

void fl_layer_statistic_range(int b, double *lo, double *hi)
{
    const double slack = 1e-9;
    *lo = (double)b * (1.0 - slack);
    *hi = (double)b * (log(FL_LAYER_SCORE_EPS) + 1.0 / FL_LAYER_SCORE_EPS) * (1.0 + slack);
}

fp_status fl_layer_statistic(const float *z, int b, size_t dim, double *s, fp_error *err)
{
    double c[FL_LAYER_SCORE_MAX_BATCH * FL_LAYER_SCORE_MAX_BATCH], lambda[FL_LAYER_SCORE_MAX_BATCH];
    fp_status st = fl_cosine_similarity(z, b, dim, c, err);
    if (!st)
        st = fl_jacobi_eigen(c, b, lambda, NULL, NULL, err);
    if (st) {
        if (err)
            fp_wrap(err, "layer statistic");
        return st;
    }
    *s = fl_layer_statistic_from_eigen(lambda, b);
    return FP_OK;
}

fp_status fl_layer_statistics(const float *hidden, int n_scored, int b, size_t dim, double *s,
                              fp_error *err)
{
    for (int l = 0; l < n_scored; l++) {
        fp_status st = fl_layer_statistic(hidden + (size_t)l * b * dim, b, dim, &s[l], err);
        if (st) {
            if (err)
                fp_wrap(err, "layer %d", l);
            return st;
        }
    }
    return FP_OK;
}

fp_status fl_layer_scores_combine(const double *s, const int64_t *n, int n_clients, int n_scored,
                                  double *S, fp_error *err)
{
    double total = 0.0;
    for (int k = 0; k < n_clients; k++) {
        if (n[k] < 0)
            return fp_fail(err, FP_EINVAL, "layer scores: client %d has n = %lld", k,
                           (long long)n[k]);
        total += (double)n[k];
    }
    if (!(total > 0))
        return fp_fail(err, FP_EINVAL, "layer scores: no examples behind the statistics");
    for (int l = 0; l < n_scored; l++) {
        double acc = 0.0;
        for (int k = 0; k < n_clients; k++)
            acc += ((double)n[k] / total) * s[(size_t)k * n_scored + l];
        S[l] = acc;
    }
    return FP_OK;
}

/* a ranks before b: larger score first, NaN last, lower id on ties. */
static int ranks_before(const double *S, int a, int b)
{
    if (isnan(S[a]) || isnan(S[b]))
        return isnan(S[b]) && (!isnan(S[a]) || a < b);
    return S[a] > S[b] || (S[a] == S[b] && a < b);
}

void fl_layer_rank(const double *S, int n, int *order)
{
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++) /* insertion sort: n ≤ ~100 layers */
        for (int j = i; j > 0 && ranks_before(S, order[j], order[j - 1]); j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

fp_status fl_layer_count(double rho, int n_layers, int *k, fp_error *err)
{
    if (!(rho >= 0 && rho <= 1) || n_layers < 2)
        return fp_fail(err, FP_EINVAL, "layer count: need 0 <= rho <= 1, L >= 2 (rho %g, L %d)",
                       rho, n_layers);
    int kk = (int)floor(rho * n_layers + 0.5);
    *k = kk < 1 ? 1 : kk > n_layers - 1 ? n_layers - 1 : kk;
    return FP_OK;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

fp_status fl_layer_select(const double *S, int n_layers, double rho, int *layers, int *k,
                          fp_error *err)
{
    int kk = 0;
    fp_status st = fl_layer_count(rho, n_layers, &kk, err);
    if (st)
        return st;
    int *order = malloc((size_t)(n_layers - 1) * sizeof *order);
    if (!order)
        return fp_fail(err, FP_ENOMEM, "layer select: out of memory");
    fl_layer_rank(S, n_layers - 1, order);
    for (int i = 0; i < kk; i++)
        layers[i] = order[i];
    free(order);
    qsort(layers, (size_t)kk, sizeof *layers, cmp_int);
    *k = kk;
    return FP_OK;
}

fp_status fl_layer_select_random(uint64_t seed, int n_layers, int k, int *layers, fp_error *err)
{
    if (n_layers < 2 || k < 1 || k > n_layers - 1)
        return fp_fail(err, FP_EINVAL, "random layers: k = %d not in [1, L − 1 = %d]", k,
                       n_layers - 1);
    rng_t r;
    rng_derive(&r, seed, STREAM_RANDOM_LAYERS, 0);
    fp_status st = rng_sample_without_replacement(&r, n_layers - 1, k, layers);
    if (st)
        return fp_fail(err, st, "random layers: sampling failed");
    qsort(layers, (size_t)k, sizeof *layers, cmp_int);
    return FP_OK;
}
