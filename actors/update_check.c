/* update_check.c — the coordinator's bounds on an UPDATE (see update_check.h). The decoder
 * already refuses non-finite floats; the finiteness pass here is kept because aggregation must
 * not depend on the decoder's limits staying what they are. Never modifies the update. */
#include "actors/update_check.h"

#include <math.h>
#include <string.h>

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

fp_status update_shard_sizes(const fedpep_config *cfg, train_model_t *m, int P, uint64_t *n,
                             fp_error *err)
{
    train_task_data d = {0};
    fl_partition_t *part = NULL;
    fp_status st = train_task_data_load(cfg, m, P, &d, err);
    if (!st)
        st = train_partition_make(cfg, d.train_labels, (int)d.train->n, d.train->n_classes, &part,
                                  err);
    for (int k = 0; !st && k < cfg->federation.clients; k++)
        n[k] = (uint64_t)fl_partition_size(part, k);
    fl_partition_destroy(&part);
    train_task_data_free(&d);
    return st;
}
