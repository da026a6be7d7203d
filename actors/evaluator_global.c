/* evaluator_global.c — see evaluator_global.h. */
#include "actors/evaluator_global.h"

#include <stdlib.h>
#include <string.h>

#include "actors/actor.h"
#include "actors/wire_tensor.h"
#include "fl/strategy.h"
#include "train/global_eval.h"
#include "train/local_round.h"
#include "train/model_bundle.h"
#include "train/run_setup.h"
#include "train/task_data.h"
#include "train/wire_rows.h"

struct evaluator_global {
    fedpep_config cfg;
    char vocab[512], merges[512];
    const fl_strategy_desc *strat;
    /* loaded by the first request */
    train_model_t *m;
    train_task_data d;
    msg_u32s_t layers;
    train_layout lay;
    train_worker_t *w;
    train_global_eval_t global;
    bool ready;
    /* the last answer */
    bool answered;
    uint32_t round;
    float *rows;  /* [lay.n_rows] */
    float *asked; /* [lay.n_rows] scratch: the request's rows, unpacked */
    train_eval_result last;
};

evaluator_global_t *evaluator_global_new(const fedpep_config *cfg, const char *fallback_vocab,
                                         const char *fallback_merges, fp_error *err)
{
    evaluator_global_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "evaluator: out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    snprintf(self->vocab, sizeof self->vocab, "%s", fallback_vocab ? fallback_vocab : "");
    snprintf(self->merges, sizeof self->merges, "%s", fallback_merges ? fallback_merges : "");
    if (fl_strategy_for(cfg->run.strategy, &self->strat, err))
        evaluator_global_destroy(&self);
    return self;
}

void evaluator_global_destroy(evaluator_global_t **self_p)
{
    evaluator_global_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    train_global_eval_free(&self->global);
    train_worker_destroy(&self->w);
    train_task_data_free(&self->d);
    train_model_destroy(&self->m);
    free(self->layers.v);
    free(self->rows);
    free(self->asked);
    free(self);
    *self_p = NULL;
}

/* The model, data, layout and worker as a client (and simulate) makes them. */
static fp_status load(evaluator_global_t *self, const msg_u32s_t *layers, fp_error *err)
{
    const fedpep_config *cfg = &self->cfg;
    if (!(self->m = train_model_open(cfg->model.path, self->vocab[0] ? self->vocab : NULL,
                                     self->merges[0] ? self->merges : NULL, err)))
        return err && err->status ? err->status : FP_EINVAL;
    fp_status st = train_model_set_precision(self->m, cfg->model.precision, stderr, err);
    int P = config_prompt_length(cfg, self->m->decoder);
    if (!st)
        st = train_task_data_load(cfg, self->m, P, &self->d, err);
    int head = !st && config_linear_head(cfg) ? self->d.train->n_classes : 0;
    if (!st)
        st = train_selection_layout(&self->lay, cfg, self->strat, &self->m->cfg, P, layers->v,
                                    (int)layers->n, head, self->d.fixed_head, err);
    train_opts o = train_opts_from_config(cfg, self->strat->prox, self->strat->scaffold_client);
    int T = st ? 0
               : (self->d.train->max_len > self->d.eval->max_len ? self->d.train->max_len
                                                                 : self->d.eval->max_len);
    if (!st && !(self->w = train_worker_new(self->m, &self->lay, self->d.train, o.batch_size,
                                            o.eval_batch, T, err)))
        st = err && err->status ? err->status : FP_ENOMEM;
    if (!st)
        st = train_global_eval_init(&self->global, &self->lay, (uint64_t)cfg->run.seed,
                                    self->strat->scaffold_client, (int)self->d.eval->n, err);
    if (!st && (!(self->rows = malloc(self->lay.n_rows * sizeof(float))) ||
                !(self->asked = malloc(self->lay.n_rows * sizeof(float)))))
        st = fp_fail(err, FP_ENOMEM, "evaluator: out of memory");
    if (!st)
        st = msg_u32s_alloc(&self->layers, layers->n, err);
    if (!st)
        memcpy(self->layers.v, layers->v, layers->n * sizeof *layers->v);
    self->ready = !st;
    return st;
}

static bool same_layers(const msg_u32s_t *a, const msg_u32s_t *b)
{
    return a->n == b->n && !memcmp(a->v, b->v, a->n * sizeof *a->v);
}

fp_status evaluator_global_answer(evaluator_global_t *self, const msg_t *req, const char *from,
                                  msg_t *reply, fp_error *err)
{
    const msg_eval_request_t *q = &req->eval_request;
    int64_t t0 = actor_now_ms();
    memset(reply, 0, sizeof *reply);
    if (!self->ready && !self->m) {
        fp_status st = load(self, &q->layers, err);
        if (st)
            return st;
    }
    if (!self->ready)
        return fp_fail(err, FP_ESTATE, "evaluator: the global evaluation could not be set up");
    if (!same_layers(&q->layers, &self->layers))
        return fp_fail(err, FP_EINVAL, "EVAL_REQUEST: the run's travelling layers changed");
    size_t n_rows = self->lay.n_rows;
    fp_status st = wire_tensor_check(&self->lay, "EVAL_REQUEST", &q->widths, &q->rows, err);
    if (st)
        return st;
    train_wire_unpack(&self->lay, q->rows.data, self->asked);
    bool again = self->answered && self->round == req->round &&
                 !memcmp(self->rows, self->asked, n_rows * sizeof(float));
    if (!again) {
        self->answered = false;
        st = train_global_eval_run(&self->global, self->w, self->asked, self->d.eval,
                                   self->cfg.eval.batch_size, &self->last, err);
        if (st)
            return st;
        memcpy(self->rows, self->asked, n_rows * sizeof(float));
        self->round = req->round;
        self->answered = true;
    }
    const train_eval_result *ev = &self->last;
    int C = ev->cm.n_classes;
    st = msg_reply_init(reply, MSG_EVAL_REPLY, req, from, err);
    if (!st)
        st = msg_u64s_alloc(&reply->eval_reply.confusion, (uint32_t)(C * C), err);
    if (st) {
        msg_clear(reply);
        return st;
    }
    for (int t = 0; t < C; t++)
        for (int p = 0; p < C; p++)
            reply->eval_reply.confusion.v[t * C + p] = ev->cm.count[t][p];
    reply->eval_reply.n = confusion_total(&ev->cm);
    reply->eval_reply.classes = (uint32_t)C;
    reply->eval_reply.loss = reply->eval_reply.n ? ev->loss_sum / (double)reply->eval_reply.n : 0;
    reply->eval_reply.wall_ms = (uint64_t)(actor_now_ms() - t0);
    return FP_OK;
}
