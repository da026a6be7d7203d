/* test_storage_rounds.c — the store's round commits and checkpoints: a committed round reads
 * back as it was given (failed rounds and empty blobs included, a large checkpoint too), a
 * broken round is refused (order, counts), an exact retry of a commit is recognised, and pruning
 * keeps the newest checkpoints. */
#include "test_storage_fixture.h"

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
int main(void)
{
    const struct CMUnitTest tests[] = {
        FX_TEST(rounds_round_trip),
        FX_TEST(failed_round_and_empty_blobs),
        FX_TEST(big_checkpoint_round_trips),
        FX_TEST(round_commit_refuses_broken_rounds),
        FX_TEST(round_commit_retry_is_idempotent),
        FX_TEST(checkpoints_prune_keeps_the_newest),
    };
    return cmocka_run_group_tests_name("storage_rounds", tests, NULL, NULL);
}
