/* store_sql.c — the small SQL helpers every storage file shares (see store_db_private.h): errors
 * from SQLite result codes, keyed statements, write transactions with the test hook, NULL for
 * absent values, blobs with their checksum, growing result arrays, and the status names as
 * stored. It must never decide policy (what may be written when): that is the callers' job. */
#include "store_db_private.h"
#include "store_hash.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const DB_RUN_STATUS[3] = {"running", "finished", "failed"};
const char *const DB_ROUND_STATUS[2] = {"ok", "failed"};
const char *const DB_CLIENT_STATUS[4] = {"ok", "dropped", "late", "error"};

const char *store_run_status_name(store_run_status s)
{
    return (unsigned)s < 3 ? DB_RUN_STATUS[s] : "?";
}

const char *store_round_status_name(store_round_status s)
{
    return (unsigned)s < 2 ? DB_ROUND_STATUS[s] : "?";
}

const char *store_client_status_name(store_client_status s)
{
    return (unsigned)s < 4 ? DB_CLIENT_STATUS[s] : "?";
}

fp_status db_fail(store_db_t *db, int rc, const char *what, fp_error *err)
{
    fp_status st = FP_EDB;
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        st = FP_EFORMAT;
        break;
    case SQLITE_NOMEM:
        st = FP_ENOMEM;
        break;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_FULL:
        st = FP_EIO;
        break;
    case SQLITE_TOOBIG:
        st = FP_ELIMIT;
        break;
    default:
        break;
    }
    const char *why = db->sql ? sqlite3_errmsg(db->sql) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_NOTADB)
        why = "not an SQLite database";
    db_note_failure(db, (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED
                            ? STORE_DB_BUSY
                            : STORE_DB_FINAL);
    return fp_fail(err, st, "%s: %s: %s", db->path, what, why);
}

fp_status db_prepare(store_db_t *db, const char *sql, sqlite3_stmt **st, fp_error *err)
{
    int rc = sqlite3_prepare_v2(db->sql, sql, -1, st, NULL);
    if (rc != SQLITE_OK)
        return db_fail(db, rc, "preparing a query", err);
    return FP_OK;
}

fp_status db_prepare_keyed(store_db_t *db, const char *sql, int64_t run_id, int32_t key,
                           sqlite3_stmt **st, fp_error *err)
{
    fp_status s = db_prepare(db, sql, st, err);
    if (s)
        return s;
    sqlite3_bind_int64(*st, 1, run_id);
    if (sqlite3_bind_parameter_count(*st) >= 2)
        sqlite3_bind_int(*st, 2, key);
    return FP_OK;
}

fp_status db_exec_stmt(store_db_t *db, sqlite3_stmt *st, const char *what, fp_error *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(db, rc, what, err);
    return FP_OK;
}

void db_hook(store_db_t *db, const char *step)
{
    if (db->hook)
        db->hook(db->hook_arg, step);
}

fp_status db_write_begin(store_db_t *db, fp_error *err)
{
    if (db->readonly)
        return fp_fail(err, FP_ESTATE, "%s: opened read-only", db->path);
    if (!sqlite3_get_autocommit(db->sql))
        return fp_fail(err, FP_ESTATE, "%s: a read snapshot is open; end it before writing",
                       db->path);
    int rc = sqlite3_exec(db->sql, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return db_fail(db, rc, "starting a write", err);
    db_hook(db, "begin");
    return FP_OK;
}

fp_status db_write_end(store_db_t *db, fp_status st, fp_error *err)
{
    if (st == FP_OK) {
        db_hook(db, "commit");
        st = db_fault_at_commit(db, err);
    }
    if (st == FP_OK) {
        int rc = sqlite3_exec(db->sql, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            st = db_fail(db, rc, "committing", err);
        } else {
            db->writes++;
            db_hook(db, "committed");
        }
    }
    if (st != FP_OK && !sqlite3_get_autocommit(db->sql))
        sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
    return st;
}

int64_t db_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool db_same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

int db_bind_double(sqlite3_stmt *st, int i, double v)
{
    return isnan(v) ? sqlite3_bind_null(st, i) : sqlite3_bind_double(st, i, v);
}

int db_bind_opt_int(sqlite3_stmt *st, int i, int64_t v)
{
    return v == -1 ? sqlite3_bind_null(st, i) : sqlite3_bind_int64(st, i, v);
}

double db_column_double(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

int64_t db_column_opt_int(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

int db_bind_blob(sqlite3_stmt *st, int i, store_blob blob)
{
    if (blob.size == 0)
        return sqlite3_bind_zeroblob(st, i, 0);
    return sqlite3_bind_blob64(st, i, blob.data, blob.size, SQLITE_STATIC);
}

int db_bind_blobs_hashed(sqlite3_stmt *st, int first, const store_blob *blobs, size_t n)
{
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
        rc = db_bind_blob(st, first + (int)i, blobs[i]);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64(st, first + (int)n, db_hash_blobs(blobs, n));
    return rc;
}

fp_status db_column_bytes(store_db_t *db, sqlite3_stmt *st, int i, store_bytes *out, fp_error *err)
{
    const void *src = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    if (!src && n > 0)
        return db_fail(db, sqlite3_errcode(db->sql), "reading a blob", err);
    out->size = (size_t)n;
    out->data = malloc(out->size ? out->size : 1);
    if (!out->data)
        return fp_fail(err, FP_ENOMEM, "%s: %zu bytes for a blob", db->path, out->size);
    if (n > 0)
        memcpy(out->data, src, out->size);
    return FP_OK;
}

fp_status db_check_blob(store_blob blob, const char *what, fp_error *err)
{
    if (!blob.data && blob.size)
        return fp_fail(err, FP_EINVAL, "%s: NULL data with size %zu", what, blob.size);
    return FP_OK;
}

int db_parse_name(const unsigned char *text, const char *const *names, int n)
{
    for (int i = 0; text && i < n; i++)
        if (strcmp((const char *)text, names[i]) == 0)
            return i;
    return -1;
}

fp_status db_grow(store_db_t *db, void **items, size_t *cap, size_t n, size_t size, fp_error *err)
{
    if (n < *cap)
        return FP_OK;
    size_t want = *cap ? 2 * *cap : 16;
    void *grown = realloc(*items, want * size);
    if (!grown)
        return fp_fail(err, FP_ENOMEM, "%s: no memory for %zu rows", db->path, want);
    *items = grown;
    *cap = want;
    return FP_OK;
}

fp_status db_read_rows(store_db_t *db, const char *sql, int64_t run_id, int32_t round,
                       row_reader *reader, size_t size, void **rows, size_t *n, fp_error *err)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare_keyed(db, sql, run_id, round, &st, err);
    if (s)
        return s;
    size_t cap = 0;
    int rc = SQLITE_DONE;
    while (!s && (rc = sqlite3_step(st)) == SQLITE_ROW)
        if (!(s = db_grow(db, rows, &cap, *n, size, err)) &&
            !(s = reader(db, st, (char *)*rows + *n * size, err)))
            (*n)++;
    if (!s && rc != SQLITE_DONE)
        s = db_fail(db, rc, "reading rows", err);
    sqlite3_finalize(st);
    if (s) {
        free(*rows);
        *rows = NULL;
        *n = 0;
    }
    return s;
}

int64_t db_hash_blobs(const store_blob *blobs, size_t n)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++)
        h = store_hash64(h, blobs[i].data, blobs[i].size);
    return (int64_t)h;
}

fp_status db_column_blobs_checked(store_db_t *db, sqlite3_stmt *st, int first,
                                  store_bytes *const *outs, size_t n, const char *what,
                                  fp_error *err)
{
    uint64_t h = 0;
    for (size_t i = 0; i < n; i++) {
        fp_status s = db_column_bytes(db, st, first + (int)i, outs[i], err);
        if (s)
            return s;
        h = store_hash64(h, outs[i]->data, outs[i]->size);
    }
    if (sqlite3_column_int64(st, first + (int)n) != (int64_t)h) {
        db_note_failure(db, STORE_DB_FINAL);
        return fp_fail(err, FP_EDB, "%s: %s: checksum mismatch, the stored bytes are damaged",
                       db->path, what);
    }
    return FP_OK;
}

void db_column_text(sqlite3_stmt *st, int i, char *buf, size_t cap)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    snprintf(buf, cap, "%s", s ? (const char *)s : "");
}
