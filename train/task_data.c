/* task_data.c — loads, subsamples and encodes a run's task (see task_data.h). */
#include "train/task_data.h"

#include <stdlib.h>
#include <string.h>

#include "train/describe.h"

static fp_status load_split(const fedpep_config *cfg, const fp_task *task, fp_split split,
                            const char *dir, int max, dataset_t **out, fp_error *err)
{
    fp_status st = dataset_load(task, split, dir, (uint64_t)cfg->run.seed,
                                cfg->data.qnli_eval_fraction, out, err);
    if (!st && max > 0)
        st = dataset_subsample(
            *out, (size_t)max,
            (uint64_t)cfg->run.seed ^ (split == FP_SPLIT_TRAIN ? 0x7472 : 0x6576), err);
    return st;
}

static int *iota(size_t n)
{
    int *v = malloc((n ? n : 1) * sizeof(int));
    for (size_t i = 0; v && i < n; i++)
        v[i] = (int)i;
    return v;
}

fp_status train_task_data_load(const fedpep_config *cfg, train_model_t *m, int P,
                               train_task_data *d, fp_error *err)
{
    memset(d, 0, sizeof *d);
    const fp_task *task = task_get(cfg->data.task);
    char dir[4096];
    fp_status st = task ? config_data_dir(cfg, dir, sizeof dir, err)
                        : fp_fail(err, FP_EINVAL, "unknown task %d", (int)cfg->data.task);
    bool linear = config_linear_head(cfg);
    d->P = P;
    d->max_len = train_max_len(&m->cfg, P, cfg->model.max_seq_len);
    if (!st)
        st = load_split(cfg, task, FP_SPLIT_TRAIN, dir, cfg->data.max_train_examples, &d->train_ds,
                        err);
    if (!st)
        st = load_split(cfg, task, FP_SPLIT_EVAL, dir, cfg->data.max_eval_examples, &d->eval_ds,
                        err);
    if (!st)
        st = train_set_encode(m->tok, &m->cfg, d->train_ds, NULL, 0, d->max_len, linear, &d->train,
                              err);
    if (!st)
        st = train_set_encode(m->tok, &m->cfg, d->eval_ds, NULL, 0, d->max_len, linear, &d->eval,
                              err);
    if (!st) {
        d->train_labels = malloc((d->train->n ? d->train->n : 1) * sizeof(int));
        d->eval_labels = malloc((d->eval->n ? d->eval->n : 1) * sizeof(int));
        d->all_train = iota(d->train->n);
        d->all_eval = iota(d->eval->n);
        if (!d->train_labels || !d->eval_labels || !d->all_train || !d->all_eval)
            st = fp_fail(err, FP_ENOMEM, "task data: out of memory");
    }
    if (!st) {
        train_set_labels(d->train, d->train_labels);
        train_set_labels(d->eval, d->eval_labels);
        if (d->train->n == 0 || d->eval->n == 0)
            st = fp_fail(err, FP_EINVAL, "task %s: empty split", task->name);
    }
    if (!st && cfg->model.head == FP_HEAD_DESCRIPTIONS) {
        size_t n = (size_t)d->train->n_classes * ((size_t)m->cfg.d_model + 1);
        d->fixed_head = malloc(n * sizeof(float));
        st = d->fixed_head ? train_head_from_descriptions(m, task, d->fixed_head, err)
                           : fp_fail(err, FP_ENOMEM, "task data: out of memory");
    }
    if (st)
        train_task_data_free(d);
    return st;
}

void train_task_data_free(train_task_data *d)
{
    train_set_destroy(&d->train);
    train_set_destroy(&d->eval);
    dataset_destroy(&d->train_ds);
    dataset_destroy(&d->eval_ds);
    free(d->train_labels);
    free(d->eval_labels);
    free(d->all_train);
    free(d->all_eval);
    free(d->fixed_head);
    memset(d, 0, sizeof *d);
}
