/* store_db_private.h — what the files of storage/ share behind the public store_db.h: the
 * handle's layout and small helpers for statements, errors and write transactions. Never
 * include it outside storage/. */
#ifndef FEDPEP_STORAGE_STORE_DB_PRIVATE_H
#define FEDPEP_STORAGE_STORE_DB_PRIVATE_H

#include <sqlite3.h>

#include "store_db.h"

struct store_db {
    sqlite3 *sql;
    char *path;
    bool readonly;
    store_db_hook *hook;
    void *hook_arg;
    int failure;           /* store_db_failure: the worst SQLite failure since the last take */
    long fault_full_after; /* STORE_DB_FAULT_ENV "full:N": N, else -1 */
    long writes;           /* write transactions committed by this handle */
};

/* Fails with a status chosen from the SQLite result code (FP_EFORMAT for "not a database",
 * FP_ENOMEM, FP_EIO for I/O errors, else FP_EDB) and a reason "path: what: sqlite message",
 * and records the failure's kind for store_db_take_failure. */
fp_status db_fail(store_db_t *db, int rc, const char *what, fp_error *err);

/* Records a failure found without an SQLite result (a checksum mismatch: FINAL). */
void db_note_failure(store_db_t *db, store_db_failure kind);

/* Reads STORE_DB_FAULT_ENV for a handle opened read-write and applies "readonly"; see
 * store_db.h. */
fp_status db_faults_from_env(store_db_t *db, fp_error *err);

/* Just before a COMMIT: FP_OK, or the injected "full:N" failure once N writes committed. */
fp_status db_fault_at_commit(store_db_t *db, fp_error *err);

/* Prepares sql; on failure reports it through db_fail. */
fp_status db_prepare(store_db_t *db, const char *sql, sqlite3_stmt **st, fp_error *err);

/* Prepares sql whose ?1 is a run id and binds it; binds key to ?2 if sql has a ?2 (a round, a
 * client, a count). */
fp_status db_prepare_keyed(store_db_t *db, const char *sql, int64_t run_id, int32_t key,
                           sqlite3_stmt **st, fp_error *err);

/* Steps a statement that returns no row (INSERT/UPDATE/DELETE) and resets it. */
fp_status db_exec_stmt(store_db_t *db, sqlite3_stmt *st, const char *what, fp_error *err);

/* Calls the test hook, if any. */
void db_hook(store_db_t *db, const char *step);

/* A write transaction: BEGIN IMMEDIATE (so a writer never deadlocks upgrading a read lock),
 * FP_ESTATE if the handle is read-only or a read snapshot is open. db_write_end commits when
 * st is FP_OK and rolls back otherwise; it returns the final status (a failed COMMIT turns OK
 * into FP_EDB). */
fp_status db_write_begin(store_db_t *db, fp_error *err);
fp_status db_write_end(store_db_t *db, fp_status st, fp_error *err);

/* The status of a run; FP_ENOTFOUND if there is no such run. */
fp_status db_run_status(store_db_t *db, int64_t run_id, store_run_status *status, fp_error *err);

/* Equal, or both NaN (both absent). */
bool db_same_double(double a, double b);

/* Current Unix time in milliseconds. */
int64_t db_now_ms(void);

/* NaN binds as NULL, NULL reads as NaN; -1 binds as NULL, NULL reads as -1. */
int db_bind_double(sqlite3_stmt *st, int i, double v);
int db_bind_opt_int(sqlite3_stmt *st, int i, int64_t v);
double db_column_double(sqlite3_stmt *st, int i);
int64_t db_column_opt_int(sqlite3_stmt *st, int i);

/* Binds borrowed bytes (an empty blob, not NULL, when size is 0); SQLITE_TOOBIG past the
 * SQLite limit. The bytes must stay valid until the statement is reset. */
int db_bind_blob(sqlite3_stmt *st, int i, store_blob blob);

/* Binds blobs to ?first..?first+n-1 and their db_hash_blobs checksum to ?first+n. */
int db_bind_blobs_hashed(sqlite3_stmt *st, int first, const store_blob *blobs, size_t n);

/* Copies column i into freshly allocated owned bytes. */
fp_status db_column_bytes(store_db_t *db, sqlite3_stmt *st, int i, store_bytes *out, fp_error *err);

/* Checks a borrowed blob's contract (data non-NULL unless size is 0). */
fp_status db_check_blob(store_blob blob, const char *what, fp_error *err);

/* The names of the status enums as stored, indexed by enum value. */
extern const char *const DB_RUN_STATUS[3];
extern const char *const DB_ROUND_STATUS[2];
extern const char *const DB_CLIENT_STATUS[4];

/* Index of text in names[0..n-1], or -1 (NULL text included). */
int db_parse_name(const unsigned char *text, const char *const *names, int n);

/* Makes room for item n of an array of `size`-byte items grown by doubling (*cap is its
 * capacity). FP_ENOMEM leaves the array as it was. */
fp_status db_grow(store_db_t *db, void **items, size_t *cap, size_t n, size_t size, fp_error *err);

/* Reads one row of a result into row (a struct of the reader's kind). */
typedef fp_status row_reader(store_db_t *db, sqlite3_stmt *st, void *row, fp_error *err);

/* Runs sql keyed as db_prepare_keyed and collects every row into a malloc'd array of `size`-byte
 * rows (*rows NULL when *n is 0). On failure nothing is returned. */
fp_status db_read_rows(store_db_t *db, const char *sql, int64_t run_id, int32_t key,
                       row_reader *reader, size_t size, void **rows, size_t *n, fp_error *err);

/* store_hash64 chained over n blobs, as stored in a `checksum` column. */
int64_t db_hash_blobs(const store_blob *blobs, size_t n);

/* Copies the n blob columns first..first+n-1 into *outs[i] and checks them against the checksum
 * in column first+n: FP_EDB naming `what` on a mismatch. On failure the caller clears outs. */
fp_status db_column_blobs_checked(store_db_t *db, sqlite3_stmt *st, int first,
                                  store_bytes *const *outs, size_t n, const char *what,
                                  fp_error *err);

/* Copies column i's text into buf (cap bytes incl. NUL), truncating. */
void db_column_text(sqlite3_stmt *st, int i, char *buf, size_t cap);

#endif
