/* distill_loss.h — the objective that distils a teacher encoder (USE-lite) into a deeper
 * student, per batch of B sentences of T rows (mask: 1 = real token):
 *
 *   Z = H_s Mᵀ + b                    the student's last hidden states H_s [N][d_s] mapped into
 *                                     the teacher's space (M [d_t][d_s], b [d_t]: trained with
 *                                     the student, discarded after)
 *   tok  = mean over real rows and d_t dims of (Z − (H_t − μ)/σ)²
 *                                     (standardised targets: every dimension counts alike)
 *   pool = mean_b (1 − cos(σ ⊙ mean_t Z + μ, mean_t H_t))
 *                                     (the sentence's mean pool, the feature fedpep's
 *                                     description head reads)
 *   rel  = mean_{b,c} (cos(q_b, q_c) − cos(p_b, p_c))²,  q = mean_t H_s, p = mean_t H_t
 *                                     (the geometry of the student's OWN pools — what the
 *                                     cosine head compares — against the teacher's)
 *   loss = w_tok·tok + w_pool·pool + w_rel·rel
 *
 * The gradients are exact (checked against finite differences in test_distill_loss). Nothing
 * here allocates after distill_loss_new. */
#ifndef FEDPEP_TRAIN_DISTILL_LOSS_H
#define FEDPEP_TRAIN_DISTILL_LOSS_H

#include "common/status.h"

typedef struct distill_weights {
    float tok, pool, rel;
} distill_weights;

typedef struct distill_parts {
    double tok;      /* standardised MSE over real rows */
    double pool_cos; /* mean cosine of the mapped pool to the teacher's (1 − pool) */
    double rel;      /* mean squared difference of the two cosine matrices */
    double loss;     /* the weighted sum that was differentiated */
} distill_parts;

typedef struct distill_batch {
    int B, T;
    const int *mask;    /* [B][T], nonzero = real; every example has at least one real row */
    const float *h_s;   /* [B][T][d_s] student's last hidden states */
    const float *h_t;   /* [B][T][d_t] teacher's */
    const float *mu;    /* [d_t] standardisation of the teacher's states */
    const float *sigma; /* [d_t], > 0 */
    const float *M;     /* [d_t][d_s] */
    const float *b;     /* [d_t] */
} distill_batch;

typedef struct distill_loss distill_loss_t;

/* Scratch for batches of at most max_rows = B·T rows. NULL with err on bad sizes or no memory. */
distill_loss_t *distill_loss_new(int max_rows, int max_batch, int d_s, int d_t, fp_error *err);
void distill_loss_destroy(distill_loss_t **self_p);

/* The parts of the loss of x; with dh_s non-NULL also its gradients: dh_s [B][T][d_s] and
 * dM [d_t][d_s], db [d_t] are OVERWRITTEN (rows of padding get zero). FP_EINVAL when x does not
 * fit the scratch or an example has no real row. */
fp_status distill_loss_eval(distill_loss_t *self, const distill_batch *x, distill_weights w,
                            distill_parts *out, float *dh_s, float *dM, float *db, fp_error *err);

#endif
