/* test_roles_fixture.h — shared by test_roles.c and test_roles_faults.c: a whole actor system
 * (the real broker on ipc://, the store, the evaluator and 4 clients, each in its own thread
 * running actor_run) over a tree with USE-lite's shape, a coordinator run to its end, the rounds
 * of a database read back, and two runs' databases compared value for value. */
#ifndef FEDPEP_TESTS_TEST_ROLES_FIXTURE_H
#define FEDPEP_TESTS_TEST_ROLES_FIXTURE_H

#include "tests/support/test.h"

#include <math.h>
#include <pthread.h>
#include <czmq.h>

#include "tests/test_broker_fixture.h"
#include "tests/test_train_fixture.h"

#include "actors/client_role.h"
#include "actors/coordinator.h"
#include "actors/evaluator.h"
#include "actors/store_role.h"
#include "broker/broker.h"
#include "common/config.h"
#include "storage/store_db.h"

static fixture_files g_fx;

typedef struct thread_run {
    pthread_t thread;
    actor_options_t opt;
    const actor_role_t *role;
    void *self;
    fp_status status;
    int exit_code;
    fp_error err;
} thread_run_t;

static inline void *thread_main(void *arg)
{
    thread_run_t *t = arg;
    t->status = actor_run(&t->opt, t->role, t->self, &t->exit_code, &t->err);
    return NULL;
}

static inline void launch(thread_run_t *t, const char *endpoint, const char *id, msg_role role,
                          uint32_t index, const actor_role_t *r, void *self)
{
    fixture_actor_options(&t->opt, endpoint, id, role, "t");
    t->opt.index = index;
    t->opt.reconnect_min_ms = 100;
    t->opt.reconnect_max_ms = 400;
    t->opt.give_up_ms = 1500;
    t->role = r;
    t->self = self;
    if (role == MSG_ROLE_COORDINATOR)
        coordinator_actor_options(&t->opt);
    assert_int_equal(pthread_create(&t->thread, NULL, thread_main, t), 0);
}

static inline void run_config(fedpep_config *cfg, const char *db)
{
    fixture_run_config(cfg, g_fx.dir, db);
    cfg->run.seed = 5;
    cfg->federation.round_deadline_s = 60;
    cfg->client.max_local_steps = 4;
    cfg->eval.every = 2;
}

typedef struct db_view {
    store_checkpoint ck;
    store_round *rounds;
    size_t n_rounds;
    store_run run;
} db_view_t;

static inline void db_read(const char *path, db_view_t *v)
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
        assert_int_equal(store_db_round_clients(db, v->run.id, r->round, &cr, &n, &err), FP_OK);
        assert_int_equal(n, (size_t)r->sampled); /* one row per sampled client */
        int ok = 0;
        for (size_t j = 0; j < n; j++)
            ok += cr[j].status == STORE_CLIENT_OK;
        assert_int_equal(ok, r->completed);
        free(cr);
    }
    store_db_close(&db);
}

static inline void db_free(db_view_t *v)
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

static inline void system_start(system_t *s, const fedpep_config *cfg)
{
    fp_error err = {0};
    char bound[256];
    memset(s, 0, sizeof *s);
    snprintf(s->endpoint, sizeof s->endpoint, "ipc://%s/broker.ipc", g_fx.dir);
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
    evaluator_options_t eo = {
        .cfg = cfg, .fallback_vocab = g_fx.vocab, .fallback_merges = g_fx.merges};
    s->ev = evaluator_new(&eo, &err);
    assert_non_null(s->ev);
    for (uint32_t k = 0; k < 4; k++) {
        client_role_options_t o = {.cfg = cfg,
                                   .index = k,
                                   .fallback_vocab = g_fx.vocab,
                                   .fallback_merges = g_fx.merges,
                                   .faults = true};
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
static inline int run_coordinator(system_t *s, const fedpep_config *cfg, int stop_before_save,
                                  int *first, int *done)
{
    fp_error err = {0};
    coordinator_options_t co = {.cfg = cfg,
                                .fallback_vocab = g_fx.vocab,
                                .fallback_merges = g_fx.merges,
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
static inline int system_stop(system_t *s)
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

/* The same value, NaN (NULL) included. */
static inline void same_double(double a, double b)
{
    assert_int_equal(isnan(a), isnan(b));
    if (!isnan(a))
        assert_true(a == b);
}

/* Round r of a (simulate) and b (the actor system): the global model's evaluation equal, value
 * for value (the loss up to its trip over the wire as a mean: sum / n * n / n), and the
 * clients' CPU time recorded by both, plausibly — measured, so never equal. */
static inline void same_global_and_cpu(const store_round *a, const store_round *b)
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
static inline void equal_runs(const char *sim, const char *actors)
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

/* cmocka group setup: the tree in g_fx.dir, its model in USE-lite's shape. */
static inline int roles_setup(void **state)
{
    fixture_files_setup(state, &g_fx, "roles", 3, 64, 32);
    /* USE-lite's shape: block 0 reads 16 of each 32-float prompt row, so the two travelling
     * layers go over the wire at widths 16 and 32 (docs/protocol.md, "Rows on the wire"). */
    char m[300];
    snprintf(m, sizeof m, "%s/model", g_fx.dir);
    model_config c = fixture_roberta_config(3, 32);
    c.d_embed = 16;
    fixture_write_model(m, &c, 0.05f, 7, true);
    return 0;
}

#endif
