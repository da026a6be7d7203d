/* tune.h — centralised deep prompt tuning: the whole training split as one "client", AdamW with
 * the [client] options, evaluation on the eval split after every epoch. What `fedpep tune` runs
 * and what the default-model acceptance ("≥ 80% SST-2 dev") measures. */
#ifndef FEDPEP_TRAIN_TUNE_H
#define FEDPEP_TRAIN_TUNE_H

#include <stdio.h>

#include "common/config.h"
#include "common/progress.h"
#include "train/client_state.h"

typedef struct train_tune_options {
    int epochs; /* 0 = client.local_epochs */
    int layers[TRAIN_MAX_LAYERS];
    int n_layers;          /* > 0: tune exactly these layers (ascending) */
    bool no_prompt;        /* no layer at all: the linear head alone (a probe) */
    double layer_fraction; /* > 0 and n_layers 0: the top ceil(f·L) layers; else all */
    double select_rho;     /* > 0 and n_layers 0: FedPepTAO's selection (§2) made centrally:
                              the K = fl_layer_count(ρ, L) layers of highest score */
    bool select_lowest;    /* with select_rho: the K scored layers of LOWEST score instead (the
                              control of the layer-selection experiment) */
    double time_budget_s;  /* 0 = none: stop training when spent, then evaluate */
    const char *fallback_vocab, *fallback_merges; /* tokenizer for a folder without one */
    bool describe_head;   /* linear head: start from the label descriptions (train/describe.h)
                             and evaluate before training ("epoch 0": the zero-shot figure);
                             implied by model.head = descriptions, whose head stays there */
    bool zero_shot_only;  /* with describe_head: stop after that evaluation */
    progress_t *progress; /* epochs and examples as they go (common/progress.h); NULL = none */
} train_tune_options;

typedef struct train_tune_result {
    int epochs; /* epochs run (the last may be cut by the budget) */
    double first_metric, best_metric, last_metric;
    double zero_shot_metric; /* describe_head: the metric before any training */
    double last_loss;
    int64_t steps;
} train_tune_result;

/* Runs the tuning; one line per epoch to log (may be NULL). */
fp_status train_tune(const fedpep_config *cfg, const train_tune_options *o, FILE *log,
                     train_tune_result *res, fp_error *err);

#endif
