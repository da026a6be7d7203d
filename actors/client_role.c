/* client_role.c — see client_role.h. The numbers come from train/ exactly as simulate computes
 * them (same partition, layout, options, local round, evaluation); this file only adds the
 * conversation: LOAD at start, the SAVE_CLIENT-before-UPDATE order, retries, slots and faults. */
#include "actors/client_role.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/client_blob.h"
#include "actors/faults.h"
#include "actors/store_role.h"
#include "actors/wire_tensor.h"
#include "fl/strategy.h"
#include "train/evaluate.h"
#include "train/layer_stats.h"
#include "train/local_round.h"
#include "train/run_setup.h"
#include "train/task_data.h"
#include "train/wire_rows.h"

/* What the client must still send for the round it last trained: SAVE_CLIENT until the store
 * acknowledges it, then UPDATE once hold_until has passed (stragglers). */
typedef struct outbox {
    bool active;
    bool saved;                        /* SAVED for save_seq arrived */
    uint64_t first_save_seq, save_seq; /* the first and the latest send of SAVE_CLIENT */
    bool crash;                        /* injected: exit instead of sending UPDATE */
    int64_t received;                  /* TRAIN arrived */
    int64_t hold_until;                /* UPDATE not before (stragglers) */
    int64_t save_sent;                 /* last SAVE_CLIENT sent, for the retry */
    /* Where the time from TRAIN to UPDATE went (the round's line in the client's log): */
    int64_t slot_wait; /* waiting for a training slot */
    int64_t computed;  /* local training done, SAVE_CLIENT about to go out */
    int64_t saved_at;  /* SAVED arrived */
    msg_t save;        /* SAVE_CLIENT */
    msg_t update;      /* UPDATE, re/round set */
    char to[MSG_ID_CAP];
} outbox_t;

struct client_role {
    fedpep_config cfg;
    uint32_t k;
    char id[MSG_ID_CAP];
    const fl_strategy_desc *strat;
    train_model_t *m;
    train_task_data d;
    fl_partition_t *ptrain, *peval;
    int P, head;
    train_opts opts;
    slots_t *slots;
    bool faults;
    fault_trace_t *trace; /* [faults] trace, when faults apply and one is given */
    /* known once the first TRAIN or EVAL_REQUEST names the travelling layers */
    bool have_layout;
    msg_u32s_t layers;
    train_layout lay;
    train_worker_t *w;
    train_client_t *c;
    float *rows, *control; /* [n_rows]: received rows (and control variate) at full width */
    /* private state from the store: requested at start, applied when the layout is known */
    enum { STATE_UNKNOWN, STATE_ASKED, STATE_READY } state;
    uint64_t load_seq;
    int64_t load_sent;
    uint8_t *blob;
    size_t blob_len;
    msg_t pending; /* a TRAIN or EVAL_REQUEST that arrived before the state */
    outbox_t out;
    int trained;
};

client_role_t *client_role_new(const client_role_options_t *o, fp_error *err)
{
    if ((int)o->index >= o->cfg->federation.clients) {
        fp_fail(err, FP_EINVAL, "client %u: the run has %d clients", o->index,
                o->cfg->federation.clients);
        return NULL;
    }
    client_role_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "client: out of memory");
        return NULL;
    }
    self->cfg = *o->cfg;
    self->k = o->index;
    self->slots = o->slots;
    self->faults = o->faults;
    actor_client_id(self->id, o->index);
    const fedpep_config *cfg = &self->cfg;
    fp_status st = fl_strategy_for(cfg->run.strategy, &self->strat, err);
    if (!st &&
        !(self->m = train_model_open(cfg->model.path, o->fallback_vocab, o->fallback_merges, err)))
        st = err ? err->status : FP_EINVAL;
    if (!st)
        st = train_model_set_precision(self->m, cfg->model.precision, stderr, err);
    if (!st) {
        self->P = config_prompt_length(cfg, self->m->decoder);
        st = train_task_data_load(cfg, self->m, self->P, &self->d, err);
    }
    if (!st)
        st = train_partition_make(cfg, self->d.train_labels, (int)self->d.train->n,
                                  self->d.train->n_classes, &self->ptrain, err);
    if (!st)
        st = train_partition_make(cfg, self->d.eval_labels, (int)self->d.eval->n,
                                  self->d.eval->n_classes, &self->peval, err);
    if (!st && self->faults && cfg->faults.trace[0] &&
        !(self->trace = fault_trace_load(cfg->faults.trace, cfg->federation.clients, err)))
        st = err ? err->status : FP_EFORMAT;
    if (st) {
        client_role_destroy(&self);
        return NULL;
    }
    self->head = config_linear_head(cfg) ? self->d.train->n_classes : 0;
    self->opts = train_opts_from_config(cfg, self->strat->prox, self->strat->scaffold_client);
    return self;
}

void client_role_destroy(client_role_t **self_p)
{
    client_role_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    msg_clear(&self->pending);
    fault_trace_destroy(&self->trace);
    msg_clear(&self->out.save);
    msg_clear(&self->out.update);
    free(self->layers.v);
    free(self->rows);
    free(self->control);
    free(self->blob);
    train_client_destroy(&self->c);
    train_worker_destroy(&self->w);
    fl_partition_destroy(&self->ptrain);
    fl_partition_destroy(&self->peval);
    train_task_data_free(&self->d);
    train_model_destroy(&self->m);
    free(self);
    *self_p = NULL;
}

int client_role_trained(const client_role_t *self)
{
    return self->trained;
}

static const int *shard(const fl_partition_t *p, uint32_t k, int *n)
{
    *n = fl_partition_size(p, (int)k);
    return p->index + p->offset[k];
}

/* The layout, worker and client state for the travelling layers a request names; the same
 * layers must come every time (they are the run's selection). */
static fp_status ensure_client(client_role_t *self, const msg_u32s_t *layers, fp_error *err)
{
    if (self->have_layout) {
        if (layers->n != self->layers.n ||
            memcmp(layers->v, self->layers.v, layers->n * sizeof *layers->v))
            return fp_fail(err, FP_EINVAL, "the run's travelling layers changed");
        return FP_OK;
    }
    fp_status st =
        train_selection_layout(&self->lay, &self->cfg, self->strat, &self->m->cfg, self->P,
                               layers->v, (int)layers->n, self->head, self->d.fixed_head, err);
    int T = self->d.train->max_len > self->d.eval->max_len ? self->d.train->max_len
                                                           : self->d.eval->max_len;
    if (!st && !(self->w = train_worker_new(self->m, &self->lay, self->d.train,
                                            self->opts.batch_size, self->opts.eval_batch, T, err)))
        st = err ? err->status : FP_ENOMEM;
    if (!st && !(self->c = train_client_new(&self->lay, (int)self->k, (uint64_t)self->cfg.run.seed,
                                            self->strat->scaffold_client, err)))
        st = err ? err->status : FP_ENOMEM;
    size_t n_rows = self->lay.n_rows ? self->lay.n_rows : 1;
    if (!st && (!(self->rows = malloc(n_rows * sizeof(float))) ||
                !(self->control = malloc(n_rows * sizeof(float)))))
        st = fp_fail(err, FP_ENOMEM, "client %u: out of memory", self->k);
    if (!st && self->blob) {
        const uint8_t *s, *a;
        size_t sn, an;
        st = client_blob_unpack(self->blob, self->blob_len, &s, &sn, &a, &an, err);
        if (!st)
            st = train_client_load(self->c, s, sn, a, an, err);
    }
    if (!st) {
        st = msg_u32s_alloc(&self->layers, layers->n, err);
        if (!st)
            memcpy(self->layers.v, layers->v, layers->n * sizeof *layers->v);
    }
    if (st) {
        train_client_destroy(&self->c);
        train_worker_destroy(&self->w);
        free(self->rows), self->rows = NULL;
        free(self->control), self->control = NULL;
        return st;
    }
    self->have_layout = true;
    return FP_OK;
}

static fp_status on_score(client_role_t *self, actor_t *actor, const msg_t *req, fp_error *err)
{
    int L = self->m->cfg.n_layers, n;
    const int *idx = shard(self->ptrain, self->k, &n);
    msg_t reply;
    fp_status st = msg_reply_init(&reply, MSG_SCORE_REPLY, req, self->id, err);
    if (!st)
        st = msg_f64s_alloc(&reply.score_reply.scores, (uint32_t)(L - 1), err);
    float *E0 = NULL;
    train_layout scoring;
    reply.score_reply.batch = (uint32_t)self->cfg.federation.score_batch;
    if (!st && n >= 2) {
        /* A shard of fewer than 2 cannot form a similarity matrix: it replies n = 0 (weight 0
         * in the combination, as simulate gives it) and zero scores. */
        st = train_scoring_prompt(&self->cfg, &self->m->cfg, self->P, &scoring, &E0, err);
        if (!st)
            st = train_layer_stats(self->m, self->P, E0, self->d.train, idx, n,
                                   self->cfg.federation.score_batch, reply.score_reply.scores.v,
                                   err);
        reply.score_reply.n = (uint64_t)n;
    }
    free(E0);
    if (!st)
        st = actor_reply(actor, req, &reply, err);
    msg_clear(&reply);
    return st;
}

static fp_status send_save(client_role_t *self, actor_t *actor, fp_error *err)
{
    fp_status st = actor_send(actor, "store", &self->out.save, err);
    self->out.save_seq = self->out.save.seq;
    if (!st && !self->out.first_save_seq)
        self->out.first_save_seq = self->out.save.seq;
    self->out.save_sent = actor_now_ms();
    return st;
}

/* Builds SAVE_CLIENT and UPDATE for the round the client state last trained. */
static fp_status prepare_answer(client_role_t *self, const msg_t *req, int64_t received,
                                int64_t hold_ms, bool crash, fp_error *err)
{
    outbox_t *o = &self->out;
    msg_clear(&o->save);
    msg_clear(&o->update);
    *o = (outbox_t){.active = true, .crash = crash};
    snprintf(o->to, sizeof o->to, "%s", req->from);
    uint8_t *state = NULL, *adam = NULL, *blob = NULL;
    size_t sl, al, bl;
    fp_status st = train_client_save(self->c, &state, &sl, &adam, &al, err);
    if (!st)
        st = client_blob_pack(state, sl, adam, al, &blob, &bl, err);
    free(state);
    free(adam);
    if (!st)
        st = msg_init(&o->save, MSG_SAVE_CLIENT, req->run, self->id, err);
    if (!st) {
        o->save.round = req->round;
        o->save.save_client.state.data = blob;
        o->save.save_client.state.n = bl;
        blob = NULL;
    }
    free(blob);
    msg_update_t *u = &o->update.update;
    if (!st)
        st = msg_reply_init(&o->update, MSG_UPDATE, req, self->id, err);
    if (!st) {
        train_layout_rows_gather(&self->lay, self->c->E, self->rows);
        st = wire_tensor_pack(&self->lay, self->rows, &u->rows, NULL, err);
    }
    if (!st && self->strat->scaffold_client)
        st = wire_tensor_pack(&self->lay, self->c->delta_c, &u->control_delta, NULL, err);
    if (st) {
        msg_clear(&o->save);
        msg_clear(&o->update);
        o->active = false;
        return st;
    }
    u->n = (uint64_t)self->c->last.n_k;
    u->steps = (uint32_t)self->c->last.steps;
    u->loss = self->c->last.loss;
    u->compute_ms = (uint64_t)self->c->last.ms;
    /* -1 when the state was restored from the store rather than trained here (simulate's rule) */
    u->cpu_measured = self->c->last.cpu_ms >= 0;
    u->cpu_ms = u->cpu_measured ? (uint64_t)self->c->last.cpu_ms : 0;
    o->received = received;
    o->hold_until = received + hold_ms;
    return FP_OK;
}

static fp_status on_train(client_role_t *self, actor_t *actor, const msg_t *req, fp_error *err)
{
    int64_t received = actor_now_ms();
    fp_error why = {0};
    const msg_train_t *t = &req->train;
    fp_status st = ensure_client(self, &t->layers, &why);
    if (!st)
        st = wire_tensor_check(&self->lay, "TRAIN", &t->widths, &t->rows, &why);
    if (!st && self->strat->scaffold_client && !t->control.ndim)
        st = fp_fail(&why, FP_EINVAL, "TRAIN: scaffold needs the control variate");
    int n;
    const int *idx = shard(self->ptrain, self->k, &n);
    if (!st && n == 0)
        st = fp_fail(&why, FP_ESTATE, "client %u holds no training data", self->k);
    /* Faults are drawn per (round, attempt): a retry of the round draws anew. */
    uint32_t attempt = req->train.attempt;
    faults_round_t f = {.slowdown = 1};
    if (self->faults)
        f = faults_for_attempt(&self->cfg, self->trace, req->round, attempt, self->k);
    if (!st && f.drop)
        st = fp_fail(&why, FP_ESTATE, "dropped round %u attempt %u (fault injection)", req->round,
                     attempt);
    if (st) {
        actor_reply_error(actor, req, st, why.msg);
        return FP_OK;
    }
    /* The training of a round is the same in every attempt (the global rows do not move until
     * the round commits), so a client that trained the round answers any later attempt of it —
     * and a TRAIN sent again for the same (round, attempt) — from its saved state. */
    bool trained_now = self->c->last_round != (int64_t)req->round;
    if (!trained_now)
        fprintf(stderr,
                "%s: round %u attempt %u: answered from the state it trained in this "
                "round\n",
                self->id, req->round, attempt);
    int64_t slot_wait = 0;
    if (trained_now) {
        int slot;
        st = slots_acquire(self->slots, -1, &slot, err);
        if (st)
            return st;
        slot_wait = actor_now_ms() - received;
        train_wire_unpack(&self->lay, t->rows.data, self->rows);
        if (self->strat->scaffold_client)
            train_wire_unpack(&self->lay, t->control.data, self->control);
        train_round_in in = {.round = req->round,
                             .w_global = self->rows,
                             .c = self->strat->scaffold_client ? self->control : NULL,
                             .set = self->d.train,
                             .idx = idx,
                             .n = n,
                             .total_steps =
                                 train_total_steps(&self->opts, n, self->cfg.run.rounds)};
        st = train_local_round(self->w, self->c, &self->opts, &in, NULL, NULL, err);
        slots_release(self->slots);
        if (st) {
            /* The state may be half trained: forget it and reload it from the store. */
            fprintf(stderr, "%s: round %u: %s\n", self->id, req->round, err ? err->msg : "");
            return st;
        }
        self->trained++;
    }
    uint64_t hold = faults_hold_ms(&f, (uint64_t)self->c->last.ms);
    st = prepare_answer(self, req, received, (int64_t)hold, f.crash && trained_now, err);
    self->out.slot_wait = slot_wait;
    self->out.computed = actor_now_ms();
    if (!st)
        send_save(self, actor, NULL); /* a failed send is retried on tick */
    return st;
}

static fp_status on_eval(client_role_t *self, actor_t *actor, const msg_t *req, fp_error *err)
{
    int64_t t0 = actor_now_ms();
    fp_error why = {0};
    const msg_eval_request_t *e = &req->eval_request;
    fp_status st = ensure_client(self, &e->layers, &why);
    if (!st)
        st = wire_tensor_check(&self->lay, "EVAL_REQUEST", &e->widths, &e->rows, &why);
    if (st) {
        actor_reply_error(actor, req, st, why.msg);
        return FP_OK;
    }
    int n;
    const int *idx = shard(self->peval, self->k, &n);
    train_eval_result ev;
    st = train_eval_init(&ev, self->d.eval->n_classes, err);
    if (!st && n > 0) {
        /* In a training slot, as training is: every client evaluates at once, and N processes
         * (each with its BLAS threads) on a few cores thrash; the numbers do not change. */
        int slot;
        st = slots_acquire(self->slots, -1, &slot, err);
        if (!st) {
            train_wire_unpack(&self->lay, e->rows.data, self->rows);
            st = train_evaluate_client(self->w, self->c, self->rows, self->d.eval, idx, n,
                                       self->opts.eval_batch, &ev, err);
            slots_release(self->slots);
        }
    }
    if (st)
        return st;
    msg_t reply;
    int C = ev.cm.n_classes;
    st = msg_reply_init(&reply, MSG_EVAL_REPLY, req, self->id, err);
    if (!st)
        st = msg_u64s_alloc(&reply.eval_reply.confusion, (uint32_t)(C * C), err);
    if (!st) {
        for (int t = 0; t < C; t++)
            for (int p = 0; p < C; p++)
                reply.eval_reply.confusion.v[t * C + p] = ev.cm.count[t][p];
        reply.eval_reply.n = confusion_total(&ev.cm);
        reply.eval_reply.classes = (uint32_t)C;
        reply.eval_reply.loss = n ? ev.loss_sum / (double)reply.eval_reply.n : 0;
        reply.eval_reply.wall_ms = (uint64_t)(actor_now_ms() - t0);
        st = actor_reply(actor, req, &reply, err);
        if (st == FP_ENET)
            st = FP_OK; /* the coordinator asks again */
    }
    msg_clear(&reply);
    return st;
}

static fp_status dispatch(client_role_t *self, actor_t *actor, msg_t *msg, fp_error *err)
{
    switch (msg->type) {
    case MSG_SCORE_REQUEST:
        return on_score(self, actor, msg, err);
    case MSG_TRAIN:
        return on_train(self, actor, msg, err);
    case MSG_EVAL_REQUEST:
        return on_eval(self, actor, msg, err);
    default:
        return FP_OK;
    }
}

static fp_status send_load(client_role_t *self, actor_t *actor, fp_error *err)
{
    msg_t m;
    fp_status st = msg_init(&m, MSG_LOAD, self->cfg.run.name, self->id, err);
    self->load_sent = actor_now_ms();
    if (!st)
        st = msg_set_id(m.load.client, self->id, err);
    if (!st && actor_send(actor, "store", &m, NULL) == FP_OK) {
        self->load_seq = m.seq;
        self->state = STATE_ASKED;
    }
    msg_clear(&m);
    return st;
}

static fp_status on_start(void *arg, actor_t *actor, bool reconnected, fp_error *err)
{
    client_role_t *self = arg;
    fp_status st = FP_OK;
    if (self->state != STATE_READY)
        st = send_load(self, actor, err);
    if (!st && reconnected && self->out.active && !self->out.saved)
        send_save(self, actor, NULL);
    return st;
}

static fp_status on_tick(void *arg, actor_t *actor, int64_t now, fp_error *err);

/* Whether re answers one of the sends of the SAVE_CLIENT being waited for: the store answers
 * every copy, each maybe seconds late behind a busy database; any answer is the answer. */
static bool answers_save(const outbox_t *o, uint64_t re)
{
    return o->first_save_seq && re >= o->first_save_seq && re <= o->save_seq;
}

/* The store refused the state of the round being answered. A retryable failure (a busy
 * database) is asked again by the tick; a final one (read-only, full, damaged, locked past the
 * store's bound, or a refusal of the message) can never be stored, so the UPDATE must not go
 * out (a round is never committed with a client state that is not stored): the coordinator gets
 * an ERROR with the store's code, final flag and reason instead. */
static fp_status save_refused(client_role_t *self, actor_t *actor, const msg_error_t *e)
{
    outbox_t *o = &self->out;
    bool final = store_role_error_is_final(e);
    fprintf(stderr, "%s: the store %s the state of round %u: %s %s\n", self->id,
            final ? "refused" : "could not store (will send again)", o->update.round,
            fp_status_name(e->code), e->text ? e->text : "");
    if (!final)
        return FP_OK;
    msg_t m;
    if (msg_init(&m, MSG_ERROR, o->update.run, self->id, NULL) == FP_OK) {
        m.re = o->update.re;
        m.round = o->update.round;
        m.error.code = e->code;
        m.error.answers = MSG_TRAIN;
        m.error.final = e->final;
        char text[480];
        snprintf(text, sizeof text, "%s could not store its state of round %u: %.360s", self->id,
                 o->update.round, e->text ? e->text : fp_status_name(e->code));
        if (msg_set_text(&m.error.text, text, NULL) == FP_OK)
            actor_send(actor, o->to, &m, NULL);
        msg_clear(&m);
    }
    msg_clear(&o->save);
    msg_clear(&o->update);
    o->active = false;
    return FP_OK;
}

static fp_status on_message(void *arg, actor_t *actor, msg_t *msg, size_t bytes, fp_error *err)
{
    client_role_t *self = arg;
    (void)bytes;
    if (msg->type == MSG_STATE && msg->re == self->load_seq && self->state == STATE_ASKED) {
        self->state = STATE_READY;
        if (msg->state.found && msg->state.client_state.n) {
            self->blob = msg->state.client_state.data;
            self->blob_len = msg->state.client_state.n;
            msg->state.client_state.data = NULL;
        }
        if (self->pending.type == MSG_NONE)
            return FP_OK;
        fp_status st = dispatch(self, actor, &self->pending, err);
        msg_clear(&self->pending);
        return st;
    }
    if (msg->type == MSG_SAVED && self->out.active && answers_save(&self->out, msg->re)) {
        self->out.saved = true;
        self->out.saved_at = actor_now_ms();
        return on_tick(self, actor, actor_now_ms(), err); /* UPDATE now unless held back */
    }
    if (msg->type == MSG_ERROR) {
        if (msg->error.answers == MSG_LOAD && self->state == STATE_ASKED)
            self->state = STATE_UNKNOWN; /* the store is not there yet: asked again on tick */
        if (msg->error.answers == MSG_SAVE_CLIENT && self->out.active && !self->out.saved &&
            answers_save(&self->out, msg->re) && !strcmp(msg->from, "store"))
            return save_refused(self, actor, &msg->error);
        return FP_OK;
    }
    if ((msg->type == MSG_TRAIN || msg->type == MSG_EVAL_REQUEST) && self->state != STATE_READY) {
        msg_clear(&self->pending);
        self->pending = *msg; /* moved: the loop clears an empty msg */
        memset(msg, 0, sizeof *msg);
        return FP_OK;
    }
    return dispatch(self, actor, msg, err);
}

static fp_status on_tick(void *arg, actor_t *actor, int64_t now, fp_error *err)
{
    client_role_t *self = arg;
    static const int64_t RETRY_MS = 1000;
    if (self->state == STATE_UNKNOWN && now - self->load_sent > RETRY_MS)
        return send_load(self, actor, err);
    outbox_t *o = &self->out;
    if (!o->active)
        return FP_OK;
    if (!o->saved) {
        /* SAVE_CLIENT is idempotent: ask again if the store stays silent (restarted store). */
        if (now - o->save_sent > RETRY_MS)
            send_save(self, actor, NULL);
        return FP_OK;
    }
    if (now < o->hold_until)
        return FP_OK;
    if (o->crash) {
        fprintf(stderr, "%s: crashing in round %u (fault injection)\n", self->id, o->update.round);
        exit(3);
    }
    o->update.update.wall_ms = (uint64_t)(now - o->received);
    if (actor_send(actor, o->to, &o->update, NULL) == FP_OK) {
        fprintf(stderr,
                "%s: round %u: UPDATE %llu ms after TRAIN: slot wait %lld, compute %llu, "
                "state stored in %lld, held %lld ms\n",
                self->id, o->update.round, (unsigned long long)o->update.update.wall_ms,
                (long long)o->slot_wait, (unsigned long long)o->update.update.compute_ms,
                (long long)(o->saved_at - o->computed), (long long)(now - o->saved_at));
        o->active = false;
        msg_clear(&o->save);
        msg_clear(&o->update);
    }
    return FP_OK;
}

const actor_role_t *client_role_actor(void)
{
    static const actor_role_t role = {
        .name = "client", .on_start = on_start, .on_message = on_message, .on_tick = on_tick};
    return &role;
}
