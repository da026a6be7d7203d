/* linear.c — dense layers through cblas_sgemm in both weight orientations; see linear.h.
 * Must never copy or transpose a weight: the transpose flag of sgemm does that for free. */
#include "linear.h"

#include <cblas.h>
#include <string.h>

void linear_forward(float *y, int ldy, const float *x, int ldx, lin_w W, const float *b, int N,
                    int in, int out, bool accumulate)
{
    float beta = 0.0f;
    if (accumulate) {
        beta = 1.0f;
    }
    if (b) {
        /* Seed y with the bias (added to the old y when accumulating), then y += x W. */
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
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tw, N, out, in, 1.0f, x, ldx, W.w, W.ld, beta, y,
                ldy);
}

void linear_backward_input(float *dx, int lddx, const float *dy, int lddy, lin_w W, int N,
                           int in, int out, bool accumulate)
{
    /* dx [N][in] = dy [N][out] · Wᵀ [out][in]; for [out][in] storage Wᵀ is the stored matrix. */
    CBLAS_TRANSPOSE tw = W.layout == LIN_OUT_IN ? CblasNoTrans : CblasTrans;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tw, N, in, out, 1.0f, dy, lddy, W.w, W.ld,
                accumulate ? 1.0f : 0.0f, dx, lddx);
}

void linear_backward_weight(float *dW, lin_w W, float *db, const float *x, int ldx,
                            const float *dy, int lddy, int N, int in, int out)
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
