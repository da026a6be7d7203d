/* local_round.c — one client's local round (see local_round.h). Must never touch another
 * client's state or the weights; all randomness comes from rng_derive(seed, client, round). */
#include "train/local_round.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/rng.h"
#include "fl/client_step.h"
#include "fl/local_schedule.h"
#include "fl/prompt_rows.h"

train_opts train_opts_from_config(const fedpep_config *cfg, bool prox, bool scaffold)
{
    train_opts o = {0};
    o.adamw = fl_adamw_defaults();
    o.adamw.lr = cfg->client.lr;
    o.adamw.beta1 = cfg->client.beta1;
    o.adamw.beta2 = cfg->client.beta2;
    o.adamw.eps = cfg->client.eps;
    o.adamw.weight_decay = cfg->client.weight_decay;
    o.adamw.max_grad_norm = cfg->client.clip_norm;
    o.local_epochs = cfg->client.local_epochs;
    o.batch_size = cfg->client.batch_size;
    o.max_local_steps = cfg->client.max_local_steps;
    o.length_buckets = cfg->client.length_buckets;
    o.eval_batch = cfg->eval.batch_size;
    o.dropout = (float)cfg->model.dropout;
    o.prefix_dropout = (float)cfg->model.prefix_dropout;
    o.seed = (uint64_t)cfg->run.seed;
    o.prox_mu = prox ? cfg->client.fedprox_mu : 0.0;
    o.scaffold = scaffold;
    o.linear_schedule = cfg->client.lr_schedule == FP_LR_LINEAR;
    return o;
}

int64_t train_round_steps(const train_opts *o, int64_t n)
{
    return fl_local_steps(n, o->batch_size, o->local_epochs, o->max_local_steps);
}

uint64_t train_total_steps(const train_opts *o, int64_t n, int rounds)
{
    return o->linear_schedule ? (uint64_t)(train_round_steps(o, n) * rounds) : 0;
}

int64_t train_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t train_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One optimisation step on the examples order[0..n). */
static fp_status train_step(train_worker_t *w, train_client_t *c, const train_opts *o,
                            const fl_adamw_config *acfg, const fl_client_extras *ex,
                            const train_set_t *set, const int *order, int n, uint64_t seed,
                            double *loss, fp_error *err)
{
    const train_layout *lay = c->lay;
    const train_model_t *m = w->model;
    fp_status st = train_batch_fill(w->batch, set, order, n, -1, err);
    if (st)
        return st;
    int C = lay->head_classes;
    size_t nw = (size_t)C * lay->d;
    tf_prompt pr = train_layout_prompt(lay, c->E, w->dE);
    tf_cls_head head = {.n_classes = C,
                        .W = c->head,
                        .b = c->head ? c->head + nw : NULL,
                        .dW = lay->fixed_head ? NULL : w->head_grad,
                        .db = lay->fixed_head ? NULL : w->head_grad + nw};
    tf_options opt = {
        .grad = true, .dropout = o->dropout, .prefix_dropout = o->prefix_dropout, .seed = seed};
    tf_result res;
    st = tf_forward(w->acts, &m->cfg, &m->w, &pr, C ? &head : NULL, &w->batch->view, &opt, &res,
                    err);
    if (!st)
        st = tf_backward(w->acts, err);
    if (st)
        return st;
    *loss = res.loss;
    train_layout_gather(lay, c->E, c->head, w->theta);
    train_layout_gather(lay, w->dE, w->head_grad, w->g);
    /* FedProx pulls only the travelling rows: the private part of w mirrors θ. */
    if (ex->prox_mu > 0)
        memcpy(w->w_full + lay->n_rows, w->theta + lay->n_rows,
               (lay->n_theta - lay->n_rows) * sizeof(float));
    st = fl_client_step(c->opt, acfg, ex, w->theta, w->g, err);
    if (st)
        return st;
    train_layout_scatter(lay, w->theta, c->E, c->head);
    return FP_OK;
}

/* One (length, example) pair of a bucket being sorted. */
typedef struct len_idx {
    int len, idx;
} len_idx;

static int by_length(const void *a, const void *b)
{
    const len_idx *x = a, *y = b;
    return x->len != y->len ? (x->len > y->len) - (x->len < y->len)
                            : (x->idx > y->idx) - (x->idx < y->idx);
}

/* A batch pads to its longest row, so batches of similar lengths cost less (SST-2's phrases run
 * from 1 to 60 pieces) while every epoch still sees every example once, in a seeded order. */
fp_status train_bucket_by_length(int *order, int n, int batch, int buckets, const train_set_t *set,
                                 rng_t *r, fp_error *err)
{
    if (buckets <= 0 || batch <= 0 || n <= batch)
        return FP_OK;
    const int chunk = (int)((int64_t)batch * buckets < n ? (int64_t)batch * buckets : n);
    len_idx *tmp = malloc((size_t)chunk * sizeof *tmp);
    int *perm = malloc((size_t)(chunk / batch + 1) * sizeof *perm);
    if (!tmp || !perm) {
        free(tmp);
        free(perm);
        return fp_fail(err, FP_ENOMEM, "length buckets: out of memory");
    }
    for (int start = 0; start < n; start += chunk) {
        const int m = n - start < chunk ? n - start : chunk, full = m / batch;
        for (int i = 0; i < m; i++)
            tmp[i] = (len_idx){set->ex[order[start + i]].n, order[start + i]};
        qsort(tmp, (size_t)m, sizeof *tmp, by_length);
        for (int k = 0; k < full; k++)
            perm[k] = k;
        rng_shuffle_int(r, perm, (size_t)full);
        for (int k = 0; k < full; k++)
            for (int i = 0; i < batch; i++)
                order[start + k * batch + i] = tmp[perm[k] * batch + i].idx;
        for (int i = full * batch; i < m; i++) /* the partial batch stays last */
            order[start + i] = tmp[i].idx;
    }
    free(tmp);
    free(perm);
    return FP_OK;
}

fp_status train_local_round(train_worker_t *w, train_client_t *c, const train_opts *o,
                            const train_round_in *in, float *rows, train_round_result *res,
                            fp_error *err)
{
    const train_layout *lay = c->lay;
    if (in->n < 1)
        return fp_fail(err, FP_EINVAL, "client %d: empty shard", c->id);
    if (o->scaffold && (!in->c || !c->c_k))
        return fp_fail(err, FP_EINVAL, "client %d: scaffold needs c and c_k", c->id);
    int64_t t0 = train_now_ms(), cpu0 = train_cpu_ms();
    if (in->w_global)
        train_layout_rows_scatter(lay, c->E, in->w_global);

    fl_adamw_config acfg = o->adamw;
    acfg.total_steps = in->total_steps;
    fl_client_extras ex = {0};
    if (o->prox_mu > 0 && in->w_global) {
        memcpy(w->w_full, in->w_global, lay->n_rows * sizeof(float));
        ex.prox_mu = o->prox_mu;
        ex.w_global = w->w_full;
    }
    if (o->scaffold) {
        memset(w->c_full, 0, lay->n_theta * sizeof(float));
        memset(w->ck_full, 0, lay->n_theta * sizeof(float));
        memcpy(w->c_full, in->c, lay->n_rows * sizeof(float));
        memcpy(w->ck_full, c->c_k, lay->n_rows * sizeof(float));
        ex.c = w->c_full;
        ex.c_k = w->ck_full;
    }

    int *order = malloc((size_t)in->n * sizeof(int));
    if (!order)
        return fp_fail(err, FP_ENOMEM, "client %d: out of memory", c->id);
    rng_t r;
    fl_local_stream(&r, o->seed, c->id, in->round);
    int64_t max_steps = train_round_steps(o, in->n), steps = 0;
    double loss_sum = 0;
    /* Examples for progress reports: every epoch's, or max_local_steps batches' worth. */
    int64_t seen = 0, planned = (int64_t)in->n * o->local_epochs;
    planned = planned < max_steps * o->batch_size ? planned : max_steps * o->batch_size;
    fp_status st = FP_OK;
    for (int e = 0; e < o->local_epochs && steps < max_steps && !st; e++) {
        fl_epoch_order(&r, in->idx, in->n, order);
        st = train_bucket_by_length(order, in->n, o->batch_size, o->length_buckets, in->set, &r,
                                    err);
        for (int at = 0; at < in->n && steps < max_steps && !st; at += o->batch_size) {
            if (in->deadline_ms && steps > 0 && train_now_ms() >= in->deadline_ms)
                break;
            int b = in->n - at < o->batch_size ? in->n - at : o->batch_size;
            double loss = 0;
            st = train_step(w, c, o, &acfg, &ex, in->set, order + at, b, rng_next(&r), &loss, err);
            loss_sum += loss;
            steps++;
            seen += b;
            progress_work(in->progress, seen, planned);
        }
    }
    free(order);
    if (st)
        return fp_wrap(err, "client %d round %lld: ", c->id, (long long)in->round);

    float *up = w->theta; /* E[:, S] */
    train_layout_rows_gather(lay, c->E, up);
    if (o->scaffold && in->w_global && lay->n_rows) {
        /* c_k⁺ into delta_c, then Δc_k = c_k⁺ − c_k and c_k ← c_k⁺. */
        fl_scaffold_variate(c->c_k, in->c, in->w_global, up, (long)steps, o->adamw.lr, c->delta_c,
                            lay->n_rows);
        for (size_t i = 0; i < lay->n_rows; i++) {
            float next = c->delta_c[i];
            c->delta_c[i] = next - c->c_k[i];
            c->c_k[i] = next;
        }
    }
    if (rows)
        memcpy(rows, up, lay->n_rows * sizeof(float));
    c->last_round = in->round;
    c->last = (train_round_result){in->n, steps, loss_sum / (double)steps, train_now_ms() - t0,
                                   train_cpu_ms() - cpu0};
    if (res)
        *res = c->last;
    return FP_OK;
}
