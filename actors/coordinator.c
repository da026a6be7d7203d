/* coordinator.c — see coordinator.h. One phase at a time; every request it waits for is kept
 * in `out` and sent again on reconnect or after RESEND_MS, so a restarted store, evaluator or
 * broker only delays the run. Everything numeric goes through fl/ and train/ exactly as
 * simulate.c calls them. */
#include "actors/coordinator.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/metrics.h"
#include "data/task.h"
#include "fl/server.h"
#include "fl/strategy.h"
#include "train/local_round.h"
#include "train/model_bundle.h"
#include "train/run_setup.h"

#define RESEND_MS 3000

typedef enum phase {
    PH_RUN,      /* RUN sent, waiting for SAVED */
    PH_LOAD,     /* LOAD sent, waiting for STATE */
    PH_SELECT,   /* SCORE_REQUEST sent to the evaluator, waiting for SELECTION */
    PH_CLIENTS,  /* waiting for the clients to register */
    PH_TRAIN,    /* a round's TRAINs are out */
    PH_EVAL,     /* EVAL_REQUESTs are out */
    PH_SAVE,     /* SAVE sent, waiting for SAVED */
    PH_END,      /* final RUN sent, waiting for SAVED */
    PH_STOPPED
} phase_t;

typedef struct slot {
    uint32_t client;
    char id[MSG_ID_CAP];
    msg_client_status status;
    bool pending;
    bool gone; /* dropped as dead or unknown: asked again if it registers during the round */
    uint64_t seq;
    int64_t sent, received;
    float *rows, *delta_c; /* owned, from the UPDATE */
    uint64_t n, compute_ms;
    uint32_t steps;
    double loss;
} slot_t;

typedef struct eval_slot {
    bool pending;
    bool gone; /* dead or unknown: asked again if it registers during the evaluation */
    uint64_t seq;
} eval_slot_t;

struct coordinator {
    fedpep_config cfg;
    char *config_text;
    FILE *log;
    const fl_strategy_desc *strat;
    fl_server_config scfg;
    const fp_task *task;
    model_config mc;
    bool decoder;
    int N, K, Kp, P, head;
    train_layout lay;
    msg_u32s_t layers; /* the run's selection (as TRAIN carries it) */
    fl_server_t *server;
    phase_t phase;
    msg_t out;        /* the request being waited for (RUN, LOAD, SCORE_REQUEST, SAVE) */
    const char *out_to;
    int64_t out_sent;
    int64_t phase_started;
    /* the round */
    uint32_t round, first_round;
    int rounds_done, attempt;
    slot_t *slots;        /* [Kp] */
    int n_ok;
    int64_t round_started, deadline;
    uint64_t bytes_down, bytes_up;
    msg_round_status round_status;
    /* evaluation */
    eval_slot_t *evals;   /* [N] */
    int evals_pending;
    fp_confusion cm;
    double eval_loss_sum;
    bool evaluated;
    double metric;
    msg_run_status final_status;
    int stop_before_save;
};

/* ---- small helpers ---- */

static void slots_free(coordinator_t *self)
{
    for (int i = 0; self->slots && i < self->Kp; i++) {
        free(self->slots[i].rows);
        free(self->slots[i].delta_c);
        self->slots[i].rows = self->slots[i].delta_c = NULL;
    }
}

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
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
                  || ch == '.' || ch == '_' || ch == ':' || ch == '-';
        out[j++] = ok ? ch : '_';
    }
    if (!j)
        out[j++] = '_';
    out[j] = 0;
}

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
    int kp = (int)ceil(cfg->federation.overselect * self->K - 1e-9);
    self->Kp = kp < self->K ? self->K : kp > self->N ? self->N : kp;
    fp_status st = fl_strategy_from_name(config_strategy_name(cfg->run.strategy), &self->strat, err);
    if (!st) {
        self->scfg = train_server_config(cfg, self->strat);
        self->task = task_get(cfg->data.task);
        train_model_t *m = train_model_open(cfg->model.path, o->fallback_vocab,
                                            o->fallback_merges, err);
        if (!m)
            st = err ? err->status : FP_EINVAL;
        else
            self->mc = m->cfg, self->decoder = m->decoder;
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
    if (!st && (!(self->slots = calloc((size_t)self->Kp, sizeof *self->slots)) ||
                !(self->evals = calloc((size_t)self->N, sizeof *self->evals))))
        st = fp_fail(err, FP_ENOMEM, "coordinator: out of memory");
    if (st)
        coordinator_destroy(&self);
    return self;
}

void coordinator_destroy(coordinator_t **self_p)
{
    coordinator_t *self = *self_p;
    if (!self)
        return;
    slots_free(self);
    free(self->slots);
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

/* ---- the request being waited for ---- */

static void send_out(coordinator_t *self, actor_t *actor)
{
    self->out_sent = actor_now_ms();
    if (actor_send(actor, self->out_to, &self->out, NULL))
        self->out.seq = 0; /* not sent: the tick tries again */
}

static fp_status start_out(coordinator_t *self, actor_t *actor, msg_type type, const char *to,
                           phase_t phase, fp_error *err)
{
    msg_clear(&self->out);
    fp_status st = msg_init(&self->out, type, self->cfg.run.name, actor_id(actor), err);
    self->out_to = to;
    self->phase = phase;
    self->phase_started = actor_now_ms();
    return st;
}

static fp_status send_run(coordinator_t *self, actor_t *actor, msg_run_status status,
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
    send_out(self, actor);
    return FP_OK;
}

static fp_status stop_run(coordinator_t *self, actor_t *actor, msg_run_status status,
                          fp_error *err)
{
    self->final_status = status;
    return send_run(self, actor, status, PH_END, err);
}

/* ---- selection and server ---- */

/* The layout and, unless resumed, the round-0 server (w0 = the initial prompt's rows). */
static fp_status setup_layout(coordinator_t *self, const msg_u32s_t *layers, fp_error *err)
{
    /* Only the travelling rows are read here: the head (fixed or trained) stays with clients. */
    fp_status st = train_selection_layout(&self->lay, &self->cfg, self->strat, &self->mc,
                                          self->P, layers->v, (int)layers->n, self->head, NULL,
                                          err);
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
        self->server = fl_server_new(&self->scfg, self->lay.n_rows, self->N,
                                     (uint64_t)self->cfg.run.seed, w0);
    }
    free(w0);
    train_client_destroy(&fresh);
    return self->server ? FP_OK : fp_fail(err, FP_ENOMEM, "server: out of memory");
}

/* The rows tensor's shape: [P][K][2][d] for deep prompts, [P][d] for the input prompt. */
static uint32_t rows_shape(const coordinator_t *self, uint32_t shape[4])
{
    if (self->lay.input_prompt) {
        shape[0] = (uint32_t)self->lay.P, shape[1] = (uint32_t)self->lay.d;
        return 2;
    }
    shape[0] = (uint32_t)self->lay.P, shape[1] = (uint32_t)self->lay.n_travel;
    shape[2] = 2, shape[3] = (uint32_t)self->lay.d;
    return 4;
}

/* ---- rounds ---- */

static fp_status start_round(coordinator_t *self, actor_t *actor, fp_error *err);

static int count_clients(const actor_t *actor)
{
    const msg_peers_t *p = actor_peers(actor);
    int n = 0;
    for (uint32_t i = 0; p && i < p->n; i++)
        n += p->v[i].role == MSG_ROLE_CLIENT;
    return n;
}

static fp_status next_round_or_end(coordinator_t *self, actor_t *actor, fp_error *err)
{
    if ((int)self->round >= self->cfg.run.rounds)
        return stop_run(self, actor, MSG_RUN_DONE, err);
    if (self->rounds_done == 0 && self->phase != PH_CLIENTS && count_clients(actor) < self->N) {
        self->phase = PH_CLIENTS;
        self->phase_started = actor_now_ms();
        return FP_OK;
    }
    self->attempt = 0;
    return start_round(self, actor, err);
}

/* TRAIN to every pending slot, or only to client `only`. */
static fp_status send_train(coordinator_t *self, actor_t *actor, const char *only, fp_error *err)
{
    msg_t m;
    fp_status st = msg_init(&m, MSG_TRAIN, self->cfg.run.name, actor_id(actor), err);
    msg_train_t *t = &m.train;
    uint32_t shape[4], nd = rows_shape(self, shape);
    /* The rows are borrowed from the server for the sends, never freed through m. */
    t->layers = self->layers;
    t->rows.ndim = nd;
    memcpy(t->rows.shape, shape, sizeof shape);
    t->rows.data = self->server->w;
    if (self->strat->scaffold_client) {
        t->control.ndim = nd;
        memcpy(t->control.shape, shape, sizeof shape);
        t->control.data = self->server->c;
    }
    double dl = 1000 * self->cfg.federation.round_deadline_s;
    t->deadline_ms = dl > 4e9 ? 4000000000u : (uint32_t)dl;
    t->epochs = (uint32_t)self->cfg.client.local_epochs;
    t->max_steps = (uint32_t)self->cfg.client.max_local_steps;
    t->batch = (uint32_t)self->cfg.client.batch_size;
    t->lr = self->cfg.client.lr;
    t->prox_mu = self->strat->prox ? self->cfg.client.fedprox_mu : 0;
    t->seed = (uint64_t)self->cfg.run.seed;
    m.round = self->round;
    int64_t now = actor_now_ms();
    for (int i = 0; !st && i < self->Kp; i++) {
        slot_t *s = &self->slots[i];
        if (!s->pending || (only && strcmp(only, s->id)))
            continue;
        s->sent = now;
        if (actor_send(actor, s->id, &m, NULL) == FP_OK) {
            s->seq = m.seq;
            self->bytes_down += actor_last_sent_bytes(actor);
        } else {
            s->pending = false, s->gone = true, s->status = MSG_CLIENT_DROPPED;
        }
    }
    t->layers = (msg_u32s_t){0};
    t->rows.data = t->control.data = NULL;
    msg_clear(&m);
    return st;
}

static fp_status start_round(coordinator_t *self, actor_t *actor, fp_error *err)
{
    slots_free(self);
    int *ids = malloc((size_t)self->Kp * sizeof *ids);
    if (!ids)
        return fp_fail(err, FP_ENOMEM, "round: out of memory");
    fp_status st = fl_server_sample(self->server, self->round, self->Kp, ids, err);
    self->n_ok = 0;
    self->bytes_down = self->bytes_up = 0;
    self->round_started = actor_now_ms();
    self->deadline = self->round_started + (int64_t)(1000 * self->cfg.federation.round_deadline_s);
    for (int i = 0; !st && i < self->Kp; i++) {
        slot_t *s = &self->slots[i];
        *s = (slot_t){.client = (uint32_t)ids[i], .status = MSG_CLIENT_DROPPED};
        actor_client_id(s->id, s->client);
        s->pending = actor_peer_alive(actor, s->id);
        s->gone = !s->pending;
    }
    free(ids);
    self->phase = PH_TRAIN;
    if (!st)
        st = send_train(self, actor, NULL, err);
    return st;
}

static int pending_count(const coordinator_t *self)
{
    int n = 0;
    for (int i = 0; i < self->Kp; i++)
        n += self->slots[i].pending;
    return n;
}

static fp_status start_eval(coordinator_t *self, actor_t *actor, fp_error *err);
static fp_status send_save(coordinator_t *self, actor_t *actor, fp_error *err);

/* The round's TRAIN phase is over: aggregate, or handle a short round. */
static fp_status close_round(coordinator_t *self, actor_t *actor, fp_error *err)
{
    for (int i = 0; i < self->Kp; i++)
        if (self->slots[i].pending)
            self->slots[i].pending = false, self->slots[i].status = MSG_CLIENT_LATE;
    int min = self->cfg.federation.min_clients;
    if (self->n_ok < min || self->n_ok == 0) {
        fprintf(stderr, "coordinator: round %u: %d of %d updates (min_clients %d)\n",
                self->round, self->n_ok, self->Kp, min);
        switch (self->cfg.federation.on_short_round) {
        case FP_SHORT_ROUND_RETRY:
            if (self->attempt < self->cfg.federation.max_retries) {
                self->attempt++;
                return start_round(self, actor, err);
            }
            return stop_run(self, actor, MSG_RUN_FAILED, err);
        case FP_SHORT_ROUND_SKIP:
            self->round_status = MSG_ROUND_FAILED;
            return start_eval(self, actor, err);
        default: return stop_run(self, actor, MSG_RUN_FAILED, err);
        }
    }
    fl_upload *up = calloc((size_t)self->n_ok, sizeof *up);
    if (!up)
        return fp_fail(err, FP_ENOMEM, "round: out of memory");
    int n = 0;
    for (int i = 0; i < self->Kp; i++) {
        const slot_t *s = &self->slots[i];
        if (s->status == MSG_CLIENT_OK)
            up[n++] = (fl_upload){.client = (int)s->client, .n_samples = (int64_t)s->n,
                                  .steps = s->steps, .theta = s->rows, .delta_c = s->delta_c};
    }
    fp_status st = fl_server_round(self->server, &self->scfg, up, n, err);
    free(up);
    if (st)
        return st;
    self->round_status = MSG_ROUND_OK;
    return start_eval(self, actor, err);
}

static fp_status on_update(coordinator_t *self, const msg_t *m, size_t bytes, msg_t *owned)
{
    slot_t *s = NULL;
    for (int i = 0; i < self->Kp && self->phase == PH_TRAIN && m->round == self->round; i++)
        if (!strcmp(self->slots[i].id, m->from))
            s = &self->slots[i];
    if (!s || !s->pending) {
        fprintf(stderr, "coordinator: UPDATE of round %u from %s after its round closed; "
                        "ignored\n", m->round, m->from);
        return FP_OK;
    }
    const msg_update_t *u = &m->update;
    bool scaffold = self->strat->scaffold_client;
    if (msg_tensor_count(&u->rows) != self->lay.n_rows ||
        (scaffold && msg_tensor_count(&u->control_delta) != self->lay.n_rows)) {
        fprintf(stderr, "coordinator: UPDATE from %s has the wrong shape; counted as error\n",
                m->from);
        s->pending = false, s->status = MSG_CLIENT_ERROR;
        return FP_OK;
    }
    s->pending = false;
    s->status = MSG_CLIENT_OK;
    s->received = actor_now_ms();
    s->rows = owned->update.rows.data, owned->update.rows.data = NULL;
    if (scaffold)
        s->delta_c = owned->update.control_delta.data, owned->update.control_delta.data = NULL;
    s->n = u->n, s->steps = u->steps, s->loss = u->loss, s->compute_ms = u->compute_ms;
    self->bytes_up += bytes;
    self->n_ok++;
    return FP_OK;
}

/* A sampled client that refused (ERROR), is unknown to the broker (gone), or died (gone). */
static void drop_client(coordinator_t *self, const char *id, msg_client_status status, bool gone)
{
    for (int i = 0; i < self->Kp && self->phase == PH_TRAIN; i++)
        if (self->slots[i].pending && !strcmp(self->slots[i].id, id))
            self->slots[i].pending = false, self->slots[i].status = status,
            self->slots[i].gone = gone;
    for (int k = 0; k < self->N && self->phase == PH_EVAL; k++) {
        char cid[MSG_ID_CAP];
        actor_client_id(cid, (uint32_t)k);
        if (self->evals[k].pending && !strcmp(cid, id))
            self->evals[k].pending = false, self->evals[k].gone = gone, self->evals_pending--;
    }
}

/* ---- evaluation ---- */

/* EVAL_REQUEST {layers, w_{t+1}} to client k; pending on success. */
static fp_status send_eval(coordinator_t *self, actor_t *actor, int k, fp_error *err)
{
    msg_t m;
    fp_status st = msg_init(&m, MSG_EVAL_REQUEST, self->cfg.run.name, actor_id(actor), err);
    if (st)
        return st;
    uint32_t shape[4], nd = rows_shape(self, shape);
    m.eval_request.layers = self->layers;
    m.eval_request.rows.ndim = nd;
    memcpy(m.eval_request.rows.shape, shape, sizeof shape);
    m.eval_request.rows.data = self->server->w;
    m.round = self->round;
    char id[MSG_ID_CAP];
    actor_client_id(id, (uint32_t)k);
    if (actor_send(actor, id, &m, NULL) == FP_OK) {
        if (!self->evals[k].pending)
            self->evals_pending++;
        self->evals[k] = (eval_slot_t){.pending = true, .seq = m.seq};
    }
    m.eval_request.layers = (msg_u32s_t){0};
    m.eval_request.rows.data = NULL;
    msg_clear(&m);
    return FP_OK;
}

static fp_status start_eval(coordinator_t *self, actor_t *actor, fp_error *err)
{
    int r = (int)self->round, every = self->cfg.eval.every;
    self->evaluated = false;
    self->metric = NAN;
    self->eval_loss_sum = 0;
    bool due = (every > 0 && (r + 1) % every == 0) || r + 1 == self->cfg.run.rounds;
    if (!due)
        return send_save(self, actor, err);
    fp_status st = confusion_init(&self->cm, self->task ? self->task->n_classes : 2, err);
    if (st)
        return st;
    self->phase = PH_EVAL;
    self->phase_started = actor_now_ms();
    self->evals_pending = 0;
    for (int k = 0; !st && k < self->N; k++) {
        char id[MSG_ID_CAP];
        actor_client_id(id, (uint32_t)k);
        self->evals[k] = (eval_slot_t){.gone = true};
        if (actor_peer_alive(actor, id))
            st = send_eval(self, actor, k, err);
    }
    if (st)
        return st;
    return self->evals_pending ? FP_OK : send_save(self, actor, err);
}

static fp_status on_eval_reply(coordinator_t *self, actor_t *actor, const msg_t *m,
                               fp_error *err)
{
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
    if (e->classes != (uint32_t)C) {
        fprintf(stderr, "coordinator: %s evaluated %u classes, the task has %d; left out\n",
                m->from, e->classes, C);
    } else {
        for (int t = 0; t < C; t++)
            for (int p = 0; p < C; p++)
                self->cm.count[t][p] += e->confusion.v[t * C + p];
        self->eval_loss_sum += e->loss * (double)e->n;
        self->evaluated = true;
    }
    return self->evals_pending ? FP_OK : send_save(self, actor, err);
}

/* ---- commit ---- */

static fp_status send_save(coordinator_t *self, actor_t *actor, fp_error *err)
{
    if ((int)self->round == self->stop_before_save) {
        fprintf(stderr, "coordinator: stopping before the SAVE of round %u (as asked)\n",
                self->round);
        self->phase = PH_STOPPED;
        actor_stop(actor, 1);
        return FP_OK;
    }
    fp_status st = start_out(self, actor, MSG_SAVE, "store", PH_SAVE, err);
    msg_save_t *s = &self->out.save;
    self->out.round = self->round;
    if (!st)
        st = msg_client_rows_alloc(&s->clients, (uint32_t)self->Kp, err);
    uint32_t shape[4], nd = rows_shape(self, shape);
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
    s->status = self->round_status;
    s->sampled = (uint32_t)self->Kp;
    double loss_sum = 0;
    uint64_t total_n = 0, slowest = 0;
    for (int i = 0; i < self->Kp; i++) {
        const slot_t *c = &self->slots[i];
        msg_client_row_t *row = &s->clients.v[i];
        row->client = c->client;
        row->status = c->status;
        s->completed += c->status == MSG_CLIENT_OK;
        s->dropped += c->status == MSG_CLIENT_DROPPED;
        s->late += c->status == MSG_CLIENT_LATE;
        if (c->status != MSG_CLIENT_OK)
            continue;
        row->n = c->n, row->steps = c->steps, row->loss = c->loss;
        row->ms = (uint64_t)(c->received - c->sent);
        if (!isnan(c->loss))
            loss_sum += c->loss * (double)c->n;
        total_n += c->n;
        slowest = c->compute_ms > slowest ? c->compute_ms : slowest;
    }
    s->train_loss = total_n ? loss_sum / (double)total_n : 0;
    s->evaluated = self->evaluated;
    if (self->evaluated) {
        uint64_t total = confusion_total(&self->cm);
        self->metric = metric_value(self->task->metric, &self->cm);
        s->eval_metric = self->metric;
        s->eval_loss = total ? self->eval_loss_sum / (double)total : 0;
        s->eval_accuracy = metric_accuracy(&self->cm);
        s->eval_f1 = metric_f1(&self->cm, 1);
        s->eval_mcc = metric_mcc(&self->cm);
    }
    s->bytes_down = self->bytes_down;
    s->bytes_up = self->bytes_up;
    s->wall_ms = (uint64_t)(actor_now_ms() - self->round_started);
    s->slowest_ms = slowest;
    send_out(self, actor);
    return FP_OK;
}

static fp_status on_saved(coordinator_t *self, actor_t *actor, const msg_t *m, fp_error *err)
{
    if (!self->out.seq || m->re != self->out.seq)
        return FP_OK;
    if (self->phase == PH_RUN && m->saved.answers == MSG_RUN) {
        fp_status st = start_out(self, actor, MSG_LOAD, "store", PH_LOAD, err);
        if (!st)
            send_out(self, actor);
        return st;
    }
    if (self->phase == PH_END && m->saved.answers == MSG_RUN) {
        self->phase = PH_STOPPED;
        actor_stop(actor, self->final_status == MSG_RUN_DONE ? 0 : 1);
        return FP_OK;
    }
    if (self->phase != PH_SAVE || m->saved.answers != MSG_SAVE)
        return FP_OK;
    const msg_save_t *s = &self->out.save;
    if (self->log) {
        fprintf(self->log, "round %u  clients %u/%u (dropped %u, late %u)  train loss %.4f  ",
                self->round, s->completed, s->sampled, s->dropped, s->late, s->train_loss);
        if (s->evaluated)
            fprintf(self->log, "eval %s %.4f  ", metric_name(self->task->metric), s->eval_metric);
        fprintf(self->log, "slowest %llu ms  wall %llu ms\n", (unsigned long long)s->slowest_ms,
                (unsigned long long)s->wall_ms);
        fflush(self->log);
    }
    msg_clear(&self->out);
    self->rounds_done++;
    self->round++;
    return next_round_or_end(self, actor, err);
}

static fp_status on_state(coordinator_t *self, actor_t *actor, msg_t *m, fp_error *err)
{
    if (self->phase != PH_LOAD || m->re != self->out.seq)
        return FP_OK;
    fp_status st = FP_OK;
    if (!m->state.found || !m->state.layers.n) {
        /* Nothing committed yet: ask the evaluator for the selection. */
        st = start_out(self, actor, MSG_SCORE_REQUEST, "evaluator", PH_SELECT, err);
        self->out.score_request.batch = (uint32_t)self->cfg.federation.score_batch;
        self->out.score_request.seed = (uint64_t)self->cfg.run.seed;
        if (!st)
            send_out(self, actor);
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
    fprintf(stderr, "coordinator: resuming run %s at round %u\n", self->cfg.run.name,
            self->round);
    msg_clear(&self->out);
    return next_round_or_end(self, actor, err);
}

static fp_status on_selection(coordinator_t *self, actor_t *actor, const msg_t *m,
                              fp_error *err)
{
    if (self->phase != PH_SELECT)
        return FP_OK;
    fp_status st = setup_layout(self, &m->selection.layers, err);
    if (st)
        return st;
    msg_clear(&self->out);
    self->round = self->first_round = 0;
    return next_round_or_end(self, actor, err);
}

/* ---- callbacks ---- */

static fp_status on_start(void *arg, actor_t *actor, bool reconnected, fp_error *err)
{
    coordinator_t *self = arg;
    if (!reconnected && self->phase == PH_RUN && !self->out.type)
        return send_run(self, actor, MSG_RUN_RUNNING, PH_RUN, err);
    /* The broker restarted: anything we wait for may have been lost. Clients that trained
     * already answer a repeated TRAIN from their saved state. */
    if (self->out.type)
        send_out(self, actor);
    if (self->phase == PH_TRAIN)
        return send_train(self, actor, NULL, err);
    for (int k = 0; k < self->N && self->phase == PH_EVAL; k++)
        if (self->evals[k].pending)
            send_eval(self, actor, k, err);
    return FP_OK;
}

static fp_status on_message(void *arg, actor_t *actor, msg_t *msg, size_t bytes, fp_error *err)
{
    coordinator_t *self = arg;
    switch (msg->type) {
    case MSG_SAVED: return on_saved(self, actor, msg, err);
    case MSG_STATE: return on_state(self, actor, msg, err);
    case MSG_SELECTION: return on_selection(self, actor, msg, err);
    case MSG_UPDATE: {
        fp_status st = on_update(self, msg, bytes, msg);
        if (!st && self->phase == PH_TRAIN && (!pending_count(self) || self->n_ok >= self->K))
            st = close_round(self, actor, err);
        return st;
    }
    case MSG_EVAL_REPLY: return on_eval_reply(self, actor, msg, err);
    case MSG_ERROR: {
        const msg_error_t *e = &msg->error;
        if (e->answers == MSG_TRAIN || e->answers == MSG_EVAL_REQUEST) {
            const char *who = e->peer[0] ? e->peer : msg->from;
            if (strcmp(who, ACTOR_BROKER_ID))
                drop_client(self, who,
                            e->code == FP_ESTATE || e->code == FP_ENOTFOUND ? MSG_CLIENT_DROPPED
                                                                            : MSG_CLIENT_ERROR,
                            e->code == FP_ENOTFOUND);
            if (self->phase == PH_TRAIN && !pending_count(self))
                return close_round(self, actor, err);
            if (self->phase == PH_EVAL && !self->evals_pending)
                return send_save(self, actor, err);
            return FP_OK;
        }
        if (self->out.type && e->answers == self->out.type && msg->re == self->out.seq) {
            fprintf(stderr, "coordinator: %s refused %s: %s\n", msg->from,
                    msg_type_name(e->answers), e->text ? e->text : fp_status_name(e->code));
            /* The store refusing our run or round for what it is (another config under the
             * same name, a different committed round) will not change: stop. Anything else
             * (a peer not registered yet, a busy database) is asked again in a second. */
            bool final = strcmp(msg->from, ACTOR_BROKER_ID) &&
                         (e->code == FP_ESTATE || e->code == FP_EINVAL || e->code == FP_EFORMAT);
            if (final)
                return fp_fail(err, e->code, "%s refused %s: %s", msg->from,
                               msg_type_name(e->answers), e->text ? e->text : "");
            self->out_sent = actor_now_ms() - RESEND_MS + 1000; /* resent by the tick */
        }
        return FP_OK;
    }
    default: return FP_OK;
    }
}

/* A client registered (first time, or a restarted process): one the current round or
 * evaluation is waiting for, or lost, is asked again (it answers from its saved state if it
 * had trained the round). */
static fp_status client_back(coordinator_t *self, actor_t *actor, const char *id, fp_error *err)
{
    for (int i = 0; i < self->Kp && self->phase == PH_TRAIN; i++) {
        slot_t *s = &self->slots[i];
        if (strcmp(s->id, id) || !(s->pending || s->gone))
            continue;
        s->pending = true, s->gone = false, s->status = MSG_CLIENT_DROPPED;
        return send_train(self, actor, id, err);
    }
    for (int k = 0; k < self->N && self->phase == PH_EVAL; k++) {
        char cid[MSG_ID_CAP];
        actor_client_id(cid, (uint32_t)k);
        if (!strcmp(cid, id) && (self->evals[k].pending || self->evals[k].gone))
            return send_eval(self, actor, k, err);
    }
    return FP_OK;
}

static fp_status on_peer(void *arg, actor_t *actor, const msg_peer_t *peer, bool alive,
                         fp_error *err)
{
    coordinator_t *self = arg;
    if (peer->role != MSG_ROLE_CLIENT)
        return FP_OK;
    if (alive)
        return client_back(self, actor, peer->id, err);
    drop_client(self, peer->id, MSG_CLIENT_DROPPED, true);
    if (self->phase == PH_TRAIN && !pending_count(self))
        return close_round(self, actor, err);
    if (self->phase == PH_EVAL && !self->evals_pending)
        return send_save(self, actor, err);
    return FP_OK;
}

static fp_status on_tick(void *arg, actor_t *actor, int64_t now, fp_error *err)
{
    coordinator_t *self = arg;
    int64_t deadline_ms = (int64_t)(1000 * self->cfg.federation.round_deadline_s);
    switch (self->phase) {
    case PH_CLIENTS:
        if (count_clients(actor) >= self->N || now - self->phase_started > deadline_ms) {
            self->attempt = 0;
            return start_round(self, actor, err);
        }
        return FP_OK;
    case PH_TRAIN:
        return now > self->deadline ? close_round(self, actor, err) : FP_OK;
    case PH_EVAL:
        return now - self->phase_started > deadline_ms ? send_save(self, actor, err) : FP_OK;
    case PH_STOPPED: return FP_OK;
    default:
        if (self->out.type && now - self->out_sent > RESEND_MS)
            send_out(self, actor);
        return FP_OK;
    }
}

const actor_role_t *coordinator_actor(void)
{
    static const actor_role_t role = {.name = "coordinator", .on_start = on_start,
                                      .on_message = on_message, .on_tick = on_tick,
                                      .on_peer = on_peer};
    return &role;
}
