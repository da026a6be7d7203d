/* test_rng.c — the seeded random source: reproducible streams and correct distributions. */
#include "tests/support/test.h"

#include "common/rng.h"

static void same_seed_same_stream(void **state)
{
    (void)state;
    rng_t a, b, c;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = rng_next(&a);
        assert_int_equal(x, rng_next(&b));
        differ += x != rng_next(&c);
    }
    assert_true(differ > 990);
}

static void derived_streams_are_pure_and_distinct(void **state)
{
    (void)state;
    rng_t a, b, c;
    rng_derive(&a, 42, 3, 0);
    rng_derive(&b, 42, 3, 0);
    rng_derive(&c, 42, 0, 3);
    assert_memory_equal(a.s, b.s, sizeof a.s);
    assert_memory_not_equal(a.s, c.s, sizeof a.s);
}

static void uniform_and_normal_moments(void **state)
{
    (void)state;
    rng_t r;
    rng_seed(&r, 7);
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0;
    for (int i = 0; i < n; i++) {
        double u = rng_uniform(&r);
        assert_true(u >= 0.0 && u < 1.0);
        su += u;
        double z = rng_normal(&r);
        sn += z;
        sn2 += z * z;
    }
    assert_true(fabs(su / n - 0.5) < 0.005);
    assert_true(fabs(sn / n) < 0.01);
    assert_true(fabs(sn2 / n - 1.0) < 0.02);
}

static void gamma_mean_and_variance(void **state)
{
    (void)state;
    rng_t r;
    rng_seed(&r, 11);
    const double shapes[] = {0.3, 1.0, 5.0};
    for (size_t s = 0; s < 3; s++) {
        const int n = 100000;
        double m = 0, m2 = 0;
        for (int i = 0; i < n; i++) {
            double g = rng_gamma(&r, shapes[s]);
            assert_true(g >= 0.0);
            m += g;
            m2 += g * g;
        }
        m /= n;
        double var = m2 / n - m * m;
        /* Gamma(k,1): mean k, variance k. */
        assert_true(fabs(m - shapes[s]) < 0.03 * shapes[s] + 0.01);
        assert_true(fabs(var - shapes[s]) < 0.06 * shapes[s] + 0.01);
    }
}

static void dirichlet_sums_to_one_with_right_mean(void **state)
{
    (void)state;
    rng_t r;
    rng_seed(&r, 5);
    double p[4], mean[4] = {0};
    for (int i = 0; i < 20000; i++) {
        rng_dirichlet(&r, 1.0, p, 4);
        double s = 0;
        for (int k = 0; k < 4; k++) {
            s += p[k];
            mean[k] += p[k] / 20000;
        }
        assert_true(fabs(s - 1.0) < 1e-12);
    }
    for (int k = 0; k < 4; k++)
        assert_true(fabs(mean[k] - 0.25) < 0.01);
}

static void below_and_sampling_are_uniform_and_distinct(void **state)
{
    (void)state;
    rng_t r;
    rng_seed(&r, 9);
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++)
        counts[rng_below(&r, 10)]++;
    for (int k = 0; k < 10; k++)
        assert_true(abs(counts[k] - 10000) < 500);

    int out[10];
    for (int trial = 0; trial < 100; trial++) {
        assert_int_equal(rng_sample_without_replacement(&r, 100, 10, out), FP_OK);
        for (int i = 0; i < 10; i++) {
            assert_true(out[i] >= 0 && out[i] < 100);
            for (int j = 0; j < i; j++)
                assert_int_not_equal(out[i], out[j]);
        }
    }
    assert_int_equal(rng_sample_without_replacement(&r, 5, 6, out), FP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_stream),
        cmocka_unit_test(derived_streams_are_pure_and_distinct),
        cmocka_unit_test(uniform_and_normal_moments),
        cmocka_unit_test(gamma_mean_and_variance),
        cmocka_unit_test(dirichlet_sums_to_one_with_right_mean),
        cmocka_unit_test(below_and_sampling_are_uniform_and_distinct),
    };
    return cmocka_run_group_tests_name("rng", tests, NULL, NULL);
}
