/* test_fl_slq.c — stochastic Lanczos quadrature on matrices with a known spectrum (moments,
 * extreme eigenvalues, early breakdown), the density, and the ρ threshold search of §2.3
 * including its halving path and its guard. */
#include "tests/support/test.h"

#include "common/rng.h"
#include "fl/hvp.h"
#include "fl/jacobi.h"
#include "fl/slq.h"

/* H = Q diag(λ) Qᵀ (Q = NULL: diagonal), applied as the caller's Hessian-vector product. */
typedef struct matrix {
    int n;
    const double *lambda;
    const double *q; /* [n][n] orthogonal, or NULL */
    int calls;
} matrix;

static fp_status hvp(void *ctx, const float *v, float *hv, fp_error *err)
{
    (void)err;
    matrix *m = ctx;
    int n = m->n;
    m->calls++;
    if (!m->q) {
        for (int i = 0; i < n; i++)
            hv[i] = (float)(m->lambda[i] * v[i]);
        return FP_OK;
    }
    double *t = malloc(sizeof(double) * n);
    for (int j = 0; j < n; j++) { /* t = Λ Qᵀ v */
        double s = 0;
        for (int i = 0; i < n; i++)
            s += m->q[i * n + j] * v[i];
        t[j] = m->lambda[j] * s;
    }
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < n; j++)
            s += m->q[i * n + j] * t[j];
        hv[i] = (float)s;
    }
    free(t);
    return FP_OK;
}

static double spectrum_moment(const double *l, int n, int p)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += pow(l[i], p);
    return s / n;
}

/* A spectrum like a loss Hessian: a bulk near 0 and a few large outliers. */
static void make_spectrum(double *l, int n, rng_t *r)
{
    for (int i = 0; i < n; i++)
        l[i] = i < n - 5 ? 0.5 * rng_uniform(r) - 0.1 : 5.0 + i - (n - 5);
}

/* Rademacher probes on a diagonal H give vᵀHᵖv / n = mean λᵖ exactly, and Lanczos with m
 * steps reproduces moments up to 2m − 1: so the quadrature moments must match to float
 * precision. */
static void diagonal_moments_are_exact(void **state)
{
    (void)state;
    enum { N = 300 };
    double l[N];
    rng_t r;
    rng_seed(&r, 1);
    make_spectrum(l, N, &r);
    matrix m = {N, l, NULL, 0};
    fl_slq_result res;
    assert_int_equal(fl_slq_run(hvp, &m, N, 50, 2, 9, &res, NULL), FP_OK);
    assert_int_equal(m.calls, 100);
    for (int p = 1; p <= 4; p++)
        assert_close(fl_slq_moment(&res, p), spectrum_moment(l, N, p),
                     2e-5 * spectrum_moment(l, N, 2 * ((p + 1) / 2)));
    for (int pr = 0; pr < 2; pr++) { /* weights of each probe sum to 1 */
        double w = 0, top = -1e9;
        for (int j = 0; j < 50; j++) {
            w += res.weights[pr * 50 + j];
            top = fmax(top, res.nodes[pr * 50 + j]);
        }
        assert_close(w, 1.0, 1e-9);
        assert_close(top, l[N - 1], 1e-4); /* the extreme eigenvalue converges */
    }
    fl_slq_result_free(&res);
}

/* A rotated (non-diagonal) H with λ uniform in [1, 3]: the estimate is now stochastic
 * (Hutchinson: one probe's standard deviation ≈ √(2 Σ_{i≠j} H_ij²)/n ≈ 0.09 here), so with
 * 40 probes the first two moments are within 3 % of tr(H)/n and tr(H²)/n. */
static void rotated_matrix_moments(void **state)
{
    (void)state;
    enum { N = 80 };
    double l[N], *a = malloc(sizeof(double) * N * N), *q = malloc(sizeof(double) * N * N);
    double ev[N];
    rng_t r;
    rng_seed(&r, 2);
    for (int i = 0; i < N; i++)
        l[i] = 1.0 + 2.0 * rng_uniform(&r);
    for (int i = 0; i < N; i++) /* Q = eigenvectors of a random symmetric matrix */
        for (int j = 0; j <= i; j++)
            a[i * N + j] = a[j * N + i] = rng_normal(&r);
    assert_int_equal(fl_jacobi_eigen(a, N, ev, q, NULL, NULL), FP_OK);
    matrix m = {N, l, q, 0};
    fl_slq_result res;
    assert_int_equal(fl_slq_run(hvp, &m, N, 30, 40, 5, &res, NULL), FP_OK);
    double m1 = fl_slq_moment(&res, 1), m2 = fl_slq_moment(&res, 2);
    printf("# rotated: trace/n %.5f (exact %.5f), second moment %.5f (exact %.5f)\n", m1,
           spectrum_moment(l, N, 1), m2, spectrum_moment(l, N, 2));
    assert_close(m1, spectrum_moment(l, N, 1), 0.03 * spectrum_moment(l, N, 1));
    assert_close(m2, spectrum_moment(l, N, 2), 0.03 * spectrum_moment(l, N, 2));
    fl_slq_result_free(&res);
    free(a);
    free(q);
}

/* Two distinct eigenvalues: the Krylov space has dimension 2, Lanczos stops after 2 steps,
 * nodes 0 and 2 with weight exactly 1/2 each; the mass above the gap is 0.5 and the threshold
 * search finds that plateau: ρ = 0.5. */
static void two_eigenvalues_break_down_and_give_half(void **state)
{
    (void)state;
    enum { N = 200 };
    double l[N];
    for (int i = 0; i < N; i++)
        l[i] = i % 2 ? 2.0 : 0.0;
    matrix m = {N, l, NULL, 0};
    fl_slq_result res;
    assert_int_equal(fl_slq_run(hvp, &m, N, 50, 1, 3, &res, NULL), FP_OK);
    assert_int_equal(m.calls, 2);
    assert_close(res.nodes[0], 0.0, 1e-6);
    assert_close(res.nodes[1], 2.0, 1e-6);
    assert_close(res.weights[0], 0.5, 1e-6);
    assert_close(res.weights[1], 0.5, 1e-6);
    assert_close(res.weights[2], 0.0, 0); /* padding */
    fl_ratio_config cfg = fl_ratio_defaults();
    double rho;
    assert_int_equal(fl_slq_ratio(&res, &cfg, &rho, NULL), FP_OK);
    assert_close(rho, 0.5, 1e-3);
    /* The density integrates to 1 on its grid. */
    double grid[500], dens[500], total = 0;
    assert_int_equal(fl_slq_density(&res, 500, 1e-3, 0.01, grid, dens, NULL), FP_OK);
    for (int i = 0; i < 500; i++) /* the reference's normalisation: Σ density · Δgrid */
        total += dens[i] * (grid[1] - grid[0]);
    assert_close(total, 1.0, 1e-9);
    fl_slq_result_free(&res);
}

/* Half the mass at 0, half spread over [0.05, 0.35]: walking by 0.1 falls below half of
 * mass(0) ≈ 0.75 before levelling off, so the search halves inc (0.05, 0.025, 0.0125) until
 * four values sit on the plateau between the bulk and the tail: ρ = 0.5. With a zero
 * tolerance nothing levels off and the guard ends the search with FP_ENUMERIC. */
static void threshold_search_halves_then_levels_off(void **state)
{
    (void)state;
    enum { SPREAD = 31 };
    double nodes[SPREAD + 1], weights[SPREAD + 1];
    nodes[0] = 0.0;
    weights[0] = 0.5;
    for (int i = 0; i < SPREAD; i++) {
        nodes[i + 1] = 0.05 + 0.01 * i;
        weights[i + 1] = 0.5 / SPREAD;
    }
    fl_slq_result res = {1, SPREAD + 1, nodes, weights};
    fl_ratio_config cfg = fl_ratio_defaults();
    double rho = -1;
    assert_int_equal(fl_slq_ratio(&res, &cfg, &rho, NULL), FP_OK);
    assert_close(rho, 0.5, 0.01);
    cfg.plateau_tol = 0;
    fp_error err;
    assert_int_equal(fl_slq_ratio(&res, &cfg, &rho, &err), FP_ENUMERIC);
    cfg.bins = 1;
    assert_int_equal(fl_slq_ratio(&res, &cfg, &rho, &err), FP_EINVAL);
}

/* L(x) = Σ a_i x_i²/2 + b_i x_i⁴/12: ∇L_i = a_i x_i + b_i x_i³/3, H = diag(a_i + b_i x_i²).
 * The central difference is exact up to O(h²) (the cubic term gives exactly b_i h² v_i³/3). */
typedef struct quartic {
    const double *a, *b;
    int n;
    int calls;
} quartic;

static fp_status quartic_grad(void *ctx, const float *x, float *g, fp_error *err)
{
    (void)err;
    quartic *q = ctx;
    q->calls++;
    for (int i = 0; i < q->n; i++)
        g[i] = (float)(q->a[i] * x[i] + q->b[i] * x[i] * x[i] * x[i] / 3.0);
    return FP_OK;
}

static void finite_difference_hvp_feeds_slq(void **state)
{
    (void)state;
    enum { N = 120 };
    double a[N], b[N], hdiag[N];
    float x[N], v[N], hv[N], scratch[3 * N];
    rng_t r;
    rng_seed(&r, 4);
    for (int i = 0; i < N; i++) {
        a[i] = rng_uniform(&r);
        b[i] = 0.5 * rng_uniform(&r);
        x[i] = (float)rng_normal(&r);
        hdiag[i] = a[i] + b[i] * x[i] * x[i];
        v[i] = (float)(rng_normal(&r) / sqrt(N));
    }
    quartic q = {a, b, N, 0};
    fl_fd_hvp f = {quartic_grad, &q, N, x, 1e-2, scratch};
    assert_int_equal(fl_fd_hvp_apply(&f, v, hv, NULL), FP_OK);
    assert_int_equal(q.calls, 2);
    for (int i = 0; i < N; i++) /* |error| ≤ b h² |v|³/3 + float round-off */
        assert_close(hv[i], hdiag[i] * v[i], 1e-5 + 1e-4 * fabs(hdiag[i] * v[i]));
    fl_slq_result res;
    assert_int_equal(fl_slq_run(fl_fd_hvp_apply, &f, N, 30, 2, 1, &res, NULL), FP_OK);
    assert_close(fl_slq_moment(&res, 1), spectrum_moment(hdiag, N, 1),
                 1e-3 * spectrum_moment(hdiag, N, 1));
    assert_close(fl_slq_moment(&res, 2), spectrum_moment(hdiag, N, 2),
                 2e-3 * spectrum_moment(hdiag, N, 2));
    fl_slq_result_free(&res);
    f.h = 0;
    fp_error err;
    assert_int_equal(fl_fd_hvp_apply(&f, v, hv, &err), FP_EINVAL);
}

static fp_status failing_hvp(void *ctx, const float *v, float *hv, fp_error *err)
{
    (void)ctx;
    (void)v;
    (void)hv;
    return fp_fail(err, FP_EIO, "gradient worker went away");
}

static fp_status nan_hvp(void *ctx, const float *v, float *hv, fp_error *err)
{
    (void)ctx;
    (void)err;
    hv[0] = NAN;
    (void)v;
    return FP_OK;
}

static void callback_failures_propagate(void **state)
{
    (void)state;
    fl_slq_result res;
    fp_error err;
    assert_int_equal(fl_slq_run(failing_hvp, NULL, 10, 5, 1, 1, &res, &err), FP_EIO);
    assert_non_null(strstr(err.msg, "went away"));
    assert_int_equal(fl_slq_run(nan_hvp, NULL, 10, 5, 1, 1, &res, &err), FP_ENUMERIC);
    assert_int_equal(fl_slq_run(nan_hvp, NULL, 0, 5, 1, 1, &res, &err), FP_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(diagonal_moments_are_exact),
        cmocka_unit_test(rotated_matrix_moments),
        cmocka_unit_test(two_eigenvalues_break_down_and_give_half),
        cmocka_unit_test(threshold_search_halves_then_levels_off),
        cmocka_unit_test(finite_difference_hvp_feeds_slq),
        cmocka_unit_test(callback_failures_propagate),
    };
    return cmocka_run_group_tests_name("fl_slq", tests, NULL, NULL);
}
