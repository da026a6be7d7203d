/* test_fl_layer_score.c — FedPepTAO §2: the Jacobi eigen-solver on known matrices, the layer
 * statistic (exact value for orthogonal examples, growth with collinearity, invariances),
 * the weighted combination, the ranking, the K = ρ·L rule and the random-layers ablation. */
#include "tests/support/test.h"

#include "common/rng.h"
#include "fl/jacobi.h"
#include "fl/layer_score.h"

static void jacobi_diagonal_is_sorted_identity(void **state)
{
    (void)state;
    double a[9] = {3, 0, 0, 0, -1, 0, 0, 0, 2}, l[3], q[9];
    int sweeps = -1;
    assert_int_equal(fl_jacobi_eigen(a, 3, l, q, &sweeps, NULL), FP_OK);
    assert_int_equal(sweeps, 0);
    assert_close(l[0], -1, 0);
    assert_close(l[1], 2, 0);
    assert_close(l[2], 3, 0);
    /* Columns are the permuted unit vectors: column 0 = e_1, column 1 = e_2, column 2 = e_0. */
    assert_close(q[1 * 3 + 0], 1, 0);
    assert_close(q[2 * 3 + 1], 1, 0);
    assert_close(q[0 * 3 + 2], 1, 0);
}

/* [[a, b], [b, c]]: λ = (a + c)/2 ± √(((a − c)/2)² + b²). */
static void jacobi_two_by_two_analytic(void **state)
{
    (void)state;
    double cases[][3] = {{2, 1, 2}, {1, 1e-9, 1}, {0, 3, 4}, {-5, 0.5, 7}};
    for (size_t i = 0; i < 4; i++) {
        double a = cases[i][0], b = cases[i][1], c = cases[i][2];
        double m[4] = {a, b, b, c}, l[2], q[4];
        assert_int_equal(fl_jacobi_eigen(m, 2, l, q, NULL, NULL), FP_OK);
        double mid = (a + c) / 2, rad = sqrt((a - c) * (a - c) / 4 + b * b);
        assert_close(l[0], mid - rad, 1e-14 * (fabs(mid) + rad));
        assert_close(l[1], mid + rad, 1e-14 * (fabs(mid) + rad));
        /* A q_1 = λ_1 q_1 */
        assert_close(a * q[1] + b * q[3], l[1] * q[1], 1e-13 * (fabs(mid) + rad));
    }
}

static void jacobi_random_symmetric_reconstructs(void **state)
{
    (void)state;
    rng_t r;
    rng_seed(&r, 3);
    int sizes[] = {1, 5, 8, 30, 50};
    for (size_t s = 0; s < 5; s++) {
        int n = sizes[s];
        double *a = malloc(sizeof(double) * n * n), *orig = malloc(sizeof(double) * n * n);
        double *q = malloc(sizeof(double) * n * n), *l = malloc(sizeof(double) * n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
                a[i * n + j] = a[j * n + i] = rng_normal(&r);
        memcpy(orig, a, sizeof(double) * n * n);
        int sweeps;
        assert_int_equal(fl_jacobi_eigen(a, n, l, q, &sweeps, NULL), FP_OK);
        assert_true(sweeps <= 12);
        double worst_rec = 0, worst_orth = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double rec = 0, orth = 0;
                for (int k = 0; k < n; k++) {
                    rec += q[i * n + k] * l[k] * q[j * n + k]; /* Q Λ Qᵀ */
                    orth += q[k * n + i] * q[k * n + j];       /* Qᵀ Q */
                }
                worst_rec = fmax(worst_rec, fabs(rec - orig[i * n + j]));
                worst_orth = fmax(worst_orth, fabs(orth - (i == j)));
            }
        assert_true(worst_rec < 1e-12 * n);
        assert_true(worst_orth < 1e-13 * n);
        for (int i = 1; i < n; i++)
            assert_true(l[i - 1] <= l[i]);
        free(a);
        free(orig);
        free(q);
        free(l);
    }
}

static void jacobi_rejects_bad_input(void **state)
{
    (void)state;
    double ns[4] = {1, 2, 3, 4}, l[2];
    fp_error err;
    assert_int_equal(fl_jacobi_eigen(ns, 2, l, NULL, NULL, &err), FP_EINVAL);
    double nanm[4] = {1, NAN, NAN, 1};
    assert_int_equal(fl_jacobi_eigen(nanm, 2, l, NULL, NULL, &err), FP_EINVAL);
    assert_int_equal(fl_jacobi_eigen(ns, 0, l, NULL, NULL, &err), FP_EINVAL);
}

/* b orthogonal examples: C = I, every λ = 1, s = b (ln(1 + 1e−5) + 1/(1 + 1e−5)) ≈ b. */
static void statistic_of_orthogonal_examples(void **state)
{
    (void)state;
    enum { B = 8, DIM = 24 };
    float z[B * DIM] = {0};
    for (int i = 0; i < B; i++) {
        z[i * DIM + 2 * i] = 1.5f + i; /* disjoint supports, different norms */
        z[i * DIM + 2 * i + 1] = -0.5f;
    }
    double s;
    assert_int_equal(fl_layer_statistic(z, B, DIM, &s, NULL), FP_OK);
    double want = B * (log(1 + 1e-5) + 1 / (1 + 1e-5));
    assert_close(s, want, 1e-12);
    assert_close(s, B, 1e-9); /* the minimum of ln x + 1/x is 1 at x = 1 */
    double lo, hi;
    fl_layer_statistic_range(B, &lo, &hi); /* the minimum is inside the range, at its edge */
    assert_true(lo <= s && s < B * 1.000001);
    assert_close(hi, B * (log(1e-5) + 1e5), 1e-6 * hi);
}

/* As the examples become collinear, the eigenvalues spread to (b, 0, ..., 0) and s grows
 * monotonically up to ln(b + 1e−5) + 1/(b + 1e−5) + (b − 1)(ln 1e−5 + 1e5). */
static void statistic_grows_with_collinearity(void **state)
{
    (void)state;
    enum { B = 6, DIM = 64 };
    float z[B * DIM];
    rng_t r;
    rng_seed(&r, 8);
    float u[DIM], noise[B * DIM];
    for (int e = 0; e < DIM; e++)
        u[e] = (float)rng_normal(&r);
    for (int i = 0; i < B * DIM; i++)
        noise[i] = (float)rng_normal(&r);
    double prev = B; /* the minimum, reached only at C = I */
    double mix[] = {3, 1, 0.3, 0.1, 0.01};
    for (size_t t = 0; t < sizeof mix / sizeof mix[0]; t++) {
        for (int i = 0; i < B; i++)
            for (int e = 0; e < DIM; e++)
                z[i * DIM + e] = u[e] + (float)mix[t] * noise[i * DIM + e];
        double s;
        assert_int_equal(fl_layer_statistic(z, B, DIM, &s, NULL), FP_OK);
        assert_true(s > prev);
        prev = s;
    }
    for (int i = 0; i < B; i++)
        for (int e = 0; e < DIM; e++)
            z[i * DIM + e] = (i + 1) * u[e]; /* exactly collinear */
    double s;
    assert_int_equal(fl_layer_statistic(z, B, DIM, &s, NULL), FP_OK);
    double top = B + 1e-5, want = log(top) + 1 / top + (B - 1) * (log(1e-5) + 1e5);
    assert_close(s, want, 1e-6 * want);
    assert_true(s > prev);
    double lo, hi; /* the most collinear batch is still inside the range, near its top */
    fl_layer_statistic_range(B, &lo, &hi);
    assert_true(s >= lo && s <= hi && s > 0.8 * hi);
}

static void statistic_is_scale_invariant_and_checks_input(void **state)
{
    (void)state;
    enum { B = 4, DIM = 10 };
    float z[B * DIM], z2[B * DIM];
    for (int i = 0; i < B * DIM; i++) {
        z[i] = (float)sin(i * 1.3);
        z2[i] = z[i] * (float)(1 + i / DIM); /* each example scaled by a positive constant */
    }
    double s1, s2;
    assert_int_equal(fl_layer_statistic(z, B, DIM, &s1, NULL), FP_OK);
    assert_int_equal(fl_layer_statistic(z2, B, DIM, &s2, NULL), FP_OK);
    assert_close(s1, s2, 1e-9 * s1);
    fp_error err;
    for (int e = 0; e < DIM; e++) /* example 0 is zero: the cosine is undefined */
        z[e] = 0.0f;
    assert_int_equal(fl_layer_statistic(z, B, DIM, &s1, &err), FP_ENUMERIC);
    assert_int_equal(fl_layer_statistic(z, B, DIM, &s1, NULL), FP_ENUMERIC); /* status kept */
    assert_int_equal(fl_layer_statistic(z2, 0, DIM, &s1, &err), FP_EINVAL);
}

/* Layer-major hidden states: layer 0 orthogonal (s = b), layer 1 collinear (large), layer 2
 * has a zero example and is reported by number. */
static void statistics_for_every_layer(void **state)
{
    (void)state;
    enum { B = 3, DIM = 4 };
    float h[3][B][DIM] = {{{1, 0, 0, 0}, {0, 2, 0, 0}, {0, 0, 3, 0}},
                          {{1, 1, 0, 0}, {2, 2, 0, 0}, {1, 1, 1e-3f, 0}},
                          {{1, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 1, 0}}};
    double s[3];
    assert_int_equal(fl_layer_statistics(&h[0][0][0], 2, B, DIM, s, NULL), FP_OK);
    assert_close(s[0], B, 1e-9);
    assert_true(s[1] > 1000);
    fp_error err;
    assert_int_equal(fl_layer_statistics(&h[0][0][0], 3, B, DIM, s, &err), FP_ENUMERIC);
    assert_non_null(strstr(err.msg, "layer 2"));
}

/* S_l = Σ_k (n_k / Σ n) s_l: n = (1, 3), s = [[1, 2, 3], [5, 6, 7]] → (4, 5, 6). */
static void combination_ranking_and_selection(void **state)
{
    (void)state;
    double s[6] = {1, 2, 3, 5, 6, 7}, S[3];
    int64_t n[2] = {1, 3};
    assert_int_equal(fl_layer_scores_combine(s, n, 2, 3, S, NULL), FP_OK);
    assert_close(S[0], 4, 1e-15);
    assert_close(S[1], 5, 1e-15);
    assert_close(S[2], 6, 1e-15);
    int64_t bad[2] = {0, 0};
    assert_int_equal(fl_layer_scores_combine(s, bad, 2, 3, S, NULL), FP_EINVAL);

    double scores[7] = {2, 9, NAN, 9, 1, 5, 3};
    int order[7];
    fl_layer_rank(scores, 7, order);
    int want[7] = {1, 3, 5, 6, 0, 4, 2}; /* ties by lower id, NaN last */
    assert_memory_equal(order, want, sizeof want);

    /* K = floor(ρL + 0.5), clamped to [1, L − 1]. */
    struct {
        double rho;
        int L, k;
    } ks[] = {{0.5, 24, 12}, {0.5, 5, 3}, {0.5, 3, 2},   {0.1, 3, 1},
              {0.0, 12, 1},  {1.0, 4, 3}, {0.25, 12, 3}, {0.3, 12, 4}};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        int k;
        assert_int_equal(fl_layer_count(ks[i].rho, ks[i].L, &k, NULL), FP_OK);
        assert_int_equal(k, ks[i].k);
    }
    int k;
    assert_int_equal(fl_layer_count(1.5, 12, &k, NULL), FP_EINVAL);
    assert_int_equal(fl_layer_count(0.5, 1, &k, NULL), FP_EINVAL);

    /* L = 8: scores of layers 0..6; ρ = 0.5 → K = 4: layers 1, 3, 5, 6 ascending. */
    int layers[8];
    assert_int_equal(fl_layer_select(scores, 8, 0.5, layers, &k, NULL), FP_OK);
    assert_int_equal(k, 4);
    int sel[4] = {1, 3, 5, 6};
    assert_memory_equal(layers, sel, sizeof sel);
}

static void random_layers_are_seeded_uniform_and_never_last(void **state)
{
    (void)state;
    enum { L = 12, K = 6, SEEDS = 4000 };
    int a[K], b[K], hits[L] = {0};
    assert_int_equal(fl_layer_select_random(42, L, K, a, NULL), FP_OK);
    assert_int_equal(fl_layer_select_random(42, L, K, b, NULL), FP_OK);
    assert_memory_equal(a, b, sizeof a);
    int differ = 0;
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        assert_int_equal(fl_layer_select_random(seed, L, K, b, NULL), FP_OK);
        for (int i = 0; i < K; i++) {
            assert_true(b[i] >= 0 && b[i] < L - 1);
            if (i)
                assert_true(b[i] > b[i - 1]);
            hits[b[i]]++;
        }
        differ += memcmp(a, b, sizeof a) != 0;
    }
    assert_true(differ > SEEDS * 9 / 10);
    assert_int_equal(hits[L - 1], 0);
    for (int l = 0; l < L - 1; l++) /* each layer chosen with probability K/(L−1) */
        assert_close(hits[l] / (double)SEEDS, (double)K / (L - 1), 0.04);
    assert_int_equal(fl_layer_select_random(1, L, L, b, NULL), FP_EINVAL);
    assert_int_equal(fl_layer_select_random(1, L, 0, b, NULL), FP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jacobi_diagonal_is_sorted_identity),
        cmocka_unit_test(jacobi_two_by_two_analytic),
        cmocka_unit_test(jacobi_random_symmetric_reconstructs),
        cmocka_unit_test(jacobi_rejects_bad_input),
        cmocka_unit_test(statistic_of_orthogonal_examples),
        cmocka_unit_test(statistic_grows_with_collinearity),
        cmocka_unit_test(statistic_is_scale_invariant_and_checks_input),
        cmocka_unit_test(statistics_for_every_layer),
        cmocka_unit_test(combination_ranking_and_selection),
        cmocka_unit_test(random_layers_are_seeded_uniform_and_never_last),
    };
    return cmocka_run_group_tests_name("fl_layer_score", tests, NULL, NULL);
}
