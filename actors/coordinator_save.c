/* coordinator_save.c — the requests the coordinator waits for and their answers: RUN and its
 * SAVED, LOAD → STATE (resume) or SCORE_REQUEST → SELECTION, the layout and round-0 server,
 * and each round's SAVE → SAVED (the round line in the log). Private to the coordinator
 * (coordinator_internal.h). It must never move to the next round before the store has answered
 * this round's SAVE. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/coordinator_internal.h"
#include "actors/round_save.h"
#include "train/run_setup.h"

/* A model path as a message id: its last component with anything outside [A-Za-z0-9._:-]
 * replaced by '_'. */
static void model_id(const char *path, char out[MSG_ID_CAP])
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    size_t len = n - b < MSG_ID_MAX ? n - b : MSG_ID_MAX, j = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = path[b + i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' || ch == '-';
        out[j++] = ok ? ch : '_';
    }
    if (!j)
        out[j++] = '_';
    out[j] = 0;
}

/* ---- the request being waited for ---- */

void coordinator_send_out(coordinator_t *self, actor_t *actor)
{
    self->out_sent = actor_now_ms();
    if (actor_send(actor, self->out_to, &self->out, NULL)) {
        self->out.seq = 0; /* not sent: the tick tries again */
        return;
    }
    if (!self->out_first_seq)
        self->out_first_seq = self->out.seq;
    self->out_last_seq = self->out.seq;
}

bool coordinator_answers_out(const coordinator_t *self, uint64_t re)
{
    return self->out.type && self->out_first_seq && re >= self->out_first_seq &&
           re <= self->out_last_seq;
}

static fp_status start_out(coordinator_t *self, actor_t *actor, msg_type type, const char *to,
                           phase_t phase, fp_error *err)
{
    msg_clear(&self->out);
    fp_status st = msg_init(&self->out, type, self->cfg.run.name, actor_id(actor), err);
    self->out_first_seq = self->out_last_seq = 0;
    self->out_to = to;
    self->phase = phase;
    self->phase_started = actor_now_ms();
    return st;
}

fp_status coordinator_send_run(coordinator_t *self, actor_t *actor, msg_run_status status,
                               phase_t phase, fp_error *err)
{
    fp_status st = start_out(self, actor, MSG_RUN, "store", phase, err);
    msg_run_t *r = &self->out.run_row;
    if (!st)
        st = msg_set_text(&r->config, self->config_text, err);
    if (st)
        return st;
    r->status = status;
    model_id(self->cfg.model.path, r->model);
    snprintf(r->task, sizeof r->task, "%s", config_task_name(self->cfg.data.task));
    snprintf(r->strategy, sizeof r->strategy, "%s", config_strategy_name(self->cfg.run.strategy));
    r->seed = (uint64_t)self->cfg.run.seed;
    r->clients = (uint32_t)self->N;
    r->rounds = (uint32_t)self->cfg.run.rounds;
    if (status == MSG_RUN_FAILED && self->fail_reason[0])
        st = msg_set_text(&r->reason, self->fail_reason, err);
    if (st)
        return st;
    coordinator_send_out(self, actor);
    return FP_OK;
}

fp_status coordinator_stop_run(coordinator_t *self, actor_t *actor, msg_run_status status,
                               fp_error *err)
{
    self->final_status = status;
    self->end_deadline = actor_now_ms() + END_WAIT_MS;
    return coordinator_send_run(self, actor, status, PH_END, err);
}

void coordinator_finish(coordinator_t *self, actor_t *actor, const char *unrecorded)
{
    bool failed = self->final_status != MSG_RUN_DONE || unrecorded;
    /* One "error:" line, the cause of the exit (the launcher shows it). */
    /* The end refused for the failure's own cause: say so without repeating it. */
    bool same = unrecorded && !strncmp(unrecorded, self->fail_reason, 40);
    if (self->final_status != MSG_RUN_DONE)
        fprintf(stderr, "coordinator: error: run %s failed: %s%s%s\n", self->cfg.run.name,
                self->fail_reason,
                same         ? " (nor could the failure be recorded in the database)"
                : unrecorded ? "; not recorded in the database: "
                             : "",
                unrecorded && !same ? unrecorded : "");
    else if (unrecorded)
        fprintf(stderr, "coordinator: error: run %s: every round is committed, but %s\n",
                self->cfg.run.name, unrecorded);
    self->phase = PH_STOPPED;
    actor_stop(actor, failed ? 1 : 0);
}

fp_status coordinator_fail_run(coordinator_t *self, actor_t *actor, const char *reason,
                               fp_error *err)
{
    if (self->phase == PH_END) { /* the end itself was refused: nothing more can be recorded */
        if (!self->fail_reason[0])
            snprintf(self->fail_reason, sizeof self->fail_reason, "%s", reason);
        coordinator_finish(self, actor, reason);
        return FP_OK;
    }
    if (self->phase == PH_STOPPED)
        return FP_OK;
    snprintf(self->fail_reason, sizeof self->fail_reason, "%s", reason);
    fprintf(stderr, "coordinator: run %s fails: %s\n", self->cfg.run.name, reason);
    return coordinator_stop_run(self, actor, MSG_RUN_FAILED, err);
}

/* ---- selection and server ---- */

/* The layout and, unless resumed, the round-0 server (w0 = the initial prompt's rows). */
static fp_status setup_layout(coordinator_t *self, const msg_u32s_t *layers, fp_error *err)
{
    /* Only the travelling rows are read here: the head (fixed or trained) stays with clients. */
    fp_status st = train_selection_layout(&self->lay, &self->cfg, self->strat, &self->mc, self->P,
                                          layers->v, (int)layers->n, self->head, NULL, err);
    if (!st)
        st = msg_u32s_alloc(&self->layers, layers->n, err);
    if (!st)
        memcpy(self->layers.v, layers->v, layers->n * sizeof *layers->v);
    if (st || self->server)
        return st;
    train_client_t *fresh = train_client_new(&self->lay, -1, (uint64_t)self->cfg.run.seed,
                                             self->strat->scaffold_client, err);
    float *w0 = malloc(self->lay.n_rows * sizeof(float));
    if (fresh && w0) {
        train_layout_rows_gather(&self->lay, fresh->E, w0);
        self->server =
            fl_server_new(&self->scfg, self->lay.n_rows, self->N, (uint64_t)self->cfg.run.seed, w0);
    }
    free(w0);
    train_client_destroy(&fresh);
    return self->server ? FP_OK : fp_fail(err, FP_ENOMEM, "server: out of memory");
}

/* The rows tensor's shape: [P][K][2][d] for deep prompts, [P][d] for the input prompt. */
uint32_t coordinator_rows_shape(const coordinator_t *self, uint32_t shape[4])
{
    if (self->lay.input_prompt) {
        shape[0] = (uint32_t)self->lay.P, shape[1] = (uint32_t)self->lay.d;
        return 2;
    }
    shape[0] = (uint32_t)self->lay.P, shape[1] = (uint32_t)self->lay.n_travel;
    shape[2] = 2, shape[3] = (uint32_t)self->lay.d;
    return 4;
}

/* ---- commit ---- */

fp_status coordinator_send_save(coordinator_t *self, actor_t *actor, fp_error *err)
{
    if ((int)self->round == self->stop_before_save) {
        fprintf(stderr, "coordinator: stopping before the SAVE of round %u (as asked)\n",
                self->round);
        self->phase = PH_STOPPED;
        actor_stop(actor, 1);
        return FP_OK;
    }
    if (self->t_eval_start)
        self->t_eval_end = actor_now_ms();
    fp_status st = start_out(self, actor, MSG_SAVE, "store", PH_SAVE, err);
    msg_save_t *s = &self->out.save;
    self->out.round = self->round;
    train_round_record rec;
    train_round_record_make(self->rnd, &rec);
    /* Summed in client order, not in the order the replies came: the pooled loss is the same
     * whatever the timing (floating-point addition is not associative). */
    double loss_sum = 0;
    for (int k = 0; k < self->N; k++)
        loss_sum += self->evals[k].loss_sum;
    if (self->evaluated)
        train_round_record_eval(&rec, self->task->metric, &self->cm, loss_sum);
    if (self->global_evaluated)
        train_round_record_global(&rec, self->task->metric, &self->global_cm,
                                  self->global_loss_sum);
    self->metric = rec.eval_metric;
    rec.bytes_down = (int64_t)self->bytes_down;
    rec.bytes_up = (int64_t)self->bytes_up;
    rec.wall_ms = actor_now_ms() - self->round_started;
    if (!st)
        st = round_save_fill(s, &rec, err);
    uint32_t shape[4], nd = coordinator_rows_shape(self, shape);
    if (!st)
        st = msg_tensor_copy(&s->rows, nd, shape, self->server->w, err);
    uint8_t *blob = NULL;
    size_t blen = 0;
    if (!st)
        st = fl_server_save(self->server, &blob, &blen, err);
    if (st) {
        free(blob);
        return st;
    }
    s->server_state.data = blob;
    s->server_state.n = blen;
    memcpy(s->rng, self->server->rng.s, sizeof s->rng);
    coordinator_send_out(self, actor);
    self->t_save_sent = actor_now_ms();
    return FP_OK;
}

/* Where the round's time went, ending the round's log line: the round from its first TRAIN to
 * SAVED, its overhead (that, less the slowest client's compute and the evaluation), then the
 * phases: training (TRAIN out to the last attempt's close), aggregation, evaluation, building
 * and sending the SAVE, and the commit (SAVE out to SAVED). */
static void log_phases(const coordinator_t *self, uint64_t slowest_ms)
{
    int64_t now = actor_now_ms(), closed = self->t_closed ? self->t_closed : self->round_started;
    int64_t agg = self->t_aggregated ? self->t_aggregated : closed;
    int64_t eval = self->t_eval_start ? self->t_eval_end - self->t_eval_start : 0;
    int64_t round = now - self->round_started, over = round - (int64_t)slowest_ms - eval;
    fprintf(self->log,
            "  round %lld ms, overhead %lld ms (%.1f%%): train %lld, aggregate %lld, eval %lld, "
            "save %lld, commit %lld ms\n",
            (long long)round, (long long)over, round > 0 ? 100.0 * (double)over / (double)round : 0,
            (long long)(closed - self->round_started), (long long)(agg - closed), (long long)eval,
            (long long)(self->t_save_sent - agg - eval), (long long)(now - self->t_save_sent));
}

fp_status coordinator_on_saved(coordinator_t *self, actor_t *actor, const msg_t *m, fp_error *err)
{
    if (!coordinator_answers_out(self, m->re))
        return FP_OK;
    if (self->phase == PH_RUN && m->saved.answers == MSG_RUN) {
        fp_status st = start_out(self, actor, MSG_LOAD, "store", PH_LOAD, err);
        if (!st)
            coordinator_send_out(self, actor);
        return st;
    }
    if (self->phase == PH_END && m->saved.answers == MSG_RUN) {
        coordinator_finish(self, actor, NULL);
        return FP_OK;
    }
    if (self->phase != PH_SAVE || m->saved.answers != MSG_SAVE)
        return FP_OK;
    const msg_save_t *s = &self->out.save;
    if (self->log) {
        fprintf(self->log, "round %u%s  clients %u/%u (dropped %u, late %u)  train loss %.4f  ",
                self->round, s->status == MSG_ROUND_OK ? "" : " FAILED", s->completed, s->sampled,
                s->dropped, s->late, s->train_loss);
        if (s->retries)
            fprintf(self->log, "retries %u  ", s->retries);
        if (s->evaluated)
            fprintf(self->log, "eval %s %.4f  ", metric_name(self->task->metric), s->eval_metric);
        fprintf(self->log, "slowest %llu ms  wall %llu ms", (unsigned long long)s->slowest_ms,
                (unsigned long long)s->wall_ms);
        log_phases(self, s->slowest_ms);
        fflush(self->log);
    }
    msg_clear(&self->out);
    self->rounds_done++;
    self->round++;
    return coordinator_next_round_or_end(self, actor, err);
}

/* ---- resume ---- */

fp_status coordinator_on_state(coordinator_t *self, actor_t *actor, msg_t *m, fp_error *err)
{
    if (self->phase != PH_LOAD || !coordinator_answers_out(self, m->re))
        return FP_OK;
    fp_status st = FP_OK;
    if (!m->state.found || !m->state.layers.n) {
        /* Nothing committed yet: ask the evaluator for the selection. */
        st = start_out(self, actor, MSG_SCORE_REQUEST, "evaluator", PH_SELECT, err);
        self->out.score_request.batch = (uint32_t)self->cfg.federation.score_batch;
        self->out.score_request.seed = (uint64_t)self->cfg.run.seed;
        if (!st)
            coordinator_send_out(self, actor);
        return st;
    }
    st = fl_server_load(m->state.server_state.data, m->state.server_state.n, &self->server, err);
    if (!st)
        st = setup_layout(self, &m->state.layers, err);
    if (!st && self->server->dim != self->lay.n_rows)
        st = fp_fail(err, FP_ESTATE, "resume: checkpoint has %zu rows, layout %zu",
                     self->server->dim, self->lay.n_rows);
    if (st)
        return st;
    self->round = self->first_round = m->round + 1;
    fprintf(stderr, "coordinator: resuming run %s at round %u\n", self->cfg.run.name, self->round);
    msg_clear(&self->out);
    return coordinator_next_round_or_end(self, actor, err);
}

fp_status coordinator_on_selection(coordinator_t *self, actor_t *actor, const msg_t *m,
                                   fp_error *err)
{
    if (self->phase != PH_SELECT)
        return FP_OK;
    fp_status st = setup_layout(self, &m->selection.layers, err);
    if (st)
        return st;
    msg_clear(&self->out);
    self->round = self->first_round = 0;
    return coordinator_next_round_or_end(self, actor, err);
}
