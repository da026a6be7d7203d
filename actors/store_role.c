/* store.c — the store role's request handler: messages in, storage/ calls, one answer out.
 * It must never write but through storage/ (one transaction per request), never answer a
 * request it could not fully commit with SAVED, and never abort on what a peer sent. */
#include "actors/store_role.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <czmq.h>

#include "actors/round_save.h"
#include "common/little_endian.h"
#include "messages/permissions.h"
#include "storage/store_db.h"

struct store_role {
    store_db_t *db;
    char id[MSG_ID_CAP];
    int keep_checkpoints;
    msg_limits limits;
    int busy_limit_ms;  /* writes finding the database locked this long are answered final */
    int64_t busy_since; /* when the current run of busy failures began (ms); 0 = not busy */
};

/* ---- little-endian blobs ---- */

fp_status store_role_rows_blob(const msg_tensor_t *rows, uint8_t **blob, size_t *size,
                               fp_error *err)
{
    *blob = NULL;
    *size = 0;
    if (rows->ndim < 1 || rows->ndim > MSG_TENSOR_MAX_DIMS)
        return fp_fail(err, FP_EINVAL, "rows tensor has %u dimensions", rows->ndim);
    size_t count = msg_tensor_count(rows);
    size_t n = 4 + 4 * (size_t)rows->ndim + 4 * count;
    uint8_t *p = malloc(n);
    if (!p)
        return fp_fail(err, FP_ENOMEM, "no memory for a %zu-byte rows blob", n);
    le_put_u32(p, rows->ndim);
    for (uint32_t d = 0; d < rows->ndim; d++)
        le_put_u32(p + 4 + 4 * d, rows->shape[d]);
    uint8_t *data = p + 4 + 4 * rows->ndim;
    for (size_t i = 0; i < count; i++)
        le_put_f32(data + 4 * i, rows->data[i]);
    *blob = p;
    *size = n;
    return FP_OK;
}

fp_status store_role_rows_parse(const void *blob, size_t size, msg_tensor_t *rows, fp_error *err)
{
    const uint8_t *p = blob;
    if (size < 4)
        return fp_fail(err, FP_EFORMAT, "rows blob of %zu bytes has no header", size);
    uint32_t ndim = le_get_u32(p);
    if (ndim < 1 || ndim > MSG_TENSOR_MAX_DIMS || size < 4 + 4 * (size_t)ndim)
        return fp_fail(err, FP_EFORMAT, "rows blob: %u dimensions in %zu bytes", ndim, size);
    uint32_t shape[MSG_TENSOR_MAX_DIMS];
    size_t count = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        shape[d] = le_get_u32(p + 4 + 4 * d);
        if (shape[d] == 0 || count > SIZE_MAX / 4 / shape[d])
            return fp_fail(err, FP_EFORMAT, "rows blob: dimension %u is %u", d, shape[d]);
        count *= shape[d];
    }
    size_t head = 4 + 4 * (size_t)ndim;
    if ((size - head) / 4 != count || (size - head) % 4)
        return fp_fail(err, FP_EFORMAT, "rows blob: %zu data bytes for %zu floats", size - head,
                       count);
    fp_status st = msg_tensor_alloc(rows, ndim, shape, err);
    if (st)
        return st;
    for (size_t i = 0; i < count; i++)
        rows->data[i] = le_get_f32(p + head + 4 * i);
    return FP_OK;
}

int32_t store_role_client_index(const char *actor_id)
{
    size_t n = actor_id ? strlen(actor_id) : 0, i = n;
    while (i > 0 && actor_id[i - 1] >= '0' && actor_id[i - 1] <= '9')
        i--;
    if (i == n || i < 2 || (actor_id[i - 1] != '.' && actor_id[i - 1] != '-') || n - i > 10)
        return -1;
    long long v = strtoll(actor_id + i, NULL, 10);
    return v > INT32_MAX ? -1 : (int32_t)v;
}

/* ---- lifecycle ---- */

/* mkdir -p of the folder holding path (nothing for a bare file name). */
static fp_status make_parent(const char *path, fp_error *err)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return FP_OK;
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir)
        return fp_fail(err, FP_ELIMIT, "%s: path too long", path);
    memcpy(dir, path, n);
    dir[n] = '\0';
    for (size_t i = 1; i <= n; i++) {
        if (dir[i] != '/' && dir[i] != '\0')
            continue;
        char keep = dir[i];
        dir[i] = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            return fp_fail(err, FP_EIO, "cannot create folder %s for %s: %s", dir, path,
                           strerror(errno));
        dir[i] = keep;
    }
    return FP_OK;
}

store_role_t *store_role_new(const store_role_options_t *options, fp_error *err)
{
    if (!options || !options->db_path || !*options->db_path || options->keep_checkpoints < 0) {
        fp_fail(err, FP_EINVAL, "store: a database path and keep_checkpoints >= 0 are needed");
        return NULL;
    }
    store_role_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "store: no memory");
        return NULL;
    }
    self->keep_checkpoints =
        options->keep_checkpoints ? options->keep_checkpoints : STORE_KEEP_CHECKPOINTS_DEFAULT;
    self->limits = options->limits ? *options->limits : msg_limits_default();
    self->busy_limit_ms = options->busy_limit_ms;
    const char *env = getenv(STORE_BUSY_LIMIT_ENV);
    if (self->busy_limit_ms <= 0 && env && atoi(env) > 0)
        self->busy_limit_ms = atoi(env);
    if (self->busy_limit_ms <= 0)
        self->busy_limit_ms = STORE_BUSY_LIMIT_MS_DEFAULT;
    if (msg_set_id(self->id, options->id ? options->id : "store", err) ||
        make_parent(options->db_path, err) ||
        store_db_open(&self->db, options->db_path, STORE_DB_CREATE, err)) {
        free(self);
        return NULL;
    }
    /* One try waits at most a second for the lock (the peers re-send meanwhile, and a try
     * that blocks longer lets their copies pile up), and never more than half the bound. */
    int wait = self->busy_limit_ms / 2;
    store_db_set_busy_timeout(self->db, wait < 1000 ? wait : 1000);
    return self;
}

void store_role_destroy(store_role_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_db_close(&(*self_p)->db);
    free(*self_p);
    *self_p = NULL;
}

/* ---- requests ---- */

static fp_status to_i32(uint64_t v, const char *what, int32_t *out, fp_error *err)
{
    if (v > INT32_MAX)
        return fp_fail(err, FP_EINVAL, "%s = %llu does not fit the database", what,
                       (unsigned long long)v);
    *out = (int32_t)v;
    return FP_OK;
}

/* The run named by the request's header. */
static fp_status find_run(store_role_t *self, const msg_t *m, int64_t *run_id, fp_error *err)
{
    if (!m->run[0])
        return fp_fail(err, FP_EINVAL, "%s without a run", msg_type_name(m->type));
    store_run run = {0};
    fp_status st = store_db_run_find(self->db, m->run, &run, err);
    *run_id = run.id;
    store_run_clear(&run);
    return st;
}

static fp_status handle_run(store_role_t *self, const msg_t *m, fp_error *err)
{
    const msg_run_t *r = &m->run_row;
    store_run_spec spec = {.name = m->run,
                           .config = r->config ? r->config : "",
                           .model = r->model,
                           .task = r->task,
                           .strategy = r->strategy,
                           .seed = r->seed};
    if (!m->run[0])
        return fp_fail(err, FP_EINVAL, "RUN without a run name");
    int64_t run_id = 0;
    fp_status st = store_db_run_begin(self->db, &spec, &run_id, NULL, err);
    if (st || r->status == MSG_RUN_RUNNING)
        return st;
    store_run_status to = r->status == MSG_RUN_DONE ? STORE_RUN_FINISHED : STORE_RUN_FAILED;
    return store_db_run_set_status_reason(self->db, run_id, to,
                                          to == STORE_RUN_FAILED ? r->reason : NULL, err);
}

/* A SAVE client row as stored: only an ok row's n, steps, loss and ms happened; the others are
 * NULL (store_client_round_make, simulate's rule too) rather than the 0 the wire carries. */
static fp_status handle_save(store_role_t *self, const msg_t *m, fp_error *err)
{
    const msg_save_t *s = &m->save;
    int64_t run_id = 0;
    store_round round;
    store_client_round *clients = NULL;
    fp_status st = find_run(self, m, &run_id, err);
    if (!st)
        st = round_save_rows(m, &round, &clients, err);
    uint8_t *prompt = NULL, rng[32];
    size_t prompt_size = 0;
    if (!st)
        st = store_role_rows_blob(&s->rows, &prompt, &prompt_size, err);
    for (int i = 0; i < 4; i++)
        le_put_u64(rng + 8 * i, s->rng[i]);
    bool duplicate = false;
    if (!st) {
        store_checkpoint_blobs ckpt = {
            .prompt = {prompt, prompt_size},
            .server_state = {s->server_state.data, s->server_state.n},
            .rng = {rng, sizeof rng},
        };
        st = store_db_round_commit(self->db, run_id, &round, clients, s->clients.n, &ckpt,
                                   &duplicate, err);
    }
    free(prompt);
    free(clients);
    if (!st && !duplicate) {
        /* The round is committed and will be acknowledged; a failed prune only leaves older
         * checkpoints behind for the next one to delete. */
        fp_error perr = {0};
        if (store_db_checkpoints_prune(self->db, run_id, self->keep_checkpoints, &perr))
            zsys_warning("store: pruning checkpoints of run %s: %s", m->run, perr.msg);
    }
    return st;
}

static fp_status handle_save_client(store_role_t *self, const msg_t *m, fp_error *err)
{
    int32_t client = store_role_client_index(m->from), round = 0;
    if (client < 0)
        return fp_fail(err, FP_EINVAL, "SAVE_CLIENT from '%s': not a client id (client.K)",
                       m->from);
    int64_t run_id = 0;
    fp_status st = find_run(self, m, &run_id, err);
    if (!st)
        st = to_i32(m->round, "round", &round, err);
    if (st)
        return st;
    store_blob state = {m->save_client.state.data, m->save_client.state.n};
    return store_db_client_state_save(self->db, run_id, client, round, state, (store_blob){NULL, 0},
                                      err);
}

static fp_status handle_selection(store_role_t *self, const msg_t *m, fp_error *err)
{
    const msg_selection_t *sel = &m->selection;
    int64_t run_id = 0;
    fp_status st = find_run(self, m, &run_id, err);
    if (st)
        return st;
    size_t n = sel->num_layers;
    double *score = malloc(n * sizeof *score);
    bool *selected = calloc(n, sizeof *selected);
    if (!score || !selected) {
        st = fp_fail(err, FP_ENOMEM, "no memory for %zu layers", n);
    } else {
        for (size_t l = 0; l < n; l++)
            score[l] = l < sel->scores.n ? sel->scores.v[l] : NAN;
        for (uint32_t i = 0; i < sel->layers.n && !st; i++) {
            if (sel->layers.v[i] >= n)
                st = fp_fail(err, FP_EINVAL, "SELECTION: layer %u >= %zu", sel->layers.v[i], n);
            else
                selected[sel->layers.v[i]] = true;
        }
        if (!st)
            st = store_db_layers_save(self->db, run_id, score, selected, n, err);
    }
    free(score);
    free(selected);
    return st;
}

/* STATE for the run's checkpoint: rows, server state, rng, and the selected layers. */
static fp_status load_checkpoint(store_role_t *self, int64_t run_id, msg_t *reply, fp_error *err)
{
    store_checkpoint ckpt = {0};
    fp_status st = store_db_checkpoint_latest(self->db, run_id, &ckpt, err);
    if (st == FP_ENOTFOUND)
        return FP_OK;
    store_layer *layers = NULL;
    size_t n_layers = 0, n_selected = 0;
    if (!st)
        st = store_db_layers_load(self->db, run_id, &layers, &n_layers, err);
    for (size_t l = 0; l < n_layers; l++)
        n_selected += layers[l].selected;
    msg_state_t *state = &reply->state;
    if (!st && n_selected) {
        st = msg_u32s_alloc(&state->layers, (uint32_t)n_selected, err);
        for (size_t l = 0, i = 0; !st && l < n_layers; l++)
            if (layers[l].selected)
                state->layers.v[i++] = (uint32_t)layers[l].layer;
    }
    if (!st)
        st = store_role_rows_parse(ckpt.prompt.data, ckpt.prompt.size, &state->rows, err);
    if (!st && ckpt.server_state.size)
        st = msg_blob_copy(&state->server_state, ckpt.server_state.data, ckpt.server_state.size,
                           err);
    if (!st && ckpt.rng.size != 32)
        st = fp_fail(err, FP_EFORMAT, "rng blob of %zu bytes, 32 expected", ckpt.rng.size);
    for (int i = 0; !st && i < 4; i++)
        state->rng[i] = le_get_u64((const uint8_t *)ckpt.rng.data + 8 * i);
    if (!st) {
        state->found = true;
        reply->round = (uint32_t)ckpt.round;
    } else if (st == FP_EFORMAT) {
        st = fp_wrap(err, "checkpoint of round %d: ", ckpt.round);
    }
    free(layers);
    store_checkpoint_clear(&ckpt);
    return st;
}

static fp_status load_client(store_role_t *self, int64_t run_id, const char *id, msg_t *reply,
                             fp_error *err)
{
    int32_t client = store_role_client_index(id);
    if (client < 0)
        return fp_fail(err, FP_EINVAL, "LOAD of '%s': not a client id (client.K)", id);
    store_client_state cs = {0};
    fp_status st = store_db_client_state_load(self->db, run_id, client, &cs, err);
    if (st == FP_ENOTFOUND)
        return FP_OK;
    if (!st && cs.prompt.size)
        st = msg_blob_copy(&reply->state.client_state, cs.prompt.data, cs.prompt.size, err);
    if (!st) {
        reply->state.found = true;
        reply->round = (uint32_t)cs.round;
    }
    store_client_state_clear(&cs);
    return st;
}

/* LOAD: found = false (not an error) when the run or the state does not exist yet. */
static fp_status handle_load(store_role_t *self, const msg_t *m, msg_t *reply, fp_error *err)
{
    reply->round = 0;
    int64_t run_id = 0;
    fp_status st = find_run(self, m, &run_id, err);
    if (st == FP_ENOTFOUND)
        return FP_OK;
    if (st)
        return st;
    if (!m->load.client[0])
        return load_checkpoint(self, run_id, reply, err);
    return load_client(self, run_id, m->load.client, reply, err);
}

/* The reply header; a request whose run is not a valid id gets an answer without one. */
static fp_status reply_init(store_role_t *self, const msg_t *m, msg_type type, msg_t *reply,
                            fp_error *err)
{
    if (msg_init(reply, type, m->run, self->id, NULL) && msg_init(reply, type, "", self->id, err))
        return err ? err->status : FP_EINVAL;
    reply->re = m->seq;
    reply->round = m->round;
    return FP_OK;
}

static fp_status reply_error(store_role_t *self, const msg_t *m, const fp_error *why, bool final,
                             msg_t *reply, fp_error *err)
{
    msg_clear(reply);
    fp_status st = reply_init(self, m, MSG_ERROR, reply, err);
    if (st)
        return st;
    reply->error.code = why->status != FP_OK ? why->status : FP_EINVAL;
    reply->error.answers = (unsigned)m->type < MSG_TYPE_COUNT ? m->type : MSG_NONE;
    reply->error.final = final;
    return msg_set_text(&reply->error.text, why->msg, err);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether the failure of a request that started at t0 is final; says why in `why`. A busy
 * database is retryable until writes have found it locked for busy_limit_ms. */
static bool failure_is_final(store_role_t *self, int64_t t0, fp_error *why)
{
    switch (store_db_take_failure(self->db)) {
    case STORE_DB_FINAL:
        return true;
    case STORE_DB_BUSY: {
        if (!self->busy_since)
            self->busy_since = t0;
        int64_t locked = mono_ms() - self->busy_since;
        if (locked < self->busy_limit_ms)
            return false;
        char was[sizeof why->msg];
        snprintf(was, sizeof was, "%s", why->msg);
        fp_fail(why, why->status,
                "%.160s (the database has been locked by another connection "
                "for %lld ms, beyond the store's limit of %d ms)",
                was, (long long)locked, self->busy_limit_ms);
        return true;
    }
    default:
        return false;
    }
}

fp_status store_role_handle(store_role_t *self, const msg_t *request, msg_t *reply, fp_error *err)
{
    msg_clear(reply);
    msg_type type = request->type;
    /* Notices and answers addressed to us are never answered: two peers could bounce ERRORs. */
    if (type == MSG_ERROR || type == MSG_SAVED || type == MSG_STATE || type == MSG_DIRECTORY ||
        type == MSG_WELCOME || type == MSG_HEARTBEAT || type == MSG_BYE || type == MSG_NONE ||
        (unsigned)type >= MSG_TYPE_COUNT)
        return FP_OK;

    fp_error why = {0};
    int64_t t0 = mono_ms();
    fp_status st = msg_validate(request, &self->limits, &why);
    msg_type answer = type == MSG_LOAD ? MSG_STATE : MSG_SAVED;
    if (!st) {
        st = reply_init(self, request, answer, reply, err);
        if (st)
            return st;
    }
    if (!st) {
        switch (type) {
        case MSG_RUN:
            st = handle_run(self, request, &why);
            break;
        case MSG_SAVE:
            st = handle_save(self, request, &why);
            break;
        case MSG_SAVE_CLIENT:
            st = handle_save_client(self, request, &why);
            break;
        case MSG_SELECTION:
            st = handle_selection(self, request, &why);
            break;
        case MSG_LOAD:
            st = handle_load(self, request, reply, &why);
            break;
        default:
            st = fp_fail(&why, FP_EINVAL, "the store does not handle %s", msg_type_name(type));
        }
    }
    if (st)
        return reply_error(self, request, &why, failure_is_final(self, t0, &why), reply, err);
    store_db_take_failure(self->db); /* e.g. a failed prune after a commit: logged, not ours */
    if (answer == MSG_SAVED) {
        reply->saved.answers = type;
        self->busy_since = 0; /* a write went through: the lock is gone */
    }
    return FP_OK;
}

bool store_role_error_is_final(const msg_error_t *e)
{
    return e->final || !(e->code == FP_EDB || e->code == FP_EIO || e->code == FP_ENOMEM ||
                         e->code == FP_ETIMEOUT || e->code == FP_ENET);
}

bool store_role_may_serve(const msg_t *request, char *why, size_t n)
{
    if (request->type != MSG_LOAD)
        return true;
    const char *want = request->load.client;
    if (!want[0] && msg_id_role(request->from, NULL) != MSG_ROLE_COORDINATOR) {
        snprintf(why, n, "LOAD of the run's checkpoint: only the coordinator may load it");
        return false;
    }
    if (want[0] && strcmp(want, request->from)) {
        snprintf(why, n, "LOAD of %s's state: a client may load only its own", want);
        return false;
    }
    return true;
}

/* ---- the actor role ---- */

static fp_status store_on_message(void *self, actor_t *actor, msg_t *msg, size_t bytes,
                                  fp_error *err)
{
    (void)bytes;
    if (msg->type == MSG_ERROR) {
        /* An answer of ours the broker could not deliver (the requester's queue is full, or it
         * is gone): as many as our answers, so rate-limited per sender and code. */
        char key[MSG_ID_CAP + 16], why[320];
        snprintf(key, sizeof key, "%s %s", msg->from, fp_status_name(msg->error.code));
        snprintf(why, sizeof why, "about %s: %s", msg_type_name(msg->error.answers),
                 msg->error.text ? msg->error.text : "");
        actor_warn(actor, ACTOR_WARN_ERROR, key, why);
        return FP_OK;
    }
    char refusal[160];
    if (!store_role_may_serve(msg, refusal, sizeof refusal)) {
        actor_warn(actor, ACTOR_WARN_REFUSED, msg->from, refusal);
        actor_reply_error(actor, msg, FP_EINVAL, refusal);
        return FP_OK;
    }
    msg_t reply = {0};
    fp_status st = store_role_handle(self, msg, &reply, err);
    if (st)
        return st; /* out of memory building a reply: stop rather than go silent */
    if (reply.type == MSG_ERROR)
        zsys_warning("store: %s from %s (run %s, round %u) refused: %s %s",
                     msg_type_name(msg->type), msg->from, msg->run, msg->round,
                     fp_status_name(reply.error.code), reply.error.text);
    if (reply.type != MSG_NONE) {
        fp_error send_err = {0};
        if (actor_send(actor, msg->from, &reply, &send_err)) {
            char why[sizeof send_err.msg + 16];
            snprintf(why, sizeof why, "%s: %s", msg_type_name(reply.type), send_err.msg);
            actor_warn(actor, ACTOR_WARN_UNSENT, msg->from, why);
        }
    }
    msg_clear(&reply);
    return FP_OK;
}

static const actor_role_t STORE_ROLE = {
    .name = "store",
    .on_message = store_on_message,
};

const actor_role_t *store_role_actor(void)
{
    return &STORE_ROLE;
}
