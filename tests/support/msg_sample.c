/* msg_sample.c — a valid, fully populated example of every message type, derived from a seed.
 * For tests (round trips, fuzz seeds, actor tests that need a realistic message) and the
 * protocol documentation. It must produce messages that pass msg_validate, and must never be
 * used to fill real protocol traffic. */
#include "tests/support/msg_sample.h"

#include <stdio.h>
#include <string.h>

#include "common/rng.h"

static float small_float(rng_t *r)
{
    return (float)(rng_normal(r) * 0.02);
}

static fp_status sample_tensor(msg_tensor_t *t, rng_t *r, uint32_t layers, fp_error *err)
{
    const uint32_t shape[4] = {2, layers, 2, 3}; /* [P][|S|][2][d] with a toy P and d */
    fp_status st = msg_tensor_alloc(t, 4, shape, err);
    for (size_t i = 0; !st && i < msg_tensor_count(t); i++)
        t->data[i] = small_float(r);
    return st;
}

/* Rows at each block's width ([P][Σ 2·w_k], docs/protocol.md "Rows on the wire"): widths
 * {3, 3, 5} for the three sample layers, a toy P = 2. */
static fp_status sample_packed(msg_tensor_t *t, msg_u32s_t *widths, rng_t *r, fp_error *err)
{
    const uint32_t w[3] = {3, 3, 5}, shape[2] = {2, 2 * (3 + 3 + 5)};
    fp_status st = widths ? msg_u32s_alloc(widths, 3, err) : FP_OK;
    for (int i = 0; !st && widths && i < 3; i++)
        widths->v[i] = w[i];
    if (!st)
        st = msg_tensor_alloc(t, 2, shape, err);
    for (size_t i = 0; !st && i < msg_tensor_count(t); i++)
        t->data[i] = small_float(r);
    return st;
}

static fp_status sample_layers(msg_u32s_t *a, fp_error *err)
{
    fp_status st = msg_u32s_alloc(a, 3, err);
    if (!st) {
        a->v[0] = 1;
        a->v[1] = 4;
        a->v[2] = 7;
    }
    return st;
}

static fp_status sample_blob(msg_blob_t *b, rng_t *r, size_t n, fp_error *err)
{
    uint8_t bytes[64];
    for (size_t i = 0; i < n && i < sizeof bytes; i++)
        bytes[i] = (uint8_t)rng_below(r, 256);
    return msg_blob_copy(b, bytes, n < sizeof bytes ? n : sizeof bytes, err);
}

static fp_status sample_body(msg_t *m, rng_t *r, bool full, fp_error *err)
{
    fp_status st = FP_OK;
    switch (m->type) {
    case MSG_HELLO:
        m->hello.role = MSG_ROLE_CLIENT;
        m->hello.index = 17;
        m->hello.pid = 4242;
        return msg_set_id(m->hello.software, "0.1.0", err);
    case MSG_WELCOME:
        m->welcome = (msg_welcome_t){.heartbeat_ms = 1000, .liveness = 3, .epoch = rng_next(r)};
        return FP_OK;
    case MSG_HEARTBEAT:
        return FP_OK;
    case MSG_BYE:
        return full ? msg_set_text(&m->bye.reason, "shutting down: run done", err) : FP_OK;
    case MSG_DIRECTORY_REQUEST:
        m->directory_request.role = full ? MSG_ROLE_CLIENT : MSG_ROLE_ANY;
        return FP_OK;
    case MSG_DIRECTORY:
        st = msg_peers_alloc(&m->directory.peers, full ? 3 : 0, err);
        for (uint32_t i = 0; !st && i < m->directory.peers.n; i++) {
            msg_peer_t *p = &m->directory.peers.v[i];
            snprintf(p->id, sizeof p->id, "client-%u", i);
            p->role = MSG_ROLE_CLIENT;
            p->index = i;
            p->idle_ms = rng_below(r, 5000);
        }
        return st;
    case MSG_SCORE_REQUEST:
        m->score_request.batch = 8;
        m->score_request.seed = rng_next(r);
        return FP_OK;
    case MSG_SCORE_REPLY:
        st = msg_f64s_alloc(&m->score_reply.scores, 11, err);
        for (uint32_t i = 0; !st && i < 11; i++)
            m->score_reply.scores.v[i] = 8.0 + rng_normal(r);
        m->score_reply.n = 731;
        m->score_reply.batch = 8;
        return st;
    case MSG_SELECTION:
        m->selection.num_layers = 12;
        st = sample_layers(&m->selection.layers, err);
        if (!st && full)
            st = msg_f64s_alloc(&m->selection.scores, 11, err);
        for (uint32_t i = 0; !st && i < m->selection.scores.n; i++)
            m->selection.scores.v[i] = rng_uniform(r);
        return st;
    case MSG_TRAIN: {
        msg_train_t *t = &m->train;
        st = sample_layers(&t->layers, err);
        if (!st)
            st = full ? sample_packed(&t->rows, &t->widths, r, err)
                      : sample_tensor(&t->rows, r, 3, err);
        if (!st && full)
            st = sample_packed(&t->control, NULL, r, err);
        t->deadline_ms = 60000;
        t->epochs = 2;
        t->max_steps = full ? 100 : 0;
        t->batch = 8;
        t->lr = 0.04;
        t->lr_step = 160;
        t->lr_total = 2000;
        t->prox_mu = full ? 0.01 : 0.0;
        t->seed = rng_next(r);
        t->attempt = full ? 2 : 0;
        return st;
    }
    case MSG_UPDATE: {
        msg_update_t *u = &m->update;
        st = sample_tensor(&u->rows, r, 3, err);
        if (!st && full)
            st = sample_tensor(&u->control_delta, r, 3, err);
        u->n = 731;
        u->steps = 184;
        u->loss = 0.6931;
        u->compute_ms = 5123;
        u->wall_ms = 5301;
        u->cpu_measured = full;
        u->cpu_ms = full ? 4987 : 0;
        return st;
    }
    case MSG_EVAL_REQUEST:
        st = sample_layers(&m->eval_request.layers, err);
        if (!st && full)
            return sample_packed(&m->eval_request.rows, &m->eval_request.widths, r, err);
        return st ? st : sample_tensor(&m->eval_request.rows, r, 3, err);
    case MSG_EVAL_REPLY: {
        msg_eval_reply_t *e = &m->eval_reply;
        e->classes = 2;
        st = msg_u64s_alloc(&e->confusion, 4, err);
        if (st)
            return st;
        const uint64_t cells[4] = {40, 7, 5, 48};
        memcpy(e->confusion.v, cells, sizeof cells);
        e->n = 100;
        e->loss = 0.41;
        e->wall_ms = 812;
        return FP_OK;
    }
    case MSG_RUN: {
        msg_run_t *run = &m->run_row;
        run->status = full ? MSG_RUN_FAILED : MSG_RUN_RUNNING;
        if (full)
            st = msg_set_text(&run->config, "[run]\nseed = 42\nstrategy = fedpeptao\n", err);
        if (!st && full)
            st =
                msg_set_text(&run->reason, "round 9: 1 of 10 clients answered, min_clients 2", err);
        if (!st)
            st = msg_set_id(run->model, "roberta-base", err);
        if (!st)
            st = msg_set_id(run->task, "sst2", err);
        if (!st)
            st = msg_set_id(run->strategy, "fedpeptao", err);
        run->seed = 42;
        run->clients = 100;
        run->rounds = 100;
        return st;
    }
    case MSG_SAVE: {
        msg_save_t *s = &m->save;
        s->status = full ? MSG_ROUND_FAILED : MSG_ROUND_OK;
        s->sampled = 4;
        s->completed = 2;
        s->dropped = 1;
        s->late = 1;
        s->train_loss = 0.52;
        s->evaluated = full;
        s->eval_metric = full ? 0.87 : 0.0;
        s->eval_loss = full ? 0.35 : 0.0;
        s->eval_accuracy = full ? 0.87 : 0.0;
        s->eval_f1 = full ? 0.86 : 0.0;
        s->eval_mcc = full ? 0.74 : 0.0;
        s->bytes_down = 4096;
        s->bytes_up = 2048;
        s->wall_ms = 6100;
        s->slowest_ms = 5900;
        st = msg_client_rows_alloc(&s->clients, 4, err);
        const msg_client_status status[4] = {MSG_CLIENT_OK, MSG_CLIENT_OK, MSG_CLIENT_DROPPED,
                                             MSG_CLIENT_LATE};
        for (uint32_t i = 0; !st && i < 4; i++) {
            msg_client_row_t *c = &s->clients.v[i];
            c->client = 10 * i + 3;
            c->status = status[i];
            c->n = 100 + i;
            c->steps = status[i] == MSG_CLIENT_DROPPED ? 0 : 26;
            c->loss = status[i] == MSG_CLIENT_DROPPED ? 0.0 : 0.5 + 0.01 * i;
            c->ms = 5000 + i;
        }
        if (!st)
            st = sample_tensor(&s->rows, r, 3, err);
        if (!st && full)
            st = sample_blob(&s->server_state, r, 48, err);
        for (int i = 0; i < 4; i++)
            s->rng[i] = rng_next(r);
        s->retries = full ? 1 : 0;
        s->cpu_measured = full;
        s->cpu_ms = full ? 9800 : 0;
        s->cpu_max_ms = full ? 5100 : 0;
        s->global_evaluated = full;
        if (full) /* the global model a little below the personalised clients */
            s->global_metric = 0.81, s->global_loss = 0.41, s->global_accuracy = 0.81,
            s->global_f1 = 0.8, s->global_mcc = 0.62;
        if (!st && full)
            st = msg_set_text(&s->reason, "2 of 4 updates by the deadline, min_clients 3", err);
        return st;
    }
    case MSG_SAVE_CLIENT:
        return sample_blob(&m->save_client.state, r, full ? 64 : 1, err);
    case MSG_SAVED:
        m->saved.answers = MSG_SAVE;
        return FP_OK;
    case MSG_LOAD:
        return full ? msg_set_id(m->load.client, "client-17", err) : FP_OK;
    case MSG_STATE: {
        msg_state_t *s = &m->state;
        s->found = full;
        if (!full)
            return FP_OK;
        st = sample_layers(&s->layers, err);
        if (!st)
            st = sample_tensor(&s->rows, r, 3, err);
        if (!st)
            st = sample_blob(&s->server_state, r, 40, err);
        if (!st)
            st = sample_blob(&s->client_state, r, 24, err);
        for (int i = 0; i < 4; i++)
            s->rng[i] = rng_next(r);
        return st;
    }
    case MSG_ERROR:
        m->error.code = FP_EFORMAT;
        m->error.answers = full ? MSG_TRAIN : MSG_NONE;
        if (full)
            st = msg_set_id(m->error.peer, "client-17", err);
        if (!st && full)
            st = msg_set_text(&m->error.text, "TRAIN.rows.data: 12 bytes, the shape needs 16", err);
        m->error.final = full;
        return st;
    case MSG_PEER_STATE:
        m->peer_state.role = full ? MSG_ROLE_CLIENT : MSG_ROLE_COORDINATOR;
        m->peer_state.index = full ? 17 : 0;
        m->peer_state.alive = !full;
        return msg_set_id(m->peer_state.id, full ? "client-17" : "coordinator", err);
    default:
        return fp_fail(err, FP_EINVAL, "msg_sample: no sample for type %d", (int)m->type);
    }
}

fp_status msg_sample(msg_t *m, msg_type type, uint64_t seed, bool full, fp_error *err)
{
    const char *from = type == MSG_WELCOME || type == MSG_DIRECTORY || type == MSG_PEER_STATE
                           ? "broker"
                           : "client-17";
    fp_status st = msg_init(m, type, full ? "sst2-fedpeptao-s42" : "", from, err);
    if (st)
        return st;
    rng_t r;
    rng_derive(&r, seed, (uint64_t)type, full);
    m->round = msg_type_has_round(type) ? (uint32_t)(full ? 7 + seed % 90 : 0) : 0;
    m->seq = full ? rng_next(&r) : 1;
    m->re = full ? rng_below(&r, 1000) + 1 : 0;
    st = sample_body(m, &r, full, err);
    if (!st)
        st = msg_validate(m, NULL, err);
    if (st)
        msg_clear(m);
    return st;
}
