/* store_failure.c — what a failed call would do if repeated (store_db_take_failure: busy, so a
 * later try may pass, or final), and the test-only fault injection of STORE_DB_FAULT_ENV that
 * makes a writer behave as on a read-only file or a full disk. It must never turn a failure
 * into a success, and the injection must never touch a reader. */
#include "store_db_private.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

void db_note_failure(store_db_t *db, store_db_failure kind)
{
    if ((int)kind > db->failure)
        db->failure = (int)kind;
}

store_db_failure store_db_take_failure(store_db_t *db)
{
    store_db_failure kind = (store_db_failure)db->failure;
    db->failure = STORE_DB_NO_FAILURE;
    return kind;
}

void store_db_set_busy_timeout(store_db_t *db, int ms)
{
    sqlite3_busy_timeout(db->sql, ms > 0 ? ms : 0);
}

fp_status db_faults_from_env(store_db_t *db, fp_error *err)
{
    db->fault_full_after = -1;
    const char *v = getenv(STORE_DB_FAULT_ENV);
    if (!v || db->readonly)
        return FP_OK;
    if (!strcmp(v, "readonly")) {
        /* SQLite's own refusal: every write statement fails with SQLITE_READONLY. */
        int rc = sqlite3_exec(db->sql, "PRAGMA query_only = ON", NULL, NULL, NULL);
        return rc == SQLITE_OK ? FP_OK : db_fail(db, rc, "injecting read-only", err);
    }
    if (!strncmp(v, "full:", 5)) {
        char *end = NULL;
        errno = 0;
        long n = strtol(v + 5, &end, 10);
        if (!errno && end != v + 5 && !*end && n >= 0 && n < LONG_MAX)
            db->fault_full_after = n;
    }
    return FP_OK;
}

fp_status db_fault_at_commit(store_db_t *db, fp_error *err)
{
    if (db->fault_full_after < 0 || db->writes < db->fault_full_after)
        return FP_OK;
    db_note_failure(db, STORE_DB_FINAL);
    return fp_fail(err, FP_EIO, "%s: committing: %s (injected by %s)", db->path,
                   sqlite3_errstr(SQLITE_FULL), STORE_DB_FAULT_ENV);
}
