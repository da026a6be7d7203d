/* test_store_role_fixture.h — the store role driven without sockets, shared by
 * test_store_actor.c, test_store_actor_load.c and test_store_failures.c: open it, hand it a
 * request and check that the reply is a valid, encodable message answering it, expect SAVED or an
 * ERROR (and the database unchanged: a fingerprint of every table before and after), begin a
 * run, save a round, LOAD. */
#ifndef FEDPEP_TESTS_TEST_STORE_ROLE_FIXTURE_H
#define FEDPEP_TESTS_TEST_STORE_ROLE_FIXTURE_H

#include "tests/support/test.h"
#include "tests/test_storage_fixture.h"

#include "actors/store_role.h"
#include "messages/protocol.h"
#include "tests/test_store_actor_fixture.h"

/* A store role on the database at path, keeping `keep` checkpoints and calling a locked
 * database final after busy_limit_ms (0: the defaults); fails the test if it does not open. */
static inline store_role_t *open_store(const char *path, int keep, int busy_limit_ms)
{
    fp_error err = {0};
    store_role_options_t o = {
        .db_path = path, .keep_checkpoints = keep, .busy_limit_ms = busy_limit_ms};
    store_role_t *s = store_role_new(&o, &err);
    if (!s)
        fail_msg("store_role_new(%s): %s", path, err.msg);
    return s;
}

/* Handles req and checks the reply is well formed and answers it. */
static inline void handle(store_role_t *s, const msg_t *req, msg_t *reply)
{
    fp_error err = {0};
    assert_int_equal(store_role_handle(s, req, reply, &err), FP_OK);
    if (reply->type == MSG_NONE)
        return;
    msg_limits lim = msg_limits_default();
    if (msg_validate(reply, &lim, &err))
        fail_msg("reply %s invalid: %s", msg_type_name(reply->type), err.msg);
    uint8_t *bytes = NULL;
    size_t n = 0;
    assert_int_equal(msg_encode(reply, &lim, &bytes, &n, &err), FP_OK);
    free(bytes);
    assert_int_equal(reply->re, req->seq);
    assert_string_equal(reply->from, "store");
}

static inline void expect_saved(store_role_t *s, const msg_t *req)
{
    msg_t reply = {0};
    handle(s, req, &reply);
    if (reply.type == MSG_ERROR)
        fail_msg("%s refused: %s %s", msg_type_name(req->type), fp_status_name(reply.error.code),
                 reply.error.text);
    assert_int_equal(reply.type, MSG_SAVED);
    assert_int_equal(reply.saved.answers, req->type);
    assert_int_equal(reply.round, req->round);
    msg_clear(&reply);
}

static inline void expect_error(store_role_t *s, const msg_t *req, fp_status code)
{
    msg_t reply = {0};
    handle(s, req, &reply);
    assert_int_equal(reply.type, MSG_ERROR);
    if (reply.error.code != code)
        fail_msg("expected %s, got %s: %s", fp_status_name(code), fp_status_name(reply.error.code),
                 reply.error.text);
    assert_int_equal(reply.error.answers, req->type);
    assert_non_null(reply.error.text);
    assert_true(strlen(reply.error.text) > 0);
    msg_clear(&reply);
}

/* FNV-1a over every row of every table, in key order: equal before and after = unchanged. */
static inline uint64_t fingerprint(const char *path)
{
    static const char *const TABLES[] = {"runs",         "rounds",      "client_rounds",
                                         "layer_scores", "checkpoints", "client_state"};
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open_v2(path, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    uint64_t h = 1469598103934665603ull;
    for (size_t t = 0; t < sizeof TABLES / sizeof *TABLES; t++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1, 2, 3", TABLES[t]);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(raw, sql, -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                const unsigned char *p = sqlite3_column_blob(st, c);
                int n = sqlite3_column_bytes(st, c);
                h = (h ^ (uint64_t)sqlite3_column_type(st, c)) * 1099511628211ull;
                for (int i = 0; i < n; i++)
                    h = (h ^ p[i]) * 1099511628211ull;
            }
            h = (h ^ 0xff) * 1099511628211ull;
        }
        sqlite3_finalize(st);
        h = (h ^ 0xfe) * 1099511628211ull;
    }
    sqlite3_close(raw);
    return h;
}

static inline void expect_error_unchanged(store_role_t *s, const char *path, const msg_t *req,
                                          fp_status code)
{
    uint64_t before = fingerprint(path);
    expect_error(s, req, code);
    assert_true(fingerprint(path) == before);
}

static inline void begin_run(store_role_t *s)
{
    msg_t m = {0};
    make_run(&m, MSG_RUN_RUNNING, "tiny");
    expect_saved(s, &m);
    msg_clear(&m);
}

static inline void save_round(store_role_t *s, uint32_t r)
{
    msg_t m = {0};
    make_save(&m, r, 0);
    expect_saved(s, &m);
    msg_clear(&m);
}

static inline int64_t run_id_of(store_db_t *db)
{
    store_run run = {0};
    assert_int_equal(store_db_run_find(db, RUN_NAME, &run, NULL), FP_OK);
    int64_t id = run.id;
    store_run_clear(&run);
    return id;
}

static inline void load(store_role_t *s, const char *client, msg_t *reply)
{
    msg_t m = {0};
    assert_int_equal(msg_init(&m, MSG_LOAD, RUN_NAME, "coordinator", NULL), FP_OK);
    m.seq = 77;
    if (client)
        assert_int_equal(msg_set_id(m.load.client, client, NULL), FP_OK);
    handle(s, &m, reply);
    assert_int_equal(reply->type, MSG_STATE);
    msg_clear(&m);
}

#endif
