/* update_check.c — the coordinator's bounds on an UPDATE (see update_check.h). The decoder
 * already refuses non-finite floats; the finiteness pass here is kept because aggregation must
 * not depend on the decoder's limits staying what they are. Never modifies the update. */
#include "actors/update_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fl/layer_score.h"
#include "train/run_setup.h"
#include "train/task_data.h"

static fp_status check_tensor(const char *name, const msg_tensor_t *t, const update_expect_t *want,
                              fp_error *err)
{
    if (t->ndim != want->ndim || memcmp(t->shape, want->shape, want->ndim * sizeof t->shape[0]))
        return fp_fail(err, FP_EINVAL, "%s: not the shape TRAIN sent", name);
    size_t count = msg_tensor_count(t);
    for (size_t i = 0; i < count; i++)
        if (!isfinite(t->data[i]))
            return fp_fail(err, FP_EINVAL, "%s[%zu] is not finite", name, i);
    return FP_OK;
}

fp_status update_check(const msg_update_t *u, const update_expect_t *want, fp_error *err)
{
    fp_status st = check_tensor("rows", &u->rows, want, err);
    if (!st && want->control)
        st = check_tensor("control_delta", &u->control_delta, want, err);
    else if (!st && u->control_delta.ndim)
        st = fp_fail(err, FP_EINVAL, "control_delta: not asked for");
    if (!st && u->n != want->n)
        st = fp_fail(err, FP_EINVAL, "n = %llu, but the client holds %llu examples",
                     (unsigned long long)u->n, (unsigned long long)want->n);
    if (!st && !isfinite(u->loss))
        st = fp_fail(err, FP_EINVAL, "loss is not finite");
    return st;
}

fp_status eval_reply_check(const msg_eval_reply_t *e, const uint64_t *rows, int classes,
                           fp_error *err)
{
    if (e->classes != (uint32_t)classes || e->confusion.n != (uint32_t)(classes * classes))
        return fp_fail(err, FP_EINVAL, "%u classes, the task has %d", e->classes, classes);
    for (int t = 0; t < classes; t++) {
        uint64_t sum = 0;
        for (int p = 0; p < classes; p++)
            sum += e->confusion.v[t * classes + p];
        if (sum != rows[t])
            return fp_fail(err, FP_EINVAL, "%llu examples of class %d, but the client holds %llu",
                           (unsigned long long)sum, t, (unsigned long long)rows[t]);
    }
    return FP_OK;
}

fp_status score_reply_check(const msg_score_reply_t *r, int n_scored, uint64_t n_k,
                            uint32_t score_batch, fp_error *err)
{
    uint64_t n = n_k >= 2 ? n_k : 0;
    if (r->scores.n != (uint32_t)n_scored)
        return fp_fail(err, FP_EINVAL, "%u scores for %d scored layers", r->scores.n, n_scored);
    if (r->batch != score_batch)
        return fp_fail(err, FP_EINVAL, "batch = %u, the run scores %u", r->batch, score_batch);
    if (r->n != n)
        return fp_fail(err, FP_EINVAL, "n = %llu, but the client holds %llu examples",
                       (unsigned long long)r->n, (unsigned long long)n);
    double lo = 0, hi = 0;
    fl_layer_statistic_range((int)(n < score_batch ? n : score_batch), &lo, &hi);
    for (uint32_t l = 0; l < r->scores.n; l++) {
        double s = r->scores.v[l];
        if (!isfinite(s))
            return fp_fail(err, FP_EINVAL, "scores[%u] is not finite", l);
        if (n && (s < lo || s > hi))
            return fp_fail(err, FP_EINVAL, "scores[%u] = %g, outside [%g, %g]", l, s, lo, hi);
    }
    return FP_OK;
}

void shard_sizes_free(shard_sizes_t *s)
{
    free(s->train);
    free(s->eval);
    memset(s, 0, sizeof *s);
}

fp_status shard_sizes_load(shard_sizes_t *s, const fedpep_config *cfg, train_model_t *m, int P,
                           fp_error *err)
{
    memset(s, 0, sizeof *s);
    train_task_data d = {0};
    fl_partition_t *ptrain = NULL, *peval = NULL;
    fp_status st = train_task_data_load(cfg, m, P, &d, err);
    if (!st)
        st = train_partition_make(cfg, d.train_labels, (int)d.train->n, d.train->n_classes, &ptrain,
                                  err);
    if (!st)
        st = train_partition_make(cfg, d.eval_labels, (int)d.eval->n, d.eval->n_classes, &peval,
                                  err);
    int N = cfg->federation.clients, C = st ? 0 : d.eval->n_classes;
    if (!st && (!(s->train = calloc((size_t)N, sizeof *s->train)) ||
                !(s->eval = calloc((size_t)N * (size_t)C, sizeof *s->eval))))
        st = fp_fail(err, FP_ENOMEM, "no memory for %d clients' shard sizes", N);
    for (int k = 0; !st && k < N; k++) {
        s->train[k] = (uint64_t)fl_partition_size(ptrain, k);
        const int *idx = peval->index + peval->offset[k];
        for (int i = 0; i < fl_partition_size(peval, k); i++)
            s->eval[(size_t)k * (size_t)C + (size_t)d.eval_labels[idx[i]]]++;
    }
    s->clients = N, s->classes = C;
    fl_partition_destroy(&ptrain);
    fl_partition_destroy(&peval);
    train_task_data_free(&d);
    if (st)
        shard_sizes_free(s);
    return st;
}
