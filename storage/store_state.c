/* store_state.c — the state a run resumes from: the latest checkpoint (and pruning old ones),
 * the layer scores and fixed selection, and each client's private prompt and Adam state. It
 * must never move state backwards: a selection once saved is fixed, and a client's state is
 * never replaced by an older round's. */
#include "store_db_private.h"

#include <stdlib.h>
#include <string.h>

/* ---- checkpoints ---- */

fp_status store_db_checkpoint_latest(store_db_t *db, int64_t run_id, store_checkpoint *out,
                                     fp_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare_keyed(db,
                                   "SELECT round, prompt, server_state, rng, checksum "
                                   "FROM checkpoints WHERE run = ?1 ORDER BY round DESC LIMIT 1",
                                   run_id, 0, &st, err);
    if (s)
        return s;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->round = sqlite3_column_int(st, 0);
        store_bytes *blobs[3] = {&out->prompt, &out->server_state, &out->rng};
        s = db_column_blobs_checked(db, st, 1, blobs, 3, "latest checkpoint", err);
    } else if (rc == SQLITE_DONE) {
        s = fp_fail(err, FP_ENOTFOUND, "%s: run %lld has no committed round", db->path,
                    (long long)run_id);
    } else {
        s = db_fail(db, rc, "reading the latest checkpoint", err);
    }
    sqlite3_finalize(st);
    if (s)
        store_checkpoint_clear(out);
    return s;
}

fp_status store_db_checkpoints_prune(store_db_t *db, int64_t run_id, int keep, fp_error *err)
{
    if (keep < 1)
        return fp_fail(err, FP_EINVAL, "keep %d checkpoints: the latest is always kept", keep);
    fp_status s = db_write_begin(db, err);
    if (s)
        return s;
    sqlite3_stmt *st = NULL;
    s = db_prepare_keyed(db,
                         "DELETE FROM checkpoints WHERE run = ?1 AND round <= "
                         "(SELECT max(round) FROM checkpoints WHERE run = ?1) - ?2",
                         run_id, keep, &st, err);
    if (!s) {
        s = db_exec_stmt(db, st, "pruning checkpoints", err);
        sqlite3_finalize(st);
    }
    return db_write_end(db, s, err);
}

static void bytes_clear(store_bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->size = 0;
}

void store_checkpoint_clear(store_checkpoint *ckpt)
{
    if (!ckpt)
        return;
    bytes_clear(&ckpt->prompt);
    bytes_clear(&ckpt->server_state);
    bytes_clear(&ckpt->rng);
}

/* ---- layer scores ---- */

static fp_status read_layer(store_db_t *db, sqlite3_stmt *st, void *row, fp_error *err)
{
    (void)db;
    (void)err;
    store_layer *l = row;
    l->layer = sqlite3_column_int(st, 0);
    l->score = db_column_double(st, 1);
    l->selected = sqlite3_column_int(st, 2) != 0;
    return FP_OK;
}

fp_status store_db_layers_load(store_db_t *db, int64_t run_id, store_layer **layers, size_t *n,
                               fp_error *err)
{
    return db_read_rows(db,
                        "SELECT layer, score, selected FROM layer_scores WHERE run = ?1 "
                        "ORDER BY layer",
                        run_id, 0, read_layer, sizeof **layers, (void **)layers, n, err);
}

/* Inside the transaction: a second save must equal the first. */
static fp_status check_same_layers(store_db_t *db, int64_t run_id, const store_layer *stored,
                                   size_t n_stored, const double *score, const bool *selected,
                                   size_t n, fp_error *err)
{
    bool same = n_stored == n;
    for (size_t l = 0; same && l < n; l++)
        same = stored[l].layer == (int32_t)l && db_same_double(stored[l].score, score[l]) &&
               stored[l].selected == selected[l];
    if (!same)
        return fp_fail(err, FP_ESTATE,
                       "%s: run %lld already has a different layer selection; it is fixed "
                       "for the run",
                       db->path, (long long)run_id);
    return FP_OK;
}

static fp_status insert_layers(store_db_t *db, int64_t run_id, const double *score,
                               const bool *selected, size_t n, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare_keyed(db,
                                   "INSERT INTO layer_scores (run, layer, score, selected) "
                                   "VALUES (?1, ?2, ?3, ?4)",
                                   run_id, 0, &st, err);
    for (size_t l = 0; !s && l < n; l++) {
        sqlite3_bind_int64(st, 2, (int64_t)l);
        db_bind_double(st, 3, score[l]);
        sqlite3_bind_int(st, 4, selected[l] ? 1 : 0);
        s = db_exec_stmt(db, st, "writing a layer score", err);
    }
    sqlite3_finalize(st);
    return s;
}

fp_status store_db_layers_save(store_db_t *db, int64_t run_id, const double *score,
                               const bool *selected, size_t n_layers, fp_error *err)
{
    if (n_layers == 0 || n_layers > 100000 || !score || !selected)
        return fp_fail(err, FP_EINVAL, "layer scores: %zu layers, score %p, selected %p", n_layers,
                       (const void *)score, (const void *)selected);
    fp_status s = db_write_begin(db, err);
    if (s)
        return s;
    store_run_status status;
    store_layer *stored = NULL;
    size_t n_stored = 0;
    s = db_run_status(db, run_id, &status, err);
    if (!s)
        s = store_db_layers_load(db, run_id, &stored, &n_stored, err);
    if (!s && n_stored)
        s = check_same_layers(db, run_id, stored, n_stored, score, selected, n_layers, err);
    else if (!s)
        s = insert_layers(db, run_id, score, selected, n_layers, err);
    free(stored);
    return db_write_end(db, s, err);
}

/* ---- clients' private state ---- */

static fp_status stored_client_round(store_db_t *db, int64_t run_id, int32_t client, int32_t *round,
                                     fp_error *err)
{
    *round = -1;
    sqlite3_stmt *st = NULL;
    fp_status s =
        db_prepare_keyed(db, "SELECT round FROM client_state WHERE run = ?1 AND client = ?2",
                         run_id, client, &st, err);
    if (s)
        return s;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *round = sqlite3_column_int(st, 0);
    else if (rc != SQLITE_DONE)
        s = db_fail(db, rc, "reading a client's state", err);
    sqlite3_finalize(st);
    return s;
}

static fp_status upsert_client_state(store_db_t *db, int64_t run_id, int32_t client, int32_t round,
                                     store_blob prompt, store_blob adam, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s =
        db_prepare_keyed(db,
                         "INSERT INTO client_state (run, client, round, prompt, adam, "
                         "checksum, saved_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                         "ON CONFLICT (run, client) DO UPDATE SET round = excluded.round, "
                         "prompt = excluded.prompt, adam = excluded.adam, "
                         "checksum = excluded.checksum, saved_ms = excluded.saved_ms",
                         run_id, client, &st, err);
    if (s)
        return s;
    sqlite3_bind_int(st, 3, round);
    const store_blob blobs[2] = {prompt, adam};
    int rc = db_bind_blobs_hashed(st, 4, blobs, 2);
    sqlite3_bind_int64(st, 7, db_now_ms());
    s = rc == SQLITE_OK ? db_exec_stmt(db, st, "writing a client's state", err)
                        : db_fail(db, rc, "binding a client's state", err);
    sqlite3_finalize(st);
    return s;
}

fp_status store_db_client_state_save(store_db_t *db, int64_t run_id, int32_t client, int32_t round,
                                     store_blob prompt, store_blob adam, fp_error *err)
{
    if (client < 0 || round < 0)
        return fp_fail(err, FP_EINVAL, "client state: client %d round %d", client, round);
    fp_status s = db_check_blob(prompt, "client prompt", err);
    if (!s)
        s = db_check_blob(adam, "client Adam state", err);
    if (!s)
        s = db_write_begin(db, err);
    if (s)
        return s;
    store_run_status status;
    int32_t stored = -1;
    s = db_run_status(db, run_id, &status, err);
    if (!s)
        s = stored_client_round(db, run_id, client, &stored, err);
    if (!s && stored > round)
        s = fp_fail(err, FP_ESTATE,
                    "%s: client %d of run %lld already saved round %d; refusing older round %d",
                    db->path, client, (long long)run_id, stored, round);
    if (!s)
        s = upsert_client_state(db, run_id, client, round, prompt, adam, err);
    return db_write_end(db, s, err);
}

fp_status store_db_client_state_load(store_db_t *db, int64_t run_id, int32_t client,
                                     store_client_state *out, fp_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare_keyed(db,
                                   "SELECT round, prompt, adam, checksum, saved_ms "
                                   "FROM client_state WHERE run = ?1 AND client = ?2",
                                   run_id, client, &st, err);
    if (s)
        return s;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->round = sqlite3_column_int(st, 0);
        store_bytes *blobs[2] = {&out->prompt, &out->adam};
        s = db_column_blobs_checked(db, st, 1, blobs, 2, "client state", err);
        out->saved_ms = sqlite3_column_int64(st, 4);
    } else if (rc == SQLITE_DONE) {
        s = fp_fail(err, FP_ENOTFOUND, "%s: client %d of run %lld has no saved state", db->path,
                    client, (long long)run_id);
    } else {
        s = db_fail(db, rc, "reading a client's state", err);
    }
    sqlite3_finalize(st);
    if (s)
        store_client_state_clear(out);
    return s;
}

void store_client_state_clear(store_client_state *state)
{
    if (!state)
        return;
    bytes_clear(&state->prompt);
    bytes_clear(&state->adam);
}
