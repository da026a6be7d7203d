/* layer_stats.c — layer statistics and the prompt-gradient callback (see layer_stats.h).
 * Each call allocates its own arena: both run once per run, not per step. */
#include "train/layer_stats.h"

#include <stdlib.h>
#include <string.h>

#include "fl/layer_score.h"

/* An arena keeping every layer (layer scoring reads them; the gradient needs them all). */
static tf_acts_t *arena_for(const train_model_t *m, const train_set_t *set, int b, int P,
                            fp_error *err)
{
    tf_acts_spec spec = {.B = b,
                         .T = set->max_len > 0 ? set->max_len : 1,
                         .P = P,
                         .saved_layers = m->cfg.n_layers,
                         .max_lm_rows = train_set_max_lm_rows(set, b),
                         .max_classes = set->linear_head ? set->n_classes : 0};
    return tf_acts_new(&m->cfg, spec, err);
}

fp_status train_layer_stats(const train_model_t *m, int P, const float *E0, const train_set_t *set,
                            const int *idx, int n, int score_batch, double *s, fp_error *err)
{
    int L = m->cfg.n_layers, b = n < score_batch ? n : score_batch;
    if (b < 2 || L < 2)
        return fp_fail(err, FP_EINVAL, "layer stats: need 2 examples and 2 layers (%d, %d)", b, L);
    tf_acts_t *acts = arena_for(m, set, b, P, err);
    train_batch_t *bt = train_batch_new(b, set->max_len > 0 ? set->max_len : 1);
    float *hidden = NULL;
    fp_status st = acts && bt ? FP_OK
                              : (acts  ? fp_fail(err, FP_ENOMEM, "layer stats: memory")
                                 : err ? err->status
                                       : FP_ENOMEM);
    if (!st)
        st = train_batch_fill(bt, set, idx, b, -1, err);
    tf_result res;
    if (!st) {
        tf_prompt pr = {.P = P, .E = E0};
        tf_batch view = bt->view;
        view.targets = NULL; /* only the hidden states are wanted */
        view.labels = NULL;
        tf_options opt = {.keep_all_layers = true};
        st = tf_forward(acts, &m->cfg, &m->w, &pr, NULL, &view, &opt, &res, err);
    }
    size_t dim = (size_t)bt->view.T * m->cfg.d_model;
    if (!st && !(hidden = malloc((size_t)(L - 1) * b * dim * sizeof(float))))
        st = fp_fail(err, FP_ENOMEM, "layer stats: out of memory");
    for (int l = 0; l < L - 1 && !st; l++) {
        const float *h = tf_acts_layer_output(acts, l);
        if (!h)
            st = fp_fail(err, FP_ESTATE, "layer stats: layer %d kept no output", l);
        else
            memcpy(hidden + (size_t)l * b * dim, h, (size_t)b * dim * sizeof(float));
    }
    if (!st)
        st = fl_layer_statistics(hidden, L - 1, b, dim, s, err);
    free(hidden);
    train_batch_destroy(&bt);
    tf_acts_destroy(&acts);
    return st;
}

struct train_grad {
    const train_model_t *m;
    int P;
    tf_acts_t *acts;
    train_batch_t *bt;
    bool *all;
    tf_cls_head head;
};

train_grad_t *train_grad_new(const train_model_t *m, int P, const train_set_t *set, const int *idx,
                             int n, const float *head, fp_error *err)
{
    train_grad_t *g = calloc(1, sizeof *g);
    if (!g || n < 1 || (set->linear_head && !head)) {
        free(g);
        fp_fail(err, g ? FP_EINVAL : FP_ENOMEM, "gradient: no examples, no head or no memory");
        return NULL;
    }
    if (set->linear_head)
        g->head = (tf_cls_head){.n_classes = set->n_classes,
                                .W = head,
                                .b = head + (size_t)set->n_classes * m->cfg.d_model};
    g->m = m;
    g->P = P;
    g->acts = arena_for(m, set, n, P, err);
    g->bt = train_batch_new(n, set->max_len > 0 ? set->max_len : 1);
    g->all = malloc((size_t)m->cfg.n_layers * sizeof(bool));
    if (!g->acts || !g->bt || !g->all || train_batch_fill(g->bt, set, idx, n, -1, err)) {
        if (g->acts && (!g->bt || !g->all))
            fp_fail(err, FP_ENOMEM, "gradient: out of memory");
        train_grad_destroy(&g);
        return NULL;
    }
    for (int l = 0; l < m->cfg.n_layers; l++)
        g->all[l] = true;
    return g;
}

void train_grad_destroy(train_grad_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tf_acts_destroy(&(*self_p)->acts);
    train_batch_destroy(&(*self_p)->bt);
    free((*self_p)->all);
    free(*self_p);
    *self_p = NULL;
}

fp_status train_grad_fn(void *ctx, const float *x, float *grad, fp_error *err)
{
    train_grad_t *g = ctx;
    tf_prompt pr = {.P = g->P, .E = x, .present = g->all, .trainable = g->all, .dE = grad};
    tf_options opt = {.grad = true};
    tf_result res;
    fp_status st = tf_forward(g->acts, &g->m->cfg, &g->m->w, &pr,
                              g->head.n_classes ? &g->head : NULL, &g->bt->view, &opt, &res, err);
    return st ? st : tf_backward(g->acts, err);
}
