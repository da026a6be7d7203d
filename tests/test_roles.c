/* test_roles.c — the coordinator, client and evaluator roles (actors/): the pure pieces (fault
 * decisions, the client state blob, the evaluator's selection), and a whole run through the real
 * broker on ipc:// with the store, the evaluator, the coordinator and 4 clients each in its own
 * thread running actor_run: every round is committed with consistent counts, and the final
 * checkpoint (rows, server state, RNG) is byte-identical to `simulate` with the same config.
 * The model has USE-lite's shape (block 0 narrower than the stream), so the rows travel at two
 * widths and come back exactly. */
#include "tests/support/test.h"

#include <math.h>
#include <pthread.h>
#include <czmq.h>

#include "tests/test_train_fixture.h"

#include "actors/client_role.h"
#include "actors/coordinator.h"
#include "actors/evaluator.h"
#include "actors/faults.h"
#include "actors/store_role.h"
#include "broker/broker.h"
#include "common/config.h"
#include "fl/layer_score.h"
#include "fl/server.h"
#include "storage/store_db.h"
#include "simulate/simulate.h"

static char g_dir[100];
static char g_vocab[512], g_merges[512];

/* ---- pure pieces ---- */

/* Field by field: the bytes of a faults_round_t include padding after the three bools. */
static void assert_faults_equal(faults_round_t a, faults_round_t b)
{
    assert_int_equal(a.drop, b.drop);
    assert_int_equal(a.crash, b.crash);
    assert_int_equal(a.slow, b.slow);
    assert_true(a.slowdown == b.slowdown);
    assert_true(a.delay_s == b.delay_s);
}

static void faults_are_a_pure_function_with_the_configured_rates(void **state)
{
    (void)state;
    fedpep_config cfg;
    config_defaults(&cfg);
    cfg.federation.clients = 50;
    cfg.faults.dropout = 0.3;
    cfg.faults.straggler_clients = 5;
    cfg.faults.straggler_slowdown = 4;
    cfg.faults.straggler_delay_s = 0.5;
    int drops = 0, always = 0, slow = 0;
    for (uint32_t k = 0; k < 50; k++) {
        always += faults_always_slow(&cfg, k);
        for (uint32_t r = 0; r < 40; r++) {
            faults_round_t a = faults_for(&cfg, r, k), b = faults_for(&cfg, r, k);
            assert_faults_equal(a, b);
            assert_false(a.crash); /* crash = 0 */
            drops += a.drop;
            slow += a.slow;
            if (a.slow) {
                assert_true(a.slowdown == 4 && a.delay_s == 0.5);
                assert_int_equal(faults_hold_ms(&a, 100), 300 + 500);
                /* late whatever its compute time once the delay alone reaches the deadline */
                assert_true(faults_misses_deadline(&a, 0.5));
                assert_false(faults_misses_deadline(&a, 0.6));
            } else {
                assert_true(a.slowdown == 1 && a.delay_s == 0);
                assert_int_equal(faults_hold_ms(&a, 100), 0);
                assert_false(faults_misses_deadline(&a, 0));
            }
        }
    }
    assert_int_equal(always, 5);
    assert_int_equal(slow, 5 * 40); /* straggler_prob 0: only the always-slow ones */
    assert_true(drops > 0.25 * 2000 && drops < 0.35 * 2000);
    /* A different seed hits other clients. */
    fedpep_config other = cfg;
    other.run.seed = cfg.run.seed + 1;
    int same = 0;
    for (uint32_t k = 0; k < 50; k++)
        same += faults_for(&cfg, 3, k).drop == faults_for(&other, 3, k).drop;
    assert_true(same < 50);
    /* The rates at their ends: dropout 1 drops every client, dropout 0 none. */
    fedpep_config ends = cfg;
    for (uint32_t k = 0; k < 50; k++) {
        ends.faults.dropout = 1;
        assert_true(faults_for(&ends, 7, k).drop);
        ends.faults.dropout = 0;
        assert_false(faults_for(&ends, 7, k).drop);
    }
    cfg.faults.dropout = 0;
    cfg.faults.crash = 1;
    assert_true(faults_for(&cfg, 1, 1).crash);
}

static void the_client_blob_round_trips_and_refuses_malformed_input(void **state)
{
    (void)state;
    uint8_t s[5] = {1, 2, 3, 4, 5}, a[3] = {9, 8, 7}, *blob = NULL;
    size_t n;
    fp_error err = {0};
    assert_int_equal(client_blob_pack(s, 5, a, 3, &blob, &n, &err), FP_OK);
    const uint8_t *ps, *pa;
    size_t ns, na;
    assert_int_equal(client_blob_unpack(blob, n, &ps, &ns, &pa, &na, &err), FP_OK);
    assert_int_equal(ns, 5);
    assert_int_equal(na, 3);
    assert_memory_equal(ps, s, 5);
    assert_memory_equal(pa, a, 3);
    assert_int_equal(client_blob_unpack(blob, 10, &ps, &ns, &pa, &na, &err), FP_EFORMAT);
    assert_int_equal(client_blob_unpack(blob, 20, &ps, &ns, &pa, &na, &err), FP_EFORMAT);
    blob[0] = 'X';
    assert_int_equal(client_blob_unpack(blob, n, &ps, &ns, &pa, &na, &err), FP_EFORMAT);
    blob[0] = 'F';
    blob[8] = 200; /* state length beyond the blob */
    assert_int_equal(client_blob_unpack(blob, n, &ps, &ns, &pa, &na, &err), FP_EFORMAT);
    free(blob);
}

static void the_evaluator_selects_the_best_scored_layers(void **state)
{
    (void)state;
    fedpep_config cfg;
    config_defaults(&cfg);
    cfg.federation.clients = 2;
    cfg.federation.clients_per_round = 1;
    cfg.federation.layer_fraction = 0.5;
    /* Statistics of 5 scored layers (L = 6) for two clients of 1 and 3 examples' weight. */
    double s[2 * 5] = {1, 5, 2, 9, 3, /* client 0 */ 1, 5, 2, 9, 3};
    int64_t n[2] = {1, 3};
    int layers[6], k;
    double S[6];
    fp_error err = {0};
    assert_int_equal(evaluator_select(&cfg, 6, s, n, layers, &k, S, &err), FP_OK);
    int want_k;
    assert_int_equal(fl_layer_count(0.5, 6, &want_k, &err), FP_OK);
    assert_int_equal(k, want_k);
    assert_true(isnan(S[5]));
    assert_true(S[3] == 9 && S[0] == 1);
    for (int i = 0; i < k; i++)
        assert_true(layers[i] < 5); /* the unscored last layer never travels */
    for (int i = 1; i < k; i++)
        assert_true(layers[i] > layers[i - 1]);
    /* SCAFFOLD scores nothing and sends every layer. */
    cfg.run.strategy = FP_STRATEGY_SCAFFOLD;
    assert_int_equal(evaluator_select(&cfg, 6, NULL, n, layers, &k, S, &err), FP_OK);
    assert_int_equal(k, 6);
    /* All clients without statistics: refused, not divided by zero. */
    cfg.run.strategy = FP_STRATEGY_FEDPEPTAO;
    int64_t zero[2] = {0, 0};
    assert_int_not_equal(evaluator_select(&cfg, 6, s, zero, layers, &k, S, &err), FP_OK);
}

/* ---- a whole run through the broker ---- */

typedef struct thread_run {
    pthread_t thread;
    actor_options_t opt;
    const actor_role_t *role;
    void *self;
    fp_status status;
    int exit_code;
    fp_error err;
} thread_run_t;

static void *thread_main(void *arg)
{
    thread_run_t *t = arg;
    t->status = actor_run(&t->opt, t->role, t->self, &t->exit_code, &t->err);
    return NULL;
}

static void launch(thread_run_t *t, const char *endpoint, const char *id, msg_role role,
                   uint32_t index, const actor_role_t *r, void *self)
{
    actor_options_defaults(&t->opt);
    snprintf(t->opt.endpoint, sizeof t->opt.endpoint, "%s", endpoint);
    snprintf(t->opt.id, sizeof t->opt.id, "%s", id);
    snprintf(t->opt.run, sizeof t->opt.run, "t");
    t->opt.role = role;
    t->opt.index = index;
    t->opt.tick_ms = 20;
    t->opt.reconnect_min_ms = 100;
    t->opt.reconnect_max_ms = 400;
    t->opt.give_up_ms = 1500;
    t->role = r;
    t->self = self;
    if (role == MSG_ROLE_COORDINATOR)
        coordinator_actor_options(&t->opt);
    assert_int_equal(pthread_create(&t->thread, NULL, thread_main, t), 0);
}

static void run_config(fedpep_config *cfg, const char *db)
{
    config_defaults(cfg);
    snprintf(cfg->model.path, sizeof cfg->model.path, "%s/model", g_dir);
    snprintf(cfg->data.dir, sizeof cfg->data.dir, "%s/data", g_dir);
    snprintf(cfg->run.db, sizeof cfg->run.db, "%s/%s", g_dir, db);
    snprintf(cfg->run.name, sizeof cfg->run.name, "t");
    cfg->run.rounds = 3;
    cfg->run.seed = 5;
    cfg->model.prompt_length = 4;
    cfg->model.max_seq_len = 32;
    cfg->model.head = FP_HEAD_LINEAR;
    cfg->federation.clients = 4;
    cfg->federation.clients_per_round = 2;
    cfg->federation.min_clients = 1;
    cfg->federation.round_deadline_s = 60;
    cfg->client.max_local_steps = 4;
    cfg->eval.batch_size = 16;
    cfg->eval.every = 2;
}

typedef struct db_view {
    store_checkpoint ck;
    store_round *rounds;
    size_t n_rounds;
    store_run run;
} db_view_t;

static void db_read(const char *path, db_view_t *v)
{
    store_db_t *db = NULL;
    fp_error err = {0};
    assert_int_equal(store_db_open(&db, path, STORE_DB_READONLY, &err), FP_OK);
    assert_int_equal(store_db_run_find(db, "t", &v->run, &err), FP_OK);
    assert_int_equal(store_db_checkpoint_latest(db, v->run.id, &v->ck, &err), FP_OK);
    assert_int_equal(store_db_rounds_list(db, v->run.id, &v->rounds, &v->n_rounds, &err), FP_OK);
    for (size_t i = 0; i < v->n_rounds; i++) {
        const store_round *r = &v->rounds[i];
        assert_int_equal(r->round, (int)i);
        assert_true(r->completed + r->dropped + r->late <= r->sampled);
        store_client_round *cr = NULL;
        size_t n = 0;
        assert_int_equal(store_db_round_clients(db, v->run.id, r->round, &cr, &n, &err),
                         FP_OK);
        assert_int_equal(n, (size_t)r->sampled); /* one row per sampled client */
        int ok = 0;
        for (size_t j = 0; j < n; j++)
            ok += cr[j].status == STORE_CLIENT_OK;
        assert_int_equal(ok, r->completed);
        free(cr);
    }
    store_db_close(&db);
}

static void db_free(db_view_t *v)
{
    store_checkpoint_clear(&v->ck);
    free(v->rounds);
    store_run_clear(&v->run);
}

/* Broker, store, evaluator and 4 clients, each actor in its own thread. */
typedef struct system {
    zactor_t *broker;
    char endpoint[150];
    store_role_t *store;
    evaluator_t *ev;
    client_role_t *clients[4];
    thread_run_t t_store, t_eval, t_client[4];
} system_t;

static void system_start(system_t *s, const fedpep_config *cfg)
{
    fp_error err = {0};
    char bound[256];
    memset(s, 0, sizeof *s);
    snprintf(s->endpoint, sizeof s->endpoint, "ipc://%s/broker.ipc", g_dir);
    broker_options_t bo;
    broker_options_defaults(&bo);
    snprintf(bo.endpoint, sizeof bo.endpoint, "%s", s->endpoint);
    bo.heartbeat_ms = 100;
    bo.liveness = 10;
    s->broker = broker_start(&bo, bound, sizeof bound, &err);
    assert_non_null(s->broker);
    store_role_options_t sto = {.db_path = cfg->run.db};
    s->store = store_role_new(&sto, &err);
    assert_non_null(s->store);
    evaluator_options_t eo = {.cfg = cfg, .fallback_vocab = g_vocab, .fallback_merges = g_merges};
    s->ev = evaluator_new(&eo, &err);
    assert_non_null(s->ev);
    for (uint32_t k = 0; k < 4; k++) {
        client_role_options_t o = {.cfg = cfg, .index = k, .fallback_vocab = g_vocab,
                                   .fallback_merges = g_merges, .faults = true};
        s->clients[k] = client_role_new(&o, &err);
        if (!s->clients[k])
            fail_msg("client %u: %s", k, err.msg);
    }
    launch(&s->t_store, s->endpoint, "store", MSG_ROLE_STORE, 0, store_role_actor(), s->store);
    launch(&s->t_eval, s->endpoint, "evaluator", MSG_ROLE_EVALUATOR, 0, evaluator_actor(), s->ev);
    for (uint32_t k = 0; k < 4; k++) {
        char id[MSG_ID_CAP];
        actor_client_id(id, k);
        launch(&s->t_client[k], s->endpoint, id, MSG_ROLE_CLIENT, k, client_role_actor(),
               s->clients[k]);
    }
}

/* Runs a coordinator to its end; returns its exit code, *first and *done its rounds. */
static int run_coordinator(system_t *s, const fedpep_config *cfg, int stop_before_save,
                           int *first, int *done)
{
    fp_error err = {0};
    coordinator_options_t co = {.cfg = cfg, .fallback_vocab = g_vocab,
                                .fallback_merges = g_merges,
                                .stop_before_save = stop_before_save};
    coordinator_t *coord = coordinator_new(&co, &err);
    assert_non_null(coord);
    thread_run_t t;
    launch(&t, s->endpoint, "coordinator", MSG_ROLE_COORDINATOR, 0, coordinator_actor(), coord);
    pthread_join(t.thread, NULL);
    *first = coordinator_first_round(coord);
    *done = coordinator_rounds_done(coord);
    coordinator_destroy(&coord);
    return t.exit_code;
}

/* Stops everything (the actors give up once the broker is gone); returns the rounds the
 * clients trained. */
static int system_stop(system_t *s)
{
    zactor_destroy(&s->broker);
    pthread_join(s->t_store.thread, NULL);
    pthread_join(s->t_eval.thread, NULL);
    int trained = 0;
    for (int k = 0; k < 4; k++) {
        pthread_join(s->t_client[k].thread, NULL);
        trained += client_role_trained(s->clients[k]);
        client_role_destroy(&s->clients[k]);
    }
    evaluator_destroy(&s->ev);
    store_role_destroy(&s->store);
    return trained;
}

/* simulate's database for run_config, made once. */
static const char *simulated(void)
{
    static char path[256];
    if (path[0])
        return path;
    fedpep_config cfg;
    fp_error err = {0};
    run_config(&cfg, "sim.db");
    train_sim_options so = {.stop_after_round = -1, .stop_before_commit = -1,
                            .fallback_vocab = g_vocab, .fallback_merges = g_merges};
    train_sim_result res;
    if (train_simulate(&cfg, &so, NULL, &res, &err))
        fail_msg("simulate: %s", err.msg);
    snprintf(path, sizeof path, "%s", cfg.run.db);
    return path;
}

/* The same value, NaN (NULL) included. */
static void same_double(double a, double b)
{
    assert_int_equal(isnan(a), isnan(b));
    if (!isnan(a))
        assert_true(a == b);
}

/* Round r of a (simulate) and b (the actor system): the global model's evaluation equal, value
 * for value (the loss up to its trip over the wire as a mean: sum / n * n / n), and the
 * clients' CPU time recorded by both, plausibly — measured, so never equal. */
static void same_global_and_cpu(const store_round *a, const store_round *b)
{
    same_double(a->global_metric, b->global_metric);
    same_double(a->global_accuracy, b->global_accuracy);
    same_double(a->global_f1, b->global_f1);
    same_double(a->global_mcc, b->global_mcc);
    assert_int_equal(isnan(a->global_loss), isnan(b->global_loss));
    if (!isnan(a->global_loss))
        assert_true(fabs(a->global_loss - b->global_loss) <= 1e-12 * fabs(a->global_loss));
    /* Evaluated rounds (every 2nd and the last) have a global metric in both. */
    assert_int_equal(isnan(b->global_metric), isnan(b->eval_metric));
    const store_round *both[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const store_round *r = both[i];
        if (!r->completed) { /* no update: nothing measured */
            assert_int_equal(r->client_cpu_ms, -1);
            continue;
        }
        assert_true(r->client_cpu_ms >= 0); /* measured: NULL is -1 */
        assert_true(r->client_cpu_max_ms >= 0 && r->client_cpu_max_ms <= r->client_cpu_ms);
        /* 2 clients of 4 local steps on a tiny model: well under 10 CPU-s, and the sum is at
         * most the clients' count times the largest */
        assert_true(r->client_cpu_ms < 10000);
        assert_true(r->client_cpu_ms <= (int64_t)r->completed * r->client_cpu_max_ms);
    }
}

/* The run of database `actors` (the actor system) equals simulate's in `sim`: 3 rounds with the
 * same counts, losses, evaluations and the same final checkpoint, byte for byte. */
static void equal_runs(const char *sim, const char *actors)
{
    db_view_t a = {0}, b = {0};
    fp_error err = {0};
    db_read(sim, &a);
    db_read(actors, &b);
    assert_int_equal(a.n_rounds, 3);
    assert_int_equal(b.n_rounds, 3);
    assert_int_equal(b.run.status, STORE_RUN_FINISHED);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(a.rounds[i].status, b.rounds[i].status);
        assert_int_equal(a.rounds[i].completed, b.rounds[i].completed);
        assert_int_equal(a.rounds[i].dropped, b.rounds[i].dropped);
        assert_int_equal(a.rounds[i].late, b.rounds[i].late);
        same_double(a.rounds[i].train_loss, b.rounds[i].train_loss);
        same_double(a.rounds[i].eval_metric, b.rounds[i].eval_metric);
        same_global_and_cpu(&a.rounds[i], &b.rounds[i]);
    }
    assert_int_equal(a.ck.round, 2);
    assert_int_equal(b.ck.round, 2);
    msg_tensor_t rows = {0};
    assert_int_equal(store_role_rows_parse(b.ck.prompt.data, b.ck.prompt.size, &rows, &err), FP_OK);
    assert_int_equal(msg_tensor_count(&rows) * sizeof(float), a.ck.prompt.size);
    assert_memory_equal(rows.data, a.ck.prompt.data, a.ck.prompt.size);
    msg_tensor_free(&rows);
    assert_int_equal(a.ck.server_state.size, b.ck.server_state.size);
    assert_memory_equal(a.ck.server_state.data, b.ck.server_state.data, a.ck.server_state.size);
    assert_int_equal(a.ck.rng.size, b.ck.rng.size);
    assert_memory_equal(a.ck.rng.data, b.ck.rng.data, a.ck.rng.size);
    db_free(&a);
    db_free(&b);
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
    train_sim_options so = {.stop_after_round = -1, .stop_before_commit = -1,
                            .fallback_vocab = g_vocab, .fallback_merges = g_merges};
    train_sim_result res;
    if (train_simulate(&cfg, &so, NULL, &res, &err))
        fail_msg("simulate: %s", err.msg);
    char sim_db[sizeof cfg.run.db];
    snprintf(sim_db, sizeof sim_db, "%s", cfg.run.db);
    snprintf(cfg.run.db, sizeof cfg.run.db, "%s/hessian.db", g_dir);
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
            want[r][k] = f.drop ? STORE_CLIENT_DROPPED
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
    snprintf(sim.run.db, sizeof sim.run.db, "%s/faults-sim.db", g_dir);
    train_sim_options so = {.stop_after_round = -1,
                            .stop_before_commit = -1,
                            .fallback_vocab = g_vocab,
                            .fallback_merges = g_merges};
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
    snprintf(cfg.faults.trace, sizeof cfg.faults.trace, "%s/trace.csv", g_dir);
    FILE *f = fopen(cfg.faults.trace, "w");
    assert_non_null(f);
    fputs("client,round,available,speed\n0,*,0,1\n1,*,1,1\n2-3,*,1,1\n", f);
    fclose(f);
    fp_error err = {0};
    client_role_options_t o = {.cfg = &cfg, .index = 0, .fallback_vocab = g_vocab,
                               .fallback_merges = g_merges, .faults = true};
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

static int setup(void **state)
{
    (void)state;
    fixture_tree("roles", g_dir, sizeof g_dir, 64, 32);
    fixture_cache(g_vocab, g_merges, sizeof g_vocab);
    /* USE-lite's shape: block 0 reads 16 of each 32-float prompt row, so the two travelling
     * layers go over the wire at widths 16 and 32 (docs/protocol.md, "Rows on the wire"). */
    char m[300];
    snprintf(m, sizeof m, "%s/model", g_dir);
    model_config c = fixture_roberta_config(3, 32);
    c.d_embed = 16;
    fixture_write_model(m, &c, 0.05f, 7, true);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_rmtree(g_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(faults_are_a_pure_function_with_the_configured_rates),
        cmocka_unit_test(the_client_blob_round_trips_and_refuses_malformed_input),
        cmocka_unit_test(the_evaluator_selects_the_best_scored_layers),
        cmocka_unit_test(a_run_through_the_broker_equals_simulate),
        cmocka_unit_test(a_coordinator_stopped_inside_a_round_resumes_exactly),
        cmocka_unit_test(a_hessian_selection_equals_simulate),
        cmocka_unit_test(dropouts_and_stragglers_are_recorded_exactly),
        cmocka_unit_test(a_trace_replaces_the_random_model_in_the_clients),
        cmocka_unit_test(a_short_round_fails_the_run_when_configured),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
