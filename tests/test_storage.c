/* test_storage.c — the store's functions round-trip what they are given, refuse what breaks a
 * rule (order, counts, a fixed selection, a stale client state), and recognise an exact retry of
 * a round commit. Crashes, concurrency and file formats are in test_storage_crash.c and
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

static void rounds_round_trip(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    fp_error err = {0};
    int64_t run = fx_run(db, "r");
    store_run before;
    assert_int_equal(store_db_run_get(db, run, &before, &err), FP_OK);
    for (int32_t r = 0; r < 3; r++)
        fx_commit_ok(db, run, r);

    store_round *rounds = NULL;
    size_t n = 0;
    assert_int_equal(store_db_rounds_list(db, run, &rounds, &n, &err), FP_OK);
    assert_int_equal(n, 3);
    for (int32_t r = 0; r < 3; r++) {
        store_client_round want_c[FX_CLIENTS];
        store_round want = fx_round(r, want_c);
        const store_round *got = &rounds[r];
        assert_int_equal(got->round, r);
        assert_int_equal(got->status, STORE_ROUND_OK);
        assert_int_equal(got->sampled, want.sampled);
        assert_int_equal(got->completed, want.completed);
        assert_int_equal(got->dropped, want.dropped);
        assert_int_equal(got->late, want.late);
        assert_true(got->train_loss == want.train_loss);
        assert_true(got->eval_metric == want.eval_metric);
        assert_true(got->eval_loss == want.eval_loss);
        assert_true(got->eval_accuracy == want.eval_accuracy);
        assert_true(isnan(got->eval_f1) && isnan(got->eval_mcc));
        assert_int_equal(got->bytes_down, want.bytes_down);
        assert_int_equal(got->bytes_up, want.bytes_up);
        assert_int_equal(got->wall_ms, want.wall_ms);
        assert_int_equal(got->slowest_client_ms, want.slowest_client_ms);
        assert_int_equal(got->client_cpu_ms, want.client_cpu_ms);
        assert_int_equal(got->client_cpu_max_ms, want.client_cpu_max_ms);
        assert_true(got->global_metric == want.global_metric);
        assert_true(got->global_loss == want.global_loss);
        assert_true(got->global_accuracy == want.global_accuracy);
        assert_true(isnan(got->global_f1));
        assert_true(got->global_mcc == want.global_mcc);
        assert_true(got->committed_ms >= before.created_ms);

        store_client_round *clients = NULL;
        size_t nc = 0;
        assert_int_equal(store_db_round_clients(db, run, r, &clients, &nc, &err), FP_OK);
        assert_int_equal(nc, FX_CLIENTS);
        for (size_t i = 0; i < nc; i++) {
            if (i)
                assert_true(clients[i - 1].client < clients[i].client);
            const store_client_round *w = NULL;
            for (size_t j = 0; j < FX_CLIENTS; j++)
                if (want_c[j].client == clients[i].client)
                    w = &want_c[j];
            assert_non_null(w);
            assert_int_equal(clients[i].round, r);
            assert_int_equal(clients[i].status, w->status);
            assert_int_equal(clients[i].n_k, w->n_k);
            assert_int_equal(clients[i].steps, w->steps);
            assert_int_equal(clients[i].ms, w->ms);
            assert_true(fx_same(clients[i].loss, w->loss));
        }
        free(clients);
    }
    free(rounds);

    store_checkpoint ck;
    assert_int_equal(store_db_checkpoint_latest(db, run, &ck, &err), FP_OK);
    assert_true(fx_ckpt_is(&ck, 2));
    store_checkpoint_clear(&ck);
    assert_null(ck.prompt.data);

    store_run after;
    assert_int_equal(store_db_run_get(db, run, &after, &err), FP_OK);
    assert_true(after.updated_ms >= before.updated_ms);
    store_run_clear(&before);
    store_run_clear(&after);

    /* A round nobody committed has no rows; another run has none at all. */
    store_client_round *none = NULL;
    size_t nn = 7;
    assert_int_equal(store_db_round_clients(db, run, 9, &none, &nn, &err), FP_OK);
    assert_int_equal(nn, 0);
    assert_null(none);
    int64_t other = fx_run(db, "other");
    assert_int_equal(store_db_rounds_list(db, other, &rounds, &n, &err), FP_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_db_checkpoint_latest(db, other, &ck, &err), FP_ENOTFOUND);
    store_db_close(&db);
}

/* A failed round (too few updates) is recorded like any other, with its carried-over state. */
static void failed_round_and_empty_blobs(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    fp_error err = {0};
    int64_t run = fx_run(db, "r");
    store_client_round clients[2] = {
        {.client = 5,
         .status = STORE_CLIENT_DROPPED,
         .n_k = -1,
         .steps = -1,
         .loss = NAN,
         .ms = -1},
        {.client = 9, .status = STORE_CLIENT_ERROR, .n_k = 12, .steps = -1, .loss = NAN, .ms = 40},
    };
    store_round round = {.round = 0,
                         .status = STORE_ROUND_FAILED,
                         .sampled = 2,
                         .dropped = 1,
                         .train_loss = NAN,
                         .eval_metric = NAN,
                         .eval_loss = NAN,
                         .eval_accuracy = NAN,
                         .eval_f1 = NAN,
                         .eval_mcc = NAN,
                         .client_cpu_ms = -1,
                         .client_cpu_max_ms = -1,
                         .global_metric = NAN,
                         .global_loss = NAN,
                         .global_accuracy = NAN,
                         .global_f1 = NAN,
                         .global_mcc = NAN};
    store_checkpoint_blobs empty = {{NULL, 0}, {NULL, 0}, {"", 0}};
    assert_int_equal(store_db_round_commit(db, run, &round, clients, 2, &empty, NULL, &err), FP_OK);
    store_round *rounds = NULL;
    size_t n = 0;
    assert_int_equal(store_db_rounds_list(db, run, &rounds, &n, &err), FP_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rounds[0].status, STORE_ROUND_FAILED);
    assert_true(isnan(rounds[0].train_loss) && isnan(rounds[0].eval_metric));
    /* Not measured and not evaluated: NULL in the file, -1 and NaN back. */
    assert_int_equal(rounds[0].client_cpu_ms, -1);
    assert_int_equal(rounds[0].client_cpu_max_ms, -1);
    assert_true(isnan(rounds[0].global_metric) && isnan(rounds[0].global_mcc));
    free(rounds);
    store_checkpoint ck;
    assert_int_equal(store_db_checkpoint_latest(db, run, &ck, &err), FP_OK);
    assert_int_equal(ck.prompt.size, 0);
    assert_non_null(ck.prompt.data);
    assert_int_equal(ck.rng.size, 0);
    store_checkpoint_clear(&ck);
    store_db_close(&db);
}

static void big_checkpoint_round_trips(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    fp_error err = {0};
    int64_t run = fx_run(db, "r");
    const size_t size = 8u << 20; /* a RoBERTa-base prompt slice with optimizer state */
    unsigned char *big = malloc(size);
    for (size_t i = 0; i < size; i++)
        big[i] = (unsigned char)(i * 2654435761u >> 24);
    store_client_round clients[FX_CLIENTS];
    store_round round = fx_round(0, clients);
    store_checkpoint_blobs blobs = {{big, size}, {big, size / 2}, {big, 32}};
    assert_int_equal(
        store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &blobs, NULL, &err), FP_OK);
    store_checkpoint ck;
    assert_int_equal(store_db_checkpoint_latest(db, run, &ck, &err), FP_OK);
    assert_int_equal(ck.prompt.size, size);
    assert_memory_equal(ck.prompt.data, big, size);
    assert_int_equal(ck.server_state.size, size / 2);
    assert_memory_equal(ck.server_state.data, big, size / 2);
    store_checkpoint_clear(&ck);
    free(big);
    store_db_close(&db);
}

/* Every refused commit leaves the database as it was. */
static void round_commit_refuses_broken_rounds(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    fp_error err = {0};
    int64_t run = fx_run(db, "r");
    store_client_round clients[FX_CLIENTS];
    fx_ckpt ckb;
    store_checkpoint_blobs ck = fx_ckpt_blobs(&ckb, 0);
    store_round round;

    round = fx_round(1, clients); /* the first round is 0 */
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, NULL, &err),
                     FP_ESTATE);
    assert_non_null(strstr(err.msg, "out of order"));
    round = fx_round(-1, clients);
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, NULL, &err),
                     FP_EINVAL);
    round = fx_round(0, clients);
    round.completed--;
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, NULL, &err),
                     FP_EINVAL);
    round = fx_round(0, clients);
    assert_int_equal(
        store_db_round_commit(db, run, &round, clients, FX_CLIENTS - 1, &ck, NULL, &err),
        FP_EINVAL);
    round = fx_round(0, clients);
    clients[1].client = clients[0].client;
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, NULL, &err),
                     FP_EINVAL);
    assert_non_null(strstr(err.msg, "twice"));
    round = fx_round(0, clients);
    clients[0].n_k = -1; /* an ok update without its weight */
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, NULL, &err),
                     FP_EINVAL);
    round = fx_round(0, clients);
    clients[2].status = (store_client_status)9;
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, NULL, &err),
                     FP_EINVAL);
    round = fx_round(0, clients);
    round.client_cpu_max_ms = round.client_cpu_ms + 1; /* the largest exceeds the sum */
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, NULL, &err),
                     FP_EINVAL);
    round = fx_round(0, clients);
    round.client_cpu_ms = -1; /* a sum unknown beside a known largest */
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, NULL, &err),
                     FP_EINVAL);
    round = fx_round(0, clients);
    round.bytes_up = -1;
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, NULL, &err),
                     FP_EINVAL);
    round = fx_round(0, clients);
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, NULL, NULL, &err),
                     FP_EINVAL);
    store_checkpoint_blobs bad = ck;
    bad.prompt.data = NULL;
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &bad, NULL, &err),
                     FP_EINVAL);
    assert_int_equal(store_db_round_commit(db, 999, &round, clients, FX_CLIENTS, &ck, NULL, &err),
                     FP_ENOTFOUND);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM rounds"), 0);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM client_rounds"), 0);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM checkpoints"), 0);

    fx_commit_ok(db, run, 0);
    assert_int_equal(fx_commit(db, run, 2, NULL, &err), FP_ESTATE); /* gap */
    assert_int_equal(store_db_run_set_status(db, run, STORE_RUN_FINISHED, &err), FP_OK);
    assert_int_equal(fx_commit(db, run, 1, NULL, &err), FP_ESTATE);
    assert_non_null(strstr(err.msg, "finished"));
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM rounds"), 1);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM client_rounds"), FX_CLIENTS);
    store_db_close(&db);
}

/* The retry after a lost SAVED ack: identical → success without a write; different → refused. */
static void round_commit_retry_is_idempotent(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    fp_error err = {0};
    int64_t run = fx_run(db, "r");
    fx_commit_ok(db, run, 0);
    fx_commit_ok(db, run, 1);
    bool dup = false;
    assert_int_equal(fx_commit(db, run, 1, &dup, &err), FP_OK);
    assert_true(dup);
    assert_int_equal(fx_commit(db, run, 0, &dup, &err), FP_OK); /* an old, late retry */
    assert_true(dup);

    store_client_round clients[FX_CLIENTS], reversed[FX_CLIENTS];
    fx_ckpt ckb;
    store_checkpoint_blobs ck = fx_ckpt_blobs(&ckb, 1);
    store_round round = fx_round(1, clients);
    for (int i = 0; i < FX_CLIENTS; i++)
        reversed[i] = clients[FX_CLIENTS - 1 - i];
    assert_int_equal(store_db_round_commit(db, run, &round, reversed, FX_CLIENTS, &ck, &dup, &err),
                     FP_OK);
    assert_true(dup);

    round.train_loss += 1e-9;
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, &dup, &err),
                     FP_ESTATE);
    assert_non_null(strstr(err.msg, "round row"));
    round = fx_round(1, clients);
    round.global_metric += 1e-9; /* the new columns are part of the round row too */
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, &dup, &err),
                     FP_ESTATE);
    round = fx_round(1, clients);
    round.client_cpu_ms++;
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, &dup, &err),
                     FP_ESTATE);
    round = fx_round(1, clients);
    clients[3].ms = 1; /* a dropped client that now reports a time */
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, &dup, &err),
                     FP_ESTATE);
    assert_non_null(strstr(err.msg, "client rows"));
    round = fx_round(1, clients);
    ckb.prompt[100] ^= 1;
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, &dup, &err),
                     FP_ESTATE);
    assert_non_null(strstr(err.msg, "checkpoint"));

    /* After pruning, an old round's retry compares its rows only. */
    fx_commit_ok(db, run, 2);
    assert_int_equal(store_db_checkpoints_prune(db, run, 1, &err), FP_OK);
    round = fx_round(0, clients);
    assert_int_equal(store_db_round_commit(db, run, &round, clients, FX_CLIENTS, &ck, &dup, &err),
                     FP_OK);
    assert_true(dup);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM rounds"), 3);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM client_rounds"), 3 * FX_CLIENTS);
    store_db_close(&db);
}

static void checkpoints_prune_keeps_the_newest(void **state)
{
    fx_db *fx = *state;
    store_db_t *db = fx_open(fx->path, STORE_DB_CREATE);
    fp_error err = {0};
    int64_t run = fx_run(db, "r"), other = fx_run(db, "s");
    for (int32_t r = 0; r < 5; r++)
        fx_commit_ok(db, run, r);
    fx_commit_ok(db, other, 0);
    assert_int_equal(store_db_checkpoints_prune(db, run, 0, &err), FP_EINVAL);
    assert_int_equal(store_db_checkpoints_prune(db, run, 2, &err), FP_OK);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM checkpoints WHERE run = 1"), 2);
    assert_int_equal(fx_sql_int(fx->path, "SELECT min(round) FROM checkpoints WHERE run = 1"), 3);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM checkpoints WHERE run = 2"), 1);
    assert_int_equal(fx_sql_int(fx->path, "SELECT count(*) FROM rounds WHERE run = 1"), 5);
    store_checkpoint ck;
    assert_int_equal(store_db_checkpoint_latest(db, run, &ck, &err), FP_OK);
    assert_true(fx_ckpt_is(&ck, 4));
    store_checkpoint_clear(&ck);
    fx_commit_ok(db, run, 5); /* the run continues after pruning */
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
        FX_TEST(open_sets_up_the_file),
        FX_TEST(runs_create_resume_and_list),
        FX_TEST(rounds_round_trip),
        FX_TEST(failed_round_and_empty_blobs),
        FX_TEST(big_checkpoint_round_trips),
        FX_TEST(round_commit_refuses_broken_rounds),
        FX_TEST(round_commit_retry_is_idempotent),
        FX_TEST(checkpoints_prune_keeps_the_newest),
        FX_TEST(layer_selection_is_fixed),
        FX_TEST(client_state_moves_forward_only),
        FX_TEST(readers_and_snapshots),
        FX_TEST(schema_cascades_and_checks),
    };
    return cmocka_run_group_tests_name("storage", tests, NULL, NULL);
}
