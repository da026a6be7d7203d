/* test_simulate.c — `simulate` (simulate/simulate.h) on a tiny random model with 4 clients for 3
 * rounds: two runs give byte-identical checkpoints, and a run stopped after round 1 and resumed
 * gives the same checkpoint as the uninterrupted one (with a trained linear head, and with the
 * fixed label-description head of model.head = descriptions). */
#include "tests/support/test.h"

#include "tests/test_train_fixture.h"

#include <math.h>
#include <sqlite3.h>

#include "common/config.h"
#include "storage/store_db.h"
#include "simulate/simulate.h"

static fixture_files g_fx;

static void sim_config(fedpep_config *cfg, const char *db, fp_strategy strategy)
{
    fixture_run_config(cfg, g_fx.dir, db);
    cfg->run.strategy = strategy;
    cfg->client.max_local_steps = 6;
}

/* The database g_fx.dir/db_name, read-only, and its run "t". */
static store_db_t *open_run(const char *db_name, store_run *run)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", g_fx.dir, db_name);
    store_db_t *db = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open(&db, path, STORE_DB_READONLY, &err), FP_OK);
    assert_int_equal(store_db_run_find(db, "t", run, &err), FP_OK);
    return db;
}

/* The latest checkpoint's bytes and the number of committed rounds. */
static void latest(const char *db_name, bool all_layers, store_checkpoint *ck, size_t *rounds)
{
    fp_error err = {0};
    store_run run;
    store_db_t *db = open_run(db_name, &run);
    assert_int_equal(store_db_checkpoint_latest(db, run.id, ck, &err), FP_OK);
    store_round *rs = NULL;
    assert_int_equal(store_db_rounds_list(db, run.id, &rs, rounds, &err), FP_OK);
    free(rs);
    store_layer *layers = NULL;
    size_t nl = 0;
    assert_int_equal(store_db_layers_load(db, run.id, &layers, &nl, &err), FP_OK);
    assert_int_equal(nl, 3);
    /* FedPepTAO never selects the last layer (never scored); SCAFFOLD sends every layer. */
    assert_int_equal(layers[2].selected, all_layers);
    assert_int_equal(layers[0].selected + layers[1].selected, all_layers ? 2 : 2);
    free(layers);
    store_run_clear(&run);
    store_db_close(&db);
}

static void same_checkpoint(const store_checkpoint *a, const store_checkpoint *b)
{
    assert_int_equal(a->round, b->round);
    assert_int_equal(a->prompt.size, b->prompt.size);
    assert_memory_equal(a->prompt.data, b->prompt.data, a->prompt.size);
    assert_int_equal(a->server_state.size, b->server_state.size);
    assert_memory_equal(a->server_state.data, b->server_state.data, a->server_state.size);
}

static void check_strategy(fp_strategy strategy, fp_head head)
{
    fedpep_config cfg;
    fp_error err = {0};
    train_sim_options o = {.stop_after_round = -1, .stop_before_commit = -1};
    train_sim_result res;
    char a[32], b[32], c[32], d[32];
    snprintf(d, sizeof d, "d%d-%d.db", (int)strategy, (int)head);
    snprintf(a, sizeof a, "a%d-%d.db", (int)strategy, (int)head);
    snprintf(b, sizeof b, "b%d-%d.db", (int)strategy, (int)head);
    snprintf(c, sizeof c, "c%d-%d.db", (int)strategy, (int)head);
    sim_config(&cfg, a, strategy);
    cfg.model.head = head;
    if (train_simulate(&cfg, &o, NULL, &res, &err))
        fail_msg("simulate: %s", err.msg);
    assert_int_equal(res.rounds_done, 3);
    assert_true(res.last_metric >= 0.0 && res.last_metric <= 1.0);
    sim_config(&cfg, b, strategy);
    cfg.model.head = head;
    assert_int_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_OK);
    /* Stopped after round 1 (as if killed), then resumed. */
    sim_config(&cfg, c, strategy);
    cfg.model.head = head;
    o.stop_after_round = 1;
    assert_int_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_OK);
    assert_int_equal(res.rounds_done, 2);
    o.stop_after_round = -1;
    assert_int_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_OK);
    assert_true(res.resumed);
    assert_int_equal(res.first_round, 2);
    assert_int_equal(res.rounds_done, 1);

    /* Killed inside round 1 after its clients saved their states, then resumed: those clients
     * answer from their saved state instead of training twice. */
    sim_config(&cfg, d, strategy);
    cfg.model.head = head;
    o.stop_before_commit = 1;
    assert_int_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_ESTATE);
    assert_int_equal(res.rounds_done, 1);
    o.stop_before_commit = -1;
    assert_int_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_OK);
    assert_int_equal(res.first_round, 1);

    store_checkpoint ca = {0}, cb = {0}, cc = {0}, cd = {0};
    size_t na, nb, nc, nd;
    bool all = strategy == FP_STRATEGY_SCAFFOLD;
    latest(a, all, &ca, &na);
    latest(b, all, &cb, &nb);
    latest(c, all, &cc, &nc);
    latest(d, all, &cd, &nd);
    assert_int_equal(nd, 3);
    same_checkpoint(&ca, &cd);
    store_checkpoint_clear(&cd);
    assert_int_equal(na, 3);
    assert_int_equal(nc, 3);
    same_checkpoint(&ca, &cb);
    same_checkpoint(&ca, &cc);
    store_checkpoint_clear(&ca);
    store_checkpoint_clear(&cb);
    store_checkpoint_clear(&cc);
}

static void fedpeptao_is_deterministic_and_resumes_exactly(void **state)
{
    (void)state;
    check_strategy(FP_STRATEGY_FEDPEPTAO, FP_HEAD_LINEAR);
}

static void fixed_description_head_is_deterministic_and_resumes_exactly(void **state)
{
    (void)state;
    check_strategy(FP_STRATEGY_FEDPEPTAO, FP_HEAD_DESCRIPTIONS);
}

static void scaffold_is_deterministic_and_resumes_exactly(void **state)
{
    (void)state;
    check_strategy(FP_STRATEGY_SCAFFOLD, FP_HEAD_LINEAR);
}

static void a_finished_run_is_not_run_again(void **state)
{
    (void)state;
    fedpep_config cfg;
    fp_error err = {0};
    train_sim_options o = {.stop_after_round = -1, .stop_before_commit = -1};
    train_sim_result res;
    char name[32]; /* the first run of fedpeptao_is_deterministic_and_resumes_exactly */
    snprintf(name, sizeof name, "a%d-%d.db", (int)FP_STRATEGY_FEDPEPTAO, (int)FP_HEAD_LINEAR);
    sim_config(&cfg, name, FP_STRATEGY_FEDPEPTAO);
    assert_int_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_OK);
    assert_int_equal(res.first_round, 3);
    assert_int_equal(res.rounds_done, 0);
    /* Nor once its checkpoints are gone (bench/results.sh deletes a finished run's): it stays
     * finished with its rounds, instead of starting again at round 0 and failing on them. */
    /* (on a copy: later tests read this run's checkpoints) */
    char copy[sizeof cfg.run.db + 8], sql[2 * sizeof copy];
    snprintf(copy, sizeof copy, "%s.copy", cfg.run.db);
    snprintf(sql, sizeof sql, "VACUUM INTO '%s'", copy);
    sqlite3 *raw = NULL;
    assert_int_equal(sqlite3_open(cfg.run.db, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(sqlite3_open(copy, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "DELETE FROM checkpoints", NULL, NULL, NULL), SQLITE_OK);
    assert_true(sqlite3_changes(raw) > 0);
    sqlite3_close(raw);
    assert_true(strlen(copy) < sizeof cfg.run.db);
    memcpy(cfg.run.db, copy, strlen(copy) + 1);
    assert_int_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_OK);
    assert_int_equal(res.first_round, 3);
    assert_int_equal(res.rounds_done, 0);
    assert_false(isnan(res.best_metric));
    /* A different seed under the same name is refused by the store. */
    cfg.run.seed = 7;
    assert_int_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_ESTATE);
}

static void hessian_selection_and_input_prompt_runs_complete(void **state)
{
    (void)state;
    fedpep_config cfg;
    fp_error err = {0};
    train_sim_options o = {.stop_after_round = -1, .stop_before_commit = -1};
    train_sim_result res;
    /* rho from SLQ over central-difference products of the prompt gradient, at the run's
     * initial linear head and at the fixed label-description head. */
    const fp_head heads[2] = {FP_HEAD_LINEAR, FP_HEAD_DESCRIPTIONS};
    for (int h = 0; h < 2; h++) {
        sim_config(&cfg, h ? "hd.db" : "h.db", FP_STRATEGY_FEDPEPTAO);
        cfg.model.head = heads[h];
        cfg.federation.layer_selection = FP_LAYERS_HESSIAN;
        cfg.federation.lanczos_steps = 4;
        cfg.run.rounds = 1;
        cfg.client.max_local_steps = 2;
        if (train_simulate(&cfg, &o, NULL, &res, &err))
            fail_msg("hessian (head %d): %s", (int)heads[h], err.msg);
        assert_int_equal(res.rounds_done, 1);
        assert_true(res.n_layers_sent >= 1 && res.n_layers_sent <= 2);
    }
    /* fedavg-input: the input soft prompt travels, no layer is selected. */
    sim_config(&cfg, "i.db", FP_STRATEGY_FEDAVG_INPUT);
    cfg.run.rounds = 2;
    o.keep_checkpoints = 1; /* pruning keeps the newest checkpoint, which resume needs */
    assert_int_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_OK);
    assert_int_equal(res.n_layers_sent, 0);
    store_checkpoint ck = {0};
    store_run run;
    store_db_t *db = open_run("i.db", &run);
    assert_int_equal(store_db_checkpoint_latest(db, run.id, &ck, &err), FP_OK);
    assert_int_equal(ck.prompt.size, 4 * 32 * sizeof(float)); /* I [P][d] */
    store_checkpoint_clear(&ck);
    store_run_clear(&run);
    store_db_close(&db);
}

/* Dropout 0.3 with min_clients = clients_per_round: short attempts are retried with other
 * clients until the round has its updates; the run is deterministic and a run stopped inside a
 * retried round (after its clients saved their states) resumes to the same bytes. */
static void dropout_is_retried_and_resumes_exactly(void **state)
{
    (void)state;
    fedpep_config cfg;
    fp_error err = {0};
    train_sim_options o = {.stop_after_round = -1, .stop_before_commit = -1};
    train_sim_result res;
    store_checkpoint ca = {0}, cb = {0};
    size_t na, nb;
    int stop = -1;
    for (int pass = 0; pass < 2; pass++) {
        sim_config(&cfg, pass ? "dropout-b.db" : "dropout-a.db", FP_STRATEGY_FEDPEPTAO);
        cfg.faults.dropout = 0.3;
        cfg.federation.min_clients = 2;
        o.stop_before_commit = pass ? stop : -1;
        fp_status st = train_simulate(&cfg, &o, NULL, &res, &err);
        if (pass) {
            assert_int_equal(st, FP_ESTATE); /* stopped inside the retried round */
            o.stop_before_commit = -1;
            st = train_simulate(&cfg, &o, NULL, &res, &err);
            assert_int_equal(res.first_round, stop);
        }
        if (st)
            fail_msg("simulate: %s", err.msg);
        /* The first round that needed a retry, for the second pass to stop in. */
        store_db_t *db = NULL;
        store_run run;
        store_round *rs = NULL;
        size_t n = 0;
        db = open_run("dropout-a.db", &run);
        assert_int_equal(run.status, STORE_RUN_FINISHED);
        assert_int_equal(store_db_rounds_list(db, run.id, &rs, &n, &err), FP_OK);
        assert_int_equal(n, 3);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(rs[i].status, STORE_ROUND_OK);
            assert_int_equal(rs[i].completed, 2);
            if (rs[i].retries && stop < 0)
                stop = (int)i;
        }
        free(rs);
        store_run_clear(&run);
        store_db_close(&db);
        assert_true(stop >= 0); /* the seed gives a short first attempt */
    }
    latest("dropout-a.db", false, &ca, &na);
    latest("dropout-b.db", false, &cb, &nb);
    assert_int_equal(nb, 3);
    same_checkpoint(&ca, &cb);
    store_checkpoint_clear(&ca);
    store_checkpoint_clear(&cb);
}

/* Every client drops (dropout 1): retried rounds fail the run, which records why; skipped
 * rounds are committed as failed with their reason and the run finishes. Over-selection (all
 * 4 asked for 2): the first 2 updates are aggregated, the other 2 are late, and a late row
 * keeps nothing it did not report (NULL n_k, steps, loss and time). */
static void short_rounds_and_late_clients_are_recorded(void **state)
{
    (void)state;
    fedpep_config cfg;
    fp_error err = {0};
    train_sim_options o = {.stop_after_round = -1, .stop_before_commit = -1};
    train_sim_result res;
    store_db_t *db = NULL;
    store_run run;
    store_round *rs = NULL;
    size_t n = 0;

    sim_config(&cfg, "short-fail.db", FP_STRATEGY_FEDPEPTAO);
    cfg.faults.dropout = 1;
    cfg.federation.max_retries = 1;
    assert_int_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_ESTATE);
    assert_non_null(strstr(err.msg, "round 0: 0 of 2 updates (min_clients 1) after 2 attempts, "
                                    "4 of 4 clients asked; no retry left"));
    db = open_run("short-fail.db", &run);
    assert_int_equal(run.status, STORE_RUN_FAILED);
    assert_non_null(strstr(run.reason, "no retry left (max_retries)"));
    assert_int_equal(store_db_rounds_list(db, run.id, &rs, &n, &err), FP_OK);
    assert_int_equal(n, 0);
    store_run_clear(&run);
    store_db_close(&db);

    sim_config(&cfg, "short-skip.db", FP_STRATEGY_FEDPEPTAO);
    cfg.faults.dropout = 1;
    cfg.federation.on_short_round = FP_SHORT_ROUND_SKIP;
    assert_int_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_OK);
    db = open_run("short-skip.db", &run);
    assert_int_equal(run.status, STORE_RUN_FINISHED);
    assert_int_equal(store_db_rounds_list(db, run.id, &rs, &n, &err), FP_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rs[i].status, STORE_ROUND_FAILED);
        assert_int_equal(rs[i].dropped, 2);
        assert_true(isnan(rs[i].train_loss));
        assert_string_equal(rs[i].reason, "0 of 2 updates (min_clients 1) after 1 attempt, 2 of "
                                          "4 clients asked; skipped (on_short_round = skip)");
    }
    free(rs);
    store_run_clear(&run);
    store_db_close(&db);

    sim_config(&cfg, "late.db", FP_STRATEGY_FEDPEPTAO);
    cfg.federation.overselect = 2;
    assert_int_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_OK);
    db = open_run("late.db", &run);
    for (int32_t r = 0; r < 3; r++) {
        store_client_round *cr = NULL;
        assert_int_equal(store_db_round_clients(db, run.id, r, &cr, &n, &err), FP_OK);
        assert_int_equal(n, 4);
        int ok = 0, late = 0;
        for (size_t i = 0; i < n; i++) {
            if (cr[i].status == STORE_CLIENT_OK) {
                ok++;
                assert_true(cr[i].n_k > 0 && cr[i].steps > 0 && !isnan(cr[i].loss));
            } else {
                late += cr[i].status == STORE_CLIENT_LATE;
                assert_true(cr[i].n_k == -1 && cr[i].steps == -1 && isnan(cr[i].loss) &&
                            cr[i].ms == -1);
            }
        }
        assert_int_equal(ok, 2);
        assert_int_equal(late, 2);
        free(cr);
    }
    store_run_clear(&run);
    store_db_close(&db);
}

/* The rounds of run "t" in the database g_fx.dir/name. */
static store_round *rounds_of(const char *name, size_t *n)
{
    fp_error err = {0};
    store_run run;
    store_db_t *db = open_run(name, &run);
    store_round *rs = NULL;
    assert_int_equal(store_db_rounds_list(db, run.id, &rs, n, &err), FP_OK);
    store_run_clear(&run);
    store_db_close(&db);
    return rs;
}

/* FedPrompt with the fixed head into g_fx.dir/db, with the availability trace at trace (NULL =
 * none; up to 10 retries of a round it leaves short). */
static void run_fedprompt(const char *db, const char *trace)
{
    fedpep_config cfg;
    fp_error err = {0};
    train_sim_options o = {.stop_after_round = -1, .stop_before_commit = -1};
    train_sim_result res;
    sim_config(&cfg, db, FP_STRATEGY_FEDPROMPT);
    cfg.model.head = FP_HEAD_DESCRIPTIONS;
    cfg.federation.max_retries = 10;
    if (trace)
        snprintf(cfg.faults.trace, sizeof cfg.faults.trace, "%.150s", trace);
    if (train_simulate(&cfg, &o, NULL, &res, &err))
        fail_msg("simulate: %s", err.msg);
}

/* Every round records the clients' CPU time and the global model's scores on the whole
 * evaluation split. FedPrompt keeps nothing private, so its global model is every client's
 * model and the whole split is the union of the shards: its global scores equal the pooled
 * personalised ones (up to the batches' float rounding). A round whose clients answered from
 * states saved before a kill did not measure their CPU time here: NULL, not a guess. */
static void global_scores_and_client_cpu_are_recorded(void **state)
{
    (void)state;
    run_fedprompt("global.db", NULL);
    size_t n = 0;
    store_round *rs = rounds_of("global.db", &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_false(isnan(rs[i].global_metric) || isnan(rs[i].global_loss));
        assert_true(fabs(rs[i].global_metric - rs[i].eval_metric) <= 2.0 / 32 + 1e-9);
        assert_true(fabs(rs[i].global_loss - rs[i].eval_loss) <= 1e-4 * fabs(rs[i].eval_loss));
        assert_true(rs[i].client_cpu_max_ms >= 0);
        assert_true(rs[i].client_cpu_ms >= rs[i].client_cpu_max_ms);
    }
    free(rs);

    /* FedPepTAO (personalised) killed inside round 1 after its clients saved, then resumed
     * (fixed_description_head_is_deterministic_and_resumes_exactly). */
    char name[32];
    snprintf(name, sizeof name, "d%d-%d.db", (int)FP_STRATEGY_FEDPEPTAO, (int)FP_HEAD_DESCRIPTIONS);
    rs = rounds_of(name, &n);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_true(rs[i].global_metric >= 0 && rs[i].global_metric <= 1);
        assert_false(isnan(rs[i].global_loss));
    }
    assert_true(rs[0].client_cpu_ms >= rs[0].client_cpu_max_ms && rs[0].client_cpu_max_ms >= 0);
    assert_int_equal(rs[1].client_cpu_ms, -1);
    assert_int_equal(rs[1].client_cpu_max_ms, -1);
    assert_true(rs[2].client_cpu_ms >= 0);
    free(rs);
}

/* The personalised FedPrompt baseline (strategy fedprompt-personal) is FedPepTAO with
 * FedPrompt's FedAvg server step: the same scored layers travel and the rest stay private, and
 * since FedPepTAO's round 0 is plain FedAvg (FEDPEPTAO.md §4.4) the two runs train the same
 * rounds 0 and 1 (round 1 starts from the same w_1); from round 2 on FedPepTAO's momentum and
 * control variates move its rows elsewhere. It is deterministic and resumes exactly. */
static void fedprompt_personal_is_fedpeptao_with_a_fedavg_server(void **state)
{
    (void)state;
    check_strategy(FP_STRATEGY_FEDPROMPT_PERSONAL, FP_HEAD_LINEAR);
    char pep[32], pp[32];
    snprintf(pep, sizeof pep, "a%d-%d.db", (int)FP_STRATEGY_FEDPEPTAO, (int)FP_HEAD_LINEAR);
    snprintf(pp, sizeof pp, "a%d-%d.db", (int)FP_STRATEGY_FEDPROMPT_PERSONAL, (int)FP_HEAD_LINEAR);
    size_t na = 0, nb = 0;
    store_round *a = rounds_of(pep, &na), *b = rounds_of(pp, &nb);
    assert_int_equal(na, 3);
    assert_int_equal(nb, 3);
    for (int r = 0; r < 2; r++) {
        assert_true(a[r].train_loss == b[r].train_loss);
        assert_int_equal(isnan(a[r].eval_metric), isnan(b[r].eval_metric));
    }
    assert_true(a[0].eval_metric == b[0].eval_metric || isnan(a[0].eval_metric));
    assert_true(a[2].train_loss != b[2].train_loss);
    free(a);
    free(b);
    fp_error err = {0};
    store_run ra, rb;
    store_db_t *da = open_run(pep, &ra), *db = open_run(pp, &rb);
    store_layer *la = NULL, *lb = NULL;
    size_t nla = 0, nlb = 0;
    assert_int_equal(store_db_layers_load(da, ra.id, &la, &nla, &err), FP_OK);
    assert_int_equal(store_db_layers_load(db, rb.id, &lb, &nlb, &err), FP_OK);
    assert_int_equal(nla, nlb);
    for (size_t l = 0; l < nla; l++)
        assert_int_equal(la[l].selected, lb[l].selected);
    store_checkpoint ca = {0}, cb = {0};
    assert_int_equal(store_db_checkpoint_latest(da, ra.id, &ca, &err), FP_OK);
    assert_int_equal(store_db_checkpoint_latest(db, rb.id, &cb, &err), FP_OK);
    assert_int_equal(ca.prompt.size, cb.prompt.size);
    assert_true(memcmp(ca.prompt.data, cb.prompt.data, ca.prompt.size) != 0);
    store_checkpoint_clear(&ca);
    store_checkpoint_clear(&cb);
    free(la);
    free(lb);
    store_run_clear(&ra);
    store_run_clear(&rb);
    store_db_close(&da);
    store_db_close(&db);
}

/* An availability trace: clients 0, 1 and 2 are unavailable in round 0, so round 0 drops every
 * one of them it asks (and retries until client 3 answers) and the later rounds, which the
 * trace does not cover, drop none — as the clients of the actor system decide from the same
 * trace (actors/faults.h). A trace that cannot be read stops the run before it starts. */
static void an_availability_trace_drops_its_unavailable_clients(void **state)
{
    (void)state;
    char trace[150]; /* fits [faults] trace */
    snprintf(trace, sizeof trace, "%.100s/trace.csv", g_fx.dir);
    FILE *f = fopen(trace, "w");
    assert_non_null(f);
    fputs("client,round,available,speed\n0,0,0,1\n1,0,0,1\n2,0,0,1\n3,*,1,0.5\n", f);
    fclose(f);
    run_fedprompt("trace.db", trace);
    fp_error err = {0};
    store_run run;
    store_db_t *db = open_run("trace.db", &run);
    store_round *rs = NULL;
    size_t n = 0;
    assert_int_equal(store_db_rounds_list(db, run.id, &rs, &n, &err), FP_OK);
    assert_int_equal(n, 3);
    for (int32_t r = 0; r < 3; r++) {
        store_client_round *cr = NULL;
        size_t nc = 0;
        assert_int_equal(store_db_round_clients(db, run.id, r, &cr, &nc, &err), FP_OK);
        for (size_t i = 0; i < nc; i++)
            assert_int_equal(cr[i].status,
                             r == 0 && cr[i].client < 3 ? STORE_CLIENT_DROPPED : STORE_CLIENT_OK);
        free(cr);
        assert_int_equal(rs[r].completed, r == 0 ? 1 : 2);
    }
    assert_true(rs[0].dropped >= 1); /* the first attempt asked two, at most one is client 3 */
    free(rs);
    store_run_clear(&run);
    store_db_close(&db);

    fedpep_config cfg;
    train_sim_options o = {.stop_after_round = -1, .stop_before_commit = -1};
    train_sim_result res;
    sim_config(&cfg, "trace-missing.db", FP_STRATEGY_FEDPROMPT);
    snprintf(cfg.faults.trace, sizeof cfg.faults.trace, "%s/no-such.csv", g_fx.dir);
    assert_int_not_equal(train_simulate(&cfg, &o, NULL, &res, &err), FP_OK);
    assert_non_null(strstr(err.msg, "no-such.csv"));
}

static int setup(void **state)
{
    return fixture_files_setup(state, &g_fx, "simulate", 3, 64, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fedpeptao_is_deterministic_and_resumes_exactly),
        cmocka_unit_test(fixed_description_head_is_deterministic_and_resumes_exactly),
        cmocka_unit_test(scaffold_is_deterministic_and_resumes_exactly),
        cmocka_unit_test(a_finished_run_is_not_run_again),
        cmocka_unit_test(hessian_selection_and_input_prompt_runs_complete),
        cmocka_unit_test(dropout_is_retried_and_resumes_exactly),
        cmocka_unit_test(short_rounds_and_late_clients_are_recorded),
        cmocka_unit_test(global_scores_and_client_cpu_are_recorded),
        cmocka_unit_test(an_availability_trace_drops_its_unavailable_clients),
        cmocka_unit_test(fedprompt_personal_is_fedpeptao_with_a_fedavg_server),
    };
    return cmocka_run_group_tests_name("simulate", tests, setup, fixture_files_teardown);
}
