/* tune.c — centralised deep prompt tuning (see tune.h): one client, every training example,
 * one local round per epoch. Never touches the database. */
#include "train/tune.h"

#include <math.h>
#include <string.h>

#include "common/rng.h"
#include "data/metrics.h"
#include "fl/layer_score.h"
#include "train/layer_stats.h"
#include "train/run_setup.h"
#include "train/describe.h"
#include "train/evaluate.h"
#include "train/local_round.h"
#include "train/task_data.h"

static fp_status tune_layers(const train_tune_options *o, int L, int *layers, int *k, fp_error *err)
{
    if (o->no_prompt) {
        *k = 0;
        return FP_OK;
    }
    if (o->n_layers > 0) {
        for (int i = 0; i < o->n_layers; i++)
            if (o->layers[i] < 0 || o->layers[i] >= L || (i && o->layers[i] <= o->layers[i - 1]))
                return fp_fail(err, FP_EINVAL, "--layers: %d is not an ascending layer of 0..%d",
                               o->layers[i], L - 1);
        memcpy(layers, o->layers, (size_t)o->n_layers * sizeof(int));
        *k = o->n_layers;
        return FP_OK;
    }
    int n = L;
    if (o->layer_fraction > 0) {
        n = (int)ceil(o->layer_fraction * L - 1e-9);
        n = n < 1 ? 1 : n > L ? L : n;
    }
    for (int i = 0; i < n; i++)
        layers[i] = L - n + i; /* the top layers: the cheapest backward */
    *k = n;
    return FP_OK;
}

enum { SCORE_GROUPS = 8 }; /* batches the central score averages, as equal-sized clients */

/* --select: the statistic of §2 at the initial prompt on SCORE_GROUPS batches of score_batch
 * training examples drawn with the run seed, combined as clients of equal size would be, ranked;
 * the K best (or, select_lowest, the K worst) of layers 0..L−2. The scores go to log. */
static fp_status tune_select(const fedpep_config *cfg, const train_tune_options *o,
                             const train_model_t *m, int P, const train_task_data *d, int *layers,
                             int *k, FILE *log, fp_error *err)
{
    const int L = m->cfg.n_layers, sb = cfg->federation.score_batch;
    const int n = (int)d->train->n, groups = n / sb < SCORE_GROUPS ? n / sb : SCORE_GROUPS;
    if (L < 2 || groups < 1 || sb < 2)
        return fp_fail(err, FP_EINVAL, "--select: needs 2 layers and %d training examples", sb);
    train_layout lay;
    float *E0 = NULL;
    double *stat = calloc((size_t)groups * (L - 1), sizeof(double)), S[TRAIN_MAX_LAYERS];
    int64_t *nk = calloc((size_t)groups, sizeof(int64_t));
    int *idx = malloc((size_t)n * sizeof(int));
    fp_status st = stat && nk && idx ? FP_OK : fp_fail(err, FP_ENOMEM, "--select: out of memory");
    if (!st)
        st = train_scoring_prompt(cfg, &m->cfg, P, &lay, &E0, err);
    if (!st) {
        rng_t g;
        rng_seed(&g, (uint64_t)cfg->run.seed);
        memcpy(idx, d->all_train, (size_t)n * sizeof(int));
        rng_shuffle_int(&g, idx, (size_t)n);
    }
    for (int j = 0; !st && j < groups; j++) {
        nk[j] = sb;
        st = train_layer_stats(m, P, E0, d->train, idx + (size_t)j * sb, sb, sb,
                               stat + (size_t)j * (L - 1), err);
    }
    if (!st)
        st = fl_layer_scores_combine(stat, nk, groups, L - 1, S, err);
    int order[TRAIN_MAX_LAYERS];
    if (!st) {
        fl_layer_rank(S, L - 1, order);
        if (log) {
            fprintf(log, "tune: FedPepTAO layer scores (%d batches of %d):", groups, sb);
            for (int l = 0; l < L - 1; l++)
                fprintf(log, " %d:%.4g", l, S[l]);
            fprintf(log, "; ranked");
            for (int l = 0; l < L - 1; l++)
                fprintf(log, " %d", order[l]);
            fprintf(log, "\n");
        }
        st = fl_layer_count(o->select_rho, L, k, err);
    }
    if (!st) {
        /* the chosen ranks, then ascending (the row order of the prompt) */
        bool pick[TRAIN_MAX_LAYERS] = {0};
        for (int i = 0; i < *k; i++)
            pick[order[o->select_lowest ? L - 2 - i : i]] = true;
        int at = 0;
        for (int l = 0; l < L - 1; l++)
            if (pick[l])
                layers[at++] = l;
    }
    free(E0);
    free(stat);
    free(nk);
    free(idx);
    return st;
}

/* Examples one epoch trained on: every full batch, the last one partial (an epoch cut by the
 * time budget counts its full batches). */
static int64_t examples_seen(const train_round_result *r, int batch)
{
    int64_t full = r->steps * batch;
    return full < r->n_k ? full : r->n_k;
}

/* The eval split's metric and mean loss under the client's current prompt and head. */
static fp_status tune_evaluate(train_worker_t *w, const train_client_t *c, const train_task_data *d,
                               int batch, double *metric, double *loss, fp_error *err)
{
    train_eval_result ev;
    fp_status st = train_eval_init(&ev, d->eval->n_classes, err);
    if (!st)
        st = train_evaluate(w, c->E, c->head, d->eval, d->all_eval, (int)d->eval->n, batch, &ev,
                            err);
    if (!st) {
        *metric = metric_value(d->eval->task->metric, &ev.cm);
        *loss = ev.loss_sum / (double)d->eval->n;
    }
    return st;
}

fp_status train_tune(const fedpep_config *cfg, const train_tune_options *o, FILE *log,
                     train_tune_result *res, fp_error *err)
{
    memset(res, 0, sizeof *res);
    train_model_t *m =
        train_model_open(cfg->model.path, o->fallback_vocab, o->fallback_merges, err);
    if (!m)
        return err ? err->status : FP_EINVAL;
    if (train_model_set_precision(m, cfg->model.precision, log, err)) {
        train_model_destroy(&m);
        return err->status;
    }
    int P = config_prompt_length(cfg, m->decoder);
    train_task_data d;
    train_layout lay;
    int layers[TRAIN_MAX_LAYERS], k = 0;
    train_client_t *c = NULL;
    train_worker_t *w = NULL;
    fp_status st = train_task_data_load(cfg, m, P, &d, err);
    if (st)
        goto out_model;
    bool linear = config_linear_head(cfg);
    if (o->select_rho > 0 && o->n_layers == 0 && !o->no_prompt)
        st = tune_select(cfg, o, m, P, &d, layers, &k, log, err);
    else
        st = tune_layers(o, m->cfg.n_layers, layers, &k, err);
    if (!st)
        st = train_layout_init(&lay, &m->cfg, P, layers, k, false, linear ? d.train->n_classes : 0,
                               err);
    if (!st && d.fixed_head)
        st = train_layout_fix_head(&lay, d.fixed_head, err);
    train_opts opts = train_opts_from_config(cfg, false, false);
    opts.local_epochs = 1;
    int T = d.train->max_len > d.eval->max_len ? d.train->max_len : d.eval->max_len;
    if (!st && !(c = train_client_new(&lay, 0, opts.seed, false, err)))
        st = err ? err->status : FP_ENOMEM;
    if (!st && !(w = train_worker_new(m, &lay, d.train, opts.batch_size, opts.eval_batch, T, err)))
        st = err ? err->status : FP_ENOMEM;
    int epochs = o->epochs > 0 ? o->epochs : cfg->client.local_epochs;
    int64_t n = (int64_t)d.train->n;
    uint64_t total = opts.linear_schedule ? (uint64_t)(train_round_steps(&opts, n) * epochs) : 0;
    int64_t t_start = train_now_ms();
    int64_t deadline = o->time_budget_s > 0 ? t_start + (int64_t)(o->time_budget_s * 1000) : 0;
    char layer_list[TRAIN_MAX_LAYERS * 4 + 8] = "none";
    for (int i = 0, at = 0; i < k; i++)
        at += snprintf(layer_list + at, sizeof layer_list - (size_t)at, "%s%d", i ? "," : "",
                       layers[i]);
    if (!st && log)
        fprintf(log,
                "tune: %s, %zu train / %zu eval examples (%zu / %zu truncated), P %d, "
                "layers %s (%d), %s head, %d epochs\n",
                d.train->task->name, d.train->n, d.eval->n, d.train->truncated, d.eval->truncated,
                P, layer_list, k,
                !linear        ? "verbalizer"
                : d.fixed_head ? "fixed label-description"
                               : "linear",
                epochs);
    /* A fixed head of descriptions starts (and stays) where --describe-head starts. */
    bool described = o->describe_head || d.fixed_head;
    if (!st && described) {
        double metric = 0, loss = 0;
        if (!linear)
            st = fp_fail(err, FP_EINVAL, "tune: label descriptions need a linear head");
        else if (!d.fixed_head)
            st = train_head_from_descriptions(m, d.train->task, c->head, err);
        if (!st)
            st = tune_evaluate(w, c, &d, opts.eval_batch, &metric, &loss, err);
        if (!st && log)
            fprintf(log, "epoch 0  label descriptions (zero-shot)  eval %s %.4f  eval loss %.4f\n",
                    metric_name(d.eval->task->metric), metric, loss);
        res->zero_shot_metric = metric;
        if (o->zero_shot_only)
            epochs = 0;
    }
    if (!st && epochs > 0)
        progress_begin(o->progress, 0, epochs);
    for (int e = 0; e < epochs && !st; e++) {
        train_round_in in = {.round = e,
                             .set = d.train,
                             .idx = d.all_train,
                             .n = (int)n,
                             .total_steps = total,
                             .deadline_ms = deadline,
                             .progress = o->progress};
        progress_span(o->progress, e, e + 1);
        progress_label(o->progress, "epoch %d/%d", e + 1, epochs);
        train_round_result rr;
        int64_t t0 = train_now_ms();
        st = train_local_round(w, c, &opts, &in, NULL, &rr, err);
        if (st)
            break;
        double train_s = (train_now_ms() - t0) / 1000.0;
        progress_label(o->progress, "epoch %d/%d evaluating", e + 1, epochs);
        double metric, eval_loss;
        st = tune_evaluate(w, c, &d, opts.eval_batch, &metric, &eval_loss, err);
        if (st)
            break;
        res->epochs = e + 1;
        res->steps += rr.steps;
        res->last_loss = rr.loss;
        res->last_metric = metric;
        if (e == 0)
            res->first_metric = res->best_metric = metric;
        if (metric > res->best_metric)
            res->best_metric = metric;
        progress_clear(o->progress); /* the epoch's line replaces it on a shared terminal */
        if (log)
            fprintf(log,
                    "epoch %d  steps %lld  loss %.4f  eval %s %.4f  eval loss %.4f  "
                    "%.1f ex/s  %.1f s\n",
                    e + 1, (long long)rr.steps, rr.loss, metric_name(d.eval->task->metric), metric,
                    eval_loss,
                    train_s > 0 ? (double)examples_seen(&rr, opts.batch_size) / train_s : 0.0,
                    (train_now_ms() - t_start) / 1000.0);
        if (deadline && train_now_ms() >= deadline)
            break;
    }
    if (res->epochs == 0 && described) /* zero-shot only: that is the result */
        res->first_metric = res->best_metric = res->last_metric = res->zero_shot_metric;
    if (log)
        fflush(log);
    train_worker_destroy(&w);
    train_client_destroy(&c);
    train_task_data_free(&d);
out_model:
    train_model_destroy(&m);
    return st;
}
