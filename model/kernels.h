/* kernels.h — the element-wise and row-wise numerical kernels of the transformer, each forward
 * beside its backward (llm.c style), on flat float32 buffers whose shapes the comments state.
 * Matrix products live in linear.h, attention in attention.h.
 * These functions never allocate, never fail and never touch global state: the caller owns every
 * buffer and guarantees the sizes (asserts only). Large calls split their rows or elements over
 * the model core's threads (parallel.h) with bit-identical results; sums over rows never split.
 * Backward kernels ACCUMULATE into their input gradients (+=) unless their comment says otherwise,
 * so a residual fan-out needs no extra pass. */
#ifndef FEDPEP_MODEL_KERNELS_H
#define FEDPEP_MODEL_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* out[n][d] = wte[tok[n]][d] + wpe[pos[n]][d] (+ wtt[d] if wtt, the token-type row 0).
 * Ids are trusted here: the caller validated them against the table sizes. */
void embedding_forward(float *out, const int *tok, const int *pos, const float *wte,
                       const float *wpe, const float *wtt, int N, int d);
/* Scatter-add of dout into the tables (only used when embedding weights are trained):
 * dwte[tok[n]] += dout[n], dwpe[pos[n]] += dout[n] (either table may be NULL). */
void embedding_backward(float *dwte, float *dwpe, const float *dout, const int *tok, const int *pos,
                        int N, int d);

/* out[n] = (x[n] - mean) * rstd * w + b over rows of d; saves mean[n], rstd[n] for backward.
 * out may alias x. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                       const float *b, int N, int d, float eps);
/* dx[n] += rstd (g - mean(g) - xhat mean(g xhat)) with g = dout * w and xhat recomputed from x;
 * dw/db accumulate the parameter gradients when not NULL. dx may be NULL (not needed). */
void layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, const float *mean, const float *rstd, int N, int d);

/* GELU, exact (0.5 x (1 + erf(x/√2)), RoBERTa "gelu") or tanh approximation (GPT-2 "gelu_new").
 * out[n] for n < N; out may alias x. */
void gelu_forward(float *out, const float *x, int N, bool tanh_approx);
/* dx[n] += dout[n] · gelu'(x[n]); x is the GELU input. */
void gelu_backward(float *dx, const float *dout, const float *x, int N, bool tanh_approx);

/* The same activations and their input gradients written in bf16 for the next bf16 product
 * (mm_bf16_input): out = bf16(act(x)), dx = bf16(dout · act'(x)) — dx OVERWRITTEN here, not
 * accumulated. Bit-equal to the fp32 kernel followed by mm_bf16_from_f32, in one pass. */
void gelu_forward_bf16(uint16_t *out, const float *x, int N, bool tanh_approx);
void gelu_backward_bf16(uint16_t *dx, const float *dout, const float *x, int N, bool tanh_approx);
void relu_forward_bf16(uint16_t *out, const float *x, int N);
void relu_backward_bf16(uint16_t *dx, const float *dout, const float *x, int N);

/* ReLU (USE-lite's FFN): out[n] = max(x[n], 0); out may alias x. */
void relu_forward(float *out, const float *x, int N);
/* dx[n] += dout[n] where x[n] > 0 (the subgradient 0 at the kink); x is the ReLU input. */
void relu_backward(float *dx, const float *dout, const float *x, int N);

/* x[n] = 0 for n < N. */
void zero_floats(float *x, size_t N);

/* out[n] = a[n] + b[n]; out may alias a or b. */
void residual_forward(float *out, const float *a, const float *b, int N);

/* Inverted dropout with a mask regenerated from a pure seed, so nothing is stored between forward
 * and backward: the mask of (seed, site, index) is a function of those numbers alone.
 * out[n] = keep ? x[n] / (1 - p) : 0; out may alias x. p == 0 copies (when out != x). */
void dropout_forward(float *out, const float *x, int N, float p, uint64_t seed, uint64_t site,
                     uint64_t index);
/* dx[n] = (dx accumulates) keep ? dout[n] / (1 - p) : 0, the same mask as the forward call. */
void dropout_backward(float *dx, const float *dout, int N, float p, uint64_t seed, uint64_t site,
                      uint64_t index);

/* Softmax cross-entropy of one row of logits [V] against target:
 * returns -log softmax(logits)[target] (computed in double, stable). */
float crossentropy_forward(const float *logits, int V, int target);
/* dlogits[v] = scale · (softmax(logits)[v] - [v == target]) (overwrites), for loss scale. */
void crossentropy_backward(float *dlogits, const float *logits, int V, int target, float scale);

#endif
