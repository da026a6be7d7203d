/* global_eval.c — see global_eval.h. */
#include "train/global_eval.h"

#include <stdlib.h>
#include <string.h>

fp_status train_global_eval_init(train_global_eval_t *g, const train_layout *lay, uint64_t seed,
                                 bool scaffold, int n, fp_error *err)
{
    memset(g, 0, sizeof *g);
    if (n < 0)
        return fp_fail(err, FP_EINVAL, "global evaluation: %d examples", n);
    g->n = n;
    g->all = malloc((size_t)(n ? n : 1) * sizeof *g->all);
    if (!g->all)
        return fp_fail(err, FP_ENOMEM, "global evaluation: out of memory");
    for (int i = 0; i < n; i++)
        g->all[i] = i;
    g->initial = train_client_new(lay, -1, seed, scaffold, err);
    if (!g->initial) {
        train_global_eval_free(g);
        return err && err->status ? err->status : FP_ENOMEM;
    }
    return FP_OK;
}

void train_global_eval_free(train_global_eval_t *g)
{
    train_client_destroy(&g->initial);
    free(g->all);
    g->all = NULL;
    g->n = 0;
}

fp_status train_global_eval_run(const train_global_eval_t *g, train_worker_t *w, const float *rows,
                                const train_set_t *set, int batch, train_eval_result *out,
                                fp_error *err)
{
    if ((size_t)g->n != set->n)
        return fp_fail(err, FP_EINVAL, "global evaluation: made for %d examples, the split has %zu",
                       g->n, set->n);
    fp_status st = train_eval_init(out, set->n_classes, err);
    if (!st)
        st = train_evaluate_client(w, g->initial, rows, set, g->all, g->n, batch, out, err);
    return st;
}
