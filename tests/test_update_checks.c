/* test_update_checks.c — an UPDATE is checked before aggregation (actors/update_check.h).
 *
 * update_check alone: the shape TRAIN sent, SCAFFOLD's control delta, finiteness and n = the
 * client's shard size, each refused with its reason.
 *
 * The poisoning attack of issue #19, through the real broker and the real coordinator
 * (actor_spawn) against raw peers: a fake store and evaluator, and four raw clients that
 * answer every TRAIN with the global rows plus a constant of their own and their true n_k. In
 * the attacked run client.3 answers with rows of 1000.0 and n = 10^9 (and, in another run,
 * honest rows with a doubled n), and every EVAL_REQUEST with a perfect confusion matrix of 10^6
 * examples; in the reference run client.3 refuses every request (ERROR, as an injected dropout
 * does). The attacked runs' final rows, evaluation metric and loss must equal the reference's
 * byte for byte, with client.3 recorded `error` in every round; an honest client.3 changes the
 * rows, so the comparison can tell. Without the n check the poison was aggregated (max |w| 77
 * here, 906 in the run). */
#include "tests/support/test.h"

#include <math.h>

#include "tests/test_coordinator_fixture.h"

#include "actors/actor.h"
#include "actors/coordinator.h"
#include "actors/update_check.h"
#include "common/config.h"

#define N_CLIENTS 4
#define ROUNDS 2
#define ATTACKER 3

static fixture_files g_fx;

/* ---- update_check alone ---- */

static void update_check_refuses_what_was_not_assigned(void **state)
{
    (void)state;
    update_expect_t want = {.ndim = 2, .shape = {3, 4}, .n = 17};
    msg_update_t u = {0};
    uint32_t shape[2] = {3, 4}, other[2] = {4, 3};
    assert_int_equal(msg_tensor_alloc(&u.rows, 2, shape, NULL), FP_OK);
    for (int i = 0; i < 12; i++)
        u.rows.data[i] = 0.5f * (float)i;
    u.n = 17;
    fp_error err = {0};
    assert_int_equal(update_check(&u, &want, &err), FP_OK);

    u.n = 1000000000;
    assert_int_equal(update_check(&u, &want, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "n = 1000000000, but the client holds 17"));
    u.n = 17;
    u.rows.data[7] = NAN;
    assert_int_equal(update_check(&u, &want, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "rows[7] is not finite"));
    u.rows.data[7] = INFINITY;
    assert_int_equal(update_check(&u, &want, &err), FP_EINVAL);
    u.rows.data[7] = 1;
    memcpy(u.rows.shape, other, sizeof other); /* same count, another shape */
    assert_int_equal(update_check(&u, &want, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "rows: not the shape"));
    memcpy(u.rows.shape, shape, sizeof shape);
    u.loss = NAN;
    assert_int_equal(update_check(&u, &want, &err), FP_EINVAL);
    u.loss = 0.25;
    /* SCAFFOLD: the control delta is due, in the same shape; elsewhere it is refused. */
    want.control = true;
    assert_int_equal(update_check(&u, &want, &err), FP_EINVAL);
    assert_int_equal(msg_tensor_alloc(&u.control_delta, 2, shape, NULL), FP_OK);
    memset(u.control_delta.data, 0, 12 * sizeof(float));
    assert_int_equal(update_check(&u, &want, &err), FP_OK);
    want.control = false;
    assert_int_equal(update_check(&u, &want, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "control_delta: not asked for"));
    msg_tensor_free(&u.rows);
    msg_tensor_free(&u.control_delta);
}

static void eval_reply_check_counts_the_clients_shard(void **state)
{
    (void)state;
    uint64_t rows[2] = {3, 5};
    msg_eval_reply_t e = {.classes = 2, .n = 8};
    assert_int_equal(msg_u64s_alloc(&e.confusion, 4, NULL), FP_OK);
    uint64_t cells[4] = {2, 1, 0, 5};
    memcpy(e.confusion.v, cells, sizeof cells);
    fp_error err = {0};
    assert_int_equal(eval_reply_check(&e, rows, 2, &err), FP_OK);
    e.confusion.v[3] = 500000; /* more examples of class 1 than the client holds */
    assert_int_equal(eval_reply_check(&e, rows, 2, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "500000 examples of class 1, but the client holds 5"));
    e.confusion.v[3] = 5;
    e.classes = 3;
    assert_int_equal(eval_reply_check(&e, rows, 2, &err), FP_EINVAL);
    free(e.confusion.v);
}

/* ---- the poisoning attack ---- */

typedef enum attacker_mode { REFUSES, HONEST, POISON, LIES_ABOUT_N } attacker_mode;

typedef struct outcome {
    float *rows; /* the last SAVE's rows */
    size_t count;
    double eval_metric, eval_loss;      /* the last SAVE's */
    msg_client_status attacker[ROUNDS]; /* client.3's row in each round's SAVE */
    float max_abs;
} outcome_t;

static void config_for(fedpep_config *cfg)
{
    fixture_config(cfg, g_fx.dir);
    snprintf(cfg->run.name, sizeof cfg->run.name, "t");
    cfg->run.rounds = ROUNDS;
    cfg->federation.clients = N_CLIENTS;
    cfg->federation.clients_per_round = N_CLIENTS; /* every client, every round */
    cfg->federation.min_clients = 1;
    cfg->federation.round_deadline_s = 60;
    cfg->federation.on_short_round = FP_SHORT_ROUND_SKIP;
}

/* Client k's answer to TRAIN t: rows + 0.01 (k + 1), or what the attacker sends. */
static void client_answer(raw_peer_t *c, int k, const msg_t *t, uint64_t n_k, attacker_mode mode)
{
    msg_t r;
    bool attacker = k == ATTACKER;
    if (attacker && mode == REFUSES) {
        assert_int_equal(msg_reply_init(&r, MSG_ERROR, t, c->id, NULL), FP_OK);
        r.error.code = FP_ESTATE;
        r.error.answers = MSG_TRAIN;
        raw_send(c, "coordinator", &r);
        msg_clear(&r);
        return;
    }
    assert_int_equal(msg_reply_init(&r, MSG_UPDATE, t, c->id, NULL), FP_OK);
    assert_int_equal(
        msg_tensor_alloc(&r.update.rows, t->train.rows.ndim, t->train.rows.shape, NULL), FP_OK);
    size_t count = msg_tensor_count(&t->train.rows);
    for (size_t i = 0; i < count; i++)
        r.update.rows.data[i] =
            attacker && mode == POISON ? 1000.0f : t->train.rows.data[i] + 0.01f * (float)(k + 1);
    r.update.n = !attacker || mode == HONEST ? n_k : mode == POISON ? 1000000000u : 2 * n_k;
    r.update.steps = 1;
    r.update.loss = 0.5;
    raw_send(c, "coordinator", &r);
    msg_clear(&r);
}

/* The honest answer predicts class 0 for every example of the shard (rows[t] of class t); the
 * attacker claims 10^6 examples, all right. */
static void eval_answer(raw_peer_t *c, int k, const msg_t *req, const uint64_t *rows, int C,
                        attacker_mode mode)
{
    msg_t r;
    bool attacker = k == ATTACKER && mode != HONEST;
    if (attacker && mode == REFUSES) {
        assert_int_equal(msg_reply_init(&r, MSG_ERROR, req, c->id, NULL), FP_OK);
        r.error.code = FP_ESTATE;
        r.error.answers = MSG_EVAL_REQUEST;
    } else {
        assert_int_equal(msg_reply_init(&r, MSG_EVAL_REPLY, req, c->id, NULL), FP_OK);
        r.eval_reply.classes = (uint32_t)C;
        assert_int_equal(msg_u64s_alloc(&r.eval_reply.confusion, (uint32_t)(C * C), NULL), FP_OK);
        memset(r.eval_reply.confusion.v, 0, (size_t)(C * C) * sizeof(uint64_t));
        for (int t = 0; t < C; t++) {
            uint64_t n = attacker ? 1000000 / (uint64_t)C : rows[t];
            r.eval_reply.confusion.v[t * C + (attacker ? t : 0)] = n;
            r.eval_reply.n += n;
        }
        r.eval_reply.loss = attacker ? 0 : 0.5;
    }
    raw_send(c, req->from, &r);
    msg_clear(&r);
}

/* The fake store: RUN and SAVE acknowledged (SAVE's rows and client.3's rows kept), LOAD finds
 * nothing. Returns true once RUN {done} came. */
static bool store_answer(raw_peer_t *s, const msg_t *m, outcome_t *o)
{
    msg_t r;
    if (m->type == MSG_LOAD) {
        assert_int_equal(msg_reply_init(&r, MSG_STATE, m, "store", NULL), FP_OK);
    } else {
        assert_int_equal(msg_reply_init(&r, MSG_SAVED, m, "store", NULL), FP_OK);
        r.saved.answers = m->type;
    }
    if (m->type == MSG_SAVE && m->round < ROUNDS) {
        o->eval_metric = m->save.eval_metric;
        o->eval_loss = m->save.eval_loss;
        o->count = msg_tensor_count(&m->save.rows);
        free(o->rows);
        o->rows = malloc(o->count * sizeof(float));
        assert_non_null(o->rows);
        memcpy(o->rows, m->save.rows.data, o->count * sizeof(float));
        for (uint32_t i = 0; i < m->save.clients.n; i++)
            if (m->save.clients.v[i].client == ATTACKER)
                o->attacker[m->round] = m->save.clients.v[i].status;
    }
    raw_send(s, m->from, &r);
    msg_clear(&r);
    return m->type == MSG_RUN && m->run_row.status != MSG_RUN_RUNNING;
}

static void run_world(attacker_mode mode, outcome_t *o)
{
    memset(o, 0, sizeof *o);
    for (int r = 0; r < ROUNDS; r++)
        o->attacker[r] = MSG_CLIENT_OK;
    fedpep_config cfg;
    config_for(&cfg);
    fp_error err = {0};
    shard_sizes_t shards;
    train_model_t *model = train_model_open(cfg.model.path, g_fx.vocab, g_fx.merges, &err);
    assert_non_null(model);
    assert_int_equal(
        shard_sizes_load(&shards, &cfg, model, config_prompt_length(&cfg, model->decoder), &err),
        FP_OK);
    train_model_destroy(&model);
    int C = shards.classes;

    char ep[150];
    zactor_t *broker = fixture_broker(NULL, 1000, 0, 200, 100, ep, sizeof ep);
    raw_peer_t peers[N_CLIENTS + 2]; /* the clients, the store, the evaluator */
    raw_peer_t *store = &peers[N_CLIENTS], *ev = &peers[N_CLIENTS + 1];
    raw_register(store, ep, "store", MSG_ROLE_STORE, 0);
    raw_register(ev, ep, "evaluator", MSG_ROLE_EVALUATOR, 0);
    for (int k = 0; k < N_CLIENTS; k++) {
        char id[MSG_ID_CAP];
        actor_client_id(id, (uint32_t)k);
        raw_register(&peers[k], ep, id, MSG_ROLE_CLIENT, (uint32_t)k);
    }
    for (int i = 0; i < N_CLIENTS + 2; i++)
        zsock_set_rcvtimeo(peers[i].sock, 5);

    fixture_coordinator co;
    fixture_coordinator_start(&co, &cfg, &g_fx, ep);

    bool done = false;
    for (int64_t end = zclock_mono() + 60000; !done && zclock_mono() < end;)
        for (int i = 0; i < N_CLIENTS + 2 && !done; i++) {
            msg_t m;
            if (!raw_recv(&peers[i], NULL, &m))
                continue;
            if (i == N_CLIENTS) {
                done = store_answer(store, &m, o);
            } else if (i == N_CLIENTS + 1 && m.type == MSG_SCORE_REQUEST) {
                msg_t r;
                assert_int_equal(msg_reply_init(&r, MSG_SELECTION, &m, "evaluator", NULL), FP_OK);
                r.selection.num_layers = 2;
                assert_int_equal(msg_u32s_alloc(&r.selection.layers, 1, NULL), FP_OK);
                r.selection.layers.v[0] = 0;
                raw_send(ev, m.from, &r);
                msg_clear(&r);
            } else if (i == N_CLIENTS + 1 && m.type == MSG_EVAL_REQUEST) {
                /* The global model's evaluation is not what this test is about: refused, the
                 * coordinator records the rounds without it. */
                msg_t r;
                assert_int_equal(msg_reply_init(&r, MSG_ERROR, &m, "evaluator", NULL), FP_OK);
                r.error.code = FP_ESTATE;
                r.error.answers = MSG_EVAL_REQUEST;
                raw_send(ev, m.from, &r);
                msg_clear(&r);
            } else if (i < N_CLIENTS && m.type == MSG_TRAIN) {
                client_answer(&peers[i], i, &m, shards.train[i], mode);
            } else if (i < N_CLIENTS && m.type == MSG_EVAL_REQUEST) {
                eval_answer(&peers[i], i, &m, shards.eval + (size_t)i * (size_t)C, C, mode);
            }
            msg_clear(&m);
        }
    fixture_coordinator_stop(&co);
    for (int i = 0; i < N_CLIENTS + 2; i++)
        raw_close(&peers[i]);
    zactor_destroy(&broker);
    shard_sizes_free(&shards);
    assert_true(done);
    assert_int_equal(co.result.status, FP_OK);
    assert_non_null(o->rows);
    for (size_t i = 0; i < o->count; i++)
        o->max_abs = fmaxf(o->max_abs, fabsf(o->rows[i]));
}

static void a_poisoned_update_is_never_aggregated(void **state)
{
    (void)state;
    outcome_t ref, honest, poison, liar;
    run_world(REFUSES, &ref);
    run_world(HONEST, &honest);
    run_world(POISON, &poison);
    run_world(LIES_ABOUT_N, &liar);
    printf("max |w|: reference %.4f, honest client.3 %.4f, poisoned %.4f, lying n %.4f\n",
           (double)ref.max_abs, (double)honest.max_abs, (double)poison.max_abs,
           (double)liar.max_abs);
    assert_int_equal(poison.count, ref.count);
    assert_int_equal(liar.count, ref.count);
    /* The comparison can tell: an honest client.3 moves the rows. */
    assert_int_equal(honest.count, ref.count);
    assert_true(memcmp(honest.rows, ref.rows, ref.count * sizeof(float)) != 0);
    for (int r = 0; r < ROUNDS; r++) {
        assert_int_equal(ref.attacker[r], MSG_CLIENT_DROPPED);
        assert_int_equal(honest.attacker[r], MSG_CLIENT_OK);
        assert_int_equal(poison.attacker[r], MSG_CLIENT_ERROR);
        assert_int_equal(liar.attacker[r], MSG_CLIENT_ERROR);
    }
    assert_memory_equal(poison.rows, ref.rows, ref.count * sizeof(float));
    assert_true(poison.eval_metric == ref.eval_metric); /* values, bit for bit in effect */
    assert_true(poison.eval_loss == ref.eval_loss);
    assert_true(poison.eval_metric < 0.9); /* every honest client predicts class 0 */
    assert_memory_equal(liar.rows, ref.rows, ref.count * sizeof(float));
    assert_true(poison.max_abs < 10);
    free(ref.rows);
    free(honest.rows);
    free(poison.rows);
    free(liar.rows);
}

static int setup(void **state)
{
    return fixture_files_setup(state, &g_fx, "update_checks", 2, 40, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(update_check_refuses_what_was_not_assigned),
        cmocka_unit_test(eval_reply_check_counts_the_clients_shard),
        cmocka_unit_test(a_poisoned_update_is_never_aggregated),
    };
    return cmocka_run_group_tests(tests, setup, fixture_files_teardown);
}
