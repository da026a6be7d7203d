/* test_score_checks.c — a client's SCORE_REPLY is bounded before the evaluator combines it
 * (actors/update_check.h, score_reply_check), as an UPDATE is before aggregation.
 *
 * score_reply_check alone: the count of statistics, the run's batch, n = the client's shard size
 * (0 for a shard of fewer than 2), each statistic finite and inside the range the statistic can
 * take (fl_layer_statistic_range), each refused with its reason.
 *
 * Through the real broker and the real evaluator (actor_spawn) against raw peers: a coordinator
 * asks for the selection, client.0 answers honestly, and client.1 (authenticated, malicious)
 * answers with n = 10^9, or with statistics of 10^300. Its reply is refused and counted, and
 * the SELECTION (layers and combined scores, value for value) is the one where client.1 weighs
 * 0; an honest client.1 changes the combined scores, so the comparison can tell. */
#include "tests/support/test.h"

#include <math.h>

#include "tests/test_broker_fixture.h"
#include "tests/test_train_fixture.h"

#include "actors/actor.h"
#include "actors/evaluator.h"
#include "actors/update_check.h"
#include "common/config.h"
#include "fl/layer_score.h"

#define L_LAYERS 3 /* the fixture model's layers */

static fixture_files g_fx;

/* ---- score_reply_check alone ---- */

static void score_reply_check_refuses_what_the_shard_cannot_give(void **state)
{
    (void)state;
    msg_score_reply_t r = {.n = 17, .batch = 8};
    assert_int_equal(msg_f64s_alloc(&r.scores, 2, NULL), FP_OK);
    r.scores.v[0] = 9.5;
    r.scores.v[1] = 300.0;
    fp_error err = {0};
    assert_int_equal(score_reply_check(&r, 2, 17, 8, &err), FP_OK);

    r.n = 1000000000;
    assert_int_equal(score_reply_check(&r, 2, 17, 8, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "n = 1000000000, but the client holds 17"));
    r.n = 17;
    r.scores.v[1] = NAN;
    assert_int_equal(score_reply_check(&r, 2, 17, 8, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "scores[1] is not finite"));
    r.scores.v[1] = INFINITY;
    assert_int_equal(score_reply_check(&r, 2, 17, 8, &err), FP_EINVAL);
    /* finite but beyond what b = 8 examples can give, above and below */
    double lo, hi;
    fl_layer_statistic_range(8, &lo, &hi);
    r.scores.v[1] = 1e300;
    assert_int_equal(score_reply_check(&r, 2, 17, 8, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "scores[1] = 1e+300, outside"));
    r.scores.v[1] = hi;
    assert_int_equal(score_reply_check(&r, 2, 17, 8, &err), FP_OK);
    r.scores.v[1] = hi * 1.001;
    assert_int_equal(score_reply_check(&r, 2, 17, 8, &err), FP_EINVAL);
    r.scores.v[1] = 7.5; /* below b: every eigenvalue term is at least 1 */
    assert_int_equal(score_reply_check(&r, 2, 17, 8, &err), FP_EINVAL);
    r.scores.v[1] = -1;
    assert_int_equal(score_reply_check(&r, 2, 17, 8, &err), FP_EINVAL);
    r.scores.v[1] = 300.0;
    /* the batch is min(n_k, score_batch): a shard of 5 scores 5 examples */
    r.n = 5;
    r.scores.v[0] = 6.0;
    assert_int_equal(score_reply_check(&r, 2, 5, 8, &err), FP_OK);
    r.scores.v[0] = 7.5;
    r.scores.v[1] = 4.0;
    assert_int_equal(score_reply_check(&r, 2, 5, 8, &err), FP_EINVAL);
    r.scores.v[1] = 300.0;
    r.n = 17;
    /* the count of statistics, the run's batch */
    assert_int_equal(score_reply_check(&r, 3, 17, 8, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "2 scores for 3 scored layers"));
    assert_int_equal(score_reply_check(&r, 2, 17, 4, &err), FP_EINVAL);
    /* a shard of fewer than 2 scores nothing: n = 0, whatever (finite) statistics */
    r.n = 1;
    assert_int_equal(score_reply_check(&r, 2, 1, 8, &err), FP_EINVAL);
    r.n = 0;
    r.scores.v[0] = r.scores.v[1] = 0;
    assert_int_equal(score_reply_check(&r, 2, 1, 8, &err), FP_OK);
    free(r.scores.v);
}

/* ---- through the evaluator ---- */

typedef enum attacker_mode { HONEST, HUGE_N, HUGE_SCORES } attacker_mode;

static const double SCORES[2][L_LAYERS - 1] = {{10.25, 40.0}, {60.0, 9.0}};

typedef struct outcome {
    uint32_t layers[L_LAYERS], k;
    double S[L_LAYERS - 1];
    int refused;
} outcome_t;

static void config_for(fedpep_config *cfg)
{
    fixture_config(cfg, g_fx.dir);
    snprintf(cfg->run.name, sizeof cfg->run.name, "t");
    cfg->federation.clients = 2;
    cfg->federation.clients_per_round = 2;
    cfg->federation.min_clients = 1;
    cfg->federation.round_deadline_s = 60; /* the selection waits for both replies */
}

static void score_answer(raw_peer_t *c, int k, const msg_t *req, uint64_t n_k,
                         const fedpep_config *cfg, attacker_mode mode)
{
    msg_t r;
    bool attacker = k == 1 && mode != HONEST;
    assert_int_equal(msg_reply_init(&r, MSG_SCORE_REPLY, req, c->id, NULL), FP_OK);
    assert_int_equal(msg_f64s_alloc(&r.score_reply.scores, L_LAYERS - 1, NULL), FP_OK);
    for (int l = 0; l < L_LAYERS - 1; l++)
        r.score_reply.scores.v[l] = attacker && mode == HUGE_SCORES ? 1e300 : SCORES[k][l];
    r.score_reply.n = attacker && mode == HUGE_N ? 1000000000u : n_k;
    r.score_reply.batch = (uint32_t)cfg->federation.score_batch;
    raw_send(c, "evaluator", &r);
    msg_clear(&r);
}

static void select_with(attacker_mode mode, const uint64_t *n_k, outcome_t *o)
{
    memset(o, 0, sizeof *o);
    fedpep_config cfg;
    config_for(&cfg);
    char ep[150];
    zactor_t *broker = fixture_broker(NULL, 1000, 0, 200, 100, ep, sizeof ep);
    raw_peer_t coord, clients[2];
    raw_register(&coord, ep, "coordinator", MSG_ROLE_COORDINATOR, 0);
    raw_register(&clients[0], ep, "client.0", MSG_ROLE_CLIENT, 0);
    raw_register(&clients[1], ep, "client.1", MSG_ROLE_CLIENT, 1);
    fp_error err = {0};
    evaluator_options_t eo = {
        .cfg = &cfg, .fallback_vocab = g_fx.vocab, .fallback_merges = g_fx.merges};
    evaluator_t *ev = evaluator_new(&eo, &err);
    if (!ev)
        fail_msg("evaluator_new: %s", err.msg);
    actor_options_t ao;
    fixture_actor_options(&ao, ep, "evaluator", MSG_ROLE_EVALUATOR, "t");
    actor_result_t result = {0};
    zactor_t *actor = actor_spawn(&ao, evaluator_actor(), ev, &result);
    assert_non_null(actor);
    raw_expect_peer(&coord, "evaluator", true);

    msg_t m;
    assert_int_equal(msg_init(&m, MSG_SCORE_REQUEST, "t", "coordinator", NULL), FP_OK);
    m.score_request.batch = 1;
    uint64_t asked = raw_send(&coord, "evaluator", &m);
    msg_clear(&m);
    for (int k = 0; k < 2; k++) {
        msg_t req;
        raw_expect(&clients[k], MSG_SCORE_REQUEST, &req);
        score_answer(&clients[k], k, &req, n_k[k], &cfg, mode);
        msg_clear(&req);
    }
    msg_t sel;
    raw_expect(&coord, MSG_SELECTION, &sel);
    assert_int_equal(sel.re, asked);
    assert_int_equal(sel.selection.num_layers, L_LAYERS);
    assert_true(sel.selection.layers.n >= 1 && sel.selection.layers.n < L_LAYERS);
    assert_int_equal(sel.selection.scores.n, L_LAYERS - 1);
    o->k = sel.selection.layers.n;
    memcpy(o->layers, sel.selection.layers.v, o->k * sizeof o->layers[0]);
    memcpy(o->S, sel.selection.scores.v, sizeof o->S);
    msg_clear(&sel);

    zactor_destroy(&actor);
    o->refused = evaluator_refused(ev);
    evaluator_destroy(&ev);
    for (int k = 0; k < 2; k++)
        raw_close(&clients[k]);
    raw_close(&coord);
    zactor_destroy(&broker);
    assert_int_equal(result.status, FP_OK);
}

static void an_out_of_bounds_score_reply_is_never_combined(void **state)
{
    (void)state;
    fedpep_config cfg;
    config_for(&cfg);
    fp_error err = {0};
    shard_sizes_t shards;
    train_model_t *m = train_model_open(cfg.model.path, g_fx.vocab, g_fx.merges, &err);
    assert_non_null(m);
    assert_int_equal(
        shard_sizes_load(&shards, &cfg, m, config_prompt_length(&cfg, m->decoder), &err), FP_OK);
    train_model_destroy(&m);
    uint64_t n_k[2] = {shards.train[0], shards.train[1]};
    shard_sizes_free(&shards);
    assert_true(n_k[0] >= 8 && n_k[1] >= 8); /* both score a full batch */

    /* The reference: client.1 weighs 0, as one that did not answer by the deadline. */
    int ref_layers[L_LAYERS], ref_k;
    double ref_S[L_LAYERS];
    const int64_t weights[2] = {(int64_t)n_k[0], 0};
    assert_int_equal(
        evaluator_select(&cfg, L_LAYERS, &SCORES[0][0], weights, ref_layers, &ref_k, ref_S, &err),
        FP_OK);

    outcome_t honest, huge_n, huge_scores;
    select_with(HONEST, n_k, &honest);
    select_with(HUGE_N, n_k, &huge_n);
    select_with(HUGE_SCORES, n_k, &huge_scores);
    printf("S[0]: reference %.4f, honest client.1 %.4f, n = 1e9 %.4f, scores 1e300 %.4f\n",
           ref_S[0], honest.S[0], huge_n.S[0], huge_scores.S[0]);

    /* The comparison can tell: an honest client.1 moves the combined scores. */
    assert_int_equal(honest.refused, 0);
    assert_true(honest.S[0] != ref_S[0]);
    const outcome_t *attacked[2] = {&huge_n, &huge_scores};
    for (int a = 0; a < 2; a++) {
        const outcome_t *o = attacked[a];
        assert_int_equal(o->refused, 1);
        assert_int_equal(o->k, (uint32_t)ref_k);
        for (int i = 0; i < ref_k; i++)
            assert_int_equal(o->layers[i], ref_layers[i]);
        for (int l = 0; l < L_LAYERS - 1; l++)
            assert_true(o->S[l] == ref_S[l]); /* values, bit for bit in effect */
    }
}

static int setup(void **state)
{
    return fixture_files_setup(state, &g_fx, "score_checks", L_LAYERS, 40, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(score_reply_check_refuses_what_the_shard_cannot_give),
        cmocka_unit_test(an_out_of_bounds_score_reply_is_never_combined),
    };
    return cmocka_run_group_tests(tests, setup, fixture_files_teardown);
}
