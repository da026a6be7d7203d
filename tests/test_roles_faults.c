/* test_roles_faults.c — faults in a whole run through the real broker (test_roles_fixture.h):
 * dropouts and stragglers recorded exactly as `simulate` records them from the same draws, a
 * [faults] trace followed by the real clients (and a malformed one refused with file:line), and a
 * short round that fails the run when configured to. */
#include "tests/test_roles_fixture.h"

#include "actors/faults.h"
#include "fl/server.h"
#include "simulate/simulate.h"

/* Every sampled client's recorded status in database path (3 rounds of 2 sampled clients) is
 * want[round][client]. */
static void check_statuses(const char *path, store_client_status want[3][4])
{
    store_db_t *db = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open(&db, path, STORE_DB_READONLY, &err), FP_OK);
    store_run run;
    assert_int_equal(store_db_run_find(db, "t", &run, &err), FP_OK);
    for (int r = 0; r < 3; r++) {
        store_client_round *cr = NULL;
        size_t n = 0;
        assert_int_equal(store_db_round_clients(db, run.id, r, &cr, &n, &err), FP_OK);
        assert_int_equal(n, 2);
        for (size_t j = 0; j < n; j++) {
            if (cr[j].status != want[r][cr[j].client])
                fail_msg("round %d client %d: status %d, expected %d", r, cr[j].client,
                         cr[j].status, want[r][cr[j].client]);
        }
        free(cr);
    }
    store_run_clear(&run);
    store_db_close(&db);
}

/* Runs cfg's 3 rounds of 2 sampled clients through the actor system; every sampled client's
 * recorded status must be want[round][client]. */
static void run_and_check_statuses(const fedpep_config *cfg, store_client_status want[3][4])
{
    system_t s;
    system_start(&s, cfg);
    int first, done;
    assert_int_equal(run_coordinator(&s, cfg, -1, &first, &done), 0);
    assert_int_equal(done, 3);
    system_stop(&s);
    check_statuses(cfg->run.db, want);
}

/* Dropouts, and stragglers whose delay (8 s) passes the round's deadline (3 s): the actor
 * system's stragglers train and save but their UPDATE comes after the close (late); simulate,
 * without a clock, decides the same from the same draws (faults_misses_deadline), so its run
 * has the same client rows and the same checkpoint, byte for byte. */
static void dropouts_and_stragglers_are_recorded_exactly(void **state)
{
    (void)state;
    fedpep_config cfg;
    run_config(&cfg, "faults.db");
    cfg.faults.dropout = 0.4;
    cfg.faults.straggler_clients = 1;
    cfg.faults.straggler_delay_s = 8;
    cfg.federation.round_deadline_s = 3;
    cfg.federation.on_short_round = FP_SHORT_ROUND_SKIP;
    /* Who must drop and who must be late, from the same pure functions. */
    float w0 = 0;
    fl_server_config sc = fl_server_config_defaults(FL_SERVER_FEDAVG);
    fl_server_t *srv = fl_server_new(&sc, 1, 4, (uint64_t)cfg.run.seed, &w0);
    assert_non_null(srv);
    store_client_status want[3][4];
    int drops = 0, lates = 0;
    for (uint32_t r = 0; r < 3; r++) {
        for (int k = 0; k < 4; k++)
            want[r][k] = (store_client_status)-1; /* not sampled */
        int ids[2];
        fp_error err = {0};
        assert_int_equal(fl_server_sample(srv, r, 2, ids, &err), FP_OK);
        for (int i = 0; i < 2; i++) {
            uint32_t k = (uint32_t)ids[i];
            faults_round_t f = faults_for(&cfg, r, k);
            want[r][k] = f.drop   ? STORE_CLIENT_DROPPED
                         : f.slow ? STORE_CLIENT_LATE
                                  : STORE_CLIENT_OK;
            drops += f.drop;
            lates += !f.drop && f.slow;
        }
    }
    fl_server_destroy(&srv);
    assert_true(drops > 0 && lates > 0); /* the seed gives both kinds */

    run_and_check_statuses(&cfg, want);
    fedpep_config sim = cfg;
    snprintf(sim.run.db, sizeof sim.run.db, "%s/faults-sim.db", g_fx.dir);
    train_sim_options so = {.stop_after_round = -1,
                            .stop_before_commit = -1,
                            .fallback_vocab = g_fx.vocab,
                            .fallback_merges = g_fx.merges};
    train_sim_result res;
    fp_error err = {0};
    if (train_simulate(&sim, &so, NULL, &res, &err))
        fail_msg("simulate: %s", err.msg);
    check_statuses(sim.run.db, want);
    equal_runs(sim.run.db, cfg.run.db);
}

/* [faults] trace in the real clients: a traced client follows the trace over the random model
 * (dropout = 1 would drop everyone): client 0 is never available, the others always are; a
 * malformed trace stops a client with file:line. */
static void a_trace_replaces_the_random_model_in_the_clients(void **state)
{
    (void)state;
    fedpep_config cfg;
    run_config(&cfg, "trace.db");
    cfg.faults.dropout = 1;
    cfg.federation.on_short_round = FP_SHORT_ROUND_SKIP;
    snprintf(cfg.faults.trace, sizeof cfg.faults.trace, "%s/trace.csv", g_fx.dir);
    FILE *f = fopen(cfg.faults.trace, "w");
    assert_non_null(f);
    fputs("client,round,available,speed\n0,*,0,1\n1,*,1,1\n2-3,*,1,1\n", f);
    fclose(f);
    fp_error err = {0};
    client_role_options_t o = {.cfg = &cfg,
                               .index = 0,
                               .fallback_vocab = g_fx.vocab,
                               .fallback_merges = g_fx.merges,
                               .faults = true};
    client_role_t *c = client_role_new(&o, &err);
    assert_null(c);
    assert_non_null(strstr(err.msg, "trace.csv:4: client is not a number"));
    f = fopen(cfg.faults.trace, "w");
    assert_non_null(f);
    fputs("client,round,available,speed\n0,*,0,1\n1,*,1,1\n2,*,1,1\n3,*,1,1\n", f);
    fclose(f);
    float w0 = 0;
    fl_server_config sc = fl_server_config_defaults(FL_SERVER_FEDAVG);
    fl_server_t *srv = fl_server_new(&sc, 1, 4, (uint64_t)cfg.run.seed, &w0);
    assert_non_null(srv);
    store_client_status want[3][4];
    int zero_sampled = 0; /* the seed must sample client 0 at least once */
    for (uint32_t r = 0; r < 3; r++) {
        int ids[2];
        for (int k = 0; k < 4; k++)
            want[r][k] = k ? STORE_CLIENT_OK : STORE_CLIENT_DROPPED;
        assert_int_equal(fl_server_sample(srv, r, 2, ids, &err), FP_OK);
        zero_sampled += ids[0] == 0 || ids[1] == 0;
    }
    fl_server_destroy(&srv);
    assert_true(zero_sampled > 0);
    run_and_check_statuses(&cfg, want);
}

static void a_short_round_fails_the_run_when_configured(void **state)
{
    (void)state;
    fedpep_config cfg;
    run_config(&cfg, "short.db");
    cfg.faults.dropout = 1; /* every sampled client refuses */
    cfg.federation.on_short_round = FP_SHORT_ROUND_RETRY;
    cfg.federation.max_retries = 1;
    system_t s;
    system_start(&s, &cfg);
    int first, done;
    assert_int_equal(run_coordinator(&s, &cfg, -1, &first, &done), 1);
    assert_int_equal(done, 0);
    assert_int_equal(system_stop(&s), 0);
    store_db_t *db = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open(&db, cfg.run.db, STORE_DB_READONLY, &err), FP_OK);
    store_run run;
    assert_int_equal(store_db_run_find(db, "t", &run, &err), FP_OK);
    assert_int_equal(run.status, STORE_RUN_FAILED);
    store_round *rs = NULL;
    size_t n = 1;
    assert_int_equal(store_db_rounds_list(db, run.id, &rs, &n, &err), FP_OK);
    assert_int_equal(n, 0); /* nothing committed for a failed round */
    free(rs);
    store_run_clear(&run);
    store_db_close(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dropouts_and_stragglers_are_recorded_exactly),
        cmocka_unit_test(a_trace_replaces_the_random_model_in_the_clients),
        cmocka_unit_test(a_short_round_fails_the_run_when_configured),
    };
    return cmocka_run_group_tests(tests, roles_setup, fixture_files_teardown);
}
