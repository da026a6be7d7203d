/* schema.c — the one copy of the fedpep database schema (every version step) and the migration
 * engine; see schema.h. A step, once released, must never be edited: a file created by it
 * exists somewhere. Change the schema by appending a step. */
#include "schema.h"

#include <stdio.h>

/* Version 1. Conventions: times are Unix milliseconds (INTEGER *_ms); an absent measurement is
 * NULL; every table is STRICT so a wrong type is refused rather than stored; a row's blobs carry
 * a `checksum` (store_hash64 chained over them, as a signed 64-bit integer). Composite-key
 * tables of small rows are WITHOUT ROWID; the blob tables keep rowids (large rows). */
static const char SCHEMA_V1[] =
    "CREATE TABLE runs (\n"
    "    id          INTEGER PRIMARY KEY,\n"
    "    name        TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 255),\n"
    "    config      TEXT    NOT NULL,\n"
    "    model       TEXT    NOT NULL CHECK (length(model) <= 255),\n"
    "    task        TEXT    NOT NULL CHECK (length(task) <= 255),\n"
    "    strategy    TEXT    NOT NULL CHECK (length(strategy) <= 255),\n"
    "    seed        INTEGER NOT NULL,\n"
    "    status      TEXT    NOT NULL DEFAULT 'running'\n"
    "                        CHECK (status IN ('running', 'finished', 'failed')),\n"
    "    created_ms  INTEGER NOT NULL,\n"
    "    updated_ms  INTEGER NOT NULL\n"
    ") STRICT;\n"
    "\n"
    "CREATE TABLE rounds (\n"
    "    run               INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
    "    round             INTEGER NOT NULL CHECK (round >= 0),\n"
    "    status            TEXT    NOT NULL CHECK (status IN ('ok', 'failed')),\n"
    "    sampled           INTEGER NOT NULL CHECK (sampled >= 0),\n"
    "    completed         INTEGER NOT NULL CHECK (completed >= 0),\n"
    "    dropped           INTEGER NOT NULL CHECK (dropped >= 0),\n"
    "    late              INTEGER NOT NULL CHECK (late >= 0),\n"
    "    train_loss        REAL,\n"
    "    eval_metric       REAL,\n"
    "    eval_loss         REAL,\n"
    "    eval_accuracy     REAL,\n"
    "    eval_f1           REAL,\n"
    "    eval_mcc          REAL,\n"
    "    bytes_down        INTEGER NOT NULL CHECK (bytes_down >= 0),\n"
    "    bytes_up          INTEGER NOT NULL CHECK (bytes_up >= 0),\n"
    "    wall_ms           INTEGER NOT NULL CHECK (wall_ms >= 0),\n"
    "    slowest_client_ms INTEGER NOT NULL CHECK (slowest_client_ms >= 0),\n"
    "    committed_ms      INTEGER NOT NULL,\n"
    "    PRIMARY KEY (run, round),\n"
    "    CHECK (completed + dropped + late <= sampled)\n"
    ") STRICT, WITHOUT ROWID;\n"
    "\n"
    "CREATE TABLE client_rounds (\n"
    "    run     INTEGER NOT NULL,\n"
    "    round   INTEGER NOT NULL,\n"
    "    client  INTEGER NOT NULL CHECK (client >= 0),\n"
    "    status  TEXT    NOT NULL CHECK (status IN ('ok', 'dropped', 'late', 'error')),\n"
    "    n_k     INTEGER CHECK (n_k >= 0),\n"
    "    steps   INTEGER CHECK (steps >= 0),\n"
    "    loss    REAL,\n"
    "    ms      INTEGER CHECK (ms >= 0),\n"
    "    PRIMARY KEY (run, round, client),\n"
    "    FOREIGN KEY (run, round) REFERENCES rounds (run, round) ON DELETE CASCADE,\n"
    "    CHECK (status <> 'ok' OR (n_k IS NOT NULL AND steps IS NOT NULL))\n"
    ") STRICT, WITHOUT ROWID;\n"
    "CREATE INDEX client_rounds_by_client ON client_rounds (run, client, round);\n"
    "\n"
    "CREATE TABLE layer_scores (\n"
    "    run      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
    "    layer    INTEGER NOT NULL CHECK (layer >= 0),\n"
    "    score    REAL,\n"
    "    selected INTEGER NOT NULL CHECK (selected IN (0, 1)),\n"
    "    PRIMARY KEY (run, layer)\n"
    ") STRICT, WITHOUT ROWID;\n"
    "\n"
    "CREATE TABLE checkpoints (\n"
    "    run          INTEGER NOT NULL,\n"
    "    round        INTEGER NOT NULL,\n"
    "    prompt       BLOB    NOT NULL,\n"
    "    server_state BLOB    NOT NULL,\n"
    "    rng          BLOB    NOT NULL,\n"
    "    checksum     INTEGER NOT NULL,\n"
    "    PRIMARY KEY (run, round),\n"
    "    FOREIGN KEY (run, round) REFERENCES rounds (run, round) ON DELETE CASCADE\n"
    ") STRICT;\n"
    "\n"
    "CREATE TABLE client_state (\n"
    "    run      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
    "    client   INTEGER NOT NULL CHECK (client >= 0),\n"
    "    round    INTEGER NOT NULL CHECK (round >= 0),\n"
    "    prompt   BLOB    NOT NULL,\n"
    "    adam     BLOB    NOT NULL,\n"
    "    checksum INTEGER NOT NULL,\n"
    "    saved_ms INTEGER NOT NULL,\n"
    "    PRIMARY KEY (run, client)\n"
    ") STRICT;\n";

/* Version 2: why a run or a round failed, and how many times a round was retried before the
 * attempt that was committed. A run that failed says why (a round that could not gather
 * min_clients updates, a database that refused a write); a round committed as failed (skipped)
 * says why; NULL while there is nothing to say. */
static const char SCHEMA_V2[] =
    "ALTER TABLE runs ADD COLUMN reason TEXT CHECK (length(reason) <= 511);\n"
    "ALTER TABLE rounds ADD COLUMN retries INTEGER NOT NULL DEFAULT 0 CHECK (retries >= 0);\n"
    "ALTER TABLE rounds ADD COLUMN reason TEXT CHECK (length(reason) <= 511);\n";

/* Version 3: what a comparison of strategies needs per round. The clients' training CPU time
 * (sum and slowest over the aggregated updates, process CPU time of their local rounds: unlike
 * wall time it does not grow when the machine is shared), NULL when a driver could not measure
 * every update's; and the global model's scores on the whole evaluation split (the travelling
 * rows over the run's initial prompt), beside the eval_* columns, which for a personalising
 * strategy pool each client's own prompt on its own shard. NULL when not evaluated. */
static const char SCHEMA_V3[] =
    "ALTER TABLE rounds ADD COLUMN client_cpu_ms INTEGER CHECK (client_cpu_ms >= 0);\n"
    "ALTER TABLE rounds ADD COLUMN client_cpu_max_ms INTEGER\n"
    "    CHECK (client_cpu_max_ms >= 0 AND client_cpu_max_ms <= client_cpu_ms);\n"
    "ALTER TABLE rounds ADD COLUMN global_metric REAL;\n"
    "ALTER TABLE rounds ADD COLUMN global_loss REAL;\n"
    "ALTER TABLE rounds ADD COLUMN global_accuracy REAL;\n"
    "ALTER TABLE rounds ADD COLUMN global_f1 REAL;\n"
    "ALTER TABLE rounds ADD COLUMN global_mcc REAL;\n";

static const schema_step STEPS[] = {
    {1, SCHEMA_V1},
    {2, SCHEMA_V2},
    {3, SCHEMA_V3},
};

static const schema_def CURRENT = {STEPS, sizeof STEPS / sizeof STEPS[0]};

const schema_def *schema_current(void)
{
    return &CURRENT;
}

static fp_status sql_fail(sqlite3 *db, const char *path, const char *what, fp_error *err)
{
    return fp_fail(err, FP_EDB, "%s: %s: %s", path, what, sqlite3_errmsg(db));
}

static fp_status read_int_pragma(sqlite3 *db, const char *path, const char *sql, int *out,
                                 fp_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, path, sql, err);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return sql_fail(db, path, sql, err);
    return FP_OK;
}

static fp_status apply_steps(sqlite3 *db, const char *path, const schema_def *def, int from,
                             fp_error *err)
{
    for (size_t i = 0; i < def->n_steps; i++) {
        const schema_step *s = &def->steps[i];
        if (s->version <= from)
            continue;
        char *msg = NULL;
        if (sqlite3_exec(db, s->sql, NULL, NULL, &msg) != SQLITE_OK) {
            fp_fail(err, FP_EDB, "%s: migrating to schema version %d: %s", path, s->version,
                    msg ? msg : sqlite3_errmsg(db));
            sqlite3_free(msg);
            return FP_EDB;
        }
    }
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d;",
             (int)def->n_steps, STORE_APPLICATION_ID);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sql_fail(db, path, "setting the schema version", err);
    return FP_OK;
}

fp_status schema_migrate(sqlite3 *db, const char *path, const schema_def *def, fp_error *err)
{
    for (size_t i = 0; i < def->n_steps; i++)
        if (def->steps[i].version != (int)i + 1)
            return fp_fail(err, FP_EINVAL, "schema step %zu has version %d, want %zu", i,
                           def->steps[i].version, i + 1);
    const int target = (int)def->n_steps;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sql_fail(db, path, "starting the migration", err);
    int from = 0;
    fp_status st = read_int_pragma(db, path, "PRAGMA user_version", &from, err);
    if (!st && from > target)
        st = fp_fail(err, FP_EVERSION, "%s: schema version %d is newer than this fedpep knows (%d)",
                     path, from, target);
    if (!st && from < target)
        st = apply_steps(db, path, def, from, err);
    if (!st && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        st = sql_fail(db, path, "committing the migration", err);
    if (st && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return st;
}
