/* evaluator.c — see evaluator.h. */
#include "actors/evaluator.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/evaluator_global.h"
#include "actors/store_role.h"
#include "actors/update_check.h"
#include "fl/layer_score.h"
#include "fl/strategy.h"
#include "train/model_bundle.h"
#include "train/run_setup.h"
#include "train/task_data.h"

#define ASK_AGAIN_MS 1000
#define STORE_AGAIN_MS 1000

struct evaluator {
    fedpep_config cfg;
    const fl_strategy_desc *strat;
    int L, N;
    double rho;       /* the travelling fraction: layer_fraction, or the Hessian estimate */
    double *stat;     /* [N][L-1] */
    int64_t *n;       /* [N] n_k; -1 = not answered */
    int64_t *asked;   /* [N] when last asked (ms); 0 = never */
    uint64_t *seq;    /* [N] seq of the last SCORE_REQUEST to client k */
    int answered;
    bool scoring, done;
    int64_t started;
    msg_t selection;  /* the answer, once done */
    bool stored;      /* the store acknowledged the SELECTION (SAVED) */
    int64_t stored_asked; /* when the SELECTION was last sent to the store (ms) */
    char requester[MSG_ID_CAP];
    msg_t request;    /* the coordinator's SCORE_REQUEST header, to reply to */
    evaluator_global_t *global; /* the global model's evaluation (evaluator_global.h) */
    shard_sizes_t shards; /* each client's n_k, to bound its SCORE_REPLY (update_check.h) */
    int refused;          /* SCORE_REPLYs refused (score_reply_check) */
};

/* layer_selection = hessian: ρ exactly as simulate estimates it (train_hessian_rho), from the
 * task data and partition every client also loads. */
static fp_status hessian_ratio(evaluator_t *self, train_model_t *m, fp_error *err)
{
    const fedpep_config *cfg = &self->cfg;
    int P = config_prompt_length(cfg, m->decoder);
    train_task_data d = {0};
    fl_partition_t *ptrain = NULL;
    train_layout lay;
    float *E0 = NULL;
    fp_status st = train_task_data_load(cfg, m, P, &d, err);
    if (!st)
        st = train_partition_make(cfg, d.train_labels, (int)d.train->n, d.train->n_classes,
                                  &ptrain, err);
    if (!st)
        st = train_scoring_prompt(cfg, &m->cfg, P, &lay, &E0, err);
    if (!st)
        st = train_hessian_rho(cfg, m, &lay, d.train, ptrain, E0, d.fixed_head, &self->rho, err);
    free(E0);
    fl_partition_destroy(&ptrain);
    train_task_data_free(&d);
    return st;
}

double evaluator_rho(const evaluator_t *self)
{
    return self->rho;
}

int evaluator_refused(const evaluator_t *self)
{
    return self->refused;
}

evaluator_t *evaluator_new(const evaluator_options_t *o, fp_error *err)
{
    evaluator_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "evaluator: out of memory");
        return NULL;
    }
    self->cfg = *o->cfg;
    self->N = self->cfg.federation.clients;
    fp_status st = fl_strategy_for(self->cfg.run.strategy, &self->strat, err);
    train_model_t *m = NULL;
    if (!st && !(m = train_model_open(self->cfg.model.path, o->fallback_vocab, o->fallback_merges,
                                      err)))
        st = err ? err->status : FP_EINVAL;
    if (!st)
        st = train_model_set_precision(m, self->cfg.model.precision, stderr, err);
    self->rho = self->cfg.federation.layer_fraction;
    if (m)
        self->L = m->cfg.n_layers;
    if (!st && self->cfg.federation.layer_selection == FP_LAYERS_HESSIAN &&
        train_travel_desc(&self->cfg, self->strat).travel == FL_TRAVEL_SELECTED)
        st = hessian_ratio(self, m, err);
    if (!st && train_needs_scores(&self->cfg, self->strat))
        st = shard_sizes_load(&self->shards, &self->cfg, m,
                              config_prompt_length(&self->cfg, m->decoder), err);
    train_model_destroy(&m);
    size_t N = (size_t)self->N;
    if (!st && !(self->global =
                     evaluator_global_new(&self->cfg, o->fallback_vocab, o->fallback_merges, err)))
        st = err && err->status ? err->status : FP_ENOMEM;
    if (!st && (!(self->stat = calloc(N * (size_t)(self->L > 1 ? self->L - 1 : 1),
                                      sizeof(double))) ||
                !(self->n = calloc(N, sizeof(int64_t))) ||
                !(self->asked = calloc(N, sizeof(int64_t))) ||
                !(self->seq = calloc(N, sizeof(uint64_t)))))
        st = fp_fail(err, FP_ENOMEM, "evaluator: out of memory");
    if (st)
        evaluator_destroy(&self);
    return self;
}

void evaluator_destroy(evaluator_t **self_p)
{
    evaluator_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    free(self->stat);
    free(self->n);
    free(self->asked);
    free(self->seq);
    msg_clear(&self->selection);
    msg_clear(&self->request);
    evaluator_global_destroy(&self->global);
    shard_sizes_free(&self->shards);
    free(self);
    *self_p = NULL;
}

fp_status evaluator_select(const fedpep_config *cfg, int L, const double *s, const int64_t *n,
                           int *layers, int *k, double *S, fp_error *err)
{
    return evaluator_select_rho(cfg, L, s, n, cfg->federation.layer_fraction, layers, k, S, err);
}

fp_status evaluator_select_rho(const fedpep_config *cfg, int L, const double *s,
                               const int64_t *n, double rho, int *layers, int *k, double *S,
                               fp_error *err)
{
    const fl_strategy_desc *strat;
    fp_status st = fl_strategy_for(cfg->run.strategy, &strat, err);
    if (st)
        return st;
    bool scored = s && train_needs_scores(cfg, strat);
    for (int l = 0; l < L; l++)
        S[l] = NAN;
    if (scored)
        st = fl_layer_scores_combine(s, n, cfg->federation.clients, L - 1, S, err);
    if (st)
        return st;
    S[L - 1] = NAN;
    bool personalise, input;
    return train_pick_layers(cfg, strat, L, scored ? S : NULL, rho, layers, k, &personalise,
                             &input, err);
}

/* Builds the SELECTION once every client answered (or the wait is over). */
static fp_status finish(evaluator_t *self, fp_error *err)
{
    int layers[TRAIN_MAX_LAYERS], k = 0, L = self->L;
    double S[TRAIN_MAX_LAYERS];
    for (int i = 0; i < self->N; i++)
        if (self->n[i] < 0)
            self->n[i] = 0;
    fp_status st = evaluator_select_rho(&self->cfg, L, self->scoring ? self->stat : NULL,
                                        self->n, self->rho, layers, &k, S, err);
    if (!st)
        st = msg_init(&self->selection, MSG_SELECTION, self->cfg.run.name, "evaluator", err);
    msg_selection_t *sel = &self->selection.selection;
    sel->num_layers = (uint32_t)L;
    /* The input-prompt strategy sends no deep layer: layer 0 stands for "the input prompt". */
    if (!st)
        st = msg_u32s_alloc(&sel->layers, k ? (uint32_t)k : 1, err);
    for (int i = 0; !st && i < k; i++)
        sel->layers.v[i] = (uint32_t)layers[i];
    if (!st && self->scoring) {
        st = msg_f64s_alloc(&sel->scores, (uint32_t)(L - 1), err);
        for (int l = 0; !st && l < L - 1; l++)
            sel->scores.v[l] = S[l];
    }
    if (!st)
        self->done = true;
    return st;
}

/* The store must hold the selection before a coordinator can resume a run, so it is re-sent on
 * every tick until the store answers SAVED (an identical SELECTION is idempotent there). */
static void store_selection(evaluator_t *self, actor_t *actor)
{
    self->stored_asked = actor_now_ms();
    actor_send(actor, "store", &self->selection, NULL);
}

static void send_selection(evaluator_t *self, actor_t *actor)
{
    if (!self->stored)
        store_selection(self, actor);
    msg_t reply = self->selection;
    reply.re = self->request.seq;
    reply.round = self->request.round;
    snprintf(reply.run, sizeof reply.run, "%s", self->request.run);
    actor_send(actor, self->requester, &reply, NULL);
}

static void ask(evaluator_t *self, actor_t *actor, int k, int64_t now)
{
    msg_t m;
    char id[MSG_ID_CAP];
    actor_client_id(id, (uint32_t)k);
    if (msg_init(&m, MSG_SCORE_REQUEST, self->cfg.run.name, "evaluator", NULL))
        return;
    m.score_request.batch = (uint32_t)self->cfg.federation.score_batch;
    m.score_request.seed = (uint64_t)self->cfg.run.seed;
    if (actor_send(actor, id, &m, NULL) == FP_OK)
        self->seq[k] = m.seq;
    self->asked[k] = now;
}

static fp_status on_request(evaluator_t *self, actor_t *actor, const msg_t *req, fp_error *err)
{
    snprintf(self->requester, sizeof self->requester, "%s", req->from);
    msg_clear(&self->request);
    memcpy(&self->request, req, sizeof *req);
    memset(&self->request.score_request, 0, sizeof self->request.score_request);
    if (self->done) {
        send_selection(self, actor);
        return FP_OK;
    }
    if (self->started)
        return FP_OK; /* scoring is under way; the answer goes to the latest requester */
    self->started = actor_now_ms();
    self->scoring = train_needs_scores(&self->cfg, self->strat);
    if (!self->scoring) {
        fp_status st = finish(self, err);
        if (!st)
            send_selection(self, actor);
        return st;
    }
    for (int k = 0; k < self->N; k++) {
        self->n[k] = -1;
        ask(self, actor, k, self->started);
    }
    return FP_OK;
}

static fp_status on_reply(evaluator_t *self, actor_t *actor, const msg_t *m, fp_error *err)
{
    int k = -1;
    for (int i = 0; i < self->N && k < 0; i++)
        if (self->seq[i] && self->seq[i] == m->re) {
            char id[MSG_ID_CAP];
            actor_client_id(id, (uint32_t)i);
            if (!strcmp(id, m->from))
                k = i;
        }
    if (k < 0 || self->n[k] >= 0 || self->done)
        return FP_OK;
    fp_error why = {0};
    if (score_reply_check(&m->score_reply, self->L - 1, self->shards.train[k],
                          (uint32_t)self->cfg.federation.score_batch, &why)) {
        /* never combined: the client weighs 0, as one that did not answer by the deadline */
        fprintf(stderr, "evaluator: SCORE_REPLY from %s refused (%s); it weighs 0\n", m->from,
                why.msg);
        self->refused++;
        self->n[k] = 0;
    } else {
        memcpy(self->stat + (size_t)k * (self->L - 1), m->score_reply.scores.v,
               (size_t)(self->L - 1) * sizeof(double));
        self->n[k] = (int64_t)m->score_reply.n;
    }
    if (++self->answered < self->N)
        return FP_OK;
    fp_status st = finish(self, err);
    if (!st)
        send_selection(self, actor);
    return st;
}

/* The coordinator's EVAL_REQUEST: the global model on the whole evaluation split. A request
 * that does not fit the run is answered with an ERROR saying why (the round's global_* stay
 * NULL); the evaluator goes on. */
static fp_status on_eval_request(evaluator_t *self, actor_t *actor, const msg_t *req)
{
    msg_t reply;
    fp_error why = {0};
    fp_status st = evaluator_global_answer(self->global, req, "evaluator", &reply, &why);
    if (st) {
        fprintf(stderr, "evaluator: global evaluation of round %u: %s\n", req->round, why.msg);
        actor_reply_error(actor, req, st, why.msg);
        return FP_OK;
    }
    actor_reply(actor, req, &reply, NULL); /* lost: the coordinator asks again */
    msg_clear(&reply);
    return FP_OK;
}

static fp_status on_message(void *arg, actor_t *actor, msg_t *msg, size_t bytes, fp_error *err)
{
    evaluator_t *self = arg;
    (void)bytes;
    switch (msg->type) {
    case MSG_SCORE_REQUEST: return on_request(self, actor, msg, err);
    case MSG_SCORE_REPLY: return on_reply(self, actor, msg, err);
    case MSG_EVAL_REQUEST:
        return on_eval_request(self, actor, msg);
    case MSG_SAVED:
        if (!strcmp(msg->from, "store") && msg->saved.answers == MSG_SELECTION)
            self->stored = true;
        return FP_OK;
    case MSG_ERROR:
        /* The store refused the selection itself (not the broker's "store unreachable"): a
         * refusal of the message, or a database that cannot take the write (final), stops the
         * re-sending, saying why (the coordinator's own writes end the run); a passing failure
         * of the store's (database busy, memory) is sent again by the tick. */
        if (msg->error.answers == MSG_SELECTION && !strcmp(msg->from, "store")) {
            const bool final = store_role_error_is_final(&msg->error);
            fprintf(stderr, "evaluator: the store %s the selection (%s): %s\n",
                    final ? "refused" : "could not store (will send again)",
                    fp_status_name(msg->error.code), msg->error.text ? msg->error.text : "");
            self->stored = final;
            return FP_OK;
        }
        /* A client not registered yet: forget the ask so the tick asks again. */
        if (msg->error.answers == MSG_SCORE_REQUEST && msg->error.peer[0])
            for (int k = 0; k < self->N; k++) {
                char id[MSG_ID_CAP];
                actor_client_id(id, (uint32_t)k);
                if (!strcmp(id, msg->error.peer) && self->n[k] < 0)
                    self->seq[k] = 0;
            }
        return FP_OK;
    default: return FP_OK;
    }
}

static fp_status on_tick(void *arg, actor_t *actor, int64_t now, fp_error *err)
{
    evaluator_t *self = arg;
    if (self->done && !self->stored && now - self->stored_asked > STORE_AGAIN_MS)
        store_selection(self, actor);
    if (!self->started || self->done || !self->scoring)
        return FP_OK;
    if (now - self->started > (int64_t)(1000 * self->cfg.federation.round_deadline_s)) {
        fprintf(stderr, "evaluator: %d of %d clients scored by the deadline\n", self->answered,
                self->N);
        fp_status st = finish(self, err);
        if (!st)
            send_selection(self, actor);
        return st;
    }
    for (int k = 0; k < self->N; k++)
        if (self->n[k] < 0 && (!self->seq[k] || now - self->asked[k] > 10 * ASK_AGAIN_MS) &&
            now - self->asked[k] > ASK_AGAIN_MS)
            ask(self, actor, k, now);
    return FP_OK;
}

/* After a broker restart, requests in flight may be lost: ask the silent clients again. */
static fp_status on_start(void *arg, actor_t *actor, bool reconnected, fp_error *err)
{
    evaluator_t *self = arg;
    (void)err;
    for (int k = 0; reconnected && self->started && !self->done && k < self->N; k++)
        if (self->n[k] < 0)
            ask(self, actor, k, actor_now_ms());
    return FP_OK;
}

const actor_role_t *evaluator_actor(void)
{
    static const actor_role_t role = {.name = "evaluator", .on_start = on_start,
                                      .on_message = on_message, .on_tick = on_tick};
    return &role;
}
