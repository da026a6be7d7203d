/* schema.h — the versioned schema of the fedpep database and the engine that migrates a file to
 * it. Used by store_db.c and by tests (which migrate with their own step tables); nothing else
 * should need it.
 *
 * Version N of the schema is reached from version N-1 by running step N's SQL. A file's version
 * is its `PRAGMA user_version`; a fedpep file is recognised by `PRAGMA application_id`. This file
 * must never hold a second copy of the schema text: schema.c is the one place. */
#ifndef FEDPEP_STORAGE_SCHEMA_H
#define FEDPEP_STORAGE_SCHEMA_H

#include <stddef.h>
#include <sqlite3.h>

#include "common/status.h"

/* 'FPEP' in ASCII: the application_id of every fedpep database. */
#define STORE_APPLICATION_ID 0x46504550

typedef struct schema_step {
    int version;     /* the user_version this step produces: steps are 1, 2, 3, ... in order */
    const char *sql; /* one or more statements */
} schema_step;

typedef struct schema_def {
    const schema_step *steps;
    size_t n_steps; /* the current version is steps[n_steps-1].version == n_steps */
} schema_def;

/* The schema this build of fedpep writes and reads. */
const schema_def *schema_current(void);

/* Brings the open database db (named path in messages) from its user_version up to the last
 * version of def, in one BEGIN IMMEDIATE transaction that also sets the application_id. Re-reads
 * the version inside the transaction, so two processes migrating at once is safe. On failure
 * rolls back and leaves the file as it was. FP_EVERSION if the file is newer than def. */
fp_status schema_migrate(sqlite3 *db, const char *path, const schema_def *def, fp_error *err);

/* Test-only seam: store_db_open with another schema definition (store_db_open uses
 * schema_current()). Declared here so the public header stays free of sqlite3.h. */
struct store_db;
fp_status store_db_open_schema(struct store_db **db_p, const char *path, int flags,
                               const schema_def *def, fp_error *err);

#endif
