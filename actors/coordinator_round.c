/* coordinator_round.c — the coordinator's round (the attempts: who is asked, TRAIN, UPDATE,
 * drops, the close, the decision and the aggregation) and its evaluation (EVAL_REQUEST to every
 * client, the confusion matrices pooled). Who is asked and what a short attempt leads to are
 * train/round_rules.h's decisions, the ones simulate takes. Private to the coordinator
 * (coordinator_internal.h). It must never start round t+1 before round t is committed: a
 * finished round always goes on to the SAVE. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/coordinator_internal.h"
#include "actors/store_role.h"
#include "actors/wire_tensor.h"
#include "train/wire_rows.h"

/* ---- rounds ---- */

int coordinator_count_clients(const actor_t *actor)
{
    const msg_peers_t *p = actor_peers(actor);
    int n = 0;
    for (uint32_t i = 0; p && i < p->n; i++)
        n += p->v[i].role == MSG_ROLE_CLIENT;
    return n;
}

fp_status coordinator_next_round_or_end(coordinator_t *self, actor_t *actor, fp_error *err)
{
    if ((int)self->round >= self->cfg.run.rounds)
        return coordinator_stop_run(self, actor, MSG_RUN_DONE, err);
    if (self->rounds_done == 0 && self->phase != PH_CLIENTS &&
        coordinator_count_clients(actor) < self->N) {
        self->phase = PH_CLIENTS;
        self->phase_started = actor_now_ms();
        return FP_OK;
    }
    return coordinator_start_round(self, actor, err);
}

/* Whether engine slot i waits for an answer to the open attempt's TRAIN. */
static bool pending(const coordinator_t *self, int i)
{
    const train_round_slot *s = train_round_slot_at(self->rnd, i);
    return s && s->status == TRAIN_SLOT_PENDING && s->attempt == train_round_attempt(self->rnd);
}

/* The engine slot client `id` holds this round, -1 if none. */
static int slot_of_id(const coordinator_t *self, const char *id)
{
    for (int i = 0; self->rnd && i < train_round_slot_count(self->rnd); i++)
        if (!strcmp(self->peers[i].id, id))
            return i;
    return -1;
}

/* TRAIN to every pending slot, or only to client `only`. */
fp_status coordinator_send_train(coordinator_t *self, actor_t *actor, const char *only,
                                 fp_error *err)
{
    msg_t m;
    fp_status st = msg_init(&m, MSG_TRAIN, self->cfg.run.name, actor_id(actor), err);
    msg_train_t *t = &m.train;
    /* The layers are borrowed, never freed through m; the rows travel at each block's width. */
    t->layers = self->layers;
    if (!st)
        st = wire_tensor_pack(&self->lay, self->server->w, &t->rows, &t->widths, err);
    if (!st && self->strat->scaffold_client)
        st = wire_tensor_pack(&self->lay, self->server->c, &t->control, NULL, err);
    double dl = 1000 * self->cfg.federation.round_deadline_s;
    t->deadline_ms = dl > 4e9 ? 4000000000u : (uint32_t)dl;
    t->epochs = (uint32_t)self->cfg.client.local_epochs;
    t->max_steps = (uint32_t)self->cfg.client.max_local_steps;
    t->batch = (uint32_t)self->cfg.client.batch_size;
    t->lr = self->cfg.client.lr;
    t->prox_mu = self->strat->prox ? self->cfg.client.fedprox_mu : 0;
    t->seed = (uint64_t)self->cfg.run.seed;
    t->attempt = (uint32_t)train_round_attempt(self->rnd);
    m.round = self->round;
    int64_t now = actor_now_ms();
    for (int i = 0; !st && i < train_round_slot_count(self->rnd); i++) {
        peer_slot_t *p = &self->peers[i];
        if (!pending(self, i) || (only && strcmp(only, p->id)))
            continue;
        p->sent = now;
        if (actor_send(actor, p->id, &m, NULL) == FP_OK) {
            p->seq = m.seq;
            self->bytes_down += actor_last_sent_bytes(actor);
        } else {
            p->gone = true;
            train_round_no_answer(self->rnd, i, TRAIN_SLOT_DROPPED);
        }
    }
    t->layers = (msg_u32s_t){0};
    msg_clear(&m);
    return st;
}

/* The open attempt: TRAIN to the slots the engine asks, with a fresh deadline; a client the
 * broker does not know is dropped at once, and asked again should it register before the
 * deadline (which closes the attempt even when nobody is left to answer). */
static fp_status start_attempt(coordinator_t *self, actor_t *actor, fp_error *err)
{
    int n = train_round_ask(self->rnd, self->ask), attempt = train_round_attempt(self->rnd);
    for (int j = 0; j < n; j++) {
        int i = self->ask[j];
        peer_slot_t *p = &self->peers[i];
        *p = (peer_slot_t){0};
        actor_client_id(p->id, (uint32_t)train_round_slot_at(self->rnd, i)->client);
        p->gone = !actor_peer_alive(actor, p->id);
        if (p->gone)
            train_round_no_answer(self->rnd, i, TRAIN_SLOT_DROPPED);
    }
    if (attempt) {
        int in = train_round_updates(self->rnd);
        fprintf(stderr,
                "coordinator: round %u attempt %d: %d update%s in, asking %d more "
                "client%s\n",
                self->round, attempt, in, in == 1 ? "" : "s", n, n == 1 ? "" : "s");
    }
    self->deadline = actor_now_ms() + (int64_t)(1000 * self->cfg.federation.round_deadline_s);
    self->phase = PH_TRAIN;
    return coordinator_send_train(self, actor, NULL, err);
}

fp_status coordinator_start_round(coordinator_t *self, actor_t *actor, fp_error *err)
{
    if (!self->rnd &&
        !(self->rnd = train_round_new(&self->cfg, self->server, self->strat->scaffold_client, err)))
        return err ? err->status : FP_ENOMEM;
    self->bytes_down = self->bytes_up = 0;
    self->round_started = actor_now_ms();
    self->t_closed = self->t_aggregated = self->t_eval_start = self->t_eval_end = 0;
    fp_status st = train_round_begin(self->rnd, self->round, err);
    return st ? st : start_attempt(self, actor, err);
}

static fp_status start_eval(coordinator_t *self, actor_t *actor, fp_error *err);

/* The attempt is over: aggregate, ask more clients, skip or fail (the engine decides). */
fp_status coordinator_close_round(coordinator_t *self, actor_t *actor, fp_error *err)
{
    train_round_next next = train_round_close(self->rnd);
    if (next != TRAIN_ROUND_AGGREGATE) {
        const char *why = train_round_reason_text(self->rnd);
        fprintf(stderr, "coordinator: round %u: %s\n", self->round, why);
        switch (next) {
        case TRAIN_ROUND_RETRY:
            return start_attempt(self, actor, err);
        case TRAIN_ROUND_SKIP:
            return start_eval(self, actor, err); /* a failed round */
        default: {
            char reason[REASON_CAP + 16];
            snprintf(reason, sizeof reason, "round %u: %s", self->round, why);
            return coordinator_fail_run(self, actor, reason, err);
        }
        }
    }
    self->t_closed = actor_now_ms();
    fp_status st = train_round_aggregate(self->rnd, &self->scfg, err);
    if (st)
        return st;
    self->t_aggregated = actor_now_ms();
    return start_eval(self, actor, err);
}

/* The packed rows t at full width in a fresh buffer (the round engine takes it). */
static fp_status unpacked(const train_layout *lay, const msg_tensor_t *t, float **out,
                          fp_error *err)
{
    if (!(*out = malloc(lay->n_rows * sizeof **out)))
        return fp_fail(err, FP_ENOMEM, "no memory for %zu rows", lay->n_rows);
    train_wire_unpack(lay, t->data, *out);
    return FP_OK;
}

fp_status coordinator_on_update(coordinator_t *self, const msg_t *m, size_t bytes, msg_t *owned)
{
    int i = self->phase == PH_TRAIN && m->round == self->round ? slot_of_id(self, m->from) : -1;
    /* Only the answer to the TRAIN of the open attempt counts: an update of an earlier attempt
     * (late there) is that attempt's, whatever it holds. */
    if (i < 0 || !pending(self, i) || m->re != self->peers[i].seq) {
        fprintf(stderr,
                "coordinator: UPDATE of round %u from %s after its attempt closed; "
                "ignored\n",
                m->round, m->from);
        return FP_OK;
    }
    const msg_update_t *u = &m->update;
    bool scaffold = self->strat->scaffold_client;
    int k = train_round_slot_at(self->rnd, i)->client;
    update_expect_t want = {.control = scaffold, .n = self->shards.train[k]};
    want.ndim = wire_tensor_shape(&self->lay, want.shape);
    fp_error why = {0};
    float *rows = NULL, *delta = NULL;
    fp_status st = update_check(u, &want, &why);
    if (!st)
        st = unpacked(&self->lay, &u->rows, &rows, &why);
    if (!st && scaffold)
        st = unpacked(&self->lay, &u->control_delta, &delta, &why);
    if (st) {
        fprintf(stderr, "coordinator: UPDATE of round %u from %s refused (%s); counted as error\n",
                m->round, m->from, why.msg);
        train_round_no_answer(self->rnd, i, TRAIN_SLOT_ERROR);
        free(rows);
        return FP_OK;
    }
    msg_tensor_free(&owned->update.rows);
    msg_tensor_free(&owned->update.control_delta);
    int64_t wall = actor_now_ms() - self->peers[i].sent;
    if (train_round_answer(self->rnd, i, &rows, scaffold ? &delta : NULL, (int64_t)u->n, u->steps,
                           u->loss, wall, (int64_t)u->compute_ms) == TRAIN_SLOT_OK) {
        self->bytes_up += bytes;
        train_round_set_cpu(self->rnd, i,
                            u->cpu_measured && u->cpu_ms <= INT64_MAX ? (int64_t)u->cpu_ms : -1);
    }
    return FP_OK;
}

/* A sampled client that refused (ERROR), is unknown to the broker (gone), or died (gone). */
void coordinator_drop_client(coordinator_t *self, const char *id, msg_client_status status,
                             bool gone)
{
    int i = self->phase == PH_TRAIN ? slot_of_id(self, id) : -1;
    if (i >= 0 && pending(self, i)) {
        train_round_no_answer(self->rnd, i,
                              status == MSG_CLIENT_ERROR ? TRAIN_SLOT_ERROR : TRAIN_SLOT_DROPPED);
        self->peers[i].gone = gone;
    }
    for (int k = 0; k < self->N && self->phase == PH_EVAL; k++) {
        char cid[MSG_ID_CAP];
        actor_client_id(cid, (uint32_t)k);
        if (self->evals[k].pending && !strcmp(cid, id))
            self->evals[k].pending = false, self->evals[k].gone = gone, self->evals_pending--;
    }
}

fp_status coordinator_client_back(coordinator_t *self, actor_t *actor, const char *id,
                                  fp_error *err)
{
    int i = self->phase == PH_TRAIN ? slot_of_id(self, id) : -1;
    if (i >= 0 && (pending(self, i) || (self->peers[i].gone && train_round_reopen(self->rnd, i)))) {
        self->peers[i].gone = false;
        return coordinator_send_train(self, actor, id, err);
    }
    for (int k = 0; k < self->N && self->phase == PH_EVAL; k++) {
        char cid[MSG_ID_CAP];
        actor_client_id(cid, (uint32_t)k);
        if (!strcmp(cid, id) && (self->evals[k].pending || self->evals[k].gone))
            return coordinator_send_eval(self, actor, k, err);
    }
    return FP_OK;
}

/* ---- evaluation ---- */

/* EVAL_REQUEST {layers, widths, w_{t+1}} to `to`; *seq its sequence number, 0 when it could
 * not be sent. Fails only when the message cannot be made. */
static fp_status send_eval_request(coordinator_t *self, actor_t *actor, const char *to,
                                   uint64_t *seq, fp_error *err)
{
    msg_t m;
    fp_status st = msg_init(&m, MSG_EVAL_REQUEST, self->cfg.run.name, actor_id(actor), err);
    if (st)
        return st;
    m.eval_request.layers = self->layers; /* borrowed */
    st = wire_tensor_pack(&self->lay, self->server->w, &m.eval_request.rows, &m.eval_request.widths,
                          err);
    m.round = self->round;
    *seq = !st && actor_send(actor, to, &m, NULL) == FP_OK ? m.seq : 0;
    m.eval_request.layers = (msg_u32s_t){0};
    msg_clear(&m);
    return st;
}

/* EVAL_REQUEST {layers, w_{t+1}} to client k; pending on success (a client that cannot be sent
 * to stays unasked: it is asked again if it registers). */
fp_status coordinator_send_eval(coordinator_t *self, actor_t *actor, int k, fp_error *err)
{
    char id[MSG_ID_CAP];
    actor_client_id(id, (uint32_t)k);
    uint64_t seq = 0;
    fp_status st = send_eval_request(self, actor, id, &seq, err);
    if (!st && seq) {
        if (!self->evals[k].pending)
            self->evals_pending++;
        self->evals[k] = (eval_slot_t){.pending = true, .seq = seq};
    }
    return st;
}

void coordinator_send_global_eval(coordinator_t *self, actor_t *actor)
{
    uint64_t seq = 0;
    self->global_sent = actor_now_ms();
    if (send_eval_request(self, actor, "evaluator", &seq, NULL) == FP_OK && seq) {
        if (!self->global_first_seq)
            self->global_first_seq = seq;
        self->global_seq = seq;
    }
}

static bool answers_global(const coordinator_t *self, uint64_t re)
{
    return self->global_pending && self->global_first_seq && re >= self->global_first_seq &&
           re <= self->global_seq;
}

void coordinator_global_refused(coordinator_t *self, uint64_t re)
{
    if (self->phase != PH_EVAL || !answers_global(self, re))
        return;
    fprintf(stderr,
            "coordinator: round %u: no global evaluation (the evaluator refused or is not "
            "there)\n",
            self->round);
    self->global_pending = false;
}

bool coordinator_eval_waiting(const coordinator_t *self)
{
    return self->evals_pending > 0 || self->global_pending;
}

static fp_status start_eval(coordinator_t *self, actor_t *actor, fp_error *err)
{
    int r = (int)self->round, every = self->cfg.eval.every;
    self->evaluated = self->global_evaluated = self->global_pending = false;
    self->metric = NAN;
    self->global_loss_sum = 0;
    self->global_first_seq = self->global_seq = 0;
    bool due = (every > 0 && (r + 1) % every == 0) || r + 1 == self->cfg.run.rounds;
    if (!due)
        return coordinator_send_save(self, actor, err);
    int C = self->task ? self->task->n_classes : 2;
    fp_status st = confusion_init(&self->cm, C, err);
    if (!st)
        st = confusion_init(&self->global_cm, C, err);
    if (st)
        return st;
    self->phase = PH_EVAL;
    self->phase_started = self->t_eval_start = actor_now_ms();
    self->evals_pending = 0;
    for (int k = 0; !st && k < self->N; k++) {
        char id[MSG_ID_CAP];
        actor_client_id(id, (uint32_t)k);
        self->evals[k] = (eval_slot_t){.gone = true};
        if (actor_peer_alive(actor, id))
            st = coordinator_send_eval(self, actor, k, err);
    }
    if (st)
        return st;
    self->global_pending = true;
    coordinator_send_global_eval(self, actor);
    return coordinator_eval_waiting(self) ? FP_OK : coordinator_send_save(self, actor, err);
}

/* The evaluator's EVAL_REPLY: kept when its confusion rows count exactly the whole evaluation
 * split (every client's shard, per true class). */
static fp_status on_global_reply(coordinator_t *self, actor_t *actor, const msg_t *m, fp_error *err)
{
    self->global_pending = false;
    int C = self->global_cm.n_classes;
    uint64_t whole[FP_TASK_MAX_CLASSES] = {0};
    for (int k = 0; k < self->shards.clients && C == self->shards.classes; k++)
        for (int t = 0; t < C; t++)
            whole[t] += self->shards.eval[(size_t)k * (size_t)C + (size_t)t];
    const msg_eval_reply_t *e = &m->eval_reply;
    fp_error why = {0};
    if (C != self->shards.classes || eval_reply_check(e, whole, C, &why)) {
        fprintf(stderr, "coordinator: the evaluator's EVAL_REPLY of round %u: %s; left out\n",
                m->round, C != self->shards.classes ? "the task's classes differ" : why.msg);
    } else {
        for (int t = 0; t < C; t++)
            for (int p = 0; p < C; p++)
                self->global_cm.count[t][p] += e->confusion.v[t * C + p];
        self->global_loss_sum = e->loss * (double)e->n;
        self->global_evaluated = true;
    }
    return coordinator_eval_waiting(self) ? FP_OK : coordinator_send_save(self, actor, err);
}

fp_status coordinator_on_eval_reply(coordinator_t *self, actor_t *actor, const msg_t *m,
                                    fp_error *err)
{
    if (self->phase == PH_EVAL && !strcmp(m->from, "evaluator") && answers_global(self, m->re))
        return on_global_reply(self, actor, m, err);
    int k = -1;
    for (int i = 0; i < self->N && k < 0; i++) {
        char id[MSG_ID_CAP];
        actor_client_id(id, (uint32_t)i);
        if (self->evals[i].pending && self->evals[i].seq == m->re && !strcmp(id, m->from))
            k = i;
    }
    if (k < 0 || self->phase != PH_EVAL)
        return FP_OK;
    self->evals[k].pending = false;
    self->evals_pending--;
    const msg_eval_reply_t *e = &m->eval_reply;
    int C = self->cm.n_classes;
    fp_error why = {0};
    if (C != self->shards.classes ||
        eval_reply_check(e, self->shards.eval + (size_t)k * (size_t)C, C, &why)) {
        fprintf(stderr, "coordinator: EVAL_REPLY of round %u from %s: %s; left out\n", m->round,
                m->from, C != self->shards.classes ? "the task's classes differ" : why.msg);
    } else {
        for (int t = 0; t < C; t++)
            for (int p = 0; p < C; p++)
                self->cm.count[t][p] += e->confusion.v[t * C + p];
        self->evals[k].loss_sum = e->loss * (double)e->n;
        self->evaluated = true;
    }
    return coordinator_eval_waiting(self) ? FP_OK : coordinator_send_save(self, actor, err);
}
