/* test_store_actor.c — the store role's handler on RUN and SAVE, without sockets
 * (test_store_role_fixture.h): valid requests leave exactly what was sent in the database;
 * invalid ones are answered with ERROR and leave the file unchanged; a repeated SAVE is
 * acknowledged, a conflicting one refused; old checkpoints are pruned and the file stays bounded;
 * requests that are not the store's are refused or ignored, every sample message answered with a
 * valid message. SAVE_CLIENT, SELECTION and LOAD are in test_store_actor_load.c. */
#include "tests/test_store_role_fixture.h"

#include <sys/stat.h>

#include "tests/support/msg_sample.h"

static void test_run_create_resume_status(void **state)
{
    fx_db *fx = *state;
    store_role_t *s = open_store(fx->path, 0, 0);
    begin_run(s);
    begin_run(s); /* a restarted coordinator re-sends RUN */
    store_db_t *db = fx_open(fx->path, STORE_DB_READONLY);
    store_run run = {0};
    assert_int_equal(store_db_run_find(db, RUN_NAME, &run, NULL), FP_OK);
    assert_string_equal(run.model, "tiny");
    assert_string_equal(run.task, "sst2");
    assert_string_equal(run.strategy, "fedpeptao");
    assert_int_equal(run.seed, 42);
    assert_int_equal(run.status, STORE_RUN_RUNNING);
    assert_string_equal(run.config, "[run]\nname = demo\n");
    store_run_clear(&run);

    msg_t m = {0};
    make_run(&m, MSG_RUN_RUNNING, "other-model"); /* not the same experiment */
    expect_error_unchanged(s, fx->path, &m, FP_ESTATE);
    msg_clear(&m);

    make_run(&m, MSG_RUN_DONE, "tiny");
    expect_saved(s, &m);
    msg_clear(&m);
    assert_int_equal(store_db_run_find(db, RUN_NAME, &run, NULL), FP_OK);
    assert_int_equal(run.status, STORE_RUN_FINISHED);
    store_run_clear(&run);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM runs"), 1);
    store_db_close(&db);
    store_role_destroy(&s);
    assert_null(s);
}

static void test_save_holds_what_was_sent(void **state)
{
    fx_db *fx = *state;
    store_role_t *s = open_store(fx->path, 0, 0);
    begin_run(s);
    msg_t m = {0};
    make_save(&m, 0, 0);
    expect_saved(s, &m);

    store_db_t *db = fx_open(fx->path, STORE_DB_READONLY);
    int64_t run_id = run_id_of(db);
    store_round *rounds = NULL;
    size_t n = 0;
    assert_int_equal(store_db_rounds_list(db, run_id, &rounds, &n, NULL), FP_OK);
    assert_int_equal(n, 1);
    const msg_save_t *sv = &m.save;
    assert_int_equal(rounds[0].round, 0);
    assert_int_equal(rounds[0].status, STORE_ROUND_OK);
    assert_int_equal(rounds[0].sampled, 3);
    assert_int_equal(rounds[0].completed, 1);
    assert_int_equal(rounds[0].dropped, 1);
    assert_int_equal(rounds[0].late, 1);
    assert_true(rounds[0].train_loss == sv->train_loss);
    assert_true(rounds[0].eval_metric == sv->eval_metric);
    assert_true(rounds[0].eval_loss == sv->eval_loss);
    assert_true(rounds[0].eval_accuracy == sv->eval_accuracy);
    assert_true(rounds[0].eval_f1 == sv->eval_f1);
    assert_true(rounds[0].eval_mcc == sv->eval_mcc);
    assert_int_equal(rounds[0].bytes_down, 1000);
    assert_int_equal(rounds[0].bytes_up, 2000);
    assert_int_equal(rounds[0].wall_ms, 3000);
    assert_int_equal(rounds[0].slowest_client_ms, 2500);
    free(rounds);

    store_client_round *cl = NULL;
    assert_int_equal(store_db_round_clients(db, run_id, 0, &cl, &n, NULL), FP_OK);
    assert_int_equal(n, 3);
    assert_int_equal(cl[0].client, 0);
    assert_int_equal(cl[0].status, STORE_CLIENT_OK);
    assert_int_equal(cl[0].n_k, 50);
    assert_int_equal(cl[0].steps, 7);
    assert_true(cl[0].loss == 0.4);
    assert_int_equal(cl[0].ms, 900);
    /* Only an ok row's measurements happened: a dropped and a late client's n_k, steps, loss
     * and time are NULL, whatever the SAVE carried for them (the coordinator sends 0). */
    assert_int_equal(cl[1].client, 3);
    assert_int_equal(cl[1].status, STORE_CLIENT_DROPPED);
    assert_int_equal(cl[2].client, 7);
    assert_int_equal(cl[2].status, STORE_CLIENT_LATE);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(cl[i].n_k, -1);
        assert_int_equal(cl[i].steps, -1);
        assert_true(isnan(cl[i].loss));
        assert_int_equal(cl[i].ms, -1);
    }
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM client_rounds WHERE status <> "
                                          "'ok' AND n_k IS NULL AND steps IS NULL AND loss IS "
                                          "NULL AND ms IS NULL"),
                     2);
    free(cl);
    store_db_close(&db);

    /* LOAD gives back the rows (with their shape), the server state and the rng. */
    msg_t st = {0};
    load(s, NULL, &st);
    assert_true(st.state.found);
    assert_int_equal(st.round, 0);
    assert_int_equal(st.state.rows.ndim, 3);
    assert_memory_equal(st.state.rows.shape, sv->rows.shape, 3 * sizeof(uint32_t));
    assert_memory_equal(st.state.rows.data, sv->rows.data, 24 * sizeof(float));
    assert_int_equal(st.state.server_state.n, 5);
    assert_memory_equal(st.state.server_state.data, sv->server_state.data, 5);
    assert_memory_equal(st.state.rng, sv->rng, sizeof sv->rng);
    assert_int_equal(st.state.layers.n, 0); /* no SELECTION yet */
    msg_clear(&st);
    msg_clear(&m);
    store_role_destroy(&s);
}

static void test_save_not_evaluated_is_null(void **state)
{
    fx_db *fx = *state;
    store_role_t *s = open_store(fx->path, 0, 0);
    begin_run(s);
    msg_t m = {0};
    make_save(&m, 0, 0);
    m.save.evaluated = false;
    expect_saved(s, &m);
    msg_clear(&m);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM rounds WHERE eval_metric IS NULL "
                                          "AND eval_loss IS NULL AND eval_mcc IS NULL"),
                     1);
    store_role_destroy(&s);
}

static void test_save_duplicate_and_conflict(void **state)
{
    fx_db *fx = *state;
    store_role_t *s = open_store(fx->path, 0, 0);
    begin_run(s);
    save_round(s, 0);
    uint64_t after_first = fingerprint(fx->path);
    save_round(s, 0); /* the SAVED was lost: the same SAVE again is acknowledged */
    assert_true(fingerprint(fx->path) == after_first);

    msg_t m = {0};
    make_save(&m, 0, 0.125); /* same round, another train loss */
    expect_error_unchanged(s, fx->path, &m, FP_ESTATE);
    msg_clear(&m);
    make_save(&m, 0, 0);
    m.save.rows.data[5] += 1.0f; /* same rows, another checkpoint */
    expect_error_unchanged(s, fx->path, &m, FP_ESTATE);
    msg_clear(&m);
    save_round(s, 1);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM rounds"), 2);
    store_role_destroy(&s);
}

static void test_save_invalid_leaves_file_unchanged(void **state)
{
    fx_db *fx = *state;
    store_role_t *s = open_store(fx->path, 0, 0);
    msg_t m = {0};

    make_save(&m, 0, 0); /* no RUN yet */
    expect_error_unchanged(s, fx->path, &m, FP_ENOTFOUND);
    msg_clear(&m);

    begin_run(s);
    save_round(s, 0);
    make_save(&m, 2, 0); /* gap: round 1 missing */
    expect_error_unchanged(s, fx->path, &m, FP_ESTATE);
    msg_clear(&m);

    make_save(&m, 1, 0); /* counts disagree with the client rows */
    m.save.clients.v[1].status = MSG_CLIENT_OK;
    m.save.clients.v[1].steps = 3;
    expect_error_unchanged(s, fx->path, &m, FP_EINVAL);
    msg_clear(&m);

    make_save(&m, 1, 0); /* one client row twice */
    m.save.clients.v[2].client = 0;
    expect_error_unchanged(s, fx->path, &m, FP_EINVAL);
    msg_clear(&m);

    make_save(&m, 1, 0); /* sampled says 4, three rows */
    m.save.sampled = 4;
    expect_error_unchanged(s, fx->path, &m, FP_EINVAL);
    msg_clear(&m);

    make_save(&m, 1, 0); /* a message that breaks the protocol (NaN loss) */
    m.save.train_loss = NAN;
    expect_error_unchanged(s, fx->path, &m, FP_ENUMERIC);
    msg_clear(&m);

    make_save(&m, 1, 0); /* a number the database cannot hold */
    m.save.bytes_up = UINT64_MAX;
    expect_error_unchanged(s, fx->path, &m, FP_EINVAL);
    msg_clear(&m);

    make_save(&m, 1, 0); /* a run name that is no id */
    strcpy(m.run, "bad name!");
    expect_error_unchanged(s, fx->path, &m, FP_EFORMAT);
    msg_clear(&m);

    save_round(s, 1); /* and the store goes on */
    msg_t done = {0};
    make_run(&done, MSG_RUN_DONE, "tiny");
    expect_saved(s, &done);
    msg_clear(&done);
    make_save(&m, 2, 0); /* a finished run takes no more rounds */
    expect_error_unchanged(s, fx->path, &m, FP_ESTATE);
    msg_clear(&m);
    store_role_destroy(&s);
}

static void test_prune_keeps_last(void **state)
{
    fx_db *fx = *state;
    store_role_t *s = open_store(fx->path, 2, 0);
    begin_run(s);
    for (uint32_t r = 0; r < 6; r++)
        save_round(s, r);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM checkpoints"), 2);
    assert_int_equal(fx_sql_int(fx->path, "SELECT min(round) FROM checkpoints"), 4);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM rounds"), 6);
    save_round(s, 2); /* a late retry of a pruned round still compares on its rows */
    msg_t st = {0};
    load(s, NULL, &st);
    assert_int_equal(st.round, 5);
    assert_true(st.state.rows.data[1] == (5 * 100 + 1) * 0.25f);
    msg_clear(&st);
    store_role_destroy(&s);
}

static void test_other_types(void **state)
{
    fx_db *fx = *state;
    store_role_t *s = open_store(fx->path, 0, 0);
    msg_t m = {0}, reply = {0};
    /* a TRAIN is not the store's business: refused */
    assert_int_equal(msg_init(&m, MSG_SCORE_REQUEST, RUN_NAME, "evaluator", NULL), FP_OK);
    m.score_request.batch = 4;
    expect_error_unchanged(s, fx->path, &m, FP_EINVAL);
    msg_clear(&m);
    /* an ERROR is never answered (two peers could bounce errors forever) */
    assert_int_equal(msg_init(&m, MSG_ERROR, RUN_NAME, "broker", NULL), FP_OK);
    m.error.code = FP_ENOTFOUND;
    m.error.answers = MSG_SAVED;
    handle(s, &m, &reply);
    assert_int_equal(reply.type, MSG_NONE);
    msg_clear(&m);
    /* garbage in the struct: an out-of-range type is ignored, a broken body refused */
    m.type = (msg_type)999;
    handle(s, &m, &reply);
    assert_int_equal(reply.type, MSG_NONE);
    assert_int_equal(msg_init(&m, MSG_SAVE_CLIENT, RUN_NAME, "client.1", NULL), FP_OK);
    expect_error_unchanged(s, fx->path, &m, FP_EFORMAT); /* empty state */
    msg_clear(&m);
    store_role_destroy(&s);
}

/* Every message type, minimal and full (msg_sample), before and after a run exists: the store
 * never fails, and every answer is a valid message of the expected kind. */
static void test_every_sample_message(void **state)
{
    fx_db *fx = *state;
    store_role_t *s = open_store(fx->path, 0, 0);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            begin_run(s);
        for (int t = MSG_NONE + 1; t < MSG_TYPE_COUNT; t++)
            for (int full = 0; full < 2; full++) {
                msg_t m = {0}, reply = {0};
                assert_int_equal(msg_sample(&m, (msg_type)t, 7 + (uint64_t)t, full, NULL), FP_OK);
                if (full) /* first a run the samples create themselves, then ours */
                    strcpy(m.run, pass ? RUN_NAME : "fresh");
                handle(s, &m, &reply);
                bool ours = t == MSG_RUN || t == MSG_SAVE || t == MSG_SAVE_CLIENT ||
                            t == MSG_SELECTION || t == MSG_LOAD;
                bool notice = t == MSG_ERROR || t == MSG_SAVED || t == MSG_STATE ||
                              t == MSG_DIRECTORY || t == MSG_WELCOME || t == MSG_HEARTBEAT ||
                              t == MSG_BYE;
                if (notice)
                    assert_int_equal(reply.type, MSG_NONE);
                else if (!ours)
                    assert_int_equal(reply.type, MSG_ERROR);
                else
                    assert_true(reply.type == MSG_ERROR || reply.type == MSG_SAVED ||
                                reply.type == MSG_STATE);
                msg_clear(&reply);
                msg_clear(&m);
            }
    }
    store_role_destroy(&s);
}

/* Rounds with a 256 KiB server state each: with pruning the file stops growing (freed pages
 * are reused); without it, 30 more rounds would add 7.5 MiB. */
static void save_big_rounds(store_role_t *s, uint32_t from, uint32_t to)
{
    enum { BIG = 256 * 1024 };
    uint8_t *big = malloc(BIG);
    assert_non_null(big);
    for (uint32_t r = from; r < to; r++) {
        msg_t m = {0};
        make_save(&m, r, 0);
        memset(big, (int)r, BIG);
        assert_int_equal(msg_blob_copy(&m.save.server_state, big, BIG, NULL), FP_OK);
        expect_saved(s, &m);
        msg_clear(&m);
    }
    free(big);
}

static off_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_size;
}

static void test_file_stays_bounded(void **state)
{
    fx_db *fx = *state;
    store_role_t *s = open_store(fx->path, 2, 0);
    begin_run(s);
    save_big_rounds(s, 0, 10);
    store_role_destroy(&s); /* closing folds the WAL into the file */
    off_t after_10 = file_size(fx->path);
    s = open_store(fx->path, 2, 0);
    save_big_rounds(s, 10, 40);
    store_role_destroy(&s);
    off_t after_40 = file_size(fx->path);
    if (after_40 > after_10 + 2 * 65536)
        fail_msg("file grew from %lld to %lld bytes", (long long)after_10, (long long)after_40);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM rounds"), 40);
}

/* The store checks requests against the limits it is given (the actor loop's). */
static void test_limits_apply(void **state)
{
    fx_db *fx = *state;
    msg_limits lim = msg_limits_default();
    lim.max_tensor_elements = 10;
    fp_error err = {0};
    store_role_options_t o = {.db_path = fx->path, .limits = &lim};
    store_role_t *s = store_role_new(&o, &err);
    assert_non_null(s);
    begin_run(s);
    msg_t m = {0};
    make_save(&m, 0, 0); /* rows of 24 floats */
    expect_error_unchanged(s, fx->path, &m, FP_ELIMIT);
    msg_clear(&m);
    store_role_destroy(&s);
}

static void test_new_makes_folder_and_refuses_foreign(void **state)
{
    fx_db *fx = *state;
    char path[512];
    snprintf(path, sizeof path, "%s/runs/deeper/x.db", fx->dir);
    store_role_t *s = open_store(path, 0, 0);
    store_role_destroy(&s);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);

    snprintf(path, sizeof path, "%s/notes.txt", fx->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a database, just some text that is long enough to look like a header.\n", f);
    fclose(f);
    fp_error err = {0};
    store_role_options_t o = {.db_path = path};
    assert_null(store_role_new(&o, &err));
    assert_int_equal(err.status, FP_EFORMAT);
    assert_non_null(strstr(err.msg, path));
    o.keep_checkpoints = -1;
    assert_null(store_role_new(&o, &err));
    assert_int_equal(err.status, FP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(test_run_create_resume_status),
        FX_TEST(test_save_holds_what_was_sent),
        FX_TEST(test_save_not_evaluated_is_null),
        FX_TEST(test_save_duplicate_and_conflict),
        FX_TEST(test_save_invalid_leaves_file_unchanged),
        FX_TEST(test_prune_keeps_last),
        FX_TEST(test_other_types),
        FX_TEST(test_every_sample_message),
        FX_TEST(test_limits_apply),
        FX_TEST(test_file_stays_bounded),
        FX_TEST(test_new_makes_folder_and_refuses_foreign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
