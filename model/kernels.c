/* kernels.c — element-wise and row-wise transformer kernels; see kernels.h.
 * Must never allocate: these run inside the training step on buffers from the arena. */
/* GCC keeps float selects (the clamps of fastmath.h) out of vectorised loops unless it may assume
 * they raise no FP exception; fedpep never reads FP exception flags. Clang vectorises without. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "kernels.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "common/rng.h"
#include "model/fastmath.h"
#include "model/matmul_bf16.h"
#include "model/parallel.h"

void embedding_forward(float *restrict out, const int *tok, const int *pos,
                       const float *restrict wte, const float *restrict wpe,
                       const float *restrict wtt, int N, int d)
{
    for (int n = 0; n < N; n++) {
        float *restrict o = out + (size_t)n * d;
        const float *restrict e = wte + (size_t)tok[n] * d;
        const float *restrict p = wpe + (size_t)pos[n] * d;
        for (int i = 0; i < d; i++)
            o[i] = e[i] + p[i];
        if (wtt)
            for (int i = 0; i < d; i++)
                o[i] += wtt[i];
    }
}

void embedding_backward(float *restrict dwte, float *restrict dwpe, const float *restrict dout,
                        const int *tok, const int *pos, int N, int d)
{
    for (int n = 0; n < N; n++) {
        const float *restrict g = dout + (size_t)n * d;
        if (dwte) {
            float *restrict t = dwte + (size_t)tok[n] * d;
            for (int i = 0; i < d; i++)
                t[i] += g[i];
        }
        if (dwpe) {
            float *restrict p = dwpe + (size_t)pos[n] * d;
            for (int i = 0; i < d; i++)
                p[i] += g[i];
        }
    }
}

/* Σ x[i] and Σ (x[i] − m)² over a row, each in FM_LANES float partial sums added in double:
 * vectorised, and as accurate as one double sum for rows of a few thousand. */
static double row_sum(const float *restrict x, int d)
{
    float lane[FM_LANES] = {0};
    int i = 0;
    for (; i + FM_LANES <= d; i += FM_LANES)
        for (int k = 0; k < FM_LANES; k++)
            lane[k] += x[i + k];
    double s = 0;
    for (; i < d; i++)
        s += x[i];
    for (int k = 0; k < FM_LANES; k++)
        s += lane[k];
    return s;
}

static double row_sq_dev(const float *restrict x, float m, int d)
{
    float lane[FM_LANES] = {0};
    int i = 0;
    for (; i + FM_LANES <= d; i += FM_LANES)
        for (int k = 0; k < FM_LANES; k++) {
            const float c = x[i + k] - m;
            lane[k] += c * c;
        }
    double v = 0;
    for (; i < d; i++)
        v += (double)(x[i] - m) * (x[i] - m);
    for (int k = 0; k < FM_LANES; k++)
        v += lane[k];
    return v;
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int N, int d, float eps)
{
    const int threads = par_threads((size_t)N, (size_t)d);
    PAR_FOR(threads)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * d;
        float *o = out + (size_t)n * d;
        /* two passes (mean, then squared deviations): stable where x has a large mean */
        const float m = (float)(row_sum(xr, d) / d);
        const float r = (float)(1.0 / sqrt(row_sq_dev(xr, m, d) / d + eps));
        for (int i = 0; i < d; i++)
            o[i] = (xr[i] - m) * r * w[i] + b[i];
        mean[n] = m;
        rstd[n] = r;
    }
}

void layernorm_backward(float *restrict dx, float *restrict dw, float *restrict db,
                        const float *restrict dout, const float *restrict x,
                        const float *restrict w, const float *mean, const float *rstd, int N, int d)
{
    /* dw and db are sums over rows, whose order a split would change: rows split only without */
    const int threads = dw || db ? 1 : par_threads((size_t)N, (size_t)d);
    PAR_FOR(threads)
    for (int n = 0; n < N; n++) {
        const float *restrict g = dout + (size_t)n * d;
        const float *restrict xr = x + (size_t)n * d;
        const float m = mean[n], r = rstd[n];
        /* mean(g·w) and mean(g·w·xhat) over the row, in partial sums (see row_sum) */
        float lg[FM_LANES] = {0}, lx[FM_LANES] = {0};
        int i = 0;
        for (; i + FM_LANES <= d; i += FM_LANES)
            for (int k = 0; k < FM_LANES; k++) {
                const float gw = g[i + k] * w[i + k];
                lg[k] += gw;
                lx[k] += gw * ((xr[i + k] - m) * r);
            }
        for (; i < d; i++) {
            const float gw = g[i] * w[i];
            lg[0] += gw;
            lx[0] += gw * ((xr[i] - m) * r);
        }
        float sg = 0, sgx = 0;
        for (int k = 0; k < FM_LANES; k++)
            sg += lg[k], sgx += lx[k];
        sg /= d;
        sgx /= d;
        if (dx) {
            float *restrict dxr = dx + (size_t)n * d;
            for (i = 0; i < d; i++)
                dxr[i] += r * (g[i] * w[i] - sg - (xr[i] - m) * r * sgx);
        }
        if (dw)
            for (i = 0; i < d; i++)
                dw[i] += g[i] * ((xr[i] - m) * r);
        if (db)
            for (i = 0; i < d; i++)
                db[i] += g[i];
    }
}

#define GELU_TANH_C 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_INV_SQRT2 0.7071067811865476f
#define GELU_INV_SQRT2PI 0.3989422804014327f

/* fastmath.h versions of tanh/erf/exp keep these loops vectorised (libm calls would not). */
static void gelu_forward_run(float *out, const float *x, int N, bool tanh_approx)
{
    if (tanh_approx) {
        for (int n = 0; n < N; n++) {
            float v = x[n];
            float u = GELU_TANH_C * (v + 0.044715f * v * v * v);
            out[n] = 0.5f * v * (1.0f + fm_tanhf(u));
        }
    } else {
        for (int n = 0; n < N; n++) {
            float v = x[n];
            out[n] = 0.5f * v * (1.0f + fm_erff(v * GELU_INV_SQRT2));
        }
    }
}

static void gelu_backward_run(float *restrict dx, const float *restrict dout,
                              const float *restrict x, int N, bool tanh_approx)
{
    if (tanh_approx) {
        for (int n = 0; n < N; n++) {
            float v = x[n];
            float u = GELU_TANH_C * (v + 0.044715f * v * v * v);
            float t = fm_tanhf(u);
            float du = GELU_TANH_C * (1.0f + 3.0f * 0.044715f * v * v);
            float g = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * du;
            dx[n] += dout[n] * g;
        }
    } else {
        for (int n = 0; n < N; n++) {
            float v = x[n];
            float g = 0.5f * (1.0f + fm_erff(v * GELU_INV_SQRT2)) +
                      v * GELU_INV_SQRT2PI * fm_expf(-0.5f * v * v);
            dx[n] += dout[n] * g;
        }
    }
}

static void relu_forward_run(float *out, const float *x, int N)
{
    for (int n = 0; n < N; n++)
        out[n] = x[n] > 0.0f ? x[n] : 0.0f;
}

static void relu_backward_run(float *restrict dx, const float *restrict dout,
                              const float *restrict x, int N)
{
    for (int n = 0; n < N; n++)
        if (x[n] > 0.0f)
            dx[n] += dout[n];
}

/* Blocks small enough for L1: the fp32 values live only in tmp between the two loops. */
#define BF16_BLOCK 256

static void gelu_forward_bf16_run(uint16_t *out, const float *x, int N, bool tanh_approx)
{
    float tmp[BF16_BLOCK];
    for (int i = 0; i < N; i += BF16_BLOCK) {
        const int m = N - i < BF16_BLOCK ? N - i : BF16_BLOCK;
        gelu_forward_run(tmp, x + i, m, tanh_approx);
        mm_bf16_from_f32(out + i, tmp, (size_t)m);
    }
}

static void gelu_backward_bf16_run(uint16_t *dx, const float *dout, const float *x, int N,
                                   bool tanh_approx)
{
    float tmp[BF16_BLOCK];
    for (int i = 0; i < N; i += BF16_BLOCK) {
        const int m = N - i < BF16_BLOCK ? N - i : BF16_BLOCK;
        memset(tmp, 0, (size_t)m * sizeof *tmp);
        gelu_backward_run(tmp, dout + i, x + i, m, tanh_approx);
        mm_bf16_from_f32(dx + i, tmp, (size_t)m);
    }
}

static void relu_forward_bf16_run(uint16_t *out, const float *x, int N)
{
    float tmp[BF16_BLOCK];
    for (int i = 0; i < N; i += BF16_BLOCK) {
        const int m = N - i < BF16_BLOCK ? N - i : BF16_BLOCK;
        relu_forward_run(tmp, x + i, m);
        mm_bf16_from_f32(out + i, tmp, (size_t)m);
    }
}

static void relu_backward_bf16_run(uint16_t *dx, const float *dout, const float *x, int N)
{
    float tmp[BF16_BLOCK];
    for (int i = 0; i < N; i += BF16_BLOCK) {
        const int m = N - i < BF16_BLOCK ? N - i : BF16_BLOCK;
        memset(tmp, 0, (size_t)m * sizeof *tmp);
        relu_backward_run(tmp, dout + i, x + i, m);
        mm_bf16_from_f32(dx + i, tmp, (size_t)m);
    }
}

static void residual_forward_run(float *out, const float *a, const float *b, int N)
{
    for (int n = 0; n < N; n++)
        out[n] = a[n] + b[n];
}

/* ---------------------------------------------------------------- element-wise, split */

/* Each kernel above runs on blocks of EW_BLOCK elements, one thread per block (parallel.h): an
 * element's value does not depend on which block or thread computes it. A multiple of
 * BF16_BLOCK and of the vector width. */
#define EW_BLOCK 8192
#define EW_SPLIT(N, i, m, call)                                                                    \
    do {                                                                                           \
        const int nb_ = ((N) + EW_BLOCK - 1) / EW_BLOCK;                                           \
        const int threads_ = par_threads((size_t)nb_, EW_BLOCK);                                   \
        PAR_FOR(threads_)                                                                          \
        for (int k_ = 0; k_ < nb_; k_++) {                                                         \
            const int i = k_ * EW_BLOCK, m = (N)-i < EW_BLOCK ? (N)-i : EW_BLOCK;                  \
            call;                                                                                  \
        }                                                                                          \
    } while (0)

void gelu_forward(float *out, const float *x, int N, bool tanh_approx)
{
    EW_SPLIT(N, i, m, gelu_forward_run(out + i, x + i, m, tanh_approx));
}

void gelu_backward(float *dx, const float *dout, const float *x, int N, bool tanh_approx)
{
    EW_SPLIT(N, i, m, gelu_backward_run(dx + i, dout + i, x + i, m, tanh_approx));
}

void relu_forward(float *out, const float *x, int N)
{
    EW_SPLIT(N, i, m, relu_forward_run(out + i, x + i, m));
}

void relu_backward(float *dx, const float *dout, const float *x, int N)
{
    EW_SPLIT(N, i, m, relu_backward_run(dx + i, dout + i, x + i, m));
}

void gelu_forward_bf16(uint16_t *out, const float *x, int N, bool tanh_approx)
{
    EW_SPLIT(N, i, m, gelu_forward_bf16_run(out + i, x + i, m, tanh_approx));
}

void gelu_backward_bf16(uint16_t *dx, const float *dout, const float *x, int N, bool tanh_approx)
{
    EW_SPLIT(N, i, m, gelu_backward_bf16_run(dx + i, dout + i, x + i, m, tanh_approx));
}

void relu_forward_bf16(uint16_t *out, const float *x, int N)
{
    EW_SPLIT(N, i, m, relu_forward_bf16_run(out + i, x + i, m));
}

void relu_backward_bf16(uint16_t *dx, const float *dout, const float *x, int N)
{
    EW_SPLIT(N, i, m, relu_backward_bf16_run(dx + i, dout + i, x + i, m));
}

void zero_floats(float *x, size_t N)
{
    const size_t nb = (N + EW_BLOCK - 1) / EW_BLOCK;
    const int threads = par_threads(nb, EW_BLOCK);
    PAR_FOR(threads)
    for (size_t k = 0; k < nb; k++) {
        const size_t i = k * EW_BLOCK, m = N - i < EW_BLOCK ? N - i : EW_BLOCK;
        memset(x + i, 0, m * sizeof *x);
    }
}

void residual_forward(float *out, const float *a, const float *b, int N)
{
    EW_SPLIT(N, i, m, residual_forward_run(out + i, a + i, b + i, m));
}

/* Keep decisions: 16 random bits per element (four per 64-bit draw) compared to
 * round((1 − p)·2^16), so p is honoured to 1e-5; one rng per call, derived from (seed, site,
 * index) so forward and backward draw the identical stream. The bits of a block are drawn first
 * (the only serial part), then applied by a loop the compiler vectorises. out may alias x. */
#define DROP_BLOCK 256

static void dropout_apply(float *out, const float *x, int N, float p, uint64_t seed, uint64_t site,
                          uint64_t index, bool accumulate)
{
    rng_t r;
    rng_derive(&r, seed, site, index);
    const double keep = (1.0 - (double)p) * 65536.0 + 0.5;
    const uint16_t thr = keep >= 65535.0 ? 65535 : (uint16_t)keep;
    const float scale = 1.0f / (1.0f - p);
    uint16_t u[DROP_BLOCK];
    for (int n0 = 0; n0 < N; n0 += DROP_BLOCK) {
        const int m = N - n0 < DROP_BLOCK ? N - n0 : DROP_BLOCK;
        for (int k = 0; k < m; k += 4) {
            uint64_t bits = rng_next(&r);
            memcpy(&u[k], &bits, sizeof bits);
        }
        const float *xs = x + n0;
        float *os = out + n0;
        if (accumulate)
            for (int k = 0; k < m; k++)
                os[k] += (u[k] < thr ? scale : 0.0f) * xs[k];
        else
            for (int k = 0; k < m; k++)
                os[k] = (u[k] < thr ? scale : 0.0f) * xs[k];
    }
}

void dropout_forward(float *out, const float *x, int N, float p, uint64_t seed, uint64_t site,
                     uint64_t index)
{
    assert(p >= 0.0f && p < 1.0f);
    if (p == 0.0f) {
        if (out != x)
            memmove(out, x, (size_t)N * sizeof *out);
        return;
    }
    dropout_apply(out, x, N, p, seed, site, index, false);
}

void dropout_backward(float *dx, const float *dout, int N, float p, uint64_t seed, uint64_t site,
                      uint64_t index)
{
    assert(p >= 0.0f && p < 1.0f);
    if (p == 0.0f) {
        EW_SPLIT(N, i, m, residual_forward_run(dx + i, dx + i, dout + i, m));
        return;
    }
    dropout_apply(dx, dout, N, p, seed, site, index, true);
}

/* log Σ exp(logits), max-shifted. V is 50k: exponentials in float (fastmath, vectorised over 8
 * lanes), each lane's partial sums of 512 terms added into a double. */
static double logsumexp(const float *logits, int V)
{
    float mx = logits[0];
    for (int v = 1; v < V; v++)
        mx = logits[v] > mx ? logits[v] : mx;
    double s = 0;
    for (int v0 = 0; v0 < V; v0 += 512) {
        const int n = V - v0 < 512 ? V - v0 : 512;
        const float *restrict x = logits + v0;
        float lane[8] = {0};
        int v = 0;
        for (; v + 8 <= n; v += 8)
            for (int k = 0; k < 8; k++)
                lane[k] += fm_expf(x[v + k] - mx);
        for (; v < n; v++)
            lane[0] += fm_expf(x[v] - mx);
        for (int k = 0; k < 8; k++)
            s += lane[k];
    }
    return mx + log(s);
}

float crossentropy_forward(const float *logits, int V, int target)
{
    assert(target >= 0 && target < V);
    return (float)(logsumexp(logits, V) - logits[target]);
}

void crossentropy_backward(float *dlogits, const float *logits, int V, int target, float scale)
{
    assert(target >= 0 && target < V);
    float lse = (float)logsumexp(logits, V);
    for (int v = 0; v < V; v++)
        dlogits[v] = scale * fm_expf(logits[v] - lse);
    dlogits[target] -= scale;
}
