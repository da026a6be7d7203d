/* slq.c — stochastic Lanczos quadrature and the ρ threshold search (see slq.h). */
#include "slq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/rng.h"
#include "jacobi.h"

#define STREAM_SLQ 0x534c5100u /* "SLQ" */

void fl_slq_result_free(fl_slq_result *r)
{
    if (!r)
        return;
    free(r->nodes);
    free(r->weights);
    r->nodes = r->weights = NULL;
}

static double dot_fd(const float *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* One probe: Lanczos from a Rademacher vector; fills alpha/beta and returns the size of T. */
static fp_status lanczos(fl_hvp_fn hvp, void *ctx, size_t n, int steps, rng_t *r, float *basis,
                         float *vin, float *hv, double *w, double *alpha, double *beta, int *size,
                         fp_error *err)
{
    double inv = 1.0 / sqrt((double)n);
    for (size_t i = 0; i < n; i++)
        basis[i] = (float)((rng_next(r) >> 63) ? inv : -inv);
    double scale = 0.0;
    int k = 0;
    for (;;) {
        float *vk = basis + (size_t)k * n;
        memcpy(vin, vk, n * sizeof *vin);
        fp_status st = hvp(ctx, vin, hv, err);
        if (st) {
            if (err)
                fp_wrap(err, "slq: hessian-vector product");
            return st;
        }
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(hv[i]))
                return fp_fail(err, FP_ENUMERIC, "slq: hessian-vector product is not finite");
            w[i] = hv[i];
        }
        alpha[k] = dot_fd(vk, w, n);
        /* Full reorthogonalisation (twice is enough, Parlett): it also removes the
         * α v_k + β v_{k−1} terms of the three-term recurrence. */
        for (int pass = 0; pass < 2; pass++)
            for (int j = 0; j <= k; j++) {
                const float *vj = basis + (size_t)j * n;
                double h = dot_fd(vj, w, n);
                for (size_t i = 0; i < n; i++)
                    w[i] -= h * vj[i];
            }
        double b = 0.0;
        for (size_t i = 0; i < n; i++)
            b += w[i] * w[i];
        b = sqrt(b);
        scale = fmax(scale, fabs(alpha[k]) + b + (k ? beta[k - 1] : 0.0));
        k++;
        if (k == steps || (size_t)k == n || b <= 1e-5 * scale)
            break;
        beta[k - 1] = b;
        float *next = basis + (size_t)k * n;
        for (size_t i = 0; i < n; i++)
            next[i] = (float)(w[i] / b);
    }
    *size = k;
    return FP_OK;
}

fp_status fl_slq_run(fl_hvp_fn hvp, void *ctx, size_t n, int steps, int probes, uint64_t seed,
                     fl_slq_result *out, fp_error *err)
{
    if (n == 0 || steps < 1 || probes < 1)
        return fp_fail(err, FP_EINVAL, "slq: n %zu, steps %d, probes %d", n, steps, probes);
    size_t m = (size_t)steps;
    float *basis = malloc(m * n * sizeof *basis);
    float *vin = malloc(n * sizeof *vin), *hv = malloc(n * sizeof *hv);
    double *w = malloc(n * sizeof *w);
    double *alpha = malloc(m * sizeof *alpha), *beta = calloc(m, sizeof *beta);
    double *t = malloc(m * m * sizeof *t), *q = malloc(m * m * sizeof *q);
    double *theta = malloc(m * sizeof *theta);
    fl_slq_result res = {.probes = probes, .steps = steps};
    res.nodes = calloc((size_t)probes * m, sizeof *res.nodes);
    res.weights = calloc((size_t)probes * m, sizeof *res.weights);
    fp_status st = FP_OK;
    if (!basis || !vin || !hv || !w || !alpha || !beta || !t || !q || !theta || !res.nodes ||
        !res.weights) {
        st = fp_fail(err, FP_ENOMEM, "slq: cannot allocate %d Lanczos vectors of %zu", steps, n);
        goto done;
    }
    rng_t r;
    rng_derive(&r, seed, STREAM_SLQ, 0);
    for (int p = 0; p < probes && !st; p++) {
        int size = 0;
        st = lanczos(hvp, ctx, n, steps, &r, basis, vin, hv, w, alpha, beta, &size, err);
        if (st)
            break;
        memset(t, 0, (size_t)size * size * sizeof *t);
        for (int i = 0; i < size; i++) {
            t[i * size + i] = alpha[i];
            if (i + 1 < size)
                t[i * size + i + 1] = t[(i + 1) * size + i] = beta[i];
        }
        st = fl_jacobi_eigen(t, size, theta, q, NULL, err);
        for (int j = 0; j < size && !st; j++) {
            res.nodes[(size_t)p * m + j] = theta[j];
            res.weights[(size_t)p * m + j] = q[j] * q[j]; /* first row of Q */
        }
        for (int j = size; j < steps && !st; j++) /* padding: weight 0 at an existing node */
            res.nodes[(size_t)p * m + j] = theta[size - 1];
    }
    if (!st) {
        *out = res;
        res.nodes = res.weights = NULL;
    }
done:
    fl_slq_result_free(&res);
    free(basis);
    free(vin);
    free(hv);
    free(w);
    free(alpha);
    free(beta);
    free(t);
    free(q);
    free(theta);
    return st;
}

double fl_slq_moment(const fl_slq_result *r, int power)
{
    double s = 0.0;
    size_t total = (size_t)r->probes * r->steps;
    for (size_t i = 0; i < total; i++)
        s += r->weights[i] * pow(r->nodes[i], power);
    return s / r->probes;
}

/* Mean over probes of each probe's extreme node (weight-0 padding repeats the last node, so
 * it never changes the extremes). */
static void node_range(const fl_slq_result *r, double *lo, double *hi)
{
    double sum_lo = 0.0, sum_hi = 0.0;
    for (int p = 0; p < r->probes; p++) {
        const double *x = r->nodes + (size_t)p * r->steps;
        double a = x[0], b = x[0];
        for (int j = 1; j < r->steps; j++) {
            a = fmin(a, x[j]);
            b = fmax(b, x[j]);
        }
        sum_lo += a;
        sum_hi += b;
    }
    *lo = sum_lo / r->probes;
    *hi = sum_hi / r->probes;
}

fp_status fl_slq_density(const fl_slq_result *r, int bins, double sigma2, double overhead,
                         double *grid, double *density, fp_error *err)
{
    if (bins < 2 || !(sigma2 > 0))
        return fp_fail(err, FP_EINVAL, "slq density: bins %d, sigma2 %g", bins, sigma2);
    double lo, hi;
    node_range(r, &lo, &hi);
    lo -= overhead;
    hi += overhead;
    double var = sigma2 * fmax(1.0, hi - lo), step = (hi - lo) / (bins - 1);
    double norm = 1.0 / sqrt(2.0 * M_PI * var), total = 0.0;
    for (int b = 0; b < bins; b++) {
        grid[b] = lo + step * b;
        double acc = 0.0;
        for (size_t i = 0; i < (size_t)r->probes * r->steps; i++) {
            double d = r->nodes[i] - grid[b];
            if (r->weights[i] > 0)
                acc += r->weights[i] * norm * exp(-d * d / (2.0 * var));
        }
        density[b] = acc / r->probes;
        total += density[b];
    }
    total *= step;
    if (!(total > 0))
        return fp_fail(err, FP_ENUMERIC,
                       "slq density: zero on the grid (step %g too coarse for variance %g)", step,
                       var);
    for (int b = 0; b < bins; b++)
        density[b] /= total;
    return FP_OK;
}

fl_ratio_config fl_ratio_defaults(void)
{
    return (fl_ratio_config){.t0 = 0.0,
                             .inc = 0.1,
                             .plateau_tol = 0.005,
                             .bins = 10000,
                             .sigma2 = 1e-5,
                             .overhead = 0.01};
}

/* mass(t) from the cumulative sums: cum[i] = Σ_{j<i} density[j] Δ. */
static double mass_above(const double *grid, const double *cum, int bins, double t)
{
    /* count of i in [0, bins−1) with grid[i+1] <= t: grid is increasing, so binary search. */
    int lo = 0, hi = bins - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (grid[mid + 1] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 1.0 - cum[lo];
}

fp_status fl_slq_ratio(const fl_slq_result *r, const fl_ratio_config *cfg, double *rho,
                       fp_error *err)
{
    int bins = cfg->bins;
    if (bins < 2 || !(cfg->inc > 0) || !(cfg->plateau_tol >= 0))
        return fp_fail(err, FP_EINVAL, "slq ratio: bins %d, inc %g, tol %g", bins, cfg->inc,
                       cfg->plateau_tol);
    double *grid = malloc((size_t)bins * sizeof *grid);
    double *density = malloc((size_t)bins * sizeof *density);
    double *cum = malloc((size_t)bins * sizeof *cum);
    fp_status st = FP_OK;
    if (!grid || !density || !cum) {
        st = fp_fail(err, FP_ENOMEM, "slq ratio: out of memory for %d bins", bins);
        goto done;
    }
    st = fl_slq_density(r, bins, cfg->sigma2, cfg->overhead, grid, density, err);
    if (st)
        goto done;
    cum[0] = 0.0;
    for (int i = 0; i + 1 < bins; i++)
        cum[i + 1] = cum[i] + density[i] * (grid[i + 1] - grid[i]);
    double inc = cfg->inc;
    long evals = 0;
    for (int halving = 0; halving <= FL_SLQ_MAX_HALVINGS; halving++, inc /= 2) {
        double first = mass_above(grid, cum, bins, cfg->t0), last[4] = {first, 0, 0, 0};
        int seen = 1;
        for (double t = cfg->t0 + inc; evals < FL_SLQ_MAX_EVALS; t += inc, evals++) {
            double m = mass_above(grid, cum, bins, t);
            if (m < first / 2)
                break;                                 /* into the bulk: a finer walk */
            memmove(last + 1, last, 3 * sizeof *last); /* last[0] newest */
            last[0] = m;
            seen++;
            if (seen >= 4 && fabs(last[0] - last[1]) < cfg->plateau_tol &&
                fabs(last[1] - last[2]) < cfg->plateau_tol &&
                fabs(last[2] - last[3]) < cfg->plateau_tol) {
                *rho = last[0];
                goto done;
            }
        }
        if (evals >= FL_SLQ_MAX_EVALS)
            break;
    }
    st = fp_fail(err, FP_ENUMERIC, "slq ratio: the spectral tail never levelled off");
done:
    free(grid);
    free(density);
    free(cum);
    return st;
}
