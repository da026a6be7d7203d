/* store_db.c — opening and closing the fedpep database: recognising the file (SQLite at all,
 * fedpep's and not another application's, a schema version we speak), setting the connection up
 * (WAL, foreign keys, busy timeout, durable commits), migrating, and the helpers every storage
 * file shares. It must never convert, migrate or otherwise write to a file it has not
 * recognised as fedpep's (or an empty one it was asked to create). */
#include "schema.h"
#include "store_db_private.h"
#include "store_hash.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* How long a statement waits for another connection's lock before failing with FP_EDB. The
 * only writer is the store actor, so waits are short: readers never block it in WAL mode. */
enum { BUSY_TIMEOUT_MS = 5000 };

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

/* ---- shared helpers ---- */

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
        int rc = sqlite3_exec(db->sql, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            st = db_fail(db, rc, "committing", err);
        else
            db_hook(db, "committed");
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

fp_status db_check_hash(store_db_t *db, sqlite3_stmt *st, int i, const store_blob *blobs, size_t n,
                        const char *what, fp_error *err)
{
    if (sqlite3_column_int64(st, i) != db_hash_blobs(blobs, n))
        return fp_fail(err, FP_EDB, "%s: %s: checksum mismatch, the stored bytes are damaged",
                       db->path, what);
    return FP_OK;
}

void db_column_text(sqlite3_stmt *st, int i, char *buf, size_t cap)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    snprintf(buf, cap, "%s", s ? (const char *)s : "");
}

/* ---- opening ---- */

static fp_status read_int(store_db_t *db, const char *sql, int *out, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db->sql, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *out = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return db_fail(db, rc, "reading the database header", err);
    return FP_OK;
}

/* Decides whether the file is fedpep's, empty, or someone else's, and which schema version it
 * holds. Reading page 1 is where a non-SQLite file or a damaged header shows. */
static fp_status recognise(store_db_t *db, const schema_def *def, int *version, fp_error *err)
{
    int app_id = 0, objects = 0;
    fp_status st = read_int(db, "PRAGMA application_id", &app_id, err);
    if (!st)
        st = read_int(db, "PRAGMA user_version", version, err);
    if (!st)
        st = read_int(db, "SELECT count(*) FROM sqlite_schema", &objects, err);
    if (st)
        return st;
    const int target = (int)def->n_steps;
    bool empty = app_id == 0 && *version == 0 && objects == 0;
    if (!empty && app_id != STORE_APPLICATION_ID)
        return fp_fail(err, FP_EFORMAT,
                       "%s: an SQLite database of another application (application_id %d, "
                       "%d schema objects), not a fedpep database",
                       db->path, app_id, objects);
    if (empty && db->readonly)
        return fp_fail(err, FP_EFORMAT, "%s: an empty file, not a fedpep database", db->path);
    if (*version > target)
        return fp_fail(err, FP_EVERSION,
                       "%s: schema version %d is newer than this fedpep knows (%d); "
                       "use a newer fedpep",
                       db->path, *version, target);
    if (*version < target && db->readonly)
        return fp_fail(err, FP_EVERSION,
                       "%s: schema version %d is older than this fedpep's (%d); open it once "
                       "read-write (e.g. run the store on it) to migrate",
                       db->path, *version, target);
    return FP_OK;
}

static fp_status exec(store_db_t *db, const char *sql, fp_error *err)
{
    int rc = sqlite3_exec(db->sql, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return db_fail(db, rc, sql, err);
    return FP_OK;
}

/* WAL lets readers run beside the writer; synchronous=FULL makes a COMMIT durable before the
 * store answers SAVED (NORMAL could lose the last rounds on power loss after the ack). */
static fp_status configure_writer(store_db_t *db, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare(db, "PRAGMA journal_mode = WAL", &st, err);
    if (s)
        return s;
    int rc = sqlite3_step(st);
    bool wal = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return db_fail(db, rc, "switching to WAL", err);
    if (!wal)
        return fp_fail(err, FP_EDB, "%s: could not switch to WAL mode", db->path);
    /* After a checkpoint of a big round, shrink the WAL file back instead of keeping its
     * high-water mark (a checkpoint blob can be hundreds of MB). */
    return exec(db, "PRAGMA synchronous = FULL; PRAGMA journal_size_limit = 67108864", err);
}

static fp_status verify(store_db_t *db, fp_error *err)
{
    sqlite3_stmt *st = NULL;
    fp_status s = db_prepare(db, "PRAGMA quick_check", &st, err);
    if (s)
        return s;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
        s = fp_fail(err, FP_EDB, "%s: database is corrupt: %s", db->path,
                    (const char *)sqlite3_column_text(st, 0));
    else if (rc != SQLITE_ROW)
        s = db_fail(db, rc, "checking integrity", err);
    sqlite3_finalize(st);
    return s;
}

/* SQLite treats some non-database files as empty databases and would write its schema over
 * them; so before SQLite sees a file, a non-empty one must start with the SQLite header. */
static fp_status check_header(const char *path, size_t size, fp_error *err)
{
    static const char MAGIC[16] = "SQLite format 3";
    if (size == 0)
        return FP_OK;
    char head[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return fp_fail(err, FP_EIO, "%s: %s", path, strerror(errno));
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    if (size < 100 || got != sizeof head || memcmp(head, MAGIC, sizeof MAGIC) != 0)
        return fp_fail(err, FP_EFORMAT, "%s: not an SQLite database (no SQLite header)", path);
    return FP_OK;
}

static fp_status check_file(const char *path, int flags, fp_error *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (!S_ISREG(sb.st_mode))
            return fp_fail(err, FP_EIO, "%s: not a regular file", path);
        return check_header(path, (size_t)sb.st_size, err);
    }
    if (errno == ENOENT && !(flags & STORE_DB_CREATE))
        return fp_fail(err, FP_ENOTFOUND, "%s: no such database file", path);
    if (errno != ENOENT)
        return fp_fail(err, FP_EIO, "%s: %s", path, strerror(errno));
    return FP_OK;
}

static fp_status open_connection(store_db_t *db, int flags, const schema_def *def, fp_error *err)
{
    int oflags = SQLITE_OPEN_NOMUTEX;
    if (db->readonly)
        oflags |= SQLITE_OPEN_READONLY;
    else
        oflags |= SQLITE_OPEN_READWRITE | ((flags & STORE_DB_CREATE) ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(db->path, &db->sql, oflags, NULL);
    if (rc != SQLITE_OK)
        return db_fail(db, rc, "opening", err);
    sqlite3_extended_result_codes(db->sql, 1);
    sqlite3_busy_timeout(db->sql, BUSY_TIMEOUT_MS);
    int version = 0;
    fp_status st = recognise(db, def, &version, err);
    if (!st && !db->readonly)
        st = configure_writer(db, err);
    if (!st)
        st = exec(db,
                  db->readonly ? "PRAGMA foreign_keys = ON; PRAGMA query_only = ON"
                               : "PRAGMA foreign_keys = ON",
                  err);
    if (!st && version < (int)def->n_steps)
        st = schema_migrate(db->sql, db->path, def, err);
    if (!st && (flags & STORE_DB_VERIFY))
        st = verify(db, err);
    return st;
}

fp_status store_db_open_schema(store_db_t **db_p, const char *path, int flags,
                               const schema_def *def, fp_error *err)
{
    *db_p = NULL;
    if (!path || !*path)
        return fp_fail(err, FP_EINVAL, "empty database path");
    if ((flags & STORE_DB_READONLY) && (flags & STORE_DB_CREATE))
        return fp_fail(err, FP_EINVAL, "%s: read-only and create are exclusive", path);
    fp_status st = check_file(path, flags, err);
    if (st)
        return st;
    store_db_t *db = calloc(1, sizeof *db);
    if (!db || !(db->path = strdup(path))) {
        free(db);
        return fp_fail(err, FP_ENOMEM, "%s: no memory for the handle", path);
    }
    db->readonly = (flags & STORE_DB_READONLY) != 0;
    st = open_connection(db, flags, def, err);
    if (st) {
        store_db_close(&db);
        return st;
    }
    *db_p = db;
    return FP_OK;
}

fp_status store_db_open(store_db_t **db_p, const char *path, int flags, fp_error *err)
{
    return store_db_open_schema(db_p, path, flags, schema_current(), err);
}

void store_db_close(store_db_t **db_p)
{
    if (!db_p || !*db_p)
        return;
    store_db_t *db = *db_p;
    if (db->sql) {
        if (!sqlite3_get_autocommit(db->sql))
            sqlite3_exec(db->sql, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close_v2(db->sql);
    }
    free(db->path);
    free(db);
    *db_p = NULL;
}

const char *store_db_path(const store_db_t *db)
{
    return db->path;
}

fp_status store_db_read_begin(store_db_t *db, fp_error *err)
{
    if (!sqlite3_get_autocommit(db->sql))
        return fp_fail(err, FP_ESTATE, "%s: a snapshot is already open", db->path);
    return exec(db, "BEGIN", err);
}

fp_status store_db_read_end(store_db_t *db, fp_error *err)
{
    if (sqlite3_get_autocommit(db->sql))
        return fp_fail(err, FP_ESTATE, "%s: no snapshot is open", db->path);
    return exec(db, "COMMIT", err);
}

void store_db_set_hook(store_db_t *db, store_db_hook *hook, void *arg)
{
    db->hook = hook;
    db->hook_arg = arg;
}
