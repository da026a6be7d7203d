/* test_history_fixture.h — a small database for the history and plot tests, filled through the
 * storage API (not through the code under test): run "alpha" (sst2, fedpeptao) with
 * HX_ALPHA_ROUNDS rounds, run "beta" (cola, fedprompt, failed) with none. Values are functions
 * of the round so tests can state them exactly; created times are pinned to fixed instants. */
#ifndef FEDPEP_TESTS_TEST_HISTORY_FIXTURE_H
#define FEDPEP_TESTS_TEST_HISTORY_FIXTURE_H

#include "tests/support/test.h"

#include <sqlite3.h>

#include "storage/store_db.h"

enum { HX_ALPHA_ROUNDS = 3 };

/* Round r of alpha: 3 sampled; round 2 has client 5 dropped and client 8 late; round 0 was
 * not evaluated. */
static inline void hx_commit_round(store_db_t *db, int64_t run, int32_t r)
{
    store_round round = {
        .round = r,
        .status = STORE_ROUND_OK,
        .sampled = 3,
        .completed = r == 2 ? 1 : 3,
        .dropped = r == 2 ? 1 : 0,
        .late = r == 2 ? 1 : 0,
        .train_loss = 0.75 - 0.125 * r,
        .eval_metric = r == 0 ? NAN : 0.5 + 0.125 * r,
        .eval_loss = NAN,
        .eval_accuracy = NAN,
        .eval_f1 = NAN,
        .eval_mcc = NAN,
        .bytes_down = 30000 + 1000 * r,
        .bytes_up = 29000 + 1000 * r,
        .wall_ms = 4250 + r,
        .slowest_client_ms = 3125,
        .client_cpu_ms = r == 1 ? -1 : 2500 + 500 * r, /* round 1: not measured */
        .client_cpu_max_ms = r == 1 ? -1 : 1000,
        .global_metric = r == 0 ? NAN : 0.375 + 0.125 * r,
        .global_loss = NAN,
        .global_accuracy = NAN,
        .global_f1 = NAN,
        .global_mcc = NAN,
    };
    store_client_round cl[3] = {
        {.client = 2, .status = STORE_CLIENT_OK, .n_k = 120, .steps = 8, .loss = 0.5, .ms = 3125},
        {.client = 5, .status = STORE_CLIENT_OK, .n_k = 80, .steps = 5, .loss = 0.25, .ms = 2000},
        {.client = 8, .status = STORE_CLIENT_OK, .n_k = 100, .steps = 7, .loss = 0.375, .ms = 2500},
    };
    if (r == 2) {
        cl[1] = (store_client_round){.client = 5, .status = STORE_CLIENT_DROPPED, .n_k = 80,
                                     .steps = -1, .loss = NAN, .ms = -1};
        cl[2].status = STORE_CLIENT_LATE;
        cl[2].ms = 9000;
    }
    unsigned char bytes[16] = {(unsigned char)r};
    store_checkpoint_blobs ck = {{bytes, 16}, {bytes, 4}, {bytes, 8}};
    fp_error err = {0};
    if (store_db_round_commit(db, run, &round, cl, 3, &ck, NULL, &err))
        fail_msg("commit round %d: %s", r, err.msg);
}

static inline void hx_sql(const char *path, const char *sql)
{
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
    sqlite3_busy_timeout(raw, 5000);
    char *msg = NULL;
    if (sqlite3_exec(raw, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(raw);
}

#define HX_BETA_REASON                                                                             \
    "round 0: 1 of 3 updates (min_clients 2) after 4 attempts, 10 of 10 clients asked; no retry "  \
    "left (max_retries)"

/* Creates the fixture database at path. */
static inline void hx_fill(const char *path)
{
    store_db_t *db = NULL;
    fp_error err = {0};
    if (store_db_open(&db, path, STORE_DB_CREATE, &err))
        fail_msg("open %s: %s", path, err.msg);
    store_run_spec alpha = {"alpha", "[run]\nname = alpha\n", "tiny", "sst2", "fedpeptao", 7};
    store_run_spec beta = {"beta", "", "tiny", "cola", "fedprompt", 8};
    int64_t a = 0, b = 0;
    assert_int_equal(store_db_run_begin(db, &alpha, &a, NULL, &err), FP_OK);
    assert_int_equal(store_db_run_begin(db, &beta, &b, NULL, &err), FP_OK);
    for (int32_t r = 0; r < HX_ALPHA_ROUNDS; r++)
        hx_commit_round(db, a, r);
    assert_int_equal(store_db_run_set_status_reason(db, b, STORE_RUN_FAILED, HX_BETA_REASON, &err),
                     FP_OK);
    store_db_close(&db);
    /* 2026-01-02 03:04:05 and 05:57:08 UTC; alpha's round 1 was retried twice */
    hx_sql(path, "UPDATE runs SET created_ms = 1767323045000 WHERE name = 'alpha';"
                 "UPDATE runs SET created_ms = 1767333428000 WHERE name = 'beta';"
                 "UPDATE rounds SET retries = 2 WHERE run = 1 AND round = 1;");
}

/* What f(db, out) printed, as a malloc'd string (the caller frees it). */
#define HX_CAPTURE(text_p, call)                                                                  \
    do {                                                                                          \
        size_t len_ = 0;                                                                          \
        FILE *out = open_memstream(text_p, &len_);                                                \
        assert_non_null(out);                                                                     \
        fp_error err_ = {0};                                                                      \
        fp_status st_ = (call);                                                                   \
        fclose(out);                                                                              \
        if (st_)                                                                                  \
            fail_msg("%s: %s %s", #call, fp_status_name(st_), err_.msg);                          \
    } while (0)

#endif
