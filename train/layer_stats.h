/* layer_stats.h — the client side of layer selection (FEDPEPTAO.md §2): the per-layer
 * statistics s_l of one batch, and the gradient callback the optional Hessian estimate
 * (fl/hvp.h, fl/slq.h) needs. Scalars leave a client, never data. Never trains. */
#ifndef FEDPEP_TRAIN_LAYER_STATS_H
#define FEDPEP_TRAIN_LAYER_STATS_H

#include "fl/hvp.h"
#include "train/batch.h"
#include "train/model_bundle.h"

/* s[0..L−2]: the first min(score_batch, n) examples of idx (n >= 2) run through the model with
 * the freshly initialised prompt E0 [P][L][2][d] in every layer (dropout off); each block l's
 * output, flattened per example, gives fl_layer_statistic. */
fp_status train_layer_stats(const train_model_t *m, int P, const float *E0, const train_set_t *set,
                            const int *idx, int n, int score_batch, double *s, fp_error *err);

/* ∇_E L on one fixed batch, dropout off, every layer's prefix present and trainable:
 * an fl_grad_fn over x = E [P][L][2][d]. Make with train_grad_new; ctx = the object.
 * head (W [C][d] then b [C], borrowed) is the fixed linear head of a set with linear_head. */
typedef struct train_grad train_grad_t;
train_grad_t *train_grad_new(const train_model_t *m, int P, const train_set_t *set, const int *idx,
                             int n, const float *head, fp_error *err);
void train_grad_destroy(train_grad_t **self_p);
fp_status train_grad_fn(void *ctx, const float *x, float *grad, fp_error *err);

#endif
