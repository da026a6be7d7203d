/* linear.h — dense layers y = x W + b through cblas_sgemm, with the weight used in place in
 * either orientation, so a read-only mmap of a checkpoint serves every process without a copy:
 *   LIN_OUT_IN: W stored [out][in] with row stride ld (Hugging Face nn.Linear, RoBERTa);
 *   LIN_IN_OUT: W stored [in][out] with row stride ld (GPT-2 Conv1D; a column block of the fused
 *               c_attn [d][3d] is the pointer + offset with ld = 3d).
 * Inputs and outputs are row-major with their own row strides, so a Q/K/V block of a fused
 * [N][3d] activation is addressed without copying.
 *
 * A frozen weight may also carry a bf16 copy (w16, same layout and ld; tf_weights_to_bf16):
 * given an mm_bf16_t, forward and the input gradient then run in bf16 with fp32 accumulation
 * and output (model/matmul_bf16.h). Weight gradients are always fp32. Never fails: a product
 * the bf16 backend cannot run is computed in fp32 and counted (mm_bf16_get_stats). */
#ifndef FEDPEP_MODEL_LINEAR_H
#define FEDPEP_MODEL_LINEAR_H

#include <stdbool.h>
#include <stdint.h>

#include "model/matmul_bf16.h"

typedef enum lin_layout { LIN_OUT_IN = 0, LIN_IN_OUT = 1 } lin_layout;

/* A view of a weight matrix of logical shape [in][out]. */
typedef struct lin_w {
    const float *w;
    int ld;
    lin_layout layout;
    const uint16_t *w16; /* the same matrix in bf16 at the same offsets, or NULL */
} lin_w;

/* y[N][out] (row stride ldy) = x[N][in] (row stride ldx) · W + b (b may be NULL).
 * accumulate: y += instead of y =. */
void linear_forward(float *y, int ldy, const float *x, int ldx, lin_w W, const float *b, int N,
                    int in, int out, bool accumulate);
/* The same through the bf16 backend mm when W has a bf16 copy (mm NULL or W.w16 NULL: fp32). */
void linear_forward_mm(mm_bf16_t *mm, float *y, int ldy, const float *x, int ldx, lin_w W,
                       const float *b, int N, int in, int out, bool accumulate);

/* dx[N][in] (row stride lddx) += dy[N][out] · Wᵀ (or = when !accumulate). */
void linear_backward_input(float *dx, int lddx, const float *dy, int lddy, lin_w W, int N,
                           int in, int out, bool accumulate);
/* The same through the bf16 backend, as linear_forward_mm. */
void linear_backward_input_mm(mm_bf16_t *mm, float *dx, int lddx, const float *dy, int lddy,
                              lin_w W, int N, int in, int out, bool accumulate);

/* The bf16 products from an input the caller has already rounded into mm_bf16_input(mm, N, in)
 * (forward) or mm_bf16_input(mm, N, out) (input gradient), dense: true when done; false (y
 * unchanged, a failure counted) when W has no bf16 copy or oneDNN failed — the caller then
 * computes the product in fp32 from its fp32 input. */
bool linear_forward_bf16_input(mm_bf16_t *mm, float *y, int ldy, lin_w W, const float *b, int N,
                               int in, int out, bool accumulate);
bool linear_backward_input_bf16_input(mm_bf16_t *mm, float *dx, int lddx, lin_w W, int N, int in,
                                      int out, bool accumulate);

/* Parameter gradients (only for full-weight training): dW += xᵀ dy in W's own layout (dW is
 * dense with W.ld as its row stride), db[out] += column sums of dy (db may be NULL). */
void linear_backward_weight(float *dW, lin_w W, float *db, const float *x, int ldx,
                            const float *dy, int lddy, int N, int in, int out);

#endif
