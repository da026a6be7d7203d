/* fastmath.h — exp, erf and tanh for float32 written as branch-free straight-line code, so the
 * compiler vectorises the element-wise loops that call them (libm's expf/erff/tanhf are opaque
 * calls and keep GELU and softmax scalar).
 * Accuracy (checked in tests/test_kernels.c against libm over a wide range):
 *   fm_expf: relative error < 1e-7 on [-87, 88]; exactly 0 below -87.3 (so exp(-inf) = 0, which
 *            masked softmax columns rely on);
 *   fm_erff: absolute error < 6e-7 (Abramowitz–Stegun 7.1.26 with fm_expf);
 *   fm_tanhf: absolute error < 2e-7.
 * Pure functions: no state, no errno, no allocation. */
#ifndef FEDPEP_MODEL_FASTMATH_H
#define FEDPEP_MODEL_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float fm_expf(float x)
{
    /* exp(x) = 2^n · exp(r), n = round(x / ln 2), r = x − n ln 2 (ln 2 split in two for
     * exactness), exp(r) by the Cephes degree-6 polynomial. */
    const float lo = -87.3f, hi = 88.3f;
    /* two plain selects (a nested one blocks vectorisation); NaN goes to lo, so the float → int
     * conversion below is always defined */
    float xc = !(x >= lo) ? lo : x;
    xc = xc > hi ? hi : xc;
    float n = floorf(xc * 1.44269504088896341f + 0.5f);
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < lo ? 0.0f : p * scale;
}

static inline float fm_erff(float x)
{
    float a = fabsf(x);
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly =
        t * (0.254829592f +
             t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
    float e = 1.0f - poly * fm_expf(-a * a);
    return x < 0.0f ? -e : e;
}

static inline float fm_tanhf(float x)
{
    /* tanh(x) = 1 − 2 / (exp(2x) + 1); for small |x| the cancellation costs absolute accuracy
     * ~1e-7 only, and for large x exp saturates to give exactly ±1. */
    float xc = x > 44.0f ? 44.0f : x;
    xc = xc < -44.0f ? -44.0f : xc;
    return 1.0f - 2.0f / (fm_expf(2.0f * xc) + 1.0f);
}

/* Sums in FM_LANES independent partial sums: a float reduction written as one running sum stays
 * scalar unless the compiler may reassociate (-ffast-math, which fedpep does not use), and keeps
 * the exponentials beside it scalar too. */
#define FM_LANES 16

/* x[j] = exp(x[j] − shift) for j < n, in place; returns their sum. */
static inline float fm_exp_shift_sum(float *x, int n, float shift)
{
    float lane[FM_LANES] = {0};
    int j = 0;
    for (; j + FM_LANES <= n; j += FM_LANES)
        for (int k = 0; k < FM_LANES; k++) {
            const float e = fm_expf(x[j + k] - shift);
            x[j + k] = e;
            lane[k] += e;
        }
    for (; j < n; j++) {
        x[j] = fm_expf(x[j] - shift);
        lane[0] += x[j];
    }
    float sum = 0.0f;
    for (int k = 0; k < FM_LANES; k++)
        sum += lane[k];
    return sum;
}

/* Σ a[j] b[j] for j < n. */
static inline float fm_dot(const float *a, const float *b, int n)
{
    float lane[FM_LANES] = {0};
    int j = 0;
    for (; j + FM_LANES <= n; j += FM_LANES)
        for (int k = 0; k < FM_LANES; k++)
            lane[k] += a[j + k] * b[j + k];
    for (; j < n; j++)
        lane[0] += a[j] * b[j];
    float sum = 0.0f;
    for (int k = 0; k < FM_LANES; k++)
        sum += lane[k];
    return sum;
}

#endif
