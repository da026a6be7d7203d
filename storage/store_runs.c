/* store_runs.c — the runs table: creating a run or re-opening it by name for resume, its status,
 * and reading runs back. It must never let a resumed run change what defines the experiment
 * (model, task, strategy, seed): rounds stored under one identity would silently mix with
 * another's. */
#include "store_db_private.h"

#include <stdlib.h>
#include <string.h>

#define RUN_COLUMNS                                                                                \
    "id, name, model, task, strategy, seed, status, created_ms, updated_ms, config, reason"

static fp_status check_text(const char *s, const char *field, size_t min, fp_error *err)
{
    if (!s)
        return fp_fail(err, FP_EINVAL, "run %s is NULL", field);
    size_t n = strlen(s);
    if (n < min || n > STORE_TEXT_MAX)
        return fp_fail(err, FP_EINVAL, "run %s has %zu bytes, want %zu..%d", field, n, min,
                       STORE_TEXT_MAX);
    return FP_OK;
}

static fp_status check_spec(const store_run_spec *spec, fp_error *err)
{
    if (!spec)
        return fp_fail(err, FP_EINVAL, "no run spec");
    fp_status st = check_text(spec->name, "name", 1, err);
    if (!st)
        st = check_text(spec->model, "model", 0, err);
    if (!st)
        st = check_text(spec->task, "task", 0, err);
    if (!st)
        st = check_text(spec->strategy, "strategy", 0, err);
    if (!st && !spec->config)
        st = fp_fail(err, FP_EINVAL, "run config is NULL");
    return st;
}

static fp_status read_run(store_db_t *db, sqlite3_stmt *st, store_run *out, fp_error *err)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(st, 0);
    db_column_text(st, 1, out->name, sizeof out->name);
    db_column_text(st, 2, out->model, sizeof out->model);
    db_column_text(st, 3, out->task, sizeof out->task);
    db_column_text(st, 4, out->strategy, sizeof out->strategy);
    out->seed = (uint64_t)sqlite3_column_int64(st, 5);
    int status = db_parse_name(sqlite3_column_text(st, 6), DB_RUN_STATUS, 3);
    if (status < 0)
        return fp_fail(err, FP_EFORMAT, "%s: run %lld has an unknown status", db->path,
                       (long long)out->id);
    out->status = (store_run_status)status;
    out->created_ms = sqlite3_column_int64(st, 7);
    out->updated_ms = sqlite3_column_int64(st, 8);
    const unsigned char *config = sqlite3_column_text(st, 9);
    out->config = strdup(config ? (const char *)config : "");
    db_column_text(st, 10, out->reason, sizeof out->reason);
    if (!out->config)
        return fp_fail(err, FP_ENOMEM, "%s: no memory for a run's config", db->path);
    return FP_OK;
}

/* The stored identity must equal the spec's; names the first field that differs. */
static fp_status check_same_identity(store_db_t *db, const store_run *have,
                                     const store_run_spec *want, fp_error *err)
{
    const char *field = NULL, *was = NULL, *now = NULL;
    if (strcmp(have->model, want->model) != 0)
        field = "model", was = have->model, now = want->model;
    else if (strcmp(have->task, want->task) != 0)
        field = "task", was = have->task, now = want->task;
    else if (strcmp(have->strategy, want->strategy) != 0)
        field = "strategy", was = have->strategy, now = want->strategy;
    if (field)
        return fp_fail(err, FP_ESTATE, "%s: run '%s' exists with %s '%s', not '%s'", db->path,
                       want->name, field, was, now);
    if (have->seed != want->seed)
        return fp_fail(err, FP_ESTATE, "%s: run '%s' exists with seed %llu, not %llu", db->path,
                       want->name, (unsigned long long)have->seed, (unsigned long long)want->seed);
    return FP_OK;
}

static fp_status insert_run(store_db_t *db, const store_run_spec *spec, int64_t *run_id,
                            fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare(db,
                             "INSERT INTO runs (name, config, model, task, strategy, seed, "
                             "status, created_ms, updated_ms) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?7)",
                             &st, err);
    if (s)
        return s;
    sqlite3_bind_text(st, 1, spec->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, spec->config, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, spec->model, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, spec->task, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, spec->strategy, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (int64_t)spec->seed);
    sqlite3_bind_int64(st, 7, db_now_ms());
    s = db_exec_stmt(db, st, "creating the run", err);
    sqlite3_finalize(st);
    if (!s)
        *run_id = sqlite3_last_insert_rowid(db->sql);
    return s;
}

/* The status and its reason (NULL or "" = none: a run set running again forgets why it failed). */
static fp_status update_status(store_db_t *db, int64_t run_id, store_run_status status,
                               const char *reason, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare(
        db, "UPDATE runs SET status = ?1, updated_ms = ?2, reason = ?4 WHERE id = ?3", &st, err);
    if (s)
        return s;
    char cut[STORE_REASON_MAX + 1];
    store_reason_set(cut, reason);
    sqlite3_bind_text(st, 1, store_run_status_name(status), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, db_now_ms());
    sqlite3_bind_int64(st, 3, run_id);
    if (cut[0])
        sqlite3_bind_text(st, 4, cut, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 4);
    s = db_exec_stmt(db, st, "setting the run status", err);
    sqlite3_finalize(st);
    if (!s && sqlite3_changes(db->sql) == 0)
        s = fp_fail(err, FP_ENOTFOUND, "%s: no run with id %lld", db->path, (long long)run_id);
    return s;
}

fp_status store_db_run_begin(store_db_t *db, const store_run_spec *spec, int64_t *run_id,
                             bool *resumed, fp_error *err)
{
    fp_status s = check_spec(spec, err);
    if (s)
        return s;
    if ((s = db_write_begin(db, err)))
        return s;
    store_run have;
    s = store_db_run_find(db, spec->name, &have, err);
    if (s == FP_ENOTFOUND) {
        s = insert_run(db, spec, run_id, err);
        if (resumed)
            *resumed = false;
    } else if (s == FP_OK) {
        s = check_same_identity(db, &have, spec, err);
        if (!s && have.status == STORE_RUN_FAILED)
            s = update_status(db, have.id, STORE_RUN_RUNNING, NULL, err);
        if (!s) {
            *run_id = have.id;
            if (resumed)
                *resumed = true;
        }
        store_run_clear(&have);
    }
    return db_write_end(db, s, err);
}

fp_status store_db_run_set_status_reason(store_db_t *db, int64_t run_id, store_run_status status,
                                         const char *reason, fp_error *err)
{
    if ((unsigned)status > STORE_RUN_FAILED)
        return fp_fail(err, FP_EINVAL, "run status %d out of range", (int)status);
    fp_status s = db_write_begin(db, err);
    if (s)
        return s;
    s = update_status(db, run_id, status, reason, err);
    return db_write_end(db, s, err);
}

fp_status store_db_run_set_status(store_db_t *db, int64_t run_id, store_run_status status,
                                  fp_error *err)
{
    return store_db_run_set_status_reason(db, run_id, status, NULL, err);
}

void store_reason_set(char *dst, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n > STORE_REASON_MAX) {
        n = STORE_REASON_MAX;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--; /* src[n] continues a UTF-8 sequence: cut before the sequence starts */
    }
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Runs a query bound to one key (text or id) and reads at most one run. */
static fp_status find_one(store_db_t *db, const char *sql, const char *name, int64_t id,
                          store_run *out, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare(db, sql, &st, err);
    if (s)
        return s;
    if (name)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s = read_run(db, st, out, err);
    else if (rc == SQLITE_DONE && name)
        s = fp_fail(err, FP_ENOTFOUND, "%s: no run named '%s'", db->path, name);
    else if (rc == SQLITE_DONE)
        s = fp_fail(err, FP_ENOTFOUND, "%s: no run with id %lld", db->path, (long long)id);
    else
        s = db_fail(db, rc, "reading a run", err);
    if (s)
        store_run_clear(out);
    sqlite3_finalize(st);
    return s;
}

fp_status store_db_run_find(store_db_t *db, const char *name, store_run *out, fp_error *err)
{
    memset(out, 0, sizeof *out);
    if (!name)
        return fp_fail(err, FP_EINVAL, "run name is NULL");
    return find_one(db, "SELECT " RUN_COLUMNS " FROM runs WHERE name = ?1", name, 0, out, err);
}

fp_status store_db_run_get(store_db_t *db, int64_t run_id, store_run *out, fp_error *err)
{
    memset(out, 0, sizeof *out);
    return find_one(db, "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1", NULL, run_id, out, err);
}

fp_status store_db_runs_list(store_db_t *db, store_run **runs, size_t *n, fp_error *err)
{
    *runs = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare(db, "SELECT " RUN_COLUMNS " FROM runs ORDER BY id", &st, err);
    if (s)
        return s;
    size_t cap = 0;
    int rc = SQLITE_DONE;
    while (!s && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((s = db_grow(db, (void **)runs, &cap, *n, sizeof **runs, err)))
            break;
        s = read_run(db, st, &(*runs)[*n], err);
        (*n)++; /* counted even on failure so the free below releases its config */
    }
    if (!s && rc != SQLITE_DONE)
        s = db_fail(db, rc, "listing runs", err);
    sqlite3_finalize(st);
    if (s)
        store_runs_free(runs, *n), *n = 0;
    return s;
}

void store_run_clear(store_run *run)
{
    if (!run)
        return;
    free(run->config);
    run->config = NULL;
}

void store_runs_free(store_run **runs_p, size_t n)
{
    if (!runs_p || !*runs_p)
        return;
    for (size_t i = 0; i < n; i++)
        store_run_clear(&(*runs_p)[i]);
    free(*runs_p);
    *runs_p = NULL;
}

fp_status db_run_status(store_db_t *db, int64_t run_id, store_run_status *status, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare(db, "SELECT status FROM runs WHERE id = ?1", &st, err);
    if (s)
        return s;
    sqlite3_bind_int64(st, 1, run_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int v = db_parse_name(sqlite3_column_text(st, 0), DB_RUN_STATUS, 3);
        if (v < 0)
            s = fp_fail(err, FP_EFORMAT, "%s: run %lld has an unknown status", db->path,
                        (long long)run_id);
        else
            *status = (store_run_status)v;
    } else if (rc == SQLITE_DONE) {
        s = fp_fail(err, FP_ENOTFOUND, "%s: no run with id %lld", db->path, (long long)run_id);
    } else {
        s = db_fail(db, rc, "reading a run", err);
    }
    sqlite3_finalize(st);
    return s;
}
