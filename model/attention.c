/* attention.c — prefix multi-head attention forward and backward; equations in attention.h.
 * Every product is an sgemm on one (example, head) block: Q, K, V are strided views of the fused
 * qkv buffer and the prefix is a strided view of the deep prompt, so nothing is copied. Heads run
 * on parallel threads (parallel.h), each head's examples in order on one of them.
 * Must never allocate or read outside the shapes it is given. */
/* GCC keeps float selects (the clamps of fastmath.h) out of vectorised loops unless it may assume
 * they raise no FP exception; fedpep never reads FP exception flags. Clang vectorises without. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "attention.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "model/fastmath.h"
#include "model/parallel.h"

size_t attention_scratch_floats(attn_shape s)
{
    return 2 * (size_t)s.T * (size_t)(s.P + s.T);
}

/* Masks then softmaxes one head's score block S [T][W] in place (W = P + T). A row whose every
 * column is masked (impossible with a prefix, possible for P = 0 padding rows) becomes zeros.
 * Causal rows stop at their own column: the rest is set to 0 without an exponential. */
static void masked_softmax(float *S, const int *mask_b, int T, int P, bool causal)
{
    const int W = P + T;
    for (int i = 0; i < T; i++) {
        float *restrict row = S + (size_t)i * W;
        const int n = causal ? P + i + 1 : W; /* columns that may be nonzero */
        if (mask_b)
            for (int j = 0; j < n - P; j++)
                row[P + j] = mask_b[j] ? row[P + j] : -INFINITY;
        float mx = -INFINITY;
        for (int j = 0; j < n; j++)
            mx = row[j] > mx ? row[j] : mx;
        if (mx == -INFINITY) {
            memset(row, 0, (size_t)W * sizeof *row);
            continue;
        }
        /* exactly 0 for masked (-inf) columns */
        const float inv = 1.0f / fm_exp_shift_sum(row, n, mx);
        for (int j = 0; j < n; j++)
            row[j] *= inv;
        memset(row + n, 0, (size_t)(W - n) * sizeof *row);
    }
}

/* dS = A ⊙ (dA − rowsum(A ⊙ dA)) over T rows of W, in place (dS holds dA). Causal rows are zero
 * beyond their own column, as A is. */
static void softmax_backward(float *dS, const float *A, int T, int P, bool causal)
{
    const int W = P + T;
    for (int i = 0; i < T; i++) {
        const float *restrict a = A + (size_t)i * W;
        float *restrict g = dS + (size_t)i * W;
        const int n = causal ? P + i + 1 : W;
        const float dot = fm_dot(a, g, n);
        for (int j = 0; j < n; j++)
            g[j] = a[j] * (g[j] - dot);
        memset(g + n, 0, (size_t)(W - n) * sizeof *g);
    }
}

/* The (b, h) block views: Q, K, V [T][d_h] with row stride 3d, PK, PV [P][d_h] (NULL if P = 0). */
typedef struct head_views {
    const float *Q, *K, *V, *PK, *PV;
} head_views;

static head_views views_of(const float *qkv, attn_prefix pre, attn_shape s, int b, int h)
{
    const int d = s.H * s.d_head;
    head_views v;
    v.Q = qkv + (size_t)b * s.T * 3 * d + (size_t)h * s.d_head;
    v.K = v.Q + d;
    v.V = v.Q + 2 * d;
    v.PK = v.PV = NULL;
    if (s.P > 0) {
        v.PK = pre.k + b * pre.batch_stride + (size_t)h * s.d_head;
        v.PV = pre.v + b * pre.batch_stride + (size_t)h * s.d_head;
    }
    return v;
}

/* Every example's block of head h; scratch holds one thread's 2 · T · (P + T) floats. */
static void head_forward(float *out, float *A, float *scratch, const float *qkv, attn_prefix pre,
                         const int *mask, attn_shape s, int h, float drop_p, uint64_t seed,
                         uint64_t site)
{
    const int T = s.T, P = s.P, dh = s.d_head, d = s.H * s.d_head, W = P + T;
    const float c = 1.0f / sqrtf((float)dh);
    for (int b = 0; b < s.B; b++) {
        head_views hv = views_of(qkv, pre, s, b, h);
        const float *Q = hv.Q, *K = hv.K, *V = hv.V, *PK = hv.PK, *PV = hv.PV;
        float *Ab = A + ((size_t)b * s.H + h) * T * W;
        float *O = out + (size_t)b * T * d + (size_t)h * dh;
        if (P > 0) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, P, dh, c, Q, 3 * d, PK,
                        pre.row_stride, 0.0f, Ab, W);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, c, Q, 3 * d, K, 3 * d, 0.0f,
                    Ab + P, W);
        masked_softmax(Ab, mask ? mask + (size_t)b * T : NULL, T, P, s.causal);
        const float *Ad = Ab;
        if (drop_p > 0.0f) {
            dropout_forward(scratch, Ab, T * W, drop_p, seed, site, (uint64_t)b * s.H + h);
            Ad = scratch;
        }
        if (P > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, P, 1.0f, Ad, W, PV,
                        pre.row_stride, 0.0f, O, d);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, 1.0f, Ad + P, W, V, 3 * d,
                    P > 0 ? 1.0f : 0.0f, O, d);
    }
}

/* Threads for the loop over heads: OpenBLAS's count, at most one per scratch slot. */
static int head_threads(attn_shape s, int slots)
{
    const int t = par_threads((size_t)s.H, (size_t)s.B * s.T * (s.P + s.T));
    return t < slots ? t : slots;
}

void attention_forward(float *out, float *A, float *scratch, int slots, const float *qkv,
                       attn_prefix pre, const int *mask, attn_shape s, float drop_p, uint64_t seed,
                       uint64_t site)
{
    const size_t per = attention_scratch_floats(s);
    const int threads = head_threads(s, slots);
    const int saved = threads > 1 ? par_blas_serial_begin() : 1;
    PAR_FOR(threads)
    for (int h = 0; h < s.H; h++)
        head_forward(out, A, scratch + per * (size_t)par_thread_num(), qkv, pre, mask, s, h, drop_p,
                     seed, site);
    par_blas_serial_end(saved);
}

/* Every example's block of head h, examples in order: with a shared prefix (batch_stride 0)
 * they all add into the same rows of dpre, so that order is the sum's order. */
static void head_backward(float *dqkv, attn_prefix_grad dpre, float *scratch, const float *dout,
                          const float *qkv, const float *A, attn_prefix pre, attn_shape s, int h,
                          float drop_p, uint64_t seed, uint64_t site)
{
    const int T = s.T, P = s.P, dh = s.d_head, d = s.H * s.d_head, W = P + T;
    const float c = 1.0f / sqrtf((float)dh);
    const bool want_prefix = P > 0 && dpre.k;
    float *Adrop = scratch, *dS = scratch + (size_t)T * W;
    for (int b = 0; b < s.B; b++) {
        head_views hv = views_of(qkv, pre, s, b, h);
        const float *Q = hv.Q, *K = hv.K, *V = hv.V, *PK = hv.PK, *PV = hv.PV;
        const float *Ab = A + ((size_t)b * s.H + h) * T * W;
        const float *dO = dout + (size_t)b * T * d + (size_t)h * dh;
        const float *Ad = Ab;
        if (drop_p > 0.0f) {
            dropout_forward(Adrop, Ab, T * W, drop_p, seed, site, (uint64_t)b * s.H + h);
            Ad = Adrop;
        }
        /* dAd = dO [PV ; V]ᵀ into dS */
        if (P > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, P, dh, 1.0f, dO, d, PV,
                        pre.row_stride, 0.0f, dS, W);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, 1.0f, dO, d, V, 3 * d, 0.0f,
                    dS + P, W);
        /* dPV += Ad[:, :P]ᵀ dO ; dV += Ad[:, P:]ᵀ dO */
        if (want_prefix)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P, dh, T, 1.0f, Ad, W, dO, d, 1.0f,
                        dpre.v + b * dpre.batch_stride + (size_t)h * dh, dpre.row_stride);
        float *dQ = NULL, *dK = NULL, *dV = NULL;
        if (dqkv) {
            dQ = dqkv + (size_t)b * T * 3 * d + (size_t)h * dh;
            dK = dQ + d;
            dV = dQ + 2 * d;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, 1.0f, Ad + P, W, dO, d,
                        1.0f, dV, 3 * d);
        }
        /* through the dropout mask (same stream), then the softmax Jacobian, in place */
        if (drop_p > 0.0f)
            dropout_forward(dS, dS, T * W, drop_p, seed, site, (uint64_t)b * s.H + h);
        softmax_backward(dS, Ab, T, P, s.causal);
        /* dPK += c dS[:, :P]ᵀ Q ; dK += c dS[:, P:]ᵀ Q ; dQ += c dS [PK ; K] */
        if (want_prefix)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, P, dh, T, c, dS, W, Q, 3 * d, 1.0f,
                        dpre.k + b * dpre.batch_stride + (size_t)h * dh, dpre.row_stride);
        if (dqkv) {
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, c, dS + P, W, Q, 3 * d,
                        1.0f, dK, 3 * d);
            if (P > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, P, c, dS, W, PK,
                            pre.row_stride, 1.0f, dQ, 3 * d);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, c, dS + P, W, K, 3 * d,
                        1.0f, dQ, 3 * d);
        }
    }
}

void attention_backward(float *dqkv, attn_prefix_grad dpre, float *scratch, int slots,
                        const float *dout, const float *qkv, const float *A, attn_prefix pre,
                        attn_shape s, float drop_p, uint64_t seed, uint64_t site)
{
    if (!dqkv && !(s.P > 0 && dpre.k))
        return;
    const size_t per = attention_scratch_floats(s);
    const int threads = head_threads(s, slots);
    const int saved = threads > 1 ? par_blas_serial_begin() : 1;
    /* heads own disjoint columns of dqkv and dpre: no two threads write the same float */
    PAR_FOR(threads)
    for (int h = 0; h < s.H; h++)
        head_backward(dqkv, dpre, scratch + per * (size_t)par_thread_num(), dout, qkv, A, pre, s, h,
                      drop_p, seed, site);
    par_blas_serial_end(saved);
}
