/* evaluate.h — evaluation without gradients, batched, into a confusion matrix (data/metrics.h).
 * Predictions (FEDPEPTAO.md §1): encoder = argmax over the label words' logits at the mask;
 * decoder = the class whose label tokens have the lowest mean loss (one pass per class);
 * linear head = argmax of its logits. Dropout is off. Never changes the prompt it is given. */
#ifndef FEDPEP_TRAIN_EVALUATE_H
#define FEDPEP_TRAIN_EVALUATE_H

#include "data/metrics.h"
#include "train/client_state.h"

typedef struct train_eval_result {
    fp_confusion cm;
    double loss_sum; /* summed per-example loss of the true class (divide by the total) */
} train_eval_result;

/* Evaluates prompt E [P][L][2][d] (layers present per w->lay) and head (NULL without) on
 * examples idx[0..n) of set in batches of batch (<= the worker's B). Adds into *out, which
 * must have been initialised (train_eval_init). n = 0 adds nothing. */
fp_status train_evaluate(train_worker_t *w, const float *E, const float *head,
                         const train_set_t *set, const int *idx, int n, int batch,
                         train_eval_result *out, fp_error *err);

fp_status train_eval_init(train_eval_result *r, int n_classes, fp_error *err);

/* Personalised evaluation of one client (§5): its private prompt with the global rows
 * w_global [n_rows] written over the travelling layers (NULL: as it is), on its shard. */
fp_status train_evaluate_client(train_worker_t *w, const train_client_t *c, const float *w_global,
                                const train_set_t *set, const int *idx, int n, int batch,
                                train_eval_result *out, fp_error *err);

#endif
