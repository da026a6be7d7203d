/* test_fl_strategy.c — the strategy table (descriptors by the configuration's enum, layer sets),
 * the E[:, S] gather/scatter of a [P][L][2][d] prompt, and best/last round tracking. */
#include "tests/support/test.h"

#include "fl/prompt_rows.h"
#include "fl/strategy.h"

static void every_strategy_has_a_descriptor(void **state)
{
    (void)state;
    for (int i = 0; i < FP_STRATEGY_COUNT; i++) {
        const fl_strategy_desc *d = NULL;
        assert_int_equal(fl_strategy_for((fp_strategy)i, &d, NULL), FP_OK);
        assert_int_equal(d->id, i); /* the table is indexed by the configuration's enum */
        assert_ptr_equal(fl_strategy_get((fp_strategy)i), d);
        assert_non_null(d->summary);
        fl_server_config cfg = fl_strategy_server_config(d);
        assert_int_equal(cfg.opt, d->server);
    }
    const fl_strategy_desc *d = NULL;
    fp_error err;
    assert_int_equal(fl_strategy_for(FP_STRATEGY_COUNT, &d, &err), FP_EINVAL);
    assert_null(d);
    assert_non_null(strstr(err.msg, "out of range"));
    assert_null(fl_strategy_get(FP_STRATEGY_COUNT));
    assert_null(fl_strategy_get((fp_strategy)-1));
}

static void descriptors_say_what_each_strategy_uses(void **state)
{
    (void)state;
    const fl_strategy_desc *pep = fl_strategy_get(FP_STRATEGY_FEDPEPTAO);
    assert_int_equal(pep->travel, FL_TRAVEL_SELECTED);
    assert_true(pep->needs_scores && pep->personalise);
    assert_int_equal(pep->server, FL_SERVER_MOMENTUM_CV);
    const fl_strategy_desc *rnd = fl_strategy_get(FP_STRATEGY_RANDOM_LAYERS);
    assert_int_equal(rnd->travel, FL_TRAVEL_RANDOM);
    assert_int_equal(rnd->server, FL_SERVER_MOMENTUM_CV);
    assert_false(rnd->needs_scores);
    /* The personalised FedPrompt: FedPepTAO's layers and private rest, FedPrompt's server. */
    const fl_strategy_desc *pp = fl_strategy_get(FP_STRATEGY_FEDPROMPT_PERSONAL);
    assert_int_equal(pp->travel, pep->travel);
    assert_true(pp->needs_scores && pp->personalise);
    assert_int_equal(pp->server, fl_strategy_get(FP_STRATEGY_FEDPROMPT)->server);
    assert_false(pp->prox || pp->scaffold_client);
    assert_true(fl_strategy_get(FP_STRATEGY_FEDPROX)->prox);
    assert_true(fl_strategy_get(FP_STRATEGY_SCAFFOLD)->scaffold_client);
    assert_int_equal(fl_strategy_get(FP_STRATEGY_SCAFFOLD)->server, FL_SERVER_SCAFFOLD);
    assert_int_equal(fl_strategy_get(FP_STRATEGY_FEDAVG_INPUT)->travel, FL_TRAVEL_INPUT);
    assert_int_equal(fl_strategy_get(FP_STRATEGY_FEDYOGI)->server, FL_SERVER_YOGI);
    for (int i = 0; i < FP_STRATEGY_COUNT; i++) { /* only one client extra at a time */
        const fl_strategy_desc *d = fl_strategy_get((fp_strategy)i);
        assert_false(d->prox && d->scaffold_client);
        assert_true(d->personalise ==
                    (d->travel == FL_TRAVEL_SELECTED || d->travel == FL_TRAVEL_RANDOM));
    }
}

static void layer_sets_per_strategy(void **state)
{
    (void)state;
    enum { L = 6 };
    double S[L - 1] = {0.5, 3, 1, 2, 9};
    int layers[L], k;
    assert_int_equal(
        fl_strategy_layers(fl_strategy_get(FP_STRATEGY_FEDPEPTAO), L, S, 0.5, 1, layers, &k, NULL),
        FP_OK);
    assert_int_equal(k, 3);
    int want[3] = {1, 3, 4};
    assert_memory_equal(layers, want, sizeof want);
    assert_int_equal(fl_strategy_layers(fl_strategy_get(FP_STRATEGY_FEDPEPTAO), L, NULL, 0.5, 1,
                                        layers, &k, NULL),
                     FP_EINVAL);
    assert_int_equal(fl_strategy_layers(fl_strategy_get(FP_STRATEGY_RANDOM_LAYERS), L, NULL, 0.5, 1,
                                        layers, &k, NULL),
                     FP_OK);
    assert_int_equal(k, 3);
    for (int i = 0; i < k; i++)
        assert_true(layers[i] < L - 1);
    assert_int_equal(fl_strategy_layers(fl_strategy_get(FP_STRATEGY_FEDPROMPT), L, NULL, 0.5, 1,
                                        layers, &k, NULL),
                     FP_OK);
    assert_int_equal(k, L);
    assert_int_equal(layers[L - 1], L - 1);
    assert_int_equal(fl_strategy_layers(fl_strategy_get(FP_STRATEGY_FEDAVG_INPUT), L, NULL, 0.5, 1,
                                        layers, &k, NULL),
                     FP_OK);
    assert_int_equal(k, 0);
}

/* E[p][l][s][e] = 1000 p + 100 l + 10 s + e: the gathered rows of layers {1, 3} are the
 * values with l ∈ {1, 3} in the order [P][K][2][d]; scatter writes only those back. */
static void gather_and_scatter_selected_rows(void **state)
{
    (void)state;
    fl_prompt_shape sh = {.P = 3, .L = 4, .d = 2};
    float E[3 * 4 * 2 * 2], rows[3 * 2 * 2 * 2];
    for (int p = 0; p < 3; p++)
        for (int l = 0; l < 4; l++)
            for (int s = 0; s < 2; s++)
                for (int e = 0; e < 2; e++)
                    E[((p * 4 + l) * 2 + s) * 2 + e] = (float)(1000 * p + 100 * l + 10 * s + e);
    int layers[2] = {1, 3};
    assert_int_equal(fl_prompt_check_layers(&sh, layers, 2, NULL), FP_OK);
    fl_prompt_gather(&sh, E, layers, 2, rows);
    for (int p = 0; p < 3; p++)
        for (int j = 0; j < 2; j++)
            for (int s = 0; s < 2; s++)
                for (int e = 0; e < 2; e++)
                    assert_close(rows[((p * 2 + j) * 2 + s) * 2 + e],
                                 1000 * p + 100 * layers[j] + 10 * s + e, 0);
    for (int i = 0; i < 24; i++)
        rows[i] = -1.0f - (float)i;
    float before[48];
    memcpy(before, E, sizeof E);
    fl_prompt_scatter(&sh, E, layers, 2, rows);
    for (int p = 0; p < 3; p++)
        for (int l = 0; l < 4; l++)
            for (int i = 0; i < 4; i++) {
                int at = (p * 4 + l) * 4 + i;
                if (l == 1 || l == 3)
                    assert_close(E[at], rows[(p * 2 + (l == 3)) * 4 + i], 0);
                else
                    assert_close(E[at], before[at], 0); /* private layers untouched */
            }
    int bad[2] = {3, 1}, out[1] = {4};
    fp_error err;
    assert_int_equal(fl_prompt_check_layers(&sh, bad, 2, &err), FP_EINVAL);
    assert_int_equal(fl_prompt_check_layers(&sh, out, 1, &err), FP_EINVAL);
}

static void best_and_last_round(void **state)
{
    (void)state;
    fl_round_track t;
    fl_round_track_init(&t);
    assert_false(t.has_best || t.has_last);
    double metric[] = {NAN, 0.5, 0.7, 0.7, 0.6};
    for (int r = 0; r < 5; r++)
        fl_round_track_update(&t, r, metric[r]);
    assert_true(t.has_best);
    assert_close(t.best, 0.7, 0);
    assert_int_equal(t.best_round, 2); /* the earliest round keeps a tie */
    assert_close(t.last, 0.6, 0);
    assert_int_equal(t.last_round, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_strategy_has_a_descriptor),
        cmocka_unit_test(descriptors_say_what_each_strategy_uses),
        cmocka_unit_test(layer_sets_per_strategy),
        cmocka_unit_test(gather_and_scatter_selected_rows),
        cmocka_unit_test(best_and_last_round),
    };
    return cmocka_run_group_tests_name("fl_strategy", tests, NULL, NULL);
}
