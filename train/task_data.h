/* task_data.h — a run's data as the config names it: the task's train and eval splits loaded
 * (data/dataset.h), subsampled (seeded) and encoded for the model (train/batch.h).
 * Shared by `tune` and `simulate`; never trains. */
#ifndef FEDPEP_TRAIN_TASK_DATA_H
#define FEDPEP_TRAIN_TASK_DATA_H

#include "common/config.h"
#include "data/dataset.h"
#include "train/batch.h"
#include "train/model_bundle.h"

typedef struct train_task_data {
    dataset_t *train_ds, *eval_ds;
    train_set_t *train, *eval;
    int *train_labels, *eval_labels; /* [train->n], [eval->n] */
    int *all_train, *all_eval;       /* 0..n−1, for "every example" */
    int P, max_len;
    float *fixed_head; /* model.head = descriptions: the label-description head [C][d] + [C] */
} train_task_data;

/* Loads and encodes cfg's task for model m with prompt length P (and builds the fixed head of
 * model.head = descriptions). */
fp_status train_task_data_load(const fedpep_config *cfg, train_model_t *m, int P,
                               train_task_data *d, fp_error *err);
void train_task_data_free(train_task_data *d);

#endif
