/* test_storage.c — the store's functions on the file, runs, the fixed layer selection, client
 * state that only moves forward, readers and snapshots, and the schema's own checks and cascades:
 * each round-trips what it is given and refuses what breaks a rule. Round commits and checkpoints
 * are in test_storage_rounds.c; crashes, concurrency and file formats in test_storage_crash.c and
 * test_storage_format.c. */
#include "test_storage_fixture.h"

#include <sqlite3.h>

static void open_sets_up_the_file(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    assert_string_equal(store_db_path(db), fx->path);
    store_db_close(&db);
    assert_null(db);
    store_db_close(&db); /* idempotent */
    store_db_close(NULL);
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA application_id"), 0x46504550);
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA user_version"), 3);
    assert_int_equal(fx_sql_int(fx->path, "PRAGMA page_size"), 65536);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM sqlite_schema WHERE type = "
                                          "'table' AND name IN ('runs', 'rounds', "
                                          "'client_rounds', 'layer_scores', 'checkpoints', "
                                          "'client_state')"),
                     6);
    /* WAL is a property of the file: a raw connection sees it. */
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(fx->path, &raw), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(raw);
    /* Reopening an existing file needs no CREATE; a reader opens it with no writer around. */
    db = fx_open(fx->path, 0);
    store_db_close(&db);
    db = fx_open(fx->path, STORE_DB_READONLY);
    fp_error err = {0};
    store_run *runs = NULL;
    size_t n = 9;
    assert_int_equal(store_db_runs_list(db, &runs, &n, &err), FP_OK);
    assert_int_equal(n, 0);
    store_db_close(&db);
}

static void runs_create_resume_and_list(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    fp_error err = {0};
    store_run_spec spec = fx_spec("sst2-a");
    int64_t id = 0, again = 0;
    bool resumed = true;
    assert_int_equal(store_db_run_begin(db, &spec, &id, &resumed, &err), FP_OK);
    assert_false(resumed);
    assert_true(id > 0);
    assert_int_equal(store_db_run_begin(db, &spec, &again, &resumed, &err), FP_OK);
    assert_true(resumed);
    assert_int_equal(again, id);

    /* A resumed run may not change what defines the experiment. */
    store_run_spec other = spec;
    other.seed = 43;
    assert_int_equal(store_db_run_begin(db, &other, &again, NULL, &err), FP_ESTATE);
    assert_non_null(strstr(err.msg, "seed"));
    other = spec;
    other.strategy = "fedprompt";
    assert_int_equal(store_db_run_begin(db, &other, &again, NULL, &err), FP_ESTATE);
    assert_non_null(strstr(err.msg, "strategy"));
    /* The config may differ (ports, paths); the stored one is kept. */
    other = spec;
    other.config = "changed";
    assert_int_equal(store_db_run_begin(db, &other, &again, NULL, &err), FP_OK);

    store_run run;
    assert_int_equal(store_db_run_find(db, "sst2-a", &run, &err), FP_OK);
    assert_int_equal(run.id, id);
    assert_string_equal(run.model, "roberta-base");
    assert_string_equal(run.task, "sst2");
    assert_string_equal(run.strategy, "fedpeptao");
    assert_string_equal(run.config, spec.config);
    assert_int_equal(run.seed, 42);
    assert_int_equal(run.status, STORE_RUN_RUNNING);
    assert_true(run.created_ms > 1600000000000LL && run.updated_ms >= run.created_ms);
    store_run_clear(&run);
    assert_null(run.config);

    /* A failed run resumes as running; a finished one stays finished. */
    assert_int_equal(store_db_run_set_status(db, id, STORE_RUN_FAILED, &err), FP_OK);
    assert_int_equal(store_db_run_get(db, id, &run, &err), FP_OK);
    assert_int_equal(run.status, STORE_RUN_FAILED);
    store_run_clear(&run);
    assert_int_equal(store_db_run_begin(db, &spec, &again, NULL, &err), FP_OK);
    assert_int_equal(store_db_run_get(db, id, &run, &err), FP_OK);
    assert_int_equal(run.status, STORE_RUN_RUNNING);
    store_run_clear(&run);
    assert_int_equal(store_db_run_set_status(db, id, STORE_RUN_FINISHED, &err), FP_OK);
    assert_int_equal(store_db_run_begin(db, &spec, &again, NULL, &err), FP_OK);
    assert_int_equal(store_db_run_get(db, id, &run, &err), FP_OK);
    assert_int_equal(run.status, STORE_RUN_FINISHED);
    store_run_clear(&run);

    /* A big seed survives the signed SQL integer. */
    store_run_spec big = fx_spec("big-seed");
    big.seed = UINT64_MAX - 5;
    int64_t big_id = 0;
    assert_int_equal(store_db_run_begin(db, &big, &big_id, NULL, &err), FP_OK);

    store_run *runs = NULL;
    size_t n = 0;
    assert_int_equal(store_db_runs_list(db, &runs, &n, &err), FP_OK);
    assert_int_equal(n, 2);
    assert_string_equal(runs[0].name, "sst2-a");
    assert_string_equal(runs[1].name, "big-seed");
    assert_true(runs[1].seed == UINT64_MAX - 5);
    store_runs_free(&runs, n);
    assert_null(runs);

    assert_int_equal(store_db_run_find(db, "nope", &run, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));
    assert_int_equal(store_db_run_get(db, 999, &run, &err), FP_ENOTFOUND);
    assert_int_equal(store_db_run_set_status(db, 999, STORE_RUN_FAILED, &err), FP_ENOTFOUND);
    assert_int_equal(store_db_run_set_status(db, id, (store_run_status)7, &err), FP_EINVAL);

    store_run_spec bad = fx_spec("");
    assert_int_equal(store_db_run_begin(db, &bad, &again, NULL, &err), FP_EINVAL);
    char long_name[STORE_TEXT_MAX + 2];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    bad = fx_spec(long_name);
    assert_int_equal(store_db_run_begin(db, &bad, &again, NULL, &err), FP_EINVAL);
    bad = fx_spec("no-config");
    bad.config = NULL;
    assert_int_equal(store_db_run_begin(db, &bad, &again, NULL, &err), FP_EINVAL);
    store_db_close(&db);
}

static void layer_selection_is_fixed(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    fp_error err = {0};
    int64_t run = fx_run(db, "r");
    store_layer *layers = NULL;
    size_t n = 9;
    assert_int_equal(store_db_layers_load(db, run, &layers, &n, &err), FP_OK);
    assert_int_equal(n, 0);
    double score[4] = {3.5, -1.25, 7.0, NAN};
    bool selected[4] = {true, false, true, false};
    assert_int_equal(store_db_layers_save(db, run, score, selected, 4, &err), FP_OK);
    assert_int_equal(store_db_layers_load(db, run, &layers, &n, &err), FP_OK);
    assert_int_equal(n, 4);
    for (int l = 0; l < 4; l++) {
        assert_int_equal(layers[l].layer, l);
        assert_true(fx_same(layers[l].score, score[l]));
        assert_int_equal(layers[l].selected, selected[l]);
    }
    free(layers);
    assert_int_equal(store_db_layers_save(db, run, score, selected, 4, &err), FP_OK);
    selected[1] = true;
    assert_int_equal(store_db_layers_save(db, run, score, selected, 4, &err), FP_ESTATE);
    selected[1] = false;
    assert_int_equal(store_db_layers_save(db, run, score, selected, 3, &err), FP_ESTATE);
    assert_int_equal(store_db_layers_save(db, 999, score, selected, 4, &err), FP_ENOTFOUND);
    assert_int_equal(store_db_layers_save(db, run, NULL, selected, 4, &err), FP_EINVAL);
    assert_int_equal(store_db_layers_save(db, run, score, selected, 0, &err), FP_EINVAL);
    store_db_close(&db);
}

static void client_state_moves_forward_only(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    fp_error err = {0};
    int64_t run = fx_run(db, "r");
    float prompt[64], adam[129];
    for (int i = 0; i < 64; i++)
        prompt[i] = 0.01f * (float)i;
    for (int i = 0; i < 129; i++)
        adam[i] = -0.5f * (float)i;
    store_client_state cs;
    assert_int_equal(store_db_client_state_load(db, run, 7, &cs, &err), FP_ENOTFOUND);
    store_blob p = {prompt, sizeof prompt}, a = {adam, sizeof adam};
    assert_int_equal(store_db_client_state_save(db, run, 7, 1, p, a, &err), FP_OK);
    assert_int_equal(store_db_client_state_load(db, run, 7, &cs, &err), FP_OK);
    assert_int_equal(cs.round, 1);
    assert_int_equal(cs.prompt.size, sizeof prompt);
    assert_memory_equal(cs.prompt.data, prompt, sizeof prompt);
    assert_int_equal(cs.adam.size, sizeof adam);
    assert_memory_equal(cs.adam.data, adam, sizeof adam);
    assert_true(cs.saved_ms > 0);
    store_client_state_clear(&cs);

    prompt[0] = 42.0f;
    assert_int_equal(store_db_client_state_save(db, run, 7, 3, p, a, &err), FP_OK);
    assert_int_equal(store_db_client_state_save(db, run, 7, 2, a, p, &err), FP_ESTATE);
    assert_non_null(strstr(err.msg, "older"));
    assert_int_equal(store_db_client_state_load(db, run, 7, &cs, &err), FP_OK);
    assert_int_equal(cs.round, 3);
    assert_true(((float *)cs.prompt.data)[0] == 42.0f);
    store_client_state_clear(&cs);
    /* The same round replaces (a client that re-ran it after a restart); empty blobs are kept. */
    store_blob none = {NULL, 0};
    assert_int_equal(store_db_client_state_save(db, run, 7, 3, none, a, &err), FP_OK);
    assert_int_equal(store_db_client_state_load(db, run, 7, &cs, &err), FP_OK);
    assert_int_equal(cs.prompt.size, 0);
    store_client_state_clear(&cs);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM client_state"), 1);

    assert_int_equal(store_db_client_state_save(db, 999, 7, 3, p, a, &err), FP_ENOTFOUND);
    assert_int_equal(store_db_client_state_save(db, run, -1, 3, p, a, &err), FP_EINVAL);
    store_blob broken = {NULL, 5};
    assert_int_equal(store_db_client_state_save(db, run, 7, 4, broken, a, &err), FP_EINVAL);
    store_db_close(&db);
}

static void readers_and_snapshots(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    fp_error err = {0};
    int64_t run = fx_run(db, "r");
    fx_commit_ok(db, run, 0);

    store_db_t *reader = fx_open(fx->path, STORE_DB_READONLY);
    assert_int_equal(fx_check_whole_rounds(reader, run), 1);
    store_run_spec spec = fx_spec("x");
    int64_t id;
    assert_int_equal(store_db_run_begin(reader, &spec, &id, NULL, &err), FP_ESTATE);
    assert_non_null(strstr(err.msg, "read-only"));
    assert_int_equal(fx_commit(reader, run, 1, NULL, &err), FP_ESTATE);

    /* A snapshot does not see a round committed after it began. */
    assert_int_equal(store_db_read_begin(reader, &err), FP_OK);
    assert_int_equal(store_db_read_begin(reader, &err), FP_ESTATE);
    assert_int_equal(fx_check_whole_rounds(reader, run), 1);
    fx_commit_ok(db, run, 1);
    assert_int_equal(fx_check_whole_rounds(reader, run), 1);
    assert_int_equal(store_db_read_end(reader, &err), FP_OK);
    assert_int_equal(store_db_read_end(reader, &err), FP_ESTATE);
    assert_int_equal(fx_check_whole_rounds(reader, run), 2);

    /* A writer inside its own snapshot is refused rather than deadlocked. */
    assert_int_equal(store_db_read_begin(db, &err), FP_OK);
    assert_int_equal(fx_commit(db, run, 2, NULL, &err), FP_ESTATE);
    assert_int_equal(store_db_read_end(db, &err), FP_OK);
    fx_commit_ok(db, run, 2);
    store_db_close(&reader);
    store_db_close(&db);
}

/* Deleting a run from the sqlite3 shell (with foreign keys on) removes everything it owns. */
static void schema_cascades_and_checks(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    fp_error err = {0};
    int64_t run = fx_run(db, "r");
    fx_commit_ok(db, run, 0);
    double score[2] = {1, 2};
    bool sel[2] = {true, false};
    assert_int_equal(store_db_layers_save(db, run, score, sel, 2, &err), FP_OK);
    store_blob b = {"ab", 2};
    assert_int_equal(store_db_client_state_save(db, run, 1, 0, b, b, &err), FP_OK);
    store_db_close(&db);

    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(fx->path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
    /* The CHECKs refuse what the C code would never write. */
    assert_int_not_equal(sqlite3_exec(raw, "UPDATE runs SET status = 'paused'", NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(
        sqlite3_exec(raw, "UPDATE client_rounds SET status = 'gone'", NULL, NULL, NULL), SQLITE_OK);
    assert_int_not_equal(
        sqlite3_exec(raw, "INSERT INTO checkpoints VALUES (1, 5, x'', x'', x'')", NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "DELETE FROM runs WHERE name = 'r'", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(raw);
    const char *tables[] = {"rounds", "client_rounds", "checkpoints", "layer_scores",
                            "client_state"};
    for (size_t i = 0; i < 5; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
        assert_int_equal(fx_sql_int(fx->path, sql), 0);
    }
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(open_sets_up_the_file),    FX_TEST(runs_create_resume_and_list),
        FX_TEST(layer_selection_is_fixed), FX_TEST(client_state_moves_forward_only),
        FX_TEST(readers_and_snapshots),    FX_TEST(schema_cascades_and_checks),
    };
    return cmocka_run_group_tests_name("storage", tests, NULL, NULL);
}
