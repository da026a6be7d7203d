/* test_roles_pure.c — the pure pieces of the coordinator, client and evaluator roles
 * (actors/), without sockets: fault decisions, the client state blob, the evaluator's selection.
 * The roles talking through the real broker are in test_roles.c and test_roles_faults.c. */
#include "tests/support/test.h"

#include <math.h>

#include "actors/client_blob.h"
#include "actors/evaluator.h"
#include "actors/faults.h"
#include "common/config.h"
#include "fl/layer_score.h"
#include "tests/support/faults_check.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(faults_are_a_pure_function_with_the_configured_rates),
        cmocka_unit_test(the_client_blob_round_trips_and_refuses_malformed_input),
        cmocka_unit_test(the_evaluator_selects_the_best_scored_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
