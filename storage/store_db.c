/* store_db.c — opening and closing the fedpep database: recognising the file (SQLite at all,
 * fedpep's and not another application's, a schema version we speak), setting the connection up
 * (WAL, foreign keys, busy timeout, durable commits), migrating, and read snapshots. It must
 * never convert, migrate or otherwise write to a file it has not recognised as fedpep's (or an
 * empty one it was asked to create). */
#include "schema.h"
#include "store_db_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* How long a statement waits for another connection's lock before failing with FP_EDB. The
 * only writer is the store actor, so waits are short: readers never block it in WAL mode. */
enum { BUSY_TIMEOUT_MS = 5000 };

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
    /* One read transaction: another process may be creating the schema right now, and reading
     * its id before and its tables after that commit would look like a foreign file. */
    int app_id = 0, objects = 0;
    int rc = sqlite3_exec(db->sql, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return db_fail(db, rc, "reading the database header", err);
    fp_status st = read_int(db, "PRAGMA application_id", &app_id, err);
    if (!st)
        st = read_int(db, "PRAGMA user_version", version, err);
    if (!st)
        st = read_int(db, "SELECT count(*) FROM sqlite_schema", &objects, err);
    sqlite3_exec(db->sql, st ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
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
    /* Checkpoint blobs dominate the file: 64 KiB pages make their overflow chains 16x shorter
     * (a 32 MB checkpoint commits ~1.7x faster than with 4 KiB pages). Takes effect only on a
     * new, empty file; an existing file keeps its page size. */
    fp_status s = exec(db, "PRAGMA page_size = 65536", err);
    if (s)
        return s;
    /* Changing the journal mode needs an exclusive lock, and SQLite answers BUSY at once
     * instead of calling the busy handler when another process holds one (several processes
     * creating the same file at the same instant): ask again for as long as a statement would
     * wait. */
    int rc = SQLITE_BUSY;
    bool wal = false;
    for (int waited = 0; (rc & 0xff) == SQLITE_BUSY && waited <= BUSY_TIMEOUT_MS; waited += 10) {
        if (waited)
            sqlite3_sleep(10);
        sqlite3_stmt *st = NULL;
        s = db_prepare(db, "PRAGMA journal_mode = WAL", &st, err);
        if (s)
            return s;
        rc = sqlite3_step(st);
        wal = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
        sqlite3_finalize(st);
    }
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
    if (!st)
        st = db_faults_from_env(db, err);
    store_db_take_failure(db); /* opening is judged by its status alone */
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
    db->fault_full_after = -1;
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
