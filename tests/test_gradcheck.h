/* test_gradcheck.h — finite-difference gradient checking shared by the numerical-core tests.
 * Header-only (static functions) so each test program stays one file plus this.
 * A check perturbs each chosen entry of a float parameter by ±h, evaluates a scalar loss (the
 * caller computes it in double), and compares (L+ − L−)/2h with the analytic gradient both
 * element-wise (atol + rtol·scale) and as a whole (relative error of the vectors). */
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

/* Checks g[i] against central differences for i in [0, n) with the given stride (1 = all).
 * Fails the test with the first offending index. Returns the vector relative error. */
static inline double gradcheck(const char *what, float *x, const float *g, int n, int stride,
                               gc_loss_fn loss, void *ctx, gc_tol tol)
{
    double diff2 = 0, num2 = 0, ana2 = 0;
    for (int i = 0; i < n; i += stride) {
        float keep = x[i];
        x[i] = keep + tol.h;
        double lp = loss(ctx);
        x[i] = keep - tol.h;
        double lm = loss(ctx);
        x[i] = keep;
        /* the step actually taken in float, not the nominal h */
        double step = (double)(keep + tol.h) - (double)(keep - tol.h);
        double num = (lp - lm) / step, ana = g[i];
        double scale = fabs(num) > fabs(ana) ? fabs(num) : fabs(ana);
        if (fabs(num - ana) > tol.atol + tol.rtol * scale)
            fail_msg("%s[%d]: numeric %.7g, analytic %.7g", what, i, num, ana);
        diff2 += (num - ana) * (num - ana);
        num2 += num * num;
        ana2 += ana * ana;
    }
    double denom = sqrt(num2 > ana2 ? num2 : ana2);
    double rel = denom > 0 ? sqrt(diff2) / denom : 0.0;
    if (rel > tol.vrel)
        fail_msg("%s: relative error of the gradient %.3g > %.3g", what, rel, tol.vrel);
    return rel;
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
