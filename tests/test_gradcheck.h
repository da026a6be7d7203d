/* test_gradcheck.h — finite-difference gradient checking shared by the numerical-core tests.
 * Header-only (static functions) so each test program stays one file plus this.
 * A check perturbs each chosen entry of a float parameter by ±h, evaluates a scalar loss (the
 * caller computes it in double), and compares (L+ − L−)/2h with the analytic gradient both
 * element-wise (atol + rtol·scale; a miss is retried once with h/3, whose float rounding noise
 * is 3× larger, so atol triples) and as a whole (relative error of the vectors). */
#ifndef FEDPEP_TESTS_TEST_GRADCHECK_H
#define FEDPEP_TESTS_TEST_GRADCHECK_H

#include "tests/support/test.h"

typedef double (*gc_loss_fn)(void *ctx);

typedef struct gc_tol {
    float h;     /* step */
    double atol; /* per-element absolute slack */
    double rtol; /* per-element relative slack */
    double vrel; /* bound on |num − ana| / max(|num|, |ana|) over the whole vector */
} gc_tol;

/* Sums of squares over a gradient checked in pieces (e.g. row by row of a prompt). */
typedef struct gc_sums {
    double diff2, num2, ana2;
} gc_sums;

/* Fails the test unless the relative error of the whole accumulated vector is within vrel. */
static inline double gc_sums_check(const char *what, gc_sums s, double vrel)
{
    double denom = sqrt(s.num2 > s.ana2 ? s.num2 : s.ana2);
    double rel = denom > 0 ? sqrt(s.diff2) / denom : 0.0;
    if (rel > vrel)
        fail_msg("%s: relative error of the gradient %.3g > %.3g", what, rel, vrel);
    return rel;
}

/* Checks g[i] against central differences for i in [0, n) with the given stride (1 = all).
 * Fails the test with the first offending index. With sums == NULL also checks the vector
 * relative error of this piece; otherwise adds to *sums for one check of the whole. */
static inline double gradcheck_into(const char *what, float *x, const float *g, int n, int stride,
                                    gc_loss_fn loss, void *ctx, gc_tol tol, gc_sums *sums)
{
    double diff2 = 0, num2 = 0, ana2 = 0;
    for (int i = 0; i < n; i += stride) {
        double ana = g[i], num = 0;
        /* A mismatch is retried with a 3× smaller step before it fails: curvature shrinks with
         * the step, a wrong gradient does not. */
        for (int attempt = 0; attempt < 2; attempt++) {
            float h = attempt ? tol.h / 3 : tol.h, keep = x[i];
            x[i] = keep + h;
            double lp = loss(ctx);
            x[i] = keep - h;
            double lm = loss(ctx);
            x[i] = keep;
            /* the step actually taken in float, not the nominal h */
            double step = (double)(keep + h) - (double)(keep - h);
            num = (lp - lm) / step;
            double scale = fabs(num) > fabs(ana) ? fabs(num) : fabs(ana);
            if (fabs(num - ana) <= tol.atol * (attempt ? 3 : 1) + tol.rtol * scale)
                break;
            if (attempt)
                fail_msg("%s[%d]: numeric %.7g (step %g), analytic %.7g", what, i, num, h, ana);
        }
        diff2 += (num - ana) * (num - ana);
        num2 += num * num;
        ana2 += ana * ana;
    }
    gc_sums piece = {diff2, num2, ana2};
    if (!sums)
        return gc_sums_check(what, piece, tol.vrel);
    sums->diff2 += diff2;
    sums->num2 += num2;
    sums->ana2 += ana2;
    return 0.0;
}

static inline double gradcheck(const char *what, float *x, const float *g, int n, int stride,
                               gc_loss_fn loss, void *ctx, gc_tol tol)
{
    return gradcheck_into(what, x, g, n, stride, loss, ctx, tol, NULL);
}

/* Σ out[i]·r[i] in double: the scalar whose gradient wrt out is r. */
static inline double gc_dot(const float *out, const float *r, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)out[i] * r[i];
    return s;
}

#endif
