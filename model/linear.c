/* linear.c — dense layers through cblas_sgemm in both weight orientations, or through the bf16
 * backend where the weight has a bf16 copy; see linear.h. Must never copy or transpose a
 * weight: the transpose flag of sgemm, and the strides oneDNN takes, do that for free. */
#include "linear.h"

#include <cblas.h>
#include <string.h>

#include "model/parallel.h"

/* fp32 products on the model core's threads (parallel.h), so that one pool — OpenMP's, which
 * oneDNN and the core's own loops run on — does the whole step: OpenBLAS's own pthread workers,
 * spinning beside OpenMP's on the same cores, made two threads slower than one. Each thread
 * computes a block of output columns with a one-thread sgemm. An element's value depends only
 * on K's blocking, not on which columns share its call, as long as every call takes OpenBLAS's
 * blocked path: its small-matrix and direct kernels (M·N·K below 10^6, and below 28·512² for
 * one thread) are other code, so a product is split only when each block stays above SPLIT_MNK,
 * and only with kernels whose results do not depend on the split (par_blas_split_exact; with the
 * others, OpenBLAS's own threads run it, as before). Blocks are whole multiples of SPLIT_COLS
 * columns. */
#define SPLIT_MNK (8.0 * 1024 * 1024)
#define SPLIT_COLS 64

/* y[M][N] = x[M][K] · op(w) + beta · y, op(w) = w [K][N] (NoTrans) or wᵀ of a stored [N][K]. */
static void sgemm_columns(CBLAS_TRANSPOSE tw, int M, int N, int K, const float *x, int ldx,
                          const float *w, int ldw, float beta, float *y, int ldy)
{
    int threads = openblas_get_num_threads();
    if (threads > 1 && !par_blas_split_exact())
        threads = 1;
    const double mnk = (double)M * N * K;
    while (threads > 1 && (mnk / threads < SPLIT_MNK || N / threads < SPLIT_COLS))
        threads--;
    if (threads == 1) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tw, M, N, K, 1.0f, x, ldx, w, ldw, beta, y, ldy);
        return;
    }
    const int blocks = (N + SPLIT_COLS - 1) / SPLIT_COLS;
    const int per = (blocks + threads - 1) / threads * SPLIT_COLS;
    const int saved = par_blas_serial_begin();
    PAR_FOR(threads)
    for (int t = 0; t < threads; t++) {
        const int n0 = t * per, n = N - n0 < per ? N - n0 : per;
        if (n <= 0)
            continue;
        const float *wb = w + (size_t)n0 * (tw == CblasNoTrans ? 1 : (size_t)ldw);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tw, M, n, K, 1.0f, x, ldx, wb, ldw, beta, y + n0,
                    ldy);
    }
    par_blas_serial_end(saved);
}

/* The bf16 weight of the logical [in][out] product (transposed: [out][in], for dx = dy Wᵀ). */
static mm_bf16_weight bf16_view(lin_w W, bool transposed)
{
    const bool rows_are_in = (W.layout == LIN_IN_OUT) != transposed;
    return (mm_bf16_weight){W.w16, rows_are_in ? W.ld : 1, rows_are_in ? 1 : W.ld};
}

/* y (=, or += when accumulate) x · W' through the bf16 backend when W has a bf16 copy; false
 * when the caller must compute it in fp32 (no backend, no copy, or the backend failed: then y is
 * unchanged, and the failure is counted where the tests and the benchmark read it). */
static bool try_bf16(mm_bf16_t *mm, float *y, int ldy, const float *x, int ldx, mm_bf16_weight w,
                     int M, int K, int N, const float *bias, bool accumulate)
{
    if (!mm || !w.w)
        return false;
    fp_error err = {0};
    if (mm_bf16_gemm(mm, y, ldy, x, ldx, w, M, K, N, bias, accumulate, &err) == FP_OK)
        return true;
    mm_bf16_note_fallback(mm, &err);
    return false;
}

static bool bf16_input(mm_bf16_t *mm, float *y, int ldy, mm_bf16_weight w, int M, int K, int N,
                       const float *bias, bool accumulate)
{
    if (!mm || !w.w)
        return false;
    fp_error err = {0};
    if (mm_bf16_gemm_input(mm, y, ldy, w, M, K, N, bias, accumulate, &err) == FP_OK)
        return true;
    mm_bf16_note_fallback(mm, &err);
    return false;
}

bool linear_forward_bf16_input(mm_bf16_t *mm, float *y, int ldy, lin_w W, const float *b, int N,
                               int in, int out, bool accumulate)
{
    return bf16_input(mm, y, ldy, bf16_view(W, false), N, in, out, b, accumulate);
}

bool linear_backward_input_bf16_input(mm_bf16_t *mm, float *dx, int lddx, lin_w W, int N, int in,
                                      int out, bool accumulate)
{
    return bf16_input(mm, dx, lddx, bf16_view(W, true), N, out, in, NULL, accumulate);
}

void linear_forward(float *y, int ldy, const float *x, int ldx, lin_w W, const float *b, int N,
                    int in, int out, bool accumulate)
{
    linear_forward_mm(NULL, y, ldy, x, ldx, W, b, N, in, out, accumulate);
}

void linear_forward_mm(mm_bf16_t *mm, float *y, int ldy, const float *x, int ldx, lin_w W,
                       const float *b, int N, int in, int out, bool accumulate)
{
    /* bf16: the bias rides in the product's epilogue (no pass seeding y) */
    if (try_bf16(mm, y, ldy, x, ldx, bf16_view(W, false), N, in, out, b, accumulate))
        return;
    float beta = 0.0f;
    if (accumulate) {
        beta = 1.0f;
    }
    if (b) {
        /* Seed y with the bias (added to the old y when accumulating), then y += x W. */
        const int threads = par_threads((size_t)N, (size_t)out);
        PAR_FOR(threads)
        for (int n = 0; n < N; n++) {
            float *restrict yr = y + (size_t)n * ldy;
            if (accumulate)
                for (int o = 0; o < out; o++)
                    yr[o] += b[o];
            else
                memcpy(yr, b, (size_t)out * sizeof *yr);
        }
        beta = 1.0f;
    }
    /* x [N][in] · W [in][out]: for [out][in] storage that is x · (stored)ᵀ. */
    CBLAS_TRANSPOSE tw = W.layout == LIN_OUT_IN ? CblasTrans : CblasNoTrans;
    sgemm_columns(tw, N, out, in, x, ldx, W.w, W.ld, beta, y, ldy);
}

void linear_backward_input(float *dx, int lddx, const float *dy, int lddy, lin_w W, int N, int in,
                           int out, bool accumulate)
{
    linear_backward_input_mm(NULL, dx, lddx, dy, lddy, W, N, in, out, accumulate);
}

void linear_backward_input_mm(mm_bf16_t *mm, float *dx, int lddx, const float *dy, int lddy,
                              lin_w W, int N, int in, int out, bool accumulate)
{
    if (try_bf16(mm, dx, lddx, dy, lddy, bf16_view(W, true), N, out, in, NULL, accumulate))
        return;
    /* dx [N][in] = dy [N][out] · Wᵀ [out][in]; for [out][in] storage Wᵀ is the stored matrix. */
    CBLAS_TRANSPOSE tw = W.layout == LIN_OUT_IN ? CblasNoTrans : CblasTrans;
    sgemm_columns(tw, N, in, out, dy, lddy, W.w, W.ld, accumulate ? 1.0f : 0.0f, dx, lddx);
}

void linear_backward_weight(float *dW, lin_w W, float *db, const float *x, int ldx, const float *dy,
                            int lddy, int N, int in, int out)
{
    if (W.layout == LIN_OUT_IN) /* dW [out][in] += dyᵀ x */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, N, 1.0f, dy, lddy, x, ldx,
                    1.0f, dW, W.ld);
    else /* dW [in][out] += xᵀ dy */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, N, 1.0f, x, ldx, dy, lddy,
                    1.0f, dW, W.ld);
    if (db)
        for (int n = 0; n < N; n++) {
            const float *restrict g = dy + (size_t)n * lddy;
            for (int o = 0; o < out; o++)
                db[o] += g[o];
        }
}
