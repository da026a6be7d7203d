/* test_roles.c — a whole run through the real broker on ipc:// with the store, the evaluator,
 * the coordinator and 4 clients each in its own thread running actor_run (test_roles_fixture.h):
 * every round is committed with consistent counts, and the final checkpoint (rows, server state,
 * RNG) is byte-identical to `simulate` with the same config, also when the coordinator is
 * stopped inside a round and resumed, and with a hessian layer selection. The model has
 * USE-lite's shape (block 0 narrower than the stream), so the rows travel at two widths and come
 * back exactly. Faults are in test_roles_faults.c, the roles' pure pieces in test_roles_pure.c. */
#include "tests/test_roles_fixture.h"

#include "fl/layer_score.h"
#include "simulate/simulate.h"

/* simulate's database for run_config, made once. */
static const char *simulated(void)
{
    static char path[256];
    if (path[0])
        return path;
    fedpep_config cfg;
    fp_error err = {0};
    run_config(&cfg, "sim.db");
    train_sim_options so = {.stop_after_round = -1,
                            .stop_before_commit = -1,
                            .fallback_vocab = g_fx.vocab,
                            .fallback_merges = g_fx.merges};
    train_sim_result res;
    if (train_simulate(&cfg, &so, NULL, &res, &err))
        fail_msg("simulate: %s", err.msg);
    snprintf(path, sizeof path, "%s", cfg.run.db);
    return path;
}

/* The database at path has 3 rounds of 2 updates each, evaluated at round 1 (eval.every = 2)
 * and 2, and equals simulate's. */
static void equals_simulate(const char *path)
{
    equal_runs(simulated(), path);
    db_view_t b = {0};
    db_read(path, &b);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(b.rounds[i].completed, 2);
    assert_false(isnan(b.rounds[1].global_metric));
    db_free(&b);
}

static void a_run_through_the_broker_equals_simulate(void **state)
{
    (void)state;
    fedpep_config cfg;
    run_config(&cfg, "actors.db");
    system_t s;
    system_start(&s, &cfg);
    int first, done;
    assert_int_equal(run_coordinator(&s, &cfg, -1, &first, &done), 0);
    assert_int_equal(first, 0);
    assert_int_equal(done, 3);
    assert_int_equal(system_stop(&s), 3 * 2); /* every sampled client trained once a round */
    equals_simulate(cfg.run.db);
}

static void a_coordinator_stopped_inside_a_round_resumes_exactly(void **state)
{
    (void)state;
    fedpep_config cfg;
    run_config(&cfg, "resume.db");
    system_t s;
    system_start(&s, &cfg);
    int first, done;
    /* Killed once round 1's updates are in, before its SAVE: round 0 only is committed. */
    int code = run_coordinator(&s, &cfg, 1, &first, &done);
    assert_int_equal(done, 1);
    assert_int_equal(code, 1);
    /* A new coordinator resumes at round 1; its clients answer it from their saved state. */
    assert_int_equal(run_coordinator(&s, &cfg, -1, &first, &done), 0);
    assert_int_equal(first, 1);
    assert_int_equal(done, 2);
    assert_int_equal(system_stop(&s), 3 * 2); /* round 1 was not trained twice */
    equals_simulate(cfg.run.db);
}

/* The layer table and the checkpointed rows of two databases of run "t". */
static void same_layers_and_rows(const char *pa, const char *pb)
{
    db_view_t a = {0}, b = {0};
    fp_error err = {0};
    db_read(pa, &a);
    db_read(pb, &b);
    store_db_t *da = NULL, *dbb = NULL;
    store_layer *la = NULL, *lb = NULL;
    size_t na = 0, nb = 0;
    assert_int_equal(store_db_open(&da, pa, STORE_DB_READONLY, &err), FP_OK);
    assert_int_equal(store_db_open(&dbb, pb, STORE_DB_READONLY, &err), FP_OK);
    assert_int_equal(store_db_layers_load(da, a.run.id, &la, &na, &err), FP_OK);
    assert_int_equal(store_db_layers_load(dbb, b.run.id, &lb, &nb, &err), FP_OK);
    assert_true(na > 0);
    assert_int_equal(na, nb);
    for (size_t l = 0; l < na; l++) {
        assert_int_equal(la[l].selected, lb[l].selected);
        assert_int_equal(isnan(la[l].score), isnan(lb[l].score));
        if (!isnan(la[l].score))
            assert_true(la[l].score == lb[l].score);
    }
    msg_tensor_t rows = {0};
    assert_int_equal(store_role_rows_parse(b.ck.prompt.data, b.ck.prompt.size, &rows, &err), FP_OK);
    assert_int_equal(msg_tensor_count(&rows) * sizeof(float), a.ck.prompt.size);
    assert_memory_equal(rows.data, a.ck.prompt.data, a.ck.prompt.size);
    msg_tensor_free(&rows);
    free(la);
    free(lb);
    store_db_close(&da);
    store_db_close(&dbb);
    db_free(&a);
    db_free(&b);
}

/* layer_selection = hessian: the evaluator estimates ρ as simulate does, so the selection (and
 * the trained rows) equal simulate's. */
static void a_hessian_selection_equals_simulate(void **state)
{
    (void)state;
    fedpep_config cfg;
    fp_error err = {0};
    run_config(&cfg, "sim_hessian.db");
    cfg.run.rounds = 1;
    cfg.federation.layer_selection = FP_LAYERS_HESSIAN;
    cfg.federation.lanczos_steps = 8;
    cfg.federation.layer_fraction = 0.9; /* what a score selection would use: K = 2 of 3 */
    train_sim_options so = {.stop_after_round = -1,
                            .stop_before_commit = -1,
                            .fallback_vocab = g_fx.vocab,
                            .fallback_merges = g_fx.merges};
    train_sim_result res;
    if (train_simulate(&cfg, &so, NULL, &res, &err))
        fail_msg("simulate: %s", err.msg);
    char sim_db[sizeof cfg.run.db];
    snprintf(sim_db, sizeof sim_db, "%s", cfg.run.db);
    snprintf(cfg.run.db, sizeof cfg.run.db, "%s/hessian.db", g_fx.dir);
    system_t s;
    system_start(&s, &cfg);
    /* The estimate differs enough from layer_fraction to change K, so a selection at
     * layer_fraction would not match simulate's. */
    int k_rho, k_frac;
    assert_int_equal(fl_layer_count(evaluator_rho(s.ev), 3, &k_rho, &err), FP_OK);
    assert_int_equal(fl_layer_count(cfg.federation.layer_fraction, 3, &k_frac, &err), FP_OK);
    assert_int_not_equal(k_rho, k_frac);
    assert_int_equal(res.n_layers_sent, k_rho);
    int first, done;
    assert_int_equal(run_coordinator(&s, &cfg, -1, &first, &done), 0);
    assert_int_equal(done, 1);
    system_stop(&s);
    same_layers_and_rows(sim_db, cfg.run.db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_run_through_the_broker_equals_simulate),
        cmocka_unit_test(a_coordinator_stopped_inside_a_round_resumes_exactly),
        cmocka_unit_test(a_hessian_selection_equals_simulate),
    };
    return cmocka_run_group_tests(tests, roles_setup, fixture_files_teardown);
}
