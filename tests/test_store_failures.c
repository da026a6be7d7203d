/* test_store_failures.c — what the store answers when its database cannot take a write, and
 * what it records about failures. A read-only file (SQLITE_READONLY), a full disk (SQLITE_FULL,
 * injected at COMMIT) and damaged bytes are final at once: ERROR with final = true, the cause in
 * the text, the file unchanged and sound. A database locked by another connection is a
 * retryable EDB until writes have found it locked for the store's bound, then final; a write
 * that goes through again clears it. A failed run's reason and a failed round's reason and
 * retries are stored as sent. store_role_error_is_final reads all of it the way every role does. */
#include "tests/test_store_role_fixture.h"

#include <time.h>

/* req is refused with `final` and a text containing `why`. */
static void expect_refused(store_role_t *s, const msg_t *req, bool final, const char *why)
{
    msg_t reply = {0};
    handle(s, req, &reply);
    if (reply.type != MSG_ERROR || reply.error.final != final ||
        store_role_error_is_final(&reply.error) != final || !strstr(reply.error.text, why))
        fail_msg("%s: got %s %s final %d \"%s\", want final %d \"%s\"", msg_type_name(req->type),
                 msg_type_name(reply.type), fp_status_name(reply.error.code), reply.error.final,
                 reply.error.text ? reply.error.text : "", final, why);
    msg_clear(&reply);
}

static void make_save_client(msg_t *m, uint32_t round)
{
    const uint8_t blob[4] = {1, 2, 3, 4};
    assert_int_equal(msg_init(m, MSG_SAVE_CLIENT, RUN_NAME, "client.2", NULL), FP_OK);
    m->round = round;
    m->seq = 500 + round;
    assert_int_equal(msg_blob_copy(&m->save_client.state, blob, sizeof blob, NULL), FP_OK);
}

static void integrity_ok(const char *path)
{
    sqlite3 *raw = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open_v2(path, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(raw);
}

static void a_read_only_database_is_final(void **state)
{
    fx_db *fx = *state;
    msg_t run = {0}, save = {0}, sc = {0};
    make_run(&run, MSG_RUN_RUNNING, "tiny");
    make_save(&save, 0, 0);
    make_save_client(&sc, 0);
    store_role_t *s = open_store(fx->path, 0, 0);
    expect_saved(s, &run);
    store_role_destroy(&s);
    setenv(STORE_DB_FAULT_ENV, "readonly", 1);
    s = open_store(fx->path, 0, 0);
    unsetenv(STORE_DB_FAULT_ENV);
    int before = fx_sql_int(fx->path, "SELECT count(*) FROM client_state");
    expect_refused(s, &sc, true, "attempt to write a readonly database");
    expect_refused(s, &save, true, "attempt to write a readonly database");
    run.run_row.status = MSG_RUN_FAILED;
    expect_refused(s, &run, true, "readonly");
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM client_state"), before);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM rounds"), 0);
    store_role_destroy(&s);
    integrity_ok(fx->path);
    msg_clear(&run);
    msg_clear(&save);
    msg_clear(&sc);
}

/* full:2: the run and round 0's client state commit, then the disk is full. */
static void a_full_disk_is_final(void **state)
{
    fx_db *fx = *state;
    msg_t run = {0}, save = {0}, sc = {0};
    make_run(&run, MSG_RUN_RUNNING, "tiny");
    make_save(&save, 0, 0);
    make_save_client(&sc, 0);
    setenv(STORE_DB_FAULT_ENV, "full:2", 1);
    store_role_t *s = open_store(fx->path, 0, 0);
    unsetenv(STORE_DB_FAULT_ENV);
    expect_saved(s, &run);
    expect_saved(s, &sc);
    expect_refused(s, &save, true, "database or disk is full");
    expect_refused(s, &save, true, "database or disk is full"); /* and stays so */
    store_role_destroy(&s);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM rounds"), 0);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM client_state"), 1);
    integrity_ok(fx->path);
    msg_clear(&run);
    msg_clear(&save);
    msg_clear(&sc);
}

/* Another connection holds the write lock: retryable EDB (each try waits half the bound), final
 * once writes have found it locked for 600 ms; after the lock is gone a write passes and the
 * count starts again. */
static void a_locked_database_is_retryable_then_final(void **state)
{
    fx_db *fx = *state;
    msg_t run = {0}, save = {0}, sc = {0};
    make_run(&run, MSG_RUN_RUNNING, "tiny");
    make_save(&save, 0, 0);
    make_save_client(&sc, 0);
    store_role_t *s = open_store(fx->path, 0, 600);
    expect_saved(s, &run);
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(fx->path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    int64_t t0 = test_now_ms();
    expect_refused(s, &sc, false, "database is locked");
    assert_true(test_now_ms() - t0 >= 250); /* it waited for the lock, at most half the bound */
    bool final = false;
    for (int i = 0; i < 10 && !final; i++) {
        msg_t reply = {0};
        handle(s, &save, &reply);
        assert_int_equal(reply.type, MSG_ERROR);
        final = reply.error.final;
        assert_non_null(strstr(reply.error.text,
                               final ? "locked by another connection for" : "database is locked"));
        msg_clear(&reply);
    }
    assert_true(final);
    assert_true(test_now_ms() - t0 < 5000);
    assert_int_equal(sqlite3_exec(raw, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    expect_saved(s, &sc);
    assert_int_equal(sqlite3_exec(raw, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    expect_refused(s, &save, false, "database is locked"); /* a new lock: retryable again */
    assert_int_equal(sqlite3_exec(raw, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    expect_saved(s, &save);
    store_role_destroy(&s);
    integrity_ok(fx->path);
    msg_clear(&run);
    msg_clear(&save);
    msg_clear(&sc);
}

/* Damaged bytes (a checkpoint whose checksum no longer matches) are final too. */
static void damaged_bytes_are_final(void **state)
{
    fx_db *fx = *state;
    msg_t run = {0}, save = {0}, load = {0};
    make_run(&run, MSG_RUN_RUNNING, "tiny");
    make_save(&save, 0, 0);
    store_role_t *s = open_store(fx->path, 0, 0);
    expect_saved(s, &run);
    expect_saved(s, &save);
    store_role_destroy(&s);
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(fx->path, &raw), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(raw, "UPDATE checkpoints SET checksum = checksum + 1", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(raw);
    s = open_store(fx->path, 0, 0);
    assert_int_equal(msg_init(&load, MSG_LOAD, RUN_NAME, "coordinator", NULL), FP_OK);
    load.seq = 77;
    expect_refused(s, &load, true, "checksum mismatch");
    store_role_destroy(&s);
    msg_clear(&run);
    msg_clear(&save);
    msg_clear(&load);
}

/* RUN {failed, reason} and a failed round's reason and retries are stored as sent; a run
 * resumed forgets why it failed. */
static void reasons_and_retries_are_recorded(void **state)
{
    fx_db *fx = *state;
    msg_t run = {0}, save = {0};
    make_run(&run, MSG_RUN_RUNNING, "tiny");
    store_role_t *s = open_store(fx->path, 0, 0);
    expect_saved(s, &run);
    make_save(&save, 0, 0);
    save.save.status = MSG_ROUND_FAILED;
    save.save.retries = 3;
    assert_int_equal(msg_set_text(&save.save.reason, "1 of 3 updates (min_clients 2)", NULL),
                     FP_OK);
    expect_saved(s, &save);
    run.run_row.status = MSG_RUN_FAILED;
    assert_int_equal(msg_set_text(&run.run_row.reason, "round 1: no retry left", NULL), FP_OK);
    expect_saved(s, &run);
    assert_int_equal(fx_sql_int(fx->path, "SELECT retries FROM rounds WHERE round = 0"), 3);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM rounds WHERE reason = "
                                          "'1 of 3 updates (min_clients 2)'"),
                     1);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM runs WHERE status = 'failed' AND "
                                          "reason = 'round 1: no retry left'"),
                     1);
    run.run_row.status = MSG_RUN_RUNNING; /* resumed */
    free(run.run_row.reason);
    run.run_row.reason = NULL;
    expect_saved(s, &run);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM runs WHERE status = 'running' "
                                          "AND reason IS NULL"),
                     1);
    store_role_destroy(&s);
    msg_clear(&run);
    msg_clear(&save);
}

static void finality_of_an_error(void **state)
{
    (void)state;
    msg_error_t e = {.code = FP_EDB};
    assert_false(store_role_error_is_final(&e)); /* busy: ask again */
    e.final = true;
    assert_true(store_role_error_is_final(&e));
    e = (msg_error_t){.code = FP_EIO};
    assert_false(store_role_error_is_final(&e));
    e.code = FP_ESTATE; /* a refusal of the message itself */
    assert_true(store_role_error_is_final(&e));
    e.code = FP_EFORMAT;
    assert_true(store_role_error_is_final(&e));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(a_read_only_database_is_final),
        FX_TEST(a_full_disk_is_final),
        FX_TEST(a_locked_database_is_retryable_then_final),
        FX_TEST(damaged_bytes_are_final),
        FX_TEST(reasons_and_retries_are_recorded),
        cmocka_unit_test(finality_of_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
