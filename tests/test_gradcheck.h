/* test_gradcheck.h — finite-difference gradient checking shared by the numerical-core tests.
 * Header-only (static functions) so each test program stays one file plus this.
 * A check perturbs each chosen entry of a float parameter by ±h, evaluates a scalar loss (the
 * caller computes it in double), and compares (L+ − L−)/2h with the analytic gradient both
 * element-wise (atol + rtol·scale; a miss is retried once with h/3, whose float rounding noise
 * is 3× larger, so atol triples) and as a whole (relative error of the vectors). A check also
 * fails when the analytic gradient is zero, unless the caller opts in with *_allow_zero: an
 * all-zero gradient matches an all-zero numeric one and would prove nothing. */
#ifndef FEDPEP_TESTS_TEST_GRADCHECK_H
#define FEDPEP_TESTS_TEST_GRADCHECK_H

#include <stdbool.h>

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

/* An analytic gradient whose norm is below this fraction of the numeric one counts as zero. */
#define GC_NEGLIGIBLE 1e-3

/* The verdict on a whole vector. A zero analytic gradient is a failure of its own: when the
 * numeric gradient is zero too, the relative error is 0 and a backward that returns zeros (or
 * writes them where the forward reads nothing) would pass. */
typedef enum gc_verdict {
    GC_PASS,
    GC_ZERO, /* the analytic gradient is identically zero or negligible beside the numeric one */
    GC_FAR,  /* relative error of the vector above vrel */
} gc_verdict;

/* The core of every check, which never fails the test: the verdict on sums, with the relative
 * error of the vector in *rel. allow_zero: the caller expects this gradient to be zero, so a
 * zero analytic gradient passes when the numeric one is zero as well. */
static inline gc_verdict gc_judge(gc_sums s, double vrel, bool allow_zero, double *rel)
{
    double denom = sqrt(s.num2 > s.ana2 ? s.num2 : s.ana2);
    *rel = denom > 0 ? sqrt(s.diff2) / denom : 0.0;
    if (!allow_zero && (s.ana2 == 0 || sqrt(s.ana2) < GC_NEGLIGIBLE * sqrt(s.num2)))
        return GC_ZERO;
    return *rel > vrel ? GC_FAR : GC_PASS;
}

static inline double gc_sums_check_as(const char *what, gc_sums s, double vrel, bool allow_zero)
{
    double rel;
    switch (gc_judge(s, vrel, allow_zero, &rel)) {
    case GC_ZERO:
        fail_msg("%s: the analytic gradient is zero (norm %.3g, numeric %.3g): nothing is checked",
                 what, sqrt(s.ana2), sqrt(s.num2));
        break;
    case GC_FAR:
        fail_msg("%s: relative error of the gradient %.3g > %.3g", what, rel, vrel);
        break;
    case GC_PASS:
        break;
    }
    return rel;
}

/* Fails the test unless the relative error of the whole accumulated vector is within vrel and
 * the analytic gradient is not zero. */
static inline double gc_sums_check(const char *what, gc_sums s, double vrel)
{
    return gc_sums_check_as(what, s, vrel, false);
}

/* The same for a gradient the caller expects to be zero (say why at the call). */
static inline double gc_sums_check_allow_zero(const char *what, gc_sums s, double vrel)
{
    return gc_sums_check_as(what, s, vrel, true);
}

/* The first element that failed its element-wise check in gc_measure. */
typedef struct gc_miss {
    int index; /* -1: none */
    double num, ana;
    float h;
} gc_miss;

/* Measures g[i] against central differences for i in [0, n) with the given stride (1 = all) and
 * adds the squares to *sums; never fails the test. Returns the first element outside
 * atol + rtol·scale after the retry (index -1 when every one is inside). */
static inline gc_miss gc_measure(float *x, const float *g, int n, int stride, gc_loss_fn loss,
                                 void *ctx, gc_tol tol, gc_sums *sums)
{
    gc_miss miss = {.index = -1};
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
            if (attempt && miss.index < 0)
                miss = (gc_miss){i, num, ana, h};
        }
        sums->diff2 += (num - ana) * (num - ana);
        sums->num2 += num * num;
        sums->ana2 += ana * ana;
    }
    return miss;
}

static inline double gradcheck_as(const char *what, float *x, const float *g, int n, int stride,
                                  gc_loss_fn loss, void *ctx, gc_tol tol, gc_sums *sums,
                                  bool allow_zero)
{
    gc_sums piece = {0};
    gc_miss miss = gc_measure(x, g, n, stride, loss, ctx, tol, &piece);
    if (miss.index >= 0)
        fail_msg("%s[%d]: numeric %.7g (step %g), analytic %.7g", what, miss.index, miss.num,
                 miss.h, miss.ana);
    if (!sums)
        return gc_sums_check_as(what, piece, tol.vrel, allow_zero);
    sums->diff2 += piece.diff2;
    sums->num2 += piece.num2;
    sums->ana2 += piece.ana2;
    return 0.0;
}

/* Checks g[i] against central differences for i in [0, n) with the given stride (1 = all).
 * Fails the test with the first offending index. With sums == NULL also checks the vector
 * relative error of this piece (and that its analytic gradient is not zero); otherwise adds to
 * *sums for one check of the whole, where a piece may be zero. */
static inline double gradcheck_into(const char *what, float *x, const float *g, int n, int stride,
                                    gc_loss_fn loss, void *ctx, gc_tol tol, gc_sums *sums)
{
    return gradcheck_as(what, x, g, n, stride, loss, ctx, tol, sums, false);
}

static inline double gradcheck(const char *what, float *x, const float *g, int n, int stride,
                               gc_loss_fn loss, void *ctx, gc_tol tol)
{
    return gradcheck_as(what, x, g, n, stride, loss, ctx, tol, NULL, false);
}

/* gradcheck of a piece whose gradient the caller expects to be zero (say why at the call). */
static inline double gradcheck_allow_zero(const char *what, float *x, const float *g, int n,
                                          int stride, gc_loss_fn loss, void *ctx, gc_tol tol)
{
    return gradcheck_as(what, x, g, n, stride, loss, ctx, tol, NULL, true);
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
