/* round_save.c — see round_save.h. */
#include "actors/round_save.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static fp_status to_i32(uint64_t v, const char *what, int32_t *out, fp_error *err)
{
    if (v > INT32_MAX)
        return fp_fail(err, FP_EINVAL, "%s = %llu does not fit the database", what,
                       (unsigned long long)v);
    *out = (int32_t)v;
    return FP_OK;
}

static fp_status to_i64(uint64_t v, const char *what, int64_t *out, fp_error *err)
{
    if (v > INT64_MAX)
        return fp_fail(err, FP_EINVAL, "%s = %llu does not fit the database", what,
                       (unsigned long long)v);
    *out = (int64_t)v;
    return FP_OK;
}

static fp_status client_row(const msg_client_row_t *c, store_client_round *out, fp_error *err)
{
    static const store_client_status STATUS[MSG_CLIENT_STATUS_COUNT] = {
        [MSG_CLIENT_OK] = STORE_CLIENT_OK,
        [MSG_CLIENT_DROPPED] = STORE_CLIENT_DROPPED,
        [MSG_CLIENT_LATE] = STORE_CLIENT_LATE,
        [MSG_CLIENT_ERROR] = STORE_CLIENT_ERROR,
    };
    if ((unsigned)c->status >= MSG_CLIENT_STATUS_COUNT)
        return fp_fail(err, FP_EINVAL, "client %u: bad status", c->client);
    int32_t client = 0;
    int64_t n = 0, ms = 0;
    fp_status st = to_i32(c->client, "client", &client, err);
    if (!st && c->status == MSG_CLIENT_OK)
        st = to_i64(c->n, "client n", &n, err);
    if (!st && c->status == MSG_CLIENT_OK)
        st = to_i64(c->ms, "client ms", &ms, err);
    *out = store_client_round_make(client, STATUS[c->status], n, c->steps, c->loss, ms);
    return st;
}

static fp_status round_row(const msg_t *m, store_round *r, fp_error *err)
{
    const msg_save_t *s = &m->save;
    *r = (store_round){
        .status = s->status == MSG_ROUND_OK ? STORE_ROUND_OK : STORE_ROUND_FAILED,
        .train_loss = s->completed ? s->train_loss : NAN,
        .eval_metric = s->evaluated ? s->eval_metric : NAN,
        .eval_loss = s->evaluated ? s->eval_loss : NAN,
        .eval_accuracy = s->evaluated ? s->eval_accuracy : NAN,
        .eval_f1 = s->evaluated ? s->eval_f1 : NAN,
        .eval_mcc = s->evaluated ? s->eval_mcc : NAN,
        .retries = (int32_t)s->retries, /* <= MSG_MAX_ATTEMPT, checked by the decoder */
        .client_cpu_ms = -1,
        .client_cpu_max_ms = -1,
        .global_metric = s->global_evaluated ? s->global_metric : NAN,
        .global_loss = s->global_evaluated ? s->global_loss : NAN,
        .global_accuracy = s->global_evaluated ? s->global_accuracy : NAN,
        .global_f1 = s->global_evaluated ? s->global_f1 : NAN,
        .global_mcc = s->global_evaluated ? s->global_mcc : NAN,
    };
    store_reason_set(r->reason, s->status == MSG_ROUND_OK ? NULL : s->reason);
    fp_status st = to_i32(m->round, "round", &r->round, err);
    if (!st)
        st = to_i32(s->sampled, "sampled", &r->sampled, err);
    if (!st)
        st = to_i32(s->completed, "completed", &r->completed, err);
    if (!st)
        st = to_i32(s->dropped, "dropped", &r->dropped, err);
    if (!st)
        st = to_i32(s->late, "late", &r->late, err);
    if (!st)
        st = to_i64(s->bytes_down, "bytes_down", &r->bytes_down, err);
    if (!st)
        st = to_i64(s->bytes_up, "bytes_up", &r->bytes_up, err);
    if (!st)
        st = to_i64(s->wall_ms, "wall_ms", &r->wall_ms, err);
    if (!st)
        st = to_i64(s->slowest_ms, "slowest_ms", &r->slowest_client_ms, err);
    if (!st && s->cpu_measured)
        st = to_i64(s->cpu_ms, "client_cpu_ms", &r->client_cpu_ms, err);
    if (!st && s->cpu_measured)
        st = to_i64(s->cpu_max_ms, "client_cpu_max_ms", &r->client_cpu_max_ms, err);
    return st;
}

fp_status round_save_rows(const msg_t *m, store_round *round, store_client_round **clients,
                          fp_error *err)
{
    const msg_save_t *s = &m->save;
    *clients = NULL;
    fp_status st = round_row(m, round, err);
    if (st)
        return st;
    store_client_round *rows = calloc(s->clients.n ? s->clients.n : 1, sizeof *rows);
    if (!rows)
        return fp_fail(err, FP_ENOMEM, "no memory for %u client rows", s->clients.n);
    for (uint32_t i = 0; i < s->clients.n && !st; i++)
        st = client_row(&s->clients.v[i], &rows[i], err);
    if (st)
        free(rows);
    else
        *clients = rows;
    return st;
}

static msg_client_status wire_status(train_slot_status s)
{
    switch (s) {
    case TRAIN_SLOT_OK:
        return MSG_CLIENT_OK;
    case TRAIN_SLOT_LATE:
        return MSG_CLIENT_LATE;
    case TRAIN_SLOT_ERROR:
        return MSG_CLIENT_ERROR;
    default:
        return MSG_CLIENT_DROPPED;
    }
}

/* A value that did not happen travels as 0 beside the flag that says so (the wire carries only
 * finite numbers); round_row turns it back into NULL. */
static double finite_or_zero(double v)
{
    return isfinite(v) ? v : 0;
}

fp_status round_save_fill(msg_save_t *s, const train_round_record *rec, fp_error *err)
{
    fp_status st = msg_client_rows_alloc(&s->clients, (uint32_t)rec->sampled, err);
    if (!st && !rec->ok && rec->reason[0])
        st = msg_set_text(&s->reason, rec->reason, err);
    if (st)
        return st;
    s->status = rec->ok ? MSG_ROUND_OK : MSG_ROUND_FAILED;
    s->retries = (uint32_t)rec->retries;
    s->sampled = (uint32_t)rec->sampled;
    s->completed = (uint32_t)rec->completed;
    s->dropped = (uint32_t)rec->dropped;
    s->late = (uint32_t)rec->late;
    s->train_loss = finite_or_zero(rec->train_loss);
    s->evaluated = rec->evaluated;
    if (rec->evaluated) {
        s->eval_metric = finite_or_zero(rec->eval_metric);
        s->eval_loss = finite_or_zero(rec->eval_loss);
        s->eval_accuracy = finite_or_zero(rec->eval_accuracy);
        s->eval_f1 = finite_or_zero(rec->eval_f1);
        s->eval_mcc = finite_or_zero(rec->eval_mcc);
    }
    s->global_evaluated = rec->global_evaluated;
    if (rec->global_evaluated) {
        s->global_metric = finite_or_zero(rec->global.metric);
        s->global_loss = finite_or_zero(rec->global.loss);
        s->global_accuracy = finite_or_zero(rec->global.accuracy);
        s->global_f1 = finite_or_zero(rec->global.f1);
        s->global_mcc = finite_or_zero(rec->global.mcc);
    }
    s->cpu_measured = rec->cpu_ms >= 0;
    if (s->cpu_measured)
        s->cpu_ms = (uint64_t)rec->cpu_ms, s->cpu_max_ms = (uint64_t)rec->cpu_max_ms;
    s->bytes_down = (uint64_t)rec->bytes_down;
    s->bytes_up = (uint64_t)rec->bytes_up;
    s->wall_ms = (uint64_t)rec->wall_ms;
    s->slowest_ms = (uint64_t)rec->slowest_ms;
    for (int i = 0; i < rec->sampled; i++) {
        const train_round_client *c = &rec->clients[i];
        msg_client_row_t *row = &s->clients.v[i];
        *row = (msg_client_row_t){.client = (uint32_t)c->client, .status = wire_status(c->status)};
        if (c->status != TRAIN_SLOT_OK)
            continue;
        row->n = (uint64_t)c->n_k, row->steps = (uint32_t)c->steps;
        row->loss = finite_or_zero(c->loss), row->ms = (uint64_t)c->ms;
    }
    return FP_OK;
}
