/* coordinator.c — see coordinator.h. One phase at a time; every request it waits for is kept
 * in `out` and sent again on reconnect or after RESEND_MS, so a restarted store, evaluator or
 * broker only delays the run. Everything numeric goes through fl/ and train/ exactly as
 * simulate.c calls them. This file holds construction and the actor callbacks, which only
 * dispatch: the round and evaluation are in coordinator_round.c, the requests to the store and
 * resume in coordinator_save.c (coordinator_internal.h declares what they share). It must never
 * abort on a message. */
#include "actors/coordinator.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/coordinator_internal.h"
#include "actors/store_role.h"
#include "messages/envelope.h"
#include "train/model_bundle.h"
#include "train/round_rules.h"
#include "train/run_setup.h"

coordinator_t *coordinator_new(const coordinator_options_t *o, fp_error *err)
{
    coordinator_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "coordinator: out of memory");
        return NULL;
    }
    self->cfg = *o->cfg;
    self->log = o->log;
    self->stop_before_save = o->stop_before_save;
    const fedpep_config *cfg = &self->cfg;
    self->N = cfg->federation.clients;
    self->K = cfg->federation.clients_per_round;
    fp_status st = fl_strategy_for(cfg->run.strategy, &self->strat, err);
    if (!st) {
        self->scfg = train_server_config(cfg, self->strat);
        self->task = task_get(cfg->data.task);
        train_model_t *m =
            train_model_open(cfg->model.path, o->fallback_vocab, o->fallback_merges, err);
        if (!m)
            st = err ? err->status : FP_EINVAL;
        else
            self->mc = m->cfg, self->decoder = m->decoder;
        /* Each client's shards, so that an UPDATE or EVAL_REPLY claiming another weight is
         * refused. */
        if (!st)
            st =
                shard_sizes_load(&self->shards, cfg, m, config_prompt_length(cfg, m->decoder), err);
        train_model_destroy(&m);
    }
    if (!st) {
        self->P = config_prompt_length(cfg, self->decoder);
        self->head = config_linear_head(cfg) && self->task ? self->task->n_classes : 0;
        if (o->config_text) {
            self->config_text = strdup(o->config_text);
        } else {
            size_t len = 0;
            FILE *f = open_memstream(&self->config_text, &len);
            if (f && config_dump(cfg, f))
                st = fp_fail(err, FP_ENOMEM, "coordinator: cannot render the config");
            if (f)
                fclose(f);
        }
        if (!st && !self->config_text)
            st = fp_fail(err, FP_ENOMEM, "coordinator: out of memory");
    }
    if (!st && (!(self->peers = calloc((size_t)self->N, sizeof *self->peers)) ||
                !(self->ask = calloc((size_t)self->N, sizeof *self->ask)) ||
                !(self->evals = calloc((size_t)self->N, sizeof *self->evals))))
        st = fp_fail(err, FP_ENOMEM, "coordinator: out of memory");
    if (st)
        coordinator_destroy(&self);
    return self;
}

void coordinator_destroy(coordinator_t **self_p)
{
    coordinator_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    train_round_destroy(&self->rnd);
    shard_sizes_free(&self->shards);
    free(self->peers);
    free(self->ask);
    free(self->evals);
    free(self->layers.v);
    free(self->config_text);
    msg_clear(&self->out);
    fl_server_destroy(&self->server);
    free(self);
    *self_p = NULL;
}

int coordinator_rounds_done(const coordinator_t *self)
{
    return self->rounds_done;
}

int coordinator_first_round(const coordinator_t *self)
{
    return (int)self->first_round;
}

void coordinator_actor_options(actor_options_t *o)
{
    o->watch_peers = true;
    o->watch_role = MSG_ROLE_CLIENT;
}

/* ---- callbacks ---- */

static fp_status on_start(void *arg, actor_t *actor, bool reconnected, fp_error *err)
{
    coordinator_t *self = arg;
    if (!reconnected && self->phase == PH_RUN && !self->out.type)
        return coordinator_send_run(self, actor, MSG_RUN_RUNNING, PH_RUN, err);
    /* The broker restarted: anything we wait for may have been lost. Clients that trained
     * already answer a repeated TRAIN from their saved state. */
    if (self->out.type)
        coordinator_send_out(self, actor);
    if (self->phase == PH_TRAIN)
        return coordinator_send_train(self, actor, NULL, err);
    for (int k = 0; k < self->N && self->phase == PH_EVAL; k++)
        if (self->evals[k].pending)
            coordinator_send_eval(self, actor, k, err);
    if (self->phase == PH_EVAL && self->global_pending)
        coordinator_send_global_eval(self, actor);
    return FP_OK;
}

/* Slots of the open attempt still waiting for an answer (0 outside PH_TRAIN). */
static int pending_slots(const coordinator_t *self)
{
    int n = 0;
    for (int i = 0; self->phase == PH_TRAIN && self->rnd && i < train_round_slot_count(self->rnd);
         i++) {
        const train_round_slot *s = train_round_slot_at(self->rnd, i);
        n += s->status == TRAIN_SLOT_PENDING && s->attempt == train_round_attempt(self->rnd);
    }
    return n;
}

/* After an event that may have answered or dropped slots of the open attempt (`before` =
 * pending_slots before it): closes the attempt when that event took its last pending slot, or
 * brought the K-th update. An event that changed no pending slot (the death of a client this
 * attempt does not ask, a stale ERROR or UPDATE of an earlier attempt) leaves it open: an
 * attempt whose clients were all gone when it began waits for them to register again, until
 * its deadline. Closing it on any event burnt every retry within milliseconds when the broker
 * restarted and the directory, then the ERRORs to the first attempt's TRAINs, reported the
 * clients gone one by one before they had registered again (the run failed: "0 of 2 updates
 * after 4 attempts"). */
static fp_status close_if_answered(coordinator_t *self, actor_t *actor, int before, fp_error *err)
{
    if (self->phase == PH_TRAIN && pending_slots(self) < before &&
        train_round_attempt_done(self->rnd))
        return coordinator_close_round(self, actor, err);
    return FP_OK;
}

static fp_status on_message(void *arg, actor_t *actor, msg_t *msg, size_t bytes, fp_error *err)
{
    coordinator_t *self = arg;
    switch (msg->type) {
    case MSG_SAVED:
        return coordinator_on_saved(self, actor, msg, err);
    case MSG_STATE:
        return coordinator_on_state(self, actor, msg, err);
    case MSG_SELECTION:
        return coordinator_on_selection(self, actor, msg, err);
    case MSG_UPDATE: {
        int before = pending_slots(self);
        fp_status st = coordinator_on_update(self, msg, bytes, msg);
        return st ? st : close_if_answered(self, actor, before, err);
    }
    case MSG_EVAL_REPLY:
        return coordinator_on_eval_reply(self, actor, msg, err);
    case MSG_ERROR: {
        const msg_error_t *e = &msg->error;
        if (e->answers == MSG_TRAIN && e->final && self->phase == PH_TRAIN) {
            /* A client could not store its state: the database refuses writes for good. */
            char reason[REASON_CAP];
            snprintf(reason, sizeof reason, "round %u: %s", self->round,
                     e->text ? e->text : fp_status_name(e->code));
            return coordinator_fail_run(self, actor, reason, err);
        }
        if (e->answers == MSG_TRAIN || e->answers == MSG_EVAL_REQUEST) {
            const char *who = e->peer[0] ? e->peer : msg->from;
            int before = pending_slots(self);
            if (strcmp(who, ENVELOPE_BROKER_ID))
                coordinator_drop_client(self, who,
                                        e->code == FP_ESTATE || e->code == FP_ENOTFOUND
                                            ? MSG_CLIENT_DROPPED
                                            : MSG_CLIENT_ERROR,
                                        e->code == FP_ENOTFOUND);
            if (self->phase == PH_TRAIN)
                return close_if_answered(self, actor, before, err);
            if (self->phase == PH_EVAL && e->answers == MSG_EVAL_REQUEST &&
                !strcmp(who, "evaluator"))
                coordinator_global_refused(self, msg->re);
            if (self->phase == PH_EVAL && !coordinator_eval_waiting(self))
                return coordinator_send_save(self, actor, err);
            return FP_OK;
        }
        if (e->answers == self->out.type && coordinator_answers_out(self, msg->re)) {
            /* The store refusing our run or round for what it is (another config under the
             * same name, a different committed round), or a database that cannot take the
             * write (final), will not change: the run fails, and ends. Anything else (a peer
             * not registered yet, a busy database) is asked again in a second. */
            bool final =
                strcmp(msg->from, ENVELOPE_BROKER_ID) &&
                (strcmp(msg->from, "store") ? e->final || e->code == FP_ESTATE ||
                                                  e->code == FP_EINVAL || e->code == FP_EFORMAT
                                            : store_role_error_is_final(e));
            fprintf(stderr, "coordinator: %s %s %s: %s %s\n", msg->from,
                    final ? "refused" : "could not take (asked again)", msg_type_name(e->answers),
                    fp_status_name(e->code), e->text ? e->text : "");
            if (final) {
                char reason[REASON_CAP];
                snprintf(reason, sizeof reason, "%s refused %s: %s", msg->from,
                         msg_type_name(e->answers), e->text ? e->text : fp_status_name(e->code));
                return coordinator_fail_run(self, actor, reason, err);
            }
            self->out_sent = actor_now_ms() - RESEND_MS + 1000; /* resent by the tick */
        }
        return FP_OK;
    }
    default:
        return FP_OK;
    }
}

static fp_status on_peer(void *arg, actor_t *actor, const msg_peer_t *peer, bool alive,
                         fp_error *err)
{
    coordinator_t *self = arg;
    if (peer->role != MSG_ROLE_CLIENT)
        return FP_OK;
    if (alive)
        return coordinator_client_back(self, actor, peer->id, err);
    int before = pending_slots(self);
    coordinator_drop_client(self, peer->id, MSG_CLIENT_DROPPED, true);
    if (self->phase == PH_TRAIN)
        return close_if_answered(self, actor, before, err);
    if (self->phase == PH_EVAL && !coordinator_eval_waiting(self))
        return coordinator_send_save(self, actor, err);
    return FP_OK;
}

static fp_status on_tick(void *arg, actor_t *actor, int64_t now, fp_error *err)
{
    coordinator_t *self = arg;
    int64_t deadline_ms = (int64_t)(1000 * self->cfg.federation.round_deadline_s);
    switch (self->phase) {
    case PH_CLIENTS:
        if (coordinator_count_clients(actor) >= self->N ||
            now - self->phase_started > deadline_ms) {
            return coordinator_start_round(self, actor, err);
        }
        return FP_OK;
    case PH_TRAIN:
        return now > self->deadline ? coordinator_close_round(self, actor, err) : FP_OK;
    case PH_EVAL:
        if (now - self->phase_started > deadline_ms)
            return coordinator_send_save(self, actor, err);
        /* The evaluator may have restarted, or the request been lost: ask again (a request it
         * answered is answered again from its last result). */
        if (self->global_pending && now - self->global_sent > RESEND_MS)
            coordinator_send_global_eval(self, actor);
        return FP_OK;
    case PH_STOPPED:
        return FP_OK;
    case PH_END:
        if (now > self->end_deadline) {
            coordinator_finish(self, actor, "the store did not acknowledge the end of the run");
            return FP_OK;
        }
        if (self->out.type && now - self->out_sent > RESEND_MS)
            coordinator_send_out(self, actor);
        return FP_OK;
    default:
        if (self->out.type && now - self->out_sent > RESEND_MS)
            coordinator_send_out(self, actor);
        return FP_OK;
    }
}

const actor_role_t *coordinator_actor(void)
{
    static const actor_role_t role = {.name = "coordinator",
                                      .on_start = on_start,
                                      .on_message = on_message,
                                      .on_tick = on_tick,
                                      .on_peer = on_peer};
    return &role;
}
