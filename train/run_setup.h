/* run_setup.h — the pieces of a federated run that every process of it must agree on, shared by
 * the one-process `simulate` and the actor roles (coordinator, client, evaluator) so that a
 * distributed run computes exactly what simulate computes: the seeded partition of a split, the
 * server optimizer's configuration, which strategy descriptor applies after the
 * [federation] layer_selection override, the travelling layers chosen from combined scores, and
 * the trained layout that follows. Pure functions of the config (and scores); no I/O here. */
#ifndef FEDPEP_TRAIN_RUN_SETUP_H
#define FEDPEP_TRAIN_RUN_SETUP_H

#include <stdbool.h>

#include "common/config.h"
#include "fl/partition.h"
#include "fl/strategy.h"
#include "train/client_state.h"

/* The seeded partition of a split of n examples with labels[n] over the run's clients, per
 * [data] partition (same seed for train and eval, so each client keeps its class prior). */
fp_status train_partition_make(const fedpep_config *cfg, const int *labels, int n, int n_classes,
                               fl_partition_t **out, fp_error *err);

/* The server optimizer of strategy d with the [server] and [client] options applied. */
fl_server_config train_server_config(const fedpep_config *cfg, const fl_strategy_desc *d);

/* d with [federation] layer_selection = random / all applied to a scored selection. */
fl_strategy_desc train_travel_desc(const fedpep_config *cfg, const fl_strategy_desc *d);

/* Whether the run's clients must compute the §2 statistics (scored travel or a strategy that
 * asks for scores). */
bool train_needs_scores(const fedpep_config *cfg, const fl_strategy_desc *d);

/* The travelling layers of a model of L layers: from the combined scores S[L] (NULL when the
 * strategy scores nothing) and ratio rho. *input: the input soft prompt travels (k = 0);
 * *personalise: non-travelling layers stay private. */
fp_status train_pick_layers(const fedpep_config *cfg, const fl_strategy_desc *d, int L,
                            const double *S, double rho, int *layers, int *k, bool *personalise,
                            bool *input, fp_error *err);

/* The run's trained layout for those layers (input: the input-prompt layout). head_classes > 0
 * adds the linear head; fixed_head (borrowed, may be NULL) keeps it fixed (train_layout_fix_head;
 * train_task_data's fixed_head). */
fp_status train_run_layout(train_layout *lay, const fedpep_config *cfg, const model_config *mc,
                           int P, const int *layers, int k, bool personalise, bool input,
                           int head_classes, const float *fixed_head, fp_error *err);

/* The run's layout from a selection as the wire carries it (SELECTION / TRAIN layers, each
 * < L, ascending; ignored by the input-prompt strategy): personalisation and input per strategy
 * d and cfg. FP_EINVAL for a layer the model does not have. */
fp_status train_selection_layout(train_layout *lay, const fedpep_config *cfg,
                                 const fl_strategy_desc *d, const model_config *mc, int P,
                                 const uint32_t *layers, int n, int head_classes,
                                 const float *fixed_head, fp_error *err);

/* The initial prompt E0 [P][L][2][d] every layer's statistics are computed at, and its
 * provisional all-layer layout *lay (of the run seed). *E0 is malloc'ed; free() it. */
fp_status train_scoring_prompt(const fedpep_config *cfg, const model_config *mc, int P,
                               train_layout *lay, float **E0, fp_error *err);

/* §2 step 3 (layer_selection = hessian): ρ from the stochastic Lanczos quadrature of the loss
 * Hessian w.r.t. the whole prompt at E0 (lay: the provisional all-layer layout of
 * train_scoring_prompt), on the first min(score_batch, n_0) examples of client 0's training
 * shard of ptrain, with the run's initial linear head if the set has one (fixed_head instead,
 * if not NULL). *rho is left as it was when the spectrum shows no plateau. Shared by simulate
 * and the evaluator so both pick the same K. Computes only (no I/O). */
fp_status train_hessian_rho(const fedpep_config *cfg, const train_model_t *m,
                            const train_layout *lay, const train_set_t *train,
                            const fl_partition_t *ptrain, const float *E0, const float *fixed_head,
                            double *rho, fp_error *err);

#endif
