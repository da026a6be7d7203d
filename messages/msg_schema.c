/* msg_schema.c — the field tables of every message type, the enum name tables and the
 * cross-field rules. This file is the protocol in data form: it must stay in step with the
 * structs of protocol.h and with docs/protocol.md, and it must never do I/O. */
#include "messages/msg_schema.h"

#include <math.h>
#include <string.h>

/* ---- names ---- */

static const char *const TYPE_NAMES[MSG_TYPE_COUNT] = {
    [MSG_NONE] = "NONE",
    [MSG_HELLO] = "HELLO",
    [MSG_WELCOME] = "WELCOME",
    [MSG_HEARTBEAT] = "HEARTBEAT",
    [MSG_BYE] = "BYE",
    [MSG_DIRECTORY_REQUEST] = "DIRECTORY_REQUEST",
    [MSG_DIRECTORY] = "DIRECTORY",
    [MSG_SCORE_REQUEST] = "SCORE_REQUEST",
    [MSG_SCORE_REPLY] = "SCORE_REPLY",
    [MSG_SELECTION] = "SELECTION",
    [MSG_TRAIN] = "TRAIN",
    [MSG_UPDATE] = "UPDATE",
    [MSG_EVAL_REQUEST] = "EVAL_REQUEST",
    [MSG_EVAL_REPLY] = "EVAL_REPLY",
    [MSG_RUN] = "RUN",
    [MSG_SAVE] = "SAVE",
    [MSG_SAVE_CLIENT] = "SAVE_CLIENT",
    [MSG_SAVED] = "SAVED",
    [MSG_LOAD] = "LOAD",
    [MSG_STATE] = "STATE",
    [MSG_ERROR] = "ERROR",
    [MSG_PEER_STATE] = "PEER_STATE",
};

static const char *const ROLE_NAMES[MSG_ROLE_COUNT] = {
    [MSG_ROLE_ANY] = "any",
    [MSG_ROLE_BROKER] = "broker",
    [MSG_ROLE_COORDINATOR] = "coordinator",
    [MSG_ROLE_CLIENT] = "client",
    [MSG_ROLE_EVALUATOR] = "evaluator",
    [MSG_ROLE_STORE] = "store",
    [MSG_ROLE_LAUNCHER] = "launcher",
};

static const char *const CLIENT_STATUS_NAMES[MSG_CLIENT_STATUS_COUNT] = {
    [MSG_CLIENT_OK] = "ok",
    [MSG_CLIENT_DROPPED] = "dropped",
    [MSG_CLIENT_LATE] = "late",
    [MSG_CLIENT_ERROR] = "error",
};

static const char *const ROUND_STATUS_NAMES[MSG_ROUND_STATUS_COUNT] = {
    [MSG_ROUND_OK] = "ok", [MSG_ROUND_FAILED] = "failed"};

static const char *const RUN_STATUS_NAMES[MSG_RUN_STATUS_COUNT] = {
    [MSG_RUN_RUNNING] = "running", [MSG_RUN_DONE] = "done", [MSG_RUN_FAILED] = "failed"};

const char *msg_type_name(msg_type type)
{
    return (unsigned)type < MSG_TYPE_COUNT ? TYPE_NAMES[type] : "?";
}

msg_type msg_type_from_name(const char *s)
{
    for (int t = 1; t < MSG_TYPE_COUNT; t++)
        if (strcmp(s, TYPE_NAMES[t]) == 0)
            return (msg_type)t;
    return MSG_NONE;
}

const char *msg_role_name(msg_role role)
{
    return (unsigned)role < MSG_ROLE_COUNT ? ROLE_NAMES[role] : "?";
}

const char *msg_client_status_name(msg_client_status status)
{
    return (unsigned)status < MSG_CLIENT_STATUS_COUNT ? CLIENT_STATUS_NAMES[status] : "?";
}

const char *msg_round_status_name(msg_round_status status)
{
    return (unsigned)status < MSG_ROUND_STATUS_COUNT ? ROUND_STATUS_NAMES[status] : "?";
}

const char *msg_run_status_name(msg_run_status status)
{
    return (unsigned)status < MSG_RUN_STATUS_COUNT ? RUN_STATUS_NAMES[status] : "?";
}

/* Adapters to one signature for the FK_ENUM tables. */
static const char *type_name_int(int v)
{
    return msg_type_name((msg_type)v);
}
static const char *role_name_int(int v)
{
    return msg_role_name((msg_role)v);
}
static const char *client_status_int(int v)
{
    return msg_client_status_name(v);
}
static const char *round_status_int(int v)
{
    return msg_round_status_name(v);
}
static const char *run_status_int(int v)
{
    return msg_run_status_name(v);
}
static const char *fp_status_int(int v)
{
    return fp_status_name((fp_status)v);
}

_Static_assert(sizeof(msg_type) == sizeof(int) && sizeof(msg_role) == sizeof(int) &&
                   sizeof(fp_status) == sizeof(int) && sizeof(msg_client_status) == sizeof(int),
               "FK_ENUM stores enums as int");

/* ---- field tables ---- */

#define MOFF(member) offsetof(msg_t, member)
#define SCALAR(k, kind_, member)                                                                   \
    {                                                                                              \
        .key = k, .kind = kind_, .off = MOFF(member)                                               \
    }
#define FLAGGED(k, kind_, member, fl)                                                              \
    {                                                                                              \
        .key = k, .kind = kind_, .off = MOFF(member), .flags = fl                                  \
    }
#define ENUM(k, member, fn, lo, count)                                                             \
    {                                                                                              \
        .key = k, .kind = FK_ENUM, .off = MOFF(member), .enum_name = fn, .enum_min = lo,           \
        .enum_count = count                                                                        \
    }
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const field_t MSG_HEADER_FIELDS[5] = {
    SCALAR("run", FK_ID, run),      FLAGGED("from", FK_ID, from, FF_NONEMPTY),
    SCALAR("seq", FK_U64, seq),     SCALAR("re", FK_U64, re),
    SCALAR("round", FK_U32, round),
};

static const field_t HELLO_FIELDS[] = {
    ENUM("role", hello.role, role_name_int, MSG_ROLE_BROKER, MSG_ROLE_COUNT),
    SCALAR("index", FK_U32, hello.index),
    SCALAR("pid", FK_U32, hello.pid),
    FLAGGED("software", FK_ID, hello.software, FF_NONEMPTY),
};

static const field_t WELCOME_FIELDS[] = {
    SCALAR("heartbeat_ms", FK_U32, welcome.heartbeat_ms),
    SCALAR("liveness", FK_U32, welcome.liveness),
    SCALAR("epoch", FK_U64, welcome.epoch),
};

static const field_t BYE_FIELDS[] = {
    FLAGGED("reason", FK_TEXT, bye.reason, FF_OPTIONAL),
};

static const field_t DIRECTORY_REQUEST_FIELDS[] = {
    ENUM("role", directory_request.role, role_name_int, MSG_ROLE_ANY, MSG_ROLE_COUNT),
};

#define POFF(member) offsetof(msg_peer_t, member)
static const field_t PEER_FIELDS[] = {
    {.key = "id", .kind = FK_ID, .off = POFF(id), .flags = FF_NONEMPTY},
    {.key = "role",
     .kind = FK_ENUM,
     .off = POFF(role),
     .enum_name = role_name_int,
     .enum_min = MSG_ROLE_BROKER,
     .enum_count = MSG_ROLE_COUNT},
    {.key = "index", .kind = FK_U32, .off = POFF(index)},
    {.key = "idle_ms", .kind = FK_U64, .off = POFF(idle_ms)},
};
static const schema_t PEER_SCHEMA = {"peer", PEER_FIELDS, COUNT(PEER_FIELDS), sizeof(msg_peer_t),
                                     NULL};

static const field_t DIRECTORY_FIELDS[] = {
    {.key = "peers", .kind = FK_RECORDS, .off = MOFF(directory.peers), .sub = &PEER_SCHEMA},
};

static const field_t PEER_STATE_FIELDS[] = {
    FLAGGED("id", FK_ID, peer_state.id, FF_NONEMPTY),
    ENUM("role", peer_state.role, role_name_int, MSG_ROLE_BROKER, MSG_ROLE_COUNT),
    SCALAR("index", FK_U32, peer_state.index),
    SCALAR("alive", FK_BOOL, peer_state.alive),
};

static const field_t SCORE_REQUEST_FIELDS[] = {
    SCALAR("batch", FK_U32, score_request.batch),
    SCALAR("seed", FK_U64, score_request.seed),
};

static const field_t SCORE_REPLY_FIELDS[] = {
    FLAGGED("scores", FK_F64S, score_reply.scores, FF_NONEMPTY),
    SCALAR("n", FK_U64, score_reply.n),
    SCALAR("batch", FK_U32, score_reply.batch),
};

static const field_t SELECTION_FIELDS[] = {
    SCALAR("num_layers", FK_U32, selection.num_layers),
    FLAGGED("layers", FK_U32S, selection.layers, FF_NONEMPTY),
    FLAGGED("scores", FK_F64S, selection.scores, FF_OPTIONAL),
};

static const field_t TRAIN_FIELDS[] = {
    FLAGGED("layers", FK_U32S, train.layers, FF_NONEMPTY),
    FLAGGED("widths", FK_U32S, train.widths, FF_OPTIONAL),
    SCALAR("rows", FK_TENSOR, train.rows),
    FLAGGED("control", FK_TENSOR, train.control, FF_OPTIONAL),
    SCALAR("deadline_ms", FK_U32, train.deadline_ms),
    SCALAR("epochs", FK_U32, train.epochs),
    SCALAR("max_steps", FK_U32, train.max_steps),
    SCALAR("batch", FK_U32, train.batch),
    SCALAR("lr", FK_F64, train.lr),
    SCALAR("lr_step", FK_U64, train.lr_step),
    SCALAR("lr_total", FK_U64, train.lr_total),
    SCALAR("prox_mu", FK_F64, train.prox_mu),
    SCALAR("seed", FK_U64, train.seed),
    FLAGGED("attempt", FK_U32, train.attempt, FF_OPTIONAL),
};

static const field_t UPDATE_FIELDS[] = {
    SCALAR("rows", FK_TENSOR, update.rows),
    FLAGGED("control_delta", FK_TENSOR, update.control_delta, FF_OPTIONAL),
    SCALAR("n", FK_U64, update.n),
    SCALAR("steps", FK_U32, update.steps),
    SCALAR("loss", FK_F64, update.loss),
    SCALAR("compute_ms", FK_U64, update.compute_ms),
    SCALAR("wall_ms", FK_U64, update.wall_ms),
    FLAGGED("cpu_measured", FK_BOOL, update.cpu_measured, FF_OPTIONAL),
    FLAGGED("cpu_ms", FK_U64, update.cpu_ms, FF_OPTIONAL),
};

static const field_t EVAL_REQUEST_FIELDS[] = {
    FLAGGED("layers", FK_U32S, eval_request.layers, FF_NONEMPTY),
    FLAGGED("widths", FK_U32S, eval_request.widths, FF_OPTIONAL),
    SCALAR("rows", FK_TENSOR, eval_request.rows),
};

static const field_t EVAL_REPLY_FIELDS[] = {
    SCALAR("n", FK_U64, eval_reply.n),
    SCALAR("loss", FK_F64, eval_reply.loss),
    SCALAR("classes", FK_U32, eval_reply.classes),
    FLAGGED("confusion", FK_U64S, eval_reply.confusion, FF_NONEMPTY),
    SCALAR("wall_ms", FK_U64, eval_reply.wall_ms),
};

static const field_t RUN_FIELDS[] = {
    ENUM("status", run_row.status, run_status_int, 0, MSG_RUN_STATUS_COUNT),
    FLAGGED("config", FK_TEXT, run_row.config, FF_OPTIONAL),
    FLAGGED("model", FK_ID, run_row.model, FF_NONEMPTY),
    FLAGGED("task", FK_ID, run_row.task, FF_NONEMPTY),
    FLAGGED("strategy", FK_ID, run_row.strategy, FF_NONEMPTY),
    SCALAR("seed", FK_U64, run_row.seed),
    SCALAR("clients", FK_U32, run_row.clients),
    SCALAR("rounds", FK_U32, run_row.rounds),
    FLAGGED("reason", FK_TEXT, run_row.reason, FF_OPTIONAL),
};

#define COFF(member) offsetof(msg_client_row_t, member)
static const field_t CLIENT_ROW_FIELDS[] = {
    {.key = "client", .kind = FK_U32, .off = COFF(client)},
    {.key = "status",
     .kind = FK_ENUM,
     .off = COFF(status),
     .enum_name = client_status_int,
     .enum_min = 0,
     .enum_count = MSG_CLIENT_STATUS_COUNT},
    {.key = "n", .kind = FK_U64, .off = COFF(n)},
    {.key = "steps", .kind = FK_U32, .off = COFF(steps)},
    {.key = "loss", .kind = FK_F64, .off = COFF(loss)},
    {.key = "ms", .kind = FK_U64, .off = COFF(ms)},
};
static const schema_t CLIENT_ROW_SCHEMA = {
    "client row", CLIENT_ROW_FIELDS, COUNT(CLIENT_ROW_FIELDS), sizeof(msg_client_row_t), NULL};

static const field_t SAVE_FIELDS[] = {
    ENUM("status", save.status, round_status_int, 0, MSG_ROUND_STATUS_COUNT),
    SCALAR("sampled", FK_U32, save.sampled),
    SCALAR("completed", FK_U32, save.completed),
    SCALAR("dropped", FK_U32, save.dropped),
    SCALAR("late", FK_U32, save.late),
    SCALAR("train_loss", FK_F64, save.train_loss),
    SCALAR("evaluated", FK_BOOL, save.evaluated),
    SCALAR("eval_metric", FK_F64, save.eval_metric),
    SCALAR("eval_loss", FK_F64, save.eval_loss),
    SCALAR("eval_accuracy", FK_F64, save.eval_accuracy),
    SCALAR("eval_f1", FK_F64, save.eval_f1),
    SCALAR("eval_mcc", FK_F64, save.eval_mcc),
    SCALAR("bytes_down", FK_U64, save.bytes_down),
    SCALAR("bytes_up", FK_U64, save.bytes_up),
    SCALAR("wall_ms", FK_U64, save.wall_ms),
    SCALAR("slowest_ms", FK_U64, save.slowest_ms),
    {.key = "clients", .kind = FK_RECORDS, .off = MOFF(save.clients), .sub = &CLIENT_ROW_SCHEMA},
    SCALAR("rows", FK_TENSOR, save.rows),
    FLAGGED("server_state", FK_BLOB, save.server_state, FF_OPTIONAL),
    SCALAR("rng", FK_RNG, save.rng),
    FLAGGED("retries", FK_U32, save.retries, FF_OPTIONAL),
    FLAGGED("reason", FK_TEXT, save.reason, FF_OPTIONAL),
    FLAGGED("cpu_measured", FK_BOOL, save.cpu_measured, FF_OPTIONAL),
    FLAGGED("client_cpu_ms", FK_U64, save.cpu_ms, FF_OPTIONAL),
    FLAGGED("client_cpu_max_ms", FK_U64, save.cpu_max_ms, FF_OPTIONAL),
    FLAGGED("global_evaluated", FK_BOOL, save.global_evaluated, FF_OPTIONAL),
    FLAGGED("global_metric", FK_F64, save.global_metric, FF_OPTIONAL),
    FLAGGED("global_loss", FK_F64, save.global_loss, FF_OPTIONAL),
    FLAGGED("global_accuracy", FK_F64, save.global_accuracy, FF_OPTIONAL),
    FLAGGED("global_f1", FK_F64, save.global_f1, FF_OPTIONAL),
    FLAGGED("global_mcc", FK_F64, save.global_mcc, FF_OPTIONAL),
};

static const field_t SAVE_CLIENT_FIELDS[] = {
    FLAGGED("state", FK_BLOB, save_client.state, FF_NONEMPTY),
};

static const field_t SAVED_FIELDS[] = {
    ENUM("answers", saved.answers, type_name_int, 1, MSG_TYPE_COUNT),
};

static const field_t LOAD_FIELDS[] = {
    SCALAR("client", FK_ID, load.client),
};

static const field_t STATE_FIELDS[] = {
    SCALAR("found", FK_BOOL, state.found),
    FLAGGED("layers", FK_U32S, state.layers, FF_OPTIONAL),
    FLAGGED("rows", FK_TENSOR, state.rows, FF_OPTIONAL),
    FLAGGED("server_state", FK_BLOB, state.server_state, FF_OPTIONAL),
    FLAGGED("client_state", FK_BLOB, state.client_state, FF_OPTIONAL),
    SCALAR("rng", FK_RNG, state.rng),
};

static const field_t ERROR_FIELDS[] = {
    ENUM("code", error.code, fp_status_int, 1, FP_STATUS_COUNT),
    ENUM("answers", error.answers, type_name_int, 0, MSG_TYPE_COUNT),
    FLAGGED("peer", FK_ID, error.peer, FF_OPTIONAL),
    FLAGGED("text", FK_TEXT, error.text, FF_OPTIONAL),
    FLAGGED("final", FK_BOOL, error.final, FF_OPTIONAL),
};

/* ---- cross-field rules ---- */

static fp_status layers_increasing(const msg_u32s_t *layers, const char *where, fp_error *err)
{
    for (uint32_t i = 1; i < layers->n; i++)
        if (layers->v[i] <= layers->v[i - 1])
            return fp_fail(err, FP_EFORMAT,
                           "%s.layers: not strictly increasing at [%u] (%u after %u)", where, i,
                           layers->v[i], layers->v[i - 1]);
    return FP_OK;
}

static bool same_shape(const msg_tensor_t *a, const msg_tensor_t *b)
{
    return a->ndim == b->ndim && memcmp(a->shape, b->shape, a->ndim * sizeof a->shape[0]) == 0;
}

static fp_status check_welcome(const msg_t *m, fp_error *err)
{
    if (m->welcome.heartbeat_ms == 0 || m->welcome.liveness == 0)
        return fp_fail(err, FP_EFORMAT, "WELCOME: heartbeat_ms and liveness must be > 0");
    return FP_OK;
}

static fp_status check_score_request(const msg_t *m, fp_error *err)
{
    if (m->score_request.batch == 0)
        return fp_fail(err, FP_EFORMAT, "SCORE_REQUEST.batch: must be >= 1");
    return FP_OK;
}

static fp_status check_score_reply(const msg_t *m, fp_error *err)
{
    if (m->score_reply.batch == 0)
        return fp_fail(err, FP_EFORMAT, "SCORE_REPLY.batch: must be >= 1");
    return FP_OK;
}

static fp_status check_selection(const msg_t *m, fp_error *err)
{
    const msg_selection_t *s = &m->selection;
    if (s->num_layers == 0)
        return fp_fail(err, FP_EFORMAT, "SELECTION.num_layers: must be >= 1");
    fp_status st = layers_increasing(&s->layers, "SELECTION", err);
    if (st)
        return st;
    if (s->layers.v[s->layers.n - 1] >= s->num_layers)
        return fp_fail(err, FP_EFORMAT, "SELECTION.layers: layer %u >= num_layers %u",
                       s->layers.v[s->layers.n - 1], s->num_layers);
    if (s->scores.n > s->num_layers)
        return fp_fail(err, FP_EFORMAT, "SELECTION.scores: %u scores for %u layers", s->scores.n,
                       s->num_layers);
    return FP_OK;
}

/* Widths, when present: each >= 1, rows 2-D, at most one per layer. Whether they are the
 * model's is the receiver's check (actors/wire_tensor.h). */
static fp_status widths_valid(const msg_u32s_t *widths, const msg_u32s_t *layers,
                              const msg_tensor_t *rows, const char *where, fp_error *err)
{
    if (!widths->n)
        return FP_OK;
    if (widths->n > layers->n)
        return fp_fail(err, FP_EFORMAT, "%s.widths: %u widths for %u layers", where, widths->n,
                       layers->n);
    for (uint32_t i = 0; i < widths->n; i++)
        if (widths->v[i] == 0)
            return fp_fail(err, FP_EFORMAT, "%s.widths: [%u] is 0", where, i);
    if (rows->ndim != 2)
        return fp_fail(err, FP_EFORMAT, "%s.rows: %u dimensions, with widths it is [P][floats]",
                       where, rows->ndim);
    return FP_OK;
}

static fp_status check_train(const msg_t *m, fp_error *err)
{
    const msg_train_t *t = &m->train;
    fp_status st = layers_increasing(&t->layers, "TRAIN", err);
    if (!st)
        st = widths_valid(&t->widths, &t->layers, &t->rows, "TRAIN", err);
    if (st)
        return st;
    if (t->control.ndim && !same_shape(&t->control, &t->rows))
        return fp_fail(err, FP_EFORMAT, "TRAIN.control: shape differs from rows");
    if (t->deadline_ms == 0)
        return fp_fail(err, FP_EFORMAT, "TRAIN.deadline_ms: must be > 0");
    if (t->epochs == 0 && t->max_steps == 0)
        return fp_fail(err, FP_EFORMAT, "TRAIN: epochs and max_steps are both 0");
    if (t->batch == 0)
        return fp_fail(err, FP_EFORMAT, "TRAIN.batch: must be >= 1");
    if (t->lr < 0 || t->prox_mu < 0)
        return fp_fail(err, FP_EFORMAT, "TRAIN: lr and prox_mu must be >= 0");
    if (t->lr_total && t->lr_step > t->lr_total)
        return fp_fail(err, FP_EFORMAT, "TRAIN.lr_step: %llu beyond lr_total %llu",
                       (unsigned long long)t->lr_step, (unsigned long long)t->lr_total);
    if (t->attempt > MSG_MAX_ATTEMPT)
        return fp_fail(err, FP_EFORMAT, "TRAIN.attempt: %u beyond %d", t->attempt, MSG_MAX_ATTEMPT);
    return FP_OK;
}

static fp_status check_update(const msg_t *m, fp_error *err)
{
    const msg_update_t *u = &m->update;
    if (u->control_delta.ndim && !same_shape(&u->control_delta, &u->rows))
        return fp_fail(err, FP_EFORMAT, "UPDATE.control_delta: shape differs from rows");
    if (u->n == 0)
        return fp_fail(err, FP_EFORMAT, "UPDATE.n: must be >= 1 (it weights the average)");
    return FP_OK;
}

static fp_status check_eval_request(const msg_t *m, fp_error *err)
{
    const msg_eval_request_t *e = &m->eval_request;
    fp_status st = layers_increasing(&e->layers, "EVAL_REQUEST", err);
    return st ? st : widths_valid(&e->widths, &e->layers, &e->rows, "EVAL_REQUEST", err);
}

static fp_status check_eval_reply(const msg_t *m, fp_error *err)
{
    const msg_eval_reply_t *e = &m->eval_reply;
    if (e->classes == 0)
        return fp_fail(err, FP_EFORMAT, "EVAL_REPLY.classes: must be >= 1");
    if ((uint64_t)e->classes * e->classes != e->confusion.n)
        return fp_fail(err, FP_EFORMAT, "EVAL_REPLY.confusion: %u cells for %u classes",
                       e->confusion.n, e->classes);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < e->confusion.n; i++) {
        if (e->confusion.v[i] > e->n - sum)
            return fp_fail(err, FP_EFORMAT, "EVAL_REPLY.confusion: counts exceed n = %llu",
                           (unsigned long long)e->n);
        sum += e->confusion.v[i];
    }
    if (sum != e->n)
        return fp_fail(err, FP_EFORMAT, "EVAL_REPLY.confusion: counts sum to %llu, n = %llu",
                       (unsigned long long)sum, (unsigned long long)e->n);
    return FP_OK;
}

static fp_status check_save(const msg_t *m, fp_error *err)
{
    const msg_save_t *s = &m->save;
    if ((uint64_t)s->completed + s->dropped + s->late > s->sampled)
        return fp_fail(err, FP_EFORMAT,
                       "SAVE: completed %u + dropped %u + late %u exceed sampled %u", s->completed,
                       s->dropped, s->late, s->sampled);
    if (s->retries > MSG_MAX_ATTEMPT)
        return fp_fail(err, FP_EFORMAT, "SAVE.retries: %u beyond %d", s->retries, MSG_MAX_ATTEMPT);
    if (s->reason && s->reason[0] && s->status == MSG_ROUND_OK)
        return fp_fail(err, FP_EFORMAT, "SAVE.reason: a round that is ok has no failure reason");
    /* cpu_* and global_* are not cross-checked: each optional field may be absent alone (an
     * older sender); the flags say what they mean and the store checks the row it makes. */
    return FP_OK;
}

static fp_status check_run(const msg_t *m, fp_error *err)
{
    if (m->run_row.reason && m->run_row.reason[0] && m->run_row.status != MSG_RUN_FAILED)
        return fp_fail(err, FP_EFORMAT, "RUN.reason: only a failed run has a failure reason");
    return FP_OK;
}

static fp_status check_saved(const msg_t *m, fp_error *err)
{
    msg_type a = m->saved.answers;
    if (a != MSG_RUN && a != MSG_SAVE && a != MSG_SAVE_CLIENT && a != MSG_SELECTION)
        return fp_fail(err, FP_EFORMAT, "SAVED.answers: %s is not something the store saves",
                       msg_type_name(a));
    return FP_OK;
}

static fp_status check_state(const msg_t *m, fp_error *err)
{
    const msg_state_t *s = &m->state;
    if (!s->found && (s->layers.n || s->rows.ndim || s->server_state.n || s->client_state.n ||
                      s->rng[0] || s->rng[1] || s->rng[2] || s->rng[3]))
        return fp_fail(err, FP_EFORMAT, "STATE: found is false but state is present");
    return FP_OK;
}

/* ---- the type table ---- */

#define BODY(name, fields, check)                                                                  \
    {                                                                                              \
        name, fields, COUNT(fields), 0, check                                                      \
    }

static const schema_t SCHEMAS[MSG_TYPE_COUNT] = {
    [MSG_HELLO] = BODY("HELLO", HELLO_FIELDS, NULL),
    [MSG_WELCOME] = BODY("WELCOME", WELCOME_FIELDS, check_welcome),
    [MSG_HEARTBEAT] = {"HEARTBEAT", NULL, 0, 0, NULL},
    [MSG_BYE] = BODY("BYE", BYE_FIELDS, NULL),
    [MSG_DIRECTORY_REQUEST] = BODY("DIRECTORY_REQUEST", DIRECTORY_REQUEST_FIELDS, NULL),
    [MSG_DIRECTORY] = BODY("DIRECTORY", DIRECTORY_FIELDS, NULL),
    [MSG_SCORE_REQUEST] = BODY("SCORE_REQUEST", SCORE_REQUEST_FIELDS, check_score_request),
    [MSG_SCORE_REPLY] = BODY("SCORE_REPLY", SCORE_REPLY_FIELDS, check_score_reply),
    [MSG_SELECTION] = BODY("SELECTION", SELECTION_FIELDS, check_selection),
    [MSG_TRAIN] = BODY("TRAIN", TRAIN_FIELDS, check_train),
    [MSG_UPDATE] = BODY("UPDATE", UPDATE_FIELDS, check_update),
    [MSG_EVAL_REQUEST] = BODY("EVAL_REQUEST", EVAL_REQUEST_FIELDS, check_eval_request),
    [MSG_EVAL_REPLY] = BODY("EVAL_REPLY", EVAL_REPLY_FIELDS, check_eval_reply),
    [MSG_RUN] = BODY("RUN", RUN_FIELDS, check_run),
    [MSG_SAVE] = BODY("SAVE", SAVE_FIELDS, check_save),
    [MSG_SAVE_CLIENT] = BODY("SAVE_CLIENT", SAVE_CLIENT_FIELDS, NULL),
    [MSG_SAVED] = BODY("SAVED", SAVED_FIELDS, check_saved),
    [MSG_LOAD] = BODY("LOAD", LOAD_FIELDS, NULL),
    [MSG_STATE] = BODY("STATE", STATE_FIELDS, check_state),
    [MSG_ERROR] = BODY("ERROR", ERROR_FIELDS, NULL),
    [MSG_PEER_STATE] = BODY("PEER_STATE", PEER_STATE_FIELDS, NULL),
};

const schema_t *msg_schema_of(msg_type type)
{
    if ((unsigned)type == MSG_NONE || (unsigned)type >= MSG_TYPE_COUNT)
        return NULL;
    return &SCHEMAS[type];
}

/* Types tied to a round. WELCOME, HEARTBEAT, BYE, directory and LOAD are not. */
bool msg_type_has_round(msg_type type)
{
    switch (type) {
    case MSG_SCORE_REQUEST:
    case MSG_SCORE_REPLY:
    case MSG_SELECTION:
    case MSG_TRAIN:
    case MSG_UPDATE:
    case MSG_EVAL_REQUEST:
    case MSG_EVAL_REPLY:
    case MSG_SAVE:
    case MSG_SAVE_CLIENT:
    case MSG_SAVED:
    case MSG_STATE:
    case MSG_ERROR:
        return true;
    default:
        return false;
    }
}

size_t msg_header_count(msg_type type)
{
    return msg_type_has_round(type) ? 5 : 4;
}
