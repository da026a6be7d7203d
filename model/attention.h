/* attention.h — multi-head self-attention with a trainable prefix of P key/value vectors
 * (P-tuning v2 deep prompts), forward beside backward, per head through cblas_sgemm.
 *
 * For example b, head h (d_h = d/H, scale c = 1/√d_h), with Q, K, V [T][d_h] the head's slices
 * of the fused projection and PK, PV [P][d_h] the head's slices of the prefix:
 *   S = c · Q [PK ; K]ᵀ                        [T][P+T]
 *   S[i][P+j] = -inf if token j is padding, or (causal) j > i; prefix columns are never masked
 *   A = softmax_rows(S)                        [T][P+T]   (saved for backward)
 *   Ad = dropout(A)                            (attention-probability dropout, regenerated)
 *   O = Ad [PV ; V]                            [T][d_h]
 * Backward, with dO given:
 *   dAd = dO [PV ; V]ᵀ, dA = dropout_backward(dAd), dS = A ⊙ (dA − rowsum(A ⊙ dA))
 *   dPV = Ad[:, :P]ᵀ dO,  dV = Ad[:, P:]ᵀ dO
 *   dPK = c · dS[:, :P]ᵀ Q,  dK = c · dS[:, P:]ᵀ Q,  dQ = c · (dS[:, :P] PK + dS[:, P:] K)
 * Never allocates: the caller passes the scratch. */
#ifndef FEDPEP_MODEL_ATTENTION_H
#define FEDPEP_MODEL_ATTENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct attn_shape {
    int B, T, H, d_head; /* d = H · d_head */
    int P;               /* prefix length at this layer (0: no prefix) */
    bool causal;
} attn_shape;

/* Where the prefix of one layer lives: key p of example b starts at
 * k + b·batch_stride + p·row_stride (values likewise from v); head h at + h·d_head.
 * batch_stride 0 shares one prefix across the batch. */
typedef struct attn_prefix {
    const float *k, *v;
    int row_stride;
    size_t batch_stride;
} attn_prefix;

/* Gradient destination of a prefix, same addressing as attn_prefix; NULL k/v: not wanted.
 * With batch_stride 0 the gradients of all examples are summed in place. */
typedef struct attn_prefix_grad {
    float *k, *v;
    int row_stride;
    size_t batch_stride;
} attn_prefix_grad;

/* Scratch floats attention_forward/backward need per thread: 2 · T · (P + T). They run the heads
 * on up to `slots` threads (parallel.h), so scratch holds slots times that many. */
size_t attention_scratch_floats(attn_shape s);

/* out [B][T][d]; A [B][H][T][P+T]; qkv [B][T][3d] (Q | K | V, each [d] = H heads of d_head);
 * mask [B][T] nonzero = real token (NULL: all real). drop_p > 0 applies attention dropout with
 * the mask stream of (seed, site, b·H + h). */
void attention_forward(float *out, float *A, float *scratch, int slots, const float *qkv,
                       attn_prefix pre, const int *mask, attn_shape s, float drop_p, uint64_t seed,
                       uint64_t site);

/* Accumulates into dqkv [B][T][3d] (skipped when NULL: the lowest tuned layer needs no input
 * gradient) and writes/accumulates prefix gradients into dpre (skipped when dpre.k is NULL).
 * Prefix gradients are ADDED to dpre, so the caller zeroes them once per step. */
void attention_backward(float *dqkv, attn_prefix_grad dpre, float *scratch, int slots,
                        const float *dout, const float *qkv, const float *A, attn_prefix pre,
                        attn_shape s, float drop_p, uint64_t seed, uint64_t site);

#endif
