/* global_eval.h — the global model on the whole evaluation split: the run's initial prompt (the
 * same seeded draw every client starts from) with the global rows written over the travelling
 * layers, on every example of the evaluation split. A personalising strategy's private layers
 * never reach the server, so they stay at the initial prompt here. simulate evaluates it after
 * each evaluated round; in the actor system the evaluator does (EVAL_REQUEST from the
 * coordinator), through this same code, so the rounds' global_* columns are equal. */
#ifndef FEDPEP_TRAIN_GLOBAL_EVAL_H
#define FEDPEP_TRAIN_GLOBAL_EVAL_H

#include <stdbool.h>
#include <stdint.h>

#include "train/evaluate.h"

typedef struct train_global_eval {
    train_client_t *initial; /* the run's initial prompt and head, never trained */
    int *all;                /* [n] 0, 1, ..., n-1: the whole split */
    int n;
} train_global_eval_t;

/* For layout lay (borrowed), run seed `seed` and an evaluation split of n examples. */
fp_status train_global_eval_init(train_global_eval_t *g, const train_layout *lay, uint64_t seed,
                                 bool scaffold, int n, fp_error *err);
void train_global_eval_free(train_global_eval_t *g);

/* rows [lay->n_rows]: the global rows. *out is initialised here (the set's classes). */
fp_status train_global_eval_run(const train_global_eval_t *g, train_worker_t *w, const float *rows,
                                const train_set_t *set, int batch, train_eval_result *out,
                                fp_error *err);

#endif
