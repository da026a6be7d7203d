/* test_fl_partition.c — FedPepTAO §5 splits: every example exactly once, the same seed gives
 * the same split, client sizes and label mixes follow their Dirichlet parameters over many
 * seeds, the redraw guard is exercised, and IID / shards splits have their shapes. */
#include "tests/support/test.h"

#include "common/rng.h"
#include "fl/partition.h"

static void assert_exact_cover(const fl_partition_t *p, int n)
{
    int *seen = calloc((size_t)n, sizeof *seen);
    assert_int_equal(p->offset[0], 0);
    assert_int_equal(p->offset[p->n_clients], n);
    for (int k = 0; k < p->n_clients; k++) {
        assert_true(fl_partition_size(p, k) >= 0);
        for (int j = p->offset[k]; j < p->offset[k + 1]; j++) {
            assert_true(p->index[j] >= 0 && p->index[j] < n);
            seen[p->index[j]]++;
            if (j > p->offset[k])
                assert_true(p->index[j] > p->index[j - 1]); /* ascending per client */
        }
    }
    for (int i = 0; i < n; i++)
        assert_int_equal(seen[i], 1);
    free(seen);
}

static int *balanced_labels(int n, int classes)
{
    int *labels = malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++)
        labels[i] = (i * 7) % classes;
    return labels;
}

static void dirichlet_covers_and_reproduces(void **state)
{
    (void)state;
    enum { N = 3000, C = 3, K = 100 };
    int *labels = balanced_labels(N, C);
    fl_dirichlet_params prm = {.alpha = 1.0, .size_alpha = 5.0, .seed = 42};
    fl_partition_t *a = NULL, *b = NULL, *c = NULL;
    fp_error err;
    assert_int_equal(fl_partition_dirichlet(labels, N, C, K, &prm, &a, &err), FP_OK);
    assert_int_equal(fl_partition_dirichlet(labels, N, C, K, &prm, &b, &err), FP_OK);
    prm.seed = 43;
    assert_int_equal(fl_partition_dirichlet(labels, N, C, K, &prm, &c, &err), FP_OK);
    assert_exact_cover(a, N);
    assert_exact_cover(c, N);
    assert_memory_equal(a->offset, b->offset, sizeof(int) * (K + 1));
    assert_memory_equal(a->index, b->index, sizeof(int) * N);
    assert_memory_not_equal(a->offset, c->offset, sizeof(int) * (K + 1));
    assert_int_equal(a->fallbacks, b->fallbacks);
    fl_partition_destroy(&a);
    fl_partition_destroy(&b);
    fl_partition_destroy(&c);
    assert_null(a);
    fl_partition_destroy(&a);
    free(labels);
}

/* Over 300 seeds with N = 20 clients: the mean share n_k/n is 1/20 and its variance is
 * Dir(5)'s α(α0 − α)/(α0²(α0 + 1)) with α0 = 100: 4.70e−4. The label purity Σ_c p̂_c² of a
 * client matches Dir(α)'s E Σ p_c² = (α + 1)/(Cα + 1) plus the multinomial term (1 − E)/n_k. */
/* The evaluation split, partitioned with the same seed, reuses each client's share q_k and
 * prior π_k: its sizes are round(q_k · n_eval) and its label mix follows the same prior. */
static void eval_split_shares_sizes_and_priors(void **state)
{
    (void)state;
    enum { NT = 5000, NE = 1000, C = 2, K = 10 };
    int *train = balanced_labels(NT, C), *eval = balanced_labels(NE, C);
    fl_dirichlet_params prm = {.alpha = 1.0, .size_alpha = 5.0, .seed = 42};
    fl_partition_t *a = NULL, *b = NULL;
    assert_int_equal(fl_partition_dirichlet(train, NT, C, K, &prm, &a, NULL), FP_OK);
    assert_int_equal(fl_partition_dirichlet(eval, NE, C, K, &prm, &b, NULL), FP_OK);
    assert_memory_equal(a->share, b->share, sizeof(double) * K);
    assert_memory_equal(a->prior, b->prior, sizeof(double) * K * C);
    int used = 0;
    for (int k = 0; k < K - 1; k++) {
        assert_int_equal(fl_partition_size(b, k), (int)floor(b->share[k] * NE + 0.5));
        used += fl_partition_size(b, k);
    }
    assert_int_equal(fl_partition_size(b, K - 1), NE - used); /* the last takes the rounding */
    fl_partition_t *iid = NULL;
    assert_int_equal(fl_partition_iid(10, 2, 1, &iid, NULL), FP_OK);
    assert_null(iid->share);
    fl_partition_destroy(&iid);
    fl_partition_destroy(&a);
    fl_partition_destroy(&b);
    free(train);
    free(eval);
}

static void dirichlet_statistics_match_parameters(void **state)
{
    (void)state;
    enum { N = 4000, C = 4, K = 20, SEEDS = 300 };
    int *labels = balanced_labels(N, C);
    double alphas[] = {0.1, 1.0, 100.0};
    for (int a = 0; a < 3; a++) {
        double share = 0, share2 = 0, purity = 0, want_purity = 0;
        int count = 0, fallbacks = 0;
        for (int s = 0; s < SEEDS; s++) {
            fl_dirichlet_params prm = {alphas[a], 5.0, (uint64_t)s};
            fl_partition_t *p = NULL;
            assert_int_equal(fl_partition_dirichlet(labels, N, C, K, &prm, &p, NULL), FP_OK);
            fallbacks += p->fallbacks;
            double e = (alphas[a] + 1) / (C * alphas[a] + 1);
            for (int k = 0; k < K; k++) {
                int nk = fl_partition_size(p, k);
                double q = (double)nk / N;
                share += q;
                share2 += q * q;
                if (nk < 20)
                    continue;
                int per[C] = {0};
                for (int j = p->offset[k]; j < p->offset[k + 1]; j++)
                    per[labels[p->index[j]]]++;
                double pur = 0;
                for (int c = 0; c < C; c++)
                    pur += ((double)per[c] / nk) * ((double)per[c] / nk);
                purity += pur;
                want_purity += e + (1 - e) / nk;
                count++;
            }
            fl_partition_destroy(&p);
        }
        double mean = share / (K * SEEDS), var = share2 / (K * SEEDS) - mean * mean;
        purity /= count;
        want_purity /= count;
        printf("# alpha %-5g mean share %.5f (1/K %.5f)  var %.3e (Dir(5) %.3e)  purity %.4f "
               "(Dir(alpha) %.4f)  fallbacks %d\n",
               alphas[a], mean, 1.0 / K, var, 5.0 * 95 / (1e4 * 101), purity, want_purity,
               fallbacks);
        assert_close(mean, 1.0 / K, 1e-12); /* the quotas always sum to N */
        assert_close(var, 5.0 * 95 / (1e4 * 101), 0.1 * 5.0 * 95 / (1e4 * 101));
        if (alphas[a] >= 1.0) {
            assert_close(purity, want_purity, 0.05 * want_purity);
        } else {
            /* Small α: concentrated clients exhaust "their" class and must take others, so
             * the realised purity sits below the prior's (measured 0.69 vs 0.79) — still far
             * above α = 1's 0.41. */
            assert_true(purity < want_purity && purity > 0.8 * want_purity);
        }
    }
    free(labels);
}

/* α = 0.001: each client's prior is essentially one class (the others underflow towards 0),
 * so clients run out of "their" class and the redraw guard must decide; every example is
 * still placed exactly once. */
static void redraw_guard_terminates(void **state)
{
    (void)state;
    enum { N = 600, C = 3, K = 30 };
    int *labels = balanced_labels(N, C);
    fl_dirichlet_params prm = {.alpha = 0.001, .size_alpha = 5.0, .seed = 7};
    fl_partition_t *p = NULL;
    assert_int_equal(fl_partition_dirichlet(labels, N, C, K, &prm, &p, NULL), FP_OK);
    printf("# alpha 0.001: %d placements decided by the guard\n", p->fallbacks);
    assert_true(p->fallbacks > 0);
    assert_exact_cover(p, N);
    fl_partition_destroy(&p);
    free(labels);
}

static void bad_arguments_are_rejected(void **state)
{
    (void)state;
    int labels[4] = {0, 1, 2, 1};
    fl_dirichlet_params prm = {1.0, 5.0, 1};
    fl_partition_t *p = NULL;
    fp_error err;
    assert_int_equal(fl_partition_dirichlet(labels, 4, 2, 2, &prm, &p, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "label 2"));
    prm.alpha = 0;
    assert_int_equal(fl_partition_dirichlet(labels, 4, 3, 2, &prm, &p, &err), FP_EINVAL);
    prm.alpha = 1;
    assert_int_equal(fl_partition_dirichlet(labels, 4, 3, 0, &prm, &p, &err), FP_EINVAL);
    assert_int_equal(fl_partition_iid(4, 0, 1, &p, &err), FP_EINVAL);
    assert_int_equal(fl_partition_shards(labels, 4, 3, 3, 2, 1, &p, &err), FP_EINVAL);
    assert_null(p);
    /* More clients than examples: some get nothing, nothing breaks. */
    assert_int_equal(fl_partition_dirichlet(labels, 4, 3, 10, &prm, &p, &err), FP_OK);
    assert_exact_cover(p, 4);
    fl_partition_destroy(&p);
}

static void iid_is_balanced_and_reproducible(void **state)
{
    (void)state;
    fl_partition_t *a = NULL, *b = NULL;
    assert_int_equal(fl_partition_iid(1003, 10, 5, &a, NULL), FP_OK);
    assert_int_equal(fl_partition_iid(1003, 10, 5, &b, NULL), FP_OK);
    assert_exact_cover(a, 1003);
    for (int k = 0; k < 10; k++)
        assert_int_equal(fl_partition_size(a, k), k < 3 ? 101 : 100);
    assert_memory_equal(a->index, b->index, sizeof(int) * 1003);
    fl_partition_destroy(&a);
    fl_partition_destroy(&b);
}

/* 2 shards per client over label-sorted data: each client sees at most 2 · 2 labels (a shard
 * can straddle one class boundary), and usually far fewer than all 10. */
static void shards_have_few_labels(void **state)
{
    (void)state;
    enum { N = 2000, C = 10, K = 50 };
    int *labels = balanced_labels(N, C);
    fl_partition_t *p = NULL;
    assert_int_equal(fl_partition_shards(labels, N, C, K, 2, 3, &p, NULL), FP_OK);
    assert_exact_cover(p, N);
    for (int k = 0; k < K; k++) {
        assert_int_equal(fl_partition_size(p, k), 40);
        int seen[C] = {0}, distinct = 0;
        for (int j = p->offset[k]; j < p->offset[k + 1]; j++)
            distinct += !seen[labels[p->index[j]]]++;
        assert_true(distinct <= 4);
    }
    fl_partition_destroy(&p);
    free(labels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dirichlet_covers_and_reproduces),
        cmocka_unit_test(eval_split_shares_sizes_and_priors),
        cmocka_unit_test(dirichlet_statistics_match_parameters),
        cmocka_unit_test(redraw_guard_terminates),
        cmocka_unit_test(bad_arguments_are_rejected),
        cmocka_unit_test(iid_is_balanced_and_reproducible),
        cmocka_unit_test(shards_have_few_labels),
    };
    return cmocka_run_group_tests_name("fl_partition", tests, NULL, NULL);
}
