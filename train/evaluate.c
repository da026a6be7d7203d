/* evaluate.c — batched, gradient-free evaluation (see evaluate.h). Never writes to the prompt
 * it is given: the personalised prompt is assembled in the worker's scratch. */
#include "train/evaluate.h"

#include <math.h>
#include <string.h>

#include "fl/prompt_rows.h"

/* Rows scored per pass at most (the scores live on the stack). */
#define EVAL_MAX_BATCH 64

fp_status train_eval_init(train_eval_result *r, int n_classes, fp_error *err)
{
    r->loss_sum = 0;
    return confusion_init(&r->cm, n_classes, err);
}

static fp_status forward_eval(train_worker_t *w, const float *E, const float *head,
                              const tf_batch *bt, fp_error *err)
{
    const train_layout *lay = w->lay;
    const train_model_t *m = w->model;
    size_t nw = (size_t)lay->head_classes * lay->d;
    tf_prompt pr = train_layout_prompt(lay, E, NULL);
    tf_cls_head h = {.n_classes = lay->head_classes, .W = head, .b = head ? head + nw : NULL};
    tf_options opt = {.grad = false};
    tf_result res;
    return tf_forward(w->eval_acts, &m->cfg, &m->w, &pr, lay->head_classes ? &h : NULL, bt, &opt,
                      &res, err);
}

static int argmax(const double *v, int n, bool lowest)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (lowest ? v[i] < v[best] : v[i] > v[best])
            best = i;
    return best;
}

/* Log-softmax of the true class among C scores (the loss reported for heads/verbalizers). */
static double class_nll(const double *s, int C, int y)
{
    double mx = s[0], z = 0;
    for (int c = 1; c < C; c++)
        mx = s[c] > mx ? s[c] : mx;
    for (int c = 0; c < C; c++)
        z += exp(s[c] - mx);
    return -(s[y] - mx - log(z));
}

fp_status train_evaluate(train_worker_t *w, const float *E, const float *head,
                         const train_set_t *set, const int *idx, int n, int batch,
                         train_eval_result *out, fp_error *err)
{
    const int C = set->n_classes, V = w->model->cfg.vocab_size;
    if (batch < 1 || batch > w->B_eval)
        batch = w->B_eval;
    if (batch > EVAL_MAX_BATCH)
        batch = EVAL_MAX_BATCH;
    double sc[EVAL_MAX_BATCH][FP_TASK_MAX_CLASSES];
    for (int at = 0; at < n; at += batch) {
        int b = n - at < batch ? n - at : batch;
        fp_status st;
        if (set->linear_head || !set->decoder) {
            st = train_batch_fill(w->batch, set, idx + at, b, -1, err);
            if (!st)
                st = forward_eval(w, E, head, &w->batch->view, err);
            if (st)
                return st;
            if (set->linear_head) {
                const float *lg = tf_acts_cls_logits(w->eval_acts);
                for (int i = 0; i < b; i++)
                    for (int c = 0; c < C; c++)
                        sc[i][c] = lg[(size_t)i * C + c];
            } else {
                const int *row_index;
                int rows;
                const float *lg = tf_acts_lm_logits(w->eval_acts, &row_index, &rows);
                int T = w->batch->view.T;
                for (int r = 0; r < rows; r++) {
                    int i = row_index[r] / T;
                    for (int c = 0; c < C; c++)
                        sc[i][c] = lg[(size_t)r * V + set->word_id[c]];
                }
            }
        } else {
            /* Decoder: one pass per class; score = minus the mean label-token loss. */
            for (int c = 0; c < C; c++) {
                st = train_batch_fill(w->batch, set, idx + at, b, c, err);
                if (!st)
                    st = forward_eval(w, E, head, &w->batch->view, err);
                if (st)
                    return st;
                const float *el = tf_acts_example_loss(w->eval_acts);
                for (int i = 0; i < b; i++)
                    sc[i][c] = -(double)el[i];
            }
        }
        for (int i = 0; i < b; i++) {
            int y = set->ex[idx[at + i]].label;
            for (int c = 0; c < C; c++)
                if (!isfinite(sc[i][c]))
                    return fp_fail(err, FP_ENUMERIC, "evaluate: non-finite score");
            st = confusion_add(&out->cm, y, argmax(sc[i], C, false), err);
            if (st)
                return st;
            out->loss_sum += class_nll(sc[i], C, y);
        }
    }
    return FP_OK;
}

fp_status train_evaluate_client(train_worker_t *w, const train_client_t *c, const float *w_global,
                                const train_set_t *set, const int *idx, int n, int batch,
                                train_eval_result *out, fp_error *err)
{
    const train_layout *lay = c->lay;
    memcpy(w->E_eval, c->E, lay->n_prompt * sizeof(float));
    if (w_global)
        train_layout_rows_scatter(lay, w->E_eval, w_global);
    return train_evaluate(w, w->E_eval, c->head, set, idx, n, batch, out, err);
}
