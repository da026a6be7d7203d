/* store_db.h — the fedpep run database: one SQLite file holding runs, committed rounds, the
 * clients' part in each round, layer scores, checkpoints and clients' private state.
 *
 * The store actor is the only writer; readers (`fedpep history`, tests, the sqlite3 shell) open
 * the same file at any time and see whole rounds only, because a round, its client rows and its
 * checkpoint are committed in one transaction. A handle belongs to one thread; open one handle
 * per thread or process. The file is SQLite in WAL mode, tagged with STORE_APPLICATION_ID and
 * versioned by `PRAGMA user_version` (see schema.h); docs/storage.md is the schema reference.
 *
 * Ownership: blobs and strings passed in are borrowed for the duration of the call only; every
 * list or blob handed out is allocated here and released by the matching *_free / *_clear.
 * Absent values: a double that is NaN is stored as SQL NULL and read back as NaN; an integer
 * that is -1 in the fields documented "-1 = unknown" is stored as NULL and read back as -1.
 * Every function returns FP_OK or a status with a reason in err naming the database path. */
#ifndef FEDPEP_STORAGE_STORE_DB_H
#define FEDPEP_STORAGE_STORE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef struct store_db store_db_t;

/* Open flags; combine with |. */
enum {
    STORE_DB_CREATE = 1 << 0,   /* create the file (and the schema) if it does not exist */
    STORE_DB_READONLY = 1 << 1, /* readers: never writes, never migrates, never creates */
    STORE_DB_VERIFY = 1 << 2,   /* run PRAGMA quick_check at open (reads the whole file) */
};

/* Longest name, model, task or strategy text accepted (bytes, excluding the NUL). */
#define STORE_TEXT_MAX 255
/* Longest reason (why a run or a round failed) stored; longer ones are cut at a UTF-8
 * boundary, never refused: the reason of a failure must not fail the recording of it. */
#define STORE_REASON_MAX 511

/* Copies src (NULL = "") into dst[STORE_REASON_MAX + 1], cut as above. */
void store_reason_set(char *dst, const char *src);

typedef enum store_run_status {
    STORE_RUN_RUNNING = 0,
    STORE_RUN_FINISHED,
    STORE_RUN_FAILED,
} store_run_status;

typedef enum store_round_status {
    STORE_ROUND_OK = 0, /* aggregated: the checkpoint holds the new global state */
    STORE_ROUND_FAILED, /* too few updates: recorded, state carried over unchanged */
} store_round_status;

typedef enum store_client_status {
    STORE_CLIENT_OK = 0,  /* update arrived by the deadline and was aggregated */
    STORE_CLIENT_DROPPED, /* sampled but never answered (dead, crashed, unavailable) */
    STORE_CLIENT_LATE,    /* answered after the deadline; recorded and ignored */
    STORE_CLIENT_ERROR,   /* answered with ERROR or an invalid update */
} store_client_status;

/* Stable names as stored in the database ("running", "ok", "dropped", ...). */
const char *store_run_status_name(store_run_status status);
const char *store_round_status_name(store_round_status status);
const char *store_client_status_name(store_client_status status);

/* What identifies a run. model, task, strategy and seed must match when a run is resumed. */
typedef struct store_run_spec {
    const char *name;   /* unique in the file, 1..STORE_TEXT_MAX bytes */
    const char *config; /* the full configuration text, stored verbatim */
    const char *model;
    const char *task;
    const char *strategy;
    uint64_t seed;
} store_run_spec;

/* A run as stored. config is allocated; release with store_run_clear or store_runs_free. */
typedef struct store_run {
    int64_t id;
    char name[STORE_TEXT_MAX + 1];
    char model[STORE_TEXT_MAX + 1];
    char task[STORE_TEXT_MAX + 1];
    char strategy[STORE_TEXT_MAX + 1];
    uint64_t seed;
    store_run_status status;
    int64_t created_ms, updated_ms; /* Unix time in milliseconds */
    char *config;
    char reason[STORE_REASON_MAX + 1]; /* why the run failed; "" = none (NULL in the file) */
} store_run;

/* One round's summary. committed_ms is set by the store on commit (ignored on input). */
typedef struct store_round {
    int32_t round; /* numbered from 0, committed in order without gaps */
    store_round_status status;
    int32_t sampled, completed, dropped, late; /* sampled counts every client row of the round */
    double train_loss;                         /* NaN = none */
    double eval_metric; /* the task's metric; NaN = not evaluated this round */
    double eval_loss, eval_accuracy, eval_f1, eval_mcc; /* NaN = not measured */
    int64_t bytes_down, bytes_up; /* payload bytes sent to / received from clients */
    int64_t wall_ms, slowest_client_ms;
    int64_t committed_ms;
    int32_t retries; /* attempts of the round before the one committed (0 = the first) */
    char reason[STORE_REASON_MAX + 1]; /* why a failed round failed; "" = none (NULL) */
    /* The aggregated clients' training CPU time: sum and largest; -1 = not measured. */
    int64_t client_cpu_ms, client_cpu_max_ms;
    /* The global model on the whole evaluation split; NaN = not evaluated (the eval_* fields
     * are the pooled personalised scores, the same model when nothing is personalised). */
    double global_metric, global_loss, global_accuracy, global_f1, global_mcc;
} store_round;

/* One sampled client's part in a round. */
typedef struct store_client_round {
    int32_t round; /* set on read; on commit ignored (the round being committed applies) */
    int32_t client;
    store_client_status status;
    int64_t n_k, steps; /* -1 = unknown; required (>= 0) when status is OK */
    double loss;        /* NaN = none */
    int64_t ms;         /* local time in ms; -1 = unknown */
} store_client_round;

/* A client row as it is stored: only an OK row (its update arrived in time) carries n_k, steps,
 * loss and ms; a dropped, late or failed client's measurements did not happen (or never reached
 * the coordinator) and are unknown (NULL in the file), whatever the caller had in hand. The one
 * place that rule lives: the store actor and simulate both build their rows with it. */
store_client_round store_client_round_make(int32_t client, store_client_status status, int64_t n_k,
                                           int64_t steps, double loss, int64_t ms);

/* Borrowed bytes (input). data may be NULL only when size is 0. */
typedef struct store_blob {
    const void *data;
    size_t size;
} store_blob;

/* Owned bytes (output), malloc'd; data is non-NULL even when size is 0. */
typedef struct store_bytes {
    void *data;
    size_t size;
} store_bytes;

/* The coordinator's state after a round: global prompt rows, server optimizer state
 * (momentum, control variates, previous pseudo-gradient, server lr, ...) and RNG state. The
 * store does not interpret the bytes. */
typedef struct store_checkpoint_blobs {
    store_blob prompt, server_state, rng;
} store_checkpoint_blobs;

typedef struct store_checkpoint {
    int32_t round;
    store_bytes prompt, server_state, rng;
} store_checkpoint;

typedef struct store_layer {
    int32_t layer;
    double score; /* NaN = not scored (the last layer never is) */
    bool selected;
} store_layer;

typedef struct store_client_state {
    int32_t round; /* the last round whose training this state reflects */
    store_bytes prompt, adam;
    int64_t saved_ms;
} store_client_state;

/* ---- the handle ---- */

/* Opens (and with STORE_DB_CREATE creates) the database at path: WAL, foreign keys on, a busy
 * timeout, synchronous=FULL, and the schema migrated to the current version in one
 * transaction. Fails, leaving *db_p NULL and touching nothing, with FP_ENOTFOUND (no such file),
 * FP_EFORMAT (not SQLite, or SQLite of another application, or empty when read-only),
 * FP_EVERSION (schema newer than this code, or older and read-only), FP_EDB (corrupt, locked),
 * FP_EIO (cannot open). */
fp_status store_db_open(store_db_t **db_p, const char *path, int flags, fp_error *err);

/* Closes the handle and sets *db_p to NULL; accepts NULL and *db_p == NULL. */
void store_db_close(store_db_t **db_p);

const char *store_db_path(const store_db_t *db);

/* A read snapshot spanning several calls: every read between begin and end sees the same
 * committed state. Writes inside a snapshot fail with FP_ESTATE. */
fp_status store_db_read_begin(store_db_t *db, fp_error *err);
fp_status store_db_read_end(store_db_t *db, fp_error *err);

/* ---- runs ---- */

/* Creates the run, or re-opens it by name for resume. On resume the stored model, task,
 * strategy and seed must equal the spec's (FP_ESTATE names the first that differs); the stored
 * config is kept; a failed run is set back to running; a finished run stays finished (the caller
 * decides what resuming it means). *resumed (may be NULL) tells which happened. */
fp_status store_db_run_begin(store_db_t *db, const store_run_spec *spec, int64_t *run_id,
                             bool *resumed, fp_error *err);

fp_status store_db_run_set_status(store_db_t *db, int64_t run_id, store_run_status status,
                                  fp_error *err);
/* The same with the reason the run ended so (NULL or "" = none; cut at STORE_REASON_MAX). */
fp_status store_db_run_set_status_reason(store_db_t *db, int64_t run_id, store_run_status status,
                                         const char *reason, fp_error *err);

/* FP_ENOTFOUND when no run has that name / id. */
fp_status store_db_run_find(store_db_t *db, const char *name, store_run *out, fp_error *err);
fp_status store_db_run_get(store_db_t *db, int64_t run_id, store_run *out, fp_error *err);

/* All runs, oldest first. */
fp_status store_db_runs_list(store_db_t *db, store_run **runs, size_t *n, fp_error *err);

void store_run_clear(store_run *run);
void store_runs_free(store_run **runs_p, size_t n);

/* ---- rounds ---- */

/* Commits round->round of the run atomically: the round row, all n_clients client rows and the
 * checkpoint, plus the run's updated_ms, in one BEGIN IMMEDIATE transaction; any failure rolls
 * everything back. Rules:
 *  - the run must exist (FP_ENOTFOUND) and be running (FP_ESTATE);
 *  - rounds are committed in order: the first is 0, then the latest + 1 (FP_ESTATE otherwise);
 *  - n_clients == sampled; the OK, DROPPED and LATE rows number completed, dropped and late;
 *    client ids are distinct (FP_EINVAL otherwise);
 *  - committing a round that is already stored succeeds with *duplicate = true and writes
 *    nothing if the round row (except committed_ms), the client rows (in any order) and the
 *    checkpoint bytes are identical to what is stored — the retry after a lost SAVED ack — and
 *    fails with FP_ESTATE if anything differs (a round is never rewritten). A stored round whose
 *    checkpoint was pruned compares on its rows only.
 * duplicate may be NULL. */
fp_status store_db_round_commit(store_db_t *db, int64_t run_id, const store_round *round,
                                const store_client_round *clients, size_t n_clients,
                                const store_checkpoint_blobs *ckpt, bool *duplicate, fp_error *err);

/* The committed rounds of a run in order; *rounds is malloc'd (free with free()), NULL if n 0. */
fp_status store_db_rounds_list(store_db_t *db, int64_t run_id, store_round **rounds, size_t *n,
                               fp_error *err);

/* The client rows of one round ordered by client id; free *clients with free(). */
fp_status store_db_round_clients(store_db_t *db, int64_t run_id, int32_t round,
                                 store_client_round **clients, size_t *n, fp_error *err);

/* ---- checkpoints ---- */

/* The checkpoint of the latest committed round (what a resumed coordinator continues from).
 * FP_ENOTFOUND if the run has no committed round; FP_EDB if the stored bytes no longer match
 * the checksum written with them. Release with store_checkpoint_clear. */
fp_status store_db_checkpoint_latest(store_db_t *db, int64_t run_id, store_checkpoint *out,
                                     fp_error *err);

/* Deletes the checkpoint blobs of all but the newest `keep` (>= 1) rounds of the run; round and
 * client rows stay. */
fp_status store_db_checkpoints_prune(store_db_t *db, int64_t run_id, int keep, fp_error *err);

void store_checkpoint_clear(store_checkpoint *ckpt);

/* ---- layer scores ---- */

/* Saves the score and selection of every layer 0..n_layers-1 in one transaction. The
 * selection is fixed for a run: saving again succeeds only if identical (FP_ESTATE otherwise).
 * score[l] NaN = not scored. */
fp_status store_db_layers_save(store_db_t *db, int64_t run_id, const double *score,
                               const bool *selected, size_t n_layers, fp_error *err);

/* The layers of a run by layer index; *layers malloc'd (free()), n 0 if never saved. */
fp_status store_db_layers_load(store_db_t *db, int64_t run_id, store_layer **layers, size_t *n,
                               fp_error *err);

/* ---- clients' private state ---- */

/* Saves client's private prompt and Adam state as of `round`, replacing an older save. Saving
 * for a round older than the stored one fails with FP_ESTATE (a stale message must not roll a
 * client back); the same round replaces (a client that re-ran the round after a restart). */
fp_status store_db_client_state_save(store_db_t *db, int64_t run_id, int32_t client, int32_t round,
                                     store_blob prompt, store_blob adam, fp_error *err);

/* FP_ENOTFOUND if the client never saved; FP_EDB on a checksum mismatch. Release with
 * store_client_state_clear. */
fp_status store_db_client_state_load(store_db_t *db, int64_t run_id, int32_t client,
                                     store_client_state *out, fp_error *err);

void store_client_state_clear(store_client_state *state);

/* ---- failures ---- */

/* What repeating a failed call would do, from the SQLite result of the handle's last failure. */
typedef enum store_db_failure {
    STORE_DB_NO_FAILURE = 0, /* no SQLite failure since the last take (a refused rule or
                                argument — FP_ESTATE, FP_EINVAL ... — is not one) */
    STORE_DB_BUSY,           /* another connection held the lock past the busy timeout: a
                                later try may pass */
    STORE_DB_FINAL,          /* fails again however often it is tried: the file is read-only,
                                the disk is full, an I/O error, a damaged file or checksum, no
                                memory, a constraint */
} store_db_failure;

/* The kind of the SQLite failures since the previous call (the worst of them), and forgets
 * them. A store calls it after each request to tell a retryable failure from a final one. */
store_db_failure store_db_take_failure(store_db_t *db);

/* How long one statement waits for another connection's lock (default 5000 ms). */
void store_db_set_busy_timeout(store_db_t *db, int ms);

/* ---- testing ---- */

/* Test-only fault injection for the writers of a process, from the environment variable
 * FEDPEP_TEST_STORE_FAULT read when a handle opens read-write:
 *   "readonly"  every write fails as on a read-only file (PRAGMA query_only: SQLITE_READONLY,
 *               "attempt to write a readonly database");
 *   "full:N"    the first N write transactions commit, every later one fails at COMMIT as on a
 *               full disk (SQLITE_FULL, "database or disk is full") and is rolled back.
 * Anything else in the variable is ignored. Readers are never affected. */
#define STORE_DB_FAULT_ENV "FEDPEP_TEST_STORE_FAULT"

/* Test-only: hook(arg, step) is called at named points between the statements of a write
 * transaction ("begin", "round", "client", "checkpoint", "run", "commit", "committed"), so a
 * test can kill the process at each point and prove a round is all there or absent. */
typedef void store_db_hook(void *arg, const char *step);
void store_db_set_hook(store_db_t *db, store_db_hook *hook, void *arg);

#endif
