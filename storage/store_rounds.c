/* store_rounds.c — committing a round (round row, client rows, checkpoint: one transaction) and
 * reading rounds back. It must never leave part of a round behind, never rewrite a committed
 * round, and never accept a round out of order: a row exists only for completed work, and the
 * latest round is always the one a resumed coordinator continues from.
 *
 * Retries: the coordinator resends SAVE when the SAVED ack is lost, so the same round can
 * arrive twice. A second commit identical to the stored one succeeds and writes nothing
 * (*duplicate = true); a different one is refused (FP_ESTATE), because two different histories
 * for one round mean a bug or a second coordinator, and the first one already answered. */
#include "store_db_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ROUND_COLUMNS                                                                              \
    "round, status, sampled, completed, dropped, late, train_loss, eval_metric, eval_loss, "       \
    "eval_accuracy, eval_f1, eval_mcc, bytes_down, bytes_up, wall_ms, slowest_client_ms, "         \
    "committed_ms, retries, reason, client_cpu_ms, client_cpu_max_ms, global_metric, "             \
    "global_loss, global_accuracy, global_f1, global_mcc"
#define CLIENT_COLUMNS "round, client, status, n_k, steps, loss, ms"

/* ---- validation ---- */

static fp_status check_round_row(const store_round *r, fp_error *err)
{
    if (r->round < 0)
        return fp_fail(err, FP_EINVAL, "round %d is negative", r->round);
    if ((unsigned)r->status > STORE_ROUND_FAILED)
        return fp_fail(err, FP_EINVAL, "round %d: status %d out of range", r->round, r->status);
    if (r->sampled < 0 || r->completed < 0 || r->dropped < 0 || r->late < 0 ||
        (int64_t)r->completed + r->dropped + r->late > r->sampled)
        return fp_fail(err, FP_EINVAL,
                       "round %d: counts sampled %d completed %d dropped %d late %d do not add up",
                       r->round, r->sampled, r->completed, r->dropped, r->late);
    if (r->bytes_down < 0 || r->bytes_up < 0 || r->wall_ms < 0 || r->slowest_client_ms < 0)
        return fp_fail(err, FP_EINVAL, "round %d: negative bytes or times", r->round);
    if (r->retries < 0)
        return fp_fail(err, FP_EINVAL, "round %d: %d retries", r->round, r->retries);
    if (r->client_cpu_ms < -1 || r->client_cpu_max_ms < -1 ||
        (r->client_cpu_ms < 0) != (r->client_cpu_max_ms < 0) ||
        r->client_cpu_max_ms > r->client_cpu_ms)
        return fp_fail(err, FP_EINVAL, "round %d: client CPU %lld ms, largest %lld ms", r->round,
                       (long long)r->client_cpu_ms, (long long)r->client_cpu_max_ms);
    if (!memchr(r->reason, '\0', sizeof r->reason))
        return fp_fail(err, FP_EINVAL, "round %d: reason not terminated", r->round);
    return FP_OK;
}

store_client_round store_client_round_make(int32_t client, store_client_status status, int64_t n_k,
                                           int64_t steps, double loss, int64_t ms)
{
    if (status == STORE_CLIENT_OK)
        return (store_client_round){
            .client = client, .status = status, .n_k = n_k, .steps = steps, .loss = loss, .ms = ms};
    return (store_client_round){
        .client = client, .status = status, .n_k = -1, .steps = -1, .loss = NAN, .ms = -1};
}

static fp_status check_client_row(int32_t round, const store_client_round *c, fp_error *err)
{
    if (c->client < 0 || (unsigned)c->status > STORE_CLIENT_ERROR)
        return fp_fail(err, FP_EINVAL, "round %d: client %d has status %d", round, c->client,
                       c->status);
    if (c->n_k < -1 || c->steps < -1 || c->ms < -1)
        return fp_fail(err, FP_EINVAL, "round %d: client %d has a negative n_k, steps or ms", round,
                       c->client);
    if (c->status == STORE_CLIENT_OK && (c->n_k < 0 || c->steps < 0))
        return fp_fail(err, FP_EINVAL, "round %d: client %d is ok without n_k and steps", round,
                       c->client);
    return FP_OK;
}

/* The client rows must be exactly the sampled clients, with the round's counts. */
static fp_status check_clients(const store_round *r, const store_client_round *clients, size_t n,
                               fp_error *err)
{
    if (n != (size_t)r->sampled)
        return fp_fail(err, FP_EINVAL, "round %d: %zu client rows for %d sampled", r->round, n,
                       r->sampled);
    int32_t count[STORE_CLIENT_ERROR + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        fp_status st = check_client_row(r->round, &clients[i], err);
        if (st)
            return st;
        count[clients[i].status]++;
        /* Quadratic, but a round samples tens to hundreds of clients. */
        for (size_t j = 0; j < i; j++)
            if (clients[j].client == clients[i].client)
                return fp_fail(err, FP_EINVAL, "round %d: client %d appears twice", r->round,
                               clients[i].client);
    }
    if (count[STORE_CLIENT_OK] != r->completed || count[STORE_CLIENT_DROPPED] != r->dropped ||
        count[STORE_CLIENT_LATE] != r->late)
        return fp_fail(err, FP_EINVAL,
                       "round %d: client rows say %d ok %d dropped %d late, the round says "
                       "%d completed %d dropped %d late",
                       r->round, count[STORE_CLIENT_OK], count[STORE_CLIENT_DROPPED],
                       count[STORE_CLIENT_LATE], r->completed, r->dropped, r->late);
    return FP_OK;
}

static fp_status check_checkpoint(const store_checkpoint_blobs *ckpt, fp_error *err)
{
    if (!ckpt)
        return fp_fail(err, FP_EINVAL, "a round is committed with its checkpoint");
    fp_status st = db_check_blob(ckpt->prompt, "checkpoint prompt", err);
    if (!st)
        st = db_check_blob(ckpt->server_state, "checkpoint server state", err);
    if (!st)
        st = db_check_blob(ckpt->rng, "checkpoint rng", err);
    return st;
}

/* ---- reading rows ---- */

static fp_status read_round(store_db_t *db, sqlite3_stmt *st, store_round *r, fp_error *err)
{
    memset(r, 0, sizeof *r);
    r->round = sqlite3_column_int(st, 0);
    int status = db_parse_name(sqlite3_column_text(st, 1), DB_ROUND_STATUS, 2);
    if (status < 0)
        return fp_fail(err, FP_EFORMAT, "%s: round %d has an unknown status", db->path, r->round);
    r->status = (store_round_status)status;
    r->sampled = sqlite3_column_int(st, 2);
    r->completed = sqlite3_column_int(st, 3);
    r->dropped = sqlite3_column_int(st, 4);
    r->late = sqlite3_column_int(st, 5);
    r->train_loss = db_column_double(st, 6);
    r->eval_metric = db_column_double(st, 7);
    r->eval_loss = db_column_double(st, 8);
    r->eval_accuracy = db_column_double(st, 9);
    r->eval_f1 = db_column_double(st, 10);
    r->eval_mcc = db_column_double(st, 11);
    r->bytes_down = sqlite3_column_int64(st, 12);
    r->bytes_up = sqlite3_column_int64(st, 13);
    r->wall_ms = sqlite3_column_int64(st, 14);
    r->slowest_client_ms = sqlite3_column_int64(st, 15);
    r->committed_ms = sqlite3_column_int64(st, 16);
    r->retries = sqlite3_column_int(st, 17);
    db_column_text(st, 18, r->reason, sizeof r->reason);
    r->client_cpu_ms = db_column_opt_int(st, 19);
    r->client_cpu_max_ms = db_column_opt_int(st, 20);
    r->global_metric = db_column_double(st, 21);
    r->global_loss = db_column_double(st, 22);
    r->global_accuracy = db_column_double(st, 23);
    r->global_f1 = db_column_double(st, 24);
    r->global_mcc = db_column_double(st, 25);
    return FP_OK;
}

static fp_status read_client(store_db_t *db, sqlite3_stmt *st, store_client_round *c, fp_error *err)
{
    memset(c, 0, sizeof *c);
    c->round = sqlite3_column_int(st, 0);
    c->client = sqlite3_column_int(st, 1);
    int status = db_parse_name(sqlite3_column_text(st, 2), DB_CLIENT_STATUS, 4);
    if (status < 0)
        return fp_fail(err, FP_EFORMAT, "%s: round %d client %d has an unknown status", db->path,
                       c->round, c->client);
    c->status = (store_client_status)status;
    c->n_k = db_column_opt_int(st, 3);
    c->steps = db_column_opt_int(st, 4);
    c->loss = db_column_double(st, 5);
    c->ms = db_column_opt_int(st, 6);
    return FP_OK;
}

static fp_status read_round_row(store_db_t *db, sqlite3_stmt *st, void *row, fp_error *err)
{
    return read_round(db, st, row, err);
}

static fp_status read_client_row(store_db_t *db, sqlite3_stmt *st, void *row, fp_error *err)
{
    return read_client(db, st, row, err);
}

fp_status store_db_rounds_list(store_db_t *db, int64_t run_id, store_round **rounds, size_t *n,
                               fp_error *err)
{
    return db_read_rows(db, "SELECT " ROUND_COLUMNS " FROM rounds WHERE run = ?1 ORDER BY round",
                        run_id, 0, read_round_row, sizeof **rounds, (void **)rounds, n, err);
}

fp_status store_db_round_clients(store_db_t *db, int64_t run_id, int32_t round,
                                 store_client_round **clients, size_t *n, fp_error *err)
{
    return db_read_rows(db,
                        "SELECT " CLIENT_COLUMNS " FROM client_rounds "
                        "WHERE run = ?1 AND round = ?2 ORDER BY client",
                        run_id, round, read_client_row, sizeof **clients, (void **)clients, n, err);
}

/* ---- the idempotent retry ---- */

static bool same_round(const store_round *a, const store_round *b)
{
    return a->round == b->round && a->status == b->status && a->sampled == b->sampled &&
           a->completed == b->completed && a->dropped == b->dropped && a->late == b->late &&
           db_same_double(a->train_loss, b->train_loss) &&
           db_same_double(a->eval_metric, b->eval_metric) &&
           db_same_double(a->eval_loss, b->eval_loss) &&
           db_same_double(a->eval_accuracy, b->eval_accuracy) &&
           db_same_double(a->eval_f1, b->eval_f1) && db_same_double(a->eval_mcc, b->eval_mcc) &&
           a->bytes_down == b->bytes_down && a->bytes_up == b->bytes_up &&
           a->wall_ms == b->wall_ms && a->slowest_client_ms == b->slowest_client_ms &&
           a->retries == b->retries && !strcmp(a->reason, b->reason) &&
           a->client_cpu_ms == b->client_cpu_ms && a->client_cpu_max_ms == b->client_cpu_max_ms &&
           db_same_double(a->global_metric, b->global_metric) &&
           db_same_double(a->global_loss, b->global_loss) &&
           db_same_double(a->global_accuracy, b->global_accuracy) &&
           db_same_double(a->global_f1, b->global_f1) &&
           db_same_double(a->global_mcc, b->global_mcc);
}

static bool same_client(const store_client_round *a, const store_client_round *b)
{
    return a->client == b->client && a->status == b->status && a->n_k == b->n_k &&
           a->steps == b->steps && db_same_double(a->loss, b->loss) && a->ms == b->ms;
}

static int by_client(const void *a, const void *b)
{
    int32_t x = ((const store_client_round *)a)->client;
    int32_t y = ((const store_client_round *)b)->client;
    return (x > y) - (x < y);
}

/* Are the given client rows, in any order, those stored for the round? */
static fp_status same_clients(store_db_t *db, int64_t run_id, int32_t round,
                              const store_client_round *given, size_t n, bool *same, fp_error *err)
{
    store_client_round *stored = NULL, *sorted = NULL;
    size_t n_stored = 0;
    fp_status s = store_db_round_clients(db, run_id, round, &stored, &n_stored, err);
    if (!s && n && !(sorted = malloc(n * sizeof *sorted)))
        s = fp_fail(err, FP_ENOMEM, "%s: no memory to compare %zu client rows", db->path, n);
    if (!s) {
        if (n)
            memcpy(sorted, given, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, by_client);
        *same = n == n_stored;
        for (size_t i = 0; *same && i < n; i++)
            *same = same_client(&sorted[i], &stored[i]);
    }
    free(stored);
    free(sorted);
    return s;
}

static bool same_bytes(sqlite3_stmt *st, int i, store_blob blob)
{
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    const void *data = sqlite3_column_blob(st, i);
    return n == blob.size && (n == 0 || memcmp(data, blob.data, n) == 0);
}

/* Compares with the stored checkpoint; a pruned checkpoint cannot differ. */
static fp_status same_checkpoint(store_db_t *db, int64_t run_id, int32_t round,
                                 const store_checkpoint_blobs *ckpt, bool *same, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare_keyed(db,
                                   "SELECT prompt, server_state, rng FROM checkpoints "
                                   "WHERE run = ?1 AND round = ?2",
                                   run_id, round, &st, err);
    if (s)
        return s;
    int rc = sqlite3_step(st);
    *same = true;
    if (rc == SQLITE_ROW)
        *same = same_bytes(st, 0, ckpt->prompt) && same_bytes(st, 1, ckpt->server_state) &&
                same_bytes(st, 2, ckpt->rng);
    else if (rc != SQLITE_DONE)
        s = db_fail(db, rc, "reading a checkpoint", err);
    sqlite3_finalize(st);
    return s;
}

/* A commit of a round that is already stored: succeeds only as an exact retry. */
static fp_status check_retry(store_db_t *db, int64_t run_id, const store_round *stored,
                             const store_round *round, const store_client_round *clients, size_t n,
                             const store_checkpoint_blobs *ckpt, fp_error *err)
{
    bool same = same_round(stored, round);
    const char *what = "round row";
    fp_status s = FP_OK;
    if (same) {
        what = "client rows";
        s = same_clients(db, run_id, round->round, clients, n, &same, err);
    }
    if (!s && same) {
        what = "checkpoint";
        s = same_checkpoint(db, run_id, round->round, ckpt, &same, err);
    }
    if (!s && !same)
        s = fp_fail(err, FP_ESTATE,
                    "%s: round %d of run %lld is already committed with a different %s", db->path,
                    round->round, (long long)run_id, what);
    return s;
}

/* ---- the commit ---- */

/* The stored round (found = true) and the latest round of the run (-1 if none). */
static fp_status find_round(store_db_t *db, int64_t run_id, int32_t round, store_round *stored,
                            bool *found, int32_t *latest, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s =
        db_prepare_keyed(db, "SELECT " ROUND_COLUMNS " FROM rounds WHERE run = ?1 AND round = ?2",
                         run_id, round, &st, err);
    if (s)
        return s;
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW)
        s = read_round(db, st, stored, err);
    else if (rc != SQLITE_DONE)
        s = db_fail(db, rc, "reading a round", err);
    sqlite3_finalize(st);
    if (s || (s = db_prepare_keyed(db, "SELECT max(round) FROM rounds WHERE run = ?1", run_id, 0,
                                   &st, err)))
        return s;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *latest = sqlite3_column_type(st, 0) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 0);
    else
        s = db_fail(db, rc, "reading the latest round", err);
    sqlite3_finalize(st);
    return s;
}

static fp_status insert_round(store_db_t *db, int64_t run_id, const store_round *r, int64_t now_ms,
                              fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare_keyed(db,
                                   "INSERT INTO rounds (run, " ROUND_COLUMNS ") VALUES (?1, ?2, "
                                   "?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                                   "?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)",
                                   run_id, r->round, &st, err);
    if (s)
        return s;
    sqlite3_bind_text(st, 3, store_round_status_name(r->status), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, r->sampled);
    sqlite3_bind_int(st, 5, r->completed);
    sqlite3_bind_int(st, 6, r->dropped);
    sqlite3_bind_int(st, 7, r->late);
    db_bind_double(st, 8, r->train_loss);
    db_bind_double(st, 9, r->eval_metric);
    db_bind_double(st, 10, r->eval_loss);
    db_bind_double(st, 11, r->eval_accuracy);
    db_bind_double(st, 12, r->eval_f1);
    db_bind_double(st, 13, r->eval_mcc);
    sqlite3_bind_int64(st, 14, r->bytes_down);
    sqlite3_bind_int64(st, 15, r->bytes_up);
    sqlite3_bind_int64(st, 16, r->wall_ms);
    sqlite3_bind_int64(st, 17, r->slowest_client_ms);
    sqlite3_bind_int64(st, 18, now_ms);
    sqlite3_bind_int(st, 19, r->retries);
    if (r->reason[0])
        sqlite3_bind_text(st, 20, r->reason, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 20);
    db_bind_opt_int(st, 21, r->client_cpu_ms);
    db_bind_opt_int(st, 22, r->client_cpu_max_ms);
    db_bind_double(st, 23, r->global_metric);
    db_bind_double(st, 24, r->global_loss);
    db_bind_double(st, 25, r->global_accuracy);
    db_bind_double(st, 26, r->global_f1);
    db_bind_double(st, 27, r->global_mcc);
    s = db_exec_stmt(db, st, "writing the round", err);
    sqlite3_finalize(st);
    return s;
}

static fp_status insert_clients(store_db_t *db, int64_t run_id, int32_t round,
                                const store_client_round *clients, size_t n, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare_keyed(db,
                                   "INSERT INTO client_rounds (run, " CLIENT_COLUMNS ") "
                                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                   run_id, round, &st, err);
    for (size_t i = 0; !s && i < n; i++) {
        const store_client_round *c = &clients[i];
        sqlite3_bind_int(st, 3, c->client);
        sqlite3_bind_text(st, 4, store_client_status_name(c->status), -1, SQLITE_STATIC);
        db_bind_opt_int(st, 5, c->n_k);
        db_bind_opt_int(st, 6, c->steps);
        db_bind_double(st, 7, c->loss);
        db_bind_opt_int(st, 8, c->ms);
        s = db_exec_stmt(db, st, "writing a client row", err);
        if (!s)
            db_hook(db, "client");
    }
    sqlite3_finalize(st);
    return s;
}

static fp_status insert_checkpoint(store_db_t *db, int64_t run_id, int32_t round,
                                   const store_checkpoint_blobs *ckpt, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s =
        db_prepare_keyed(db,
                         "INSERT INTO checkpoints (run, round, prompt, server_state, rng, "
                         "checksum) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                         run_id, round, &st, err);
    if (s)
        return s;
    const store_blob blobs[3] = {ckpt->prompt, ckpt->server_state, ckpt->rng};
    int rc = db_bind_blobs_hashed(st, 3, blobs, 3);
    s = rc == SQLITE_OK ? db_exec_stmt(db, st, "writing the checkpoint", err)
                        : db_fail(db, rc, "binding the checkpoint", err);
    sqlite3_finalize(st);
    return s;
}

static fp_status touch_run(store_db_t *db, int64_t run_id, int64_t now_ms, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare(db, "UPDATE runs SET updated_ms = ?1 WHERE id = ?2", &st, err);
    if (s)
        return s;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int64(st, 2, run_id);
    s = db_exec_stmt(db, st, "updating the run", err);
    sqlite3_finalize(st);
    return s;
}

/* Inside the write transaction: either recognises an exact retry or writes the new round. */
static fp_status commit_in_tx(store_db_t *db, int64_t run_id, const store_round *round,
                              const store_client_round *clients, size_t n,
                              const store_checkpoint_blobs *ckpt, bool *duplicate, fp_error *err)
{
    store_run_status status;
    fp_status s = db_run_status(db, run_id, &status, err);
    store_round stored;
    bool found = false;
    int32_t latest = -1;
    if (!s)
        s = find_round(db, run_id, round->round, &stored, &found, &latest, err);
    if (s)
        return s;
    if (found) {
        *duplicate = true;
        return check_retry(db, run_id, &stored, round, clients, n, ckpt, err);
    }
    if (status != STORE_RUN_RUNNING)
        return fp_fail(err, FP_ESTATE, "%s: run %lld is %s; it takes no more rounds", db->path,
                       (long long)run_id, store_run_status_name(status));
    if (round->round != latest + 1)
        return fp_fail(err, FP_ESTATE,
                       "%s: round %d of run %lld is out of order: the next round is %d", db->path,
                       round->round, (long long)run_id, latest + 1);
    int64_t now = db_now_ms();
    s = insert_round(db, run_id, round, now, err);
    if (!s) {
        db_hook(db, "round");
        s = insert_clients(db, run_id, round->round, clients, n, err);
    }
    if (!s) {
        s = insert_checkpoint(db, run_id, round->round, ckpt, err);
        if (!s)
            db_hook(db, "checkpoint");
    }
    if (!s) {
        s = touch_run(db, run_id, now, err);
        if (!s)
            db_hook(db, "run");
    }
    return s;
}

fp_status store_db_round_commit(store_db_t *db, int64_t run_id, const store_round *round,
                                const store_client_round *clients, size_t n_clients,
                                const store_checkpoint_blobs *ckpt, bool *duplicate, fp_error *err)
{
    bool dup = false;
    if (duplicate)
        *duplicate = false;
    if (!round || (n_clients && !clients))
        return fp_fail(err, FP_EINVAL, "round commit without a round or its clients");
    fp_status s = check_round_row(round, err);
    if (!s)
        s = check_clients(round, clients, n_clients, err);
    if (!s)
        s = check_checkpoint(ckpt, err);
    if (!s)
        s = db_write_begin(db, err);
    if (s)
        return s;
    s = commit_in_tx(db, run_id, round, clients, n_clients, ckpt, &dup, err);
    s = db_write_end(db, s, err);
    if (!s && duplicate)
        *duplicate = dup;
    return s;
}
