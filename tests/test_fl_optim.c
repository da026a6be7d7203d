/* test_fl_optim.c — the client side of fl/: AdamW (two hand-computed steps with clipping, decay
 * and weight decay active), the FedProx gradient (by hand and by finite differences), the
 * SCAFFOLD correction and variate, the order of fl_client_step, and byte-exact AdamW state. */
#include "tests/support/test.h"

#include "fl/adamw.h"
#include "fl/client_step.h"

static fl_adamw_config small_config(void)
{
    fl_adamw_config c = fl_adamw_defaults();
    c.lr = 0.1;
    c.total_steps = 4; /* step 1 uses lr 0.1, step 2 uses 0.1 · 3/4 = 0.075 */
    return c;
}

static void defaults_are_fedpeptao(void **state)
{
    (void)state;
    fl_adamw_config c = fl_adamw_defaults();
    assert_close(c.lr, 0.04, 0);
    assert_close(c.beta1, 0.9, 0);
    assert_close(c.beta2, 0.999, 0);
    assert_close(c.eps, 1e-8, 0);
    assert_close(c.weight_decay, 0.1, 0);
    assert_close(c.max_grad_norm, 1.0, 0);
    /* Linear decay without warm-up: T = 10 → 0.04, 0.036, ..., 0.004, then 0. */
    c.total_steps = 10;
    assert_close(fl_adamw_lr_at(&c, 1), 0.04, 1e-15);
    assert_close(fl_adamw_lr_at(&c, 2), 0.036, 1e-15);
    assert_close(fl_adamw_lr_at(&c, 10), 0.004, 1e-15);
    assert_close(fl_adamw_lr_at(&c, 11), 0.0, 0);
    assert_close(fl_adamw_lr_at(&c, 50), 0.0, 0);
}

/* Step 1: g = (3, 4), |g| = 5 → clipped to (3, 4) / (5 + 1e−6) ≈ (0.6, 0.8).
 *   m = 0.1 g, v = 0.001 g², step size = 0.1 · √(1 − 0.999) / (1 − 0.9) = √0.001,
 *   m / (√v + ε) ≈ 0.1 / √0.001, so the Adam move is ≈ lr · sign(g) = 0.1;
 *   θ = (1 − 0.1, −2 − 0.1) then decay θ ← θ − 0.1 · 0.1 · θ: (0.891, −2.079).
 * Step 2: g = (−0.5, 0.2) (|g| < 1, not clipped), lr = 0.075; values from the formulas in
 * adamw.h evaluated by hand in double precision: (0.881479851, −2.125235043). */
static void adamw_two_steps_by_hand(void **state)
{
    (void)state;
    fl_adamw_config cfg = small_config();
    fl_adamw_t *opt = fl_adamw_new(2);
    assert_non_null(opt);
    float theta[2] = {1.0f, -2.0f};
    float g1[2] = {3.0f, 4.0f};
    fp_error err;
    assert_int_equal(fl_client_step(opt, &cfg, NULL, theta, g1, &err), FP_OK);
    assert_close(g1[0], 0.6, 1e-6); /* the clipped gradient is left in g */
    assert_close(g1[1], 0.8, 1e-6);
    assert_close(theta[0], 0.891000052, 1e-6);
    assert_close(theta[1], -2.078999961, 1e-6);
    assert_close(opt->m[0], 0.06, 1e-7);
    assert_close(opt->v[1], 0.00064, 1e-9);
    assert_int_equal(opt->step, 1);
    float g2[2] = {-0.5f, 0.2f};
    assert_int_equal(fl_client_step(opt, &cfg, NULL, theta, g2, &err), FP_OK);
    assert_close(theta[0], 0.881479851, 2e-6);
    assert_close(theta[1], -2.125235043, 2e-6);
    assert_close(opt->m[0], 0.0039999892, 1e-7);
    assert_close(opt->v[0], 0.00060963986, 1e-9);
    assert_int_equal(opt->step, 2);
    fl_adamw_destroy(&opt);
    assert_null(opt);
    fl_adamw_destroy(&opt); /* idempotent */
}

static void adamw_rejects_nonfinite_gradient_untouched(void **state)
{
    (void)state;
    fl_adamw_config cfg = small_config();
    fl_adamw_t *opt = fl_adamw_new(3);
    float theta[3] = {1, 2, 3}, g[3] = {0.1f, NAN, 0.2f};
    fp_error err;
    assert_int_equal(fl_client_step(opt, &cfg, NULL, theta, g, &err), FP_ENUMERIC);
    assert_int_equal(fl_adamw_step(opt, &cfg, theta, g, &err), FP_ENUMERIC);
    assert_int_equal(opt->step, 0);
    assert_close(theta[1], 2.0, 0);
    assert_close(opt->m[0], 0.0, 0);
    fl_adamw_destroy(&opt);
}

/* f(θ) = μ/2 |θ − w|², ∇f = μ (θ − w): by hand and by central differences. */
static void prox_gradient_by_hand_and_finite_differences(void **state)
{
    (void)state;
    float theta[3] = {1.0f, -0.5f, 2.0f}, w[3] = {0.5f, 0.5f, 2.0f}, g[3] = {1.0f, 1.0f, 1.0f};
    fl_prox_gradient_add(g, theta, w, 0.01, 3);
    assert_close(g[0], 1.005, 1e-7);
    assert_close(g[1], 0.99, 1e-7);
    assert_close(g[2], 1.0, 0);
    double mu = 0.3, h = 1e-3;
    for (int i = 0; i < 3; i++) {
        double fp = 0, fm = 0;
        for (int j = 0; j < 3; j++) {
            double dj = (double)theta[j] - w[j] + (i == j ? h : 0);
            double dm = (double)theta[j] - w[j] - (i == j ? h : 0);
            fp += mu / 2 * dj * dj;
            fm += mu / 2 * dm * dm;
        }
        float gi[3] = {0, 0, 0};
        fl_prox_gradient_add(gi, theta, w, mu, 3);
        assert_close(gi[i], (fp - fm) / (2 * h), 1e-6);
    }
}

static void clipping_is_global_norm(void **state)
{
    (void)state;
    float g[4] = {3, 0, 0, 4};
    assert_close(fl_clip_grad_norm(g, 4, 1.0), 5.0, 1e-12);
    assert_close(sqrt(g[0] * g[0] + g[3] * g[3]), 1.0, 1e-6);
    float small[2] = {0.3f, 0.4f};
    assert_close(fl_clip_grad_norm(small, 2, 1.0), 0.5, 1e-7);
    assert_true(small[0] == 0.3f); /* below the threshold: untouched */
    float off[1] = {10};
    fl_clip_grad_norm(off, 1, 0.0); /* <= 0 disables */
    assert_close(off[0], 10, 0);
}

/* SCAFFOLD option II: c_k⁺ = c_k − c + (w − θ)/(K η): c_k = 0.5, c = 0.2, w = 1, θ = 0.4,
 * K = 3, η = 0.1 → 0.5 − 0.2 + 0.6 / 0.3 = 2.3. Correction g + c − c_k = 1 + 0.2 − 0.5. */
static void scaffold_variate_and_correction_by_hand(void **state)
{
    (void)state;
    float ck[1] = {0.5f}, c[1] = {0.2f}, w[1] = {1.0f}, th[1] = {0.4f}, out[1];
    fl_scaffold_variate(ck, c, w, th, 3, 0.1, out, 1);
    assert_close(out[0], 2.3, 1e-6);
    fl_scaffold_variate(ck, c, w, th, 3, 0.1, ck, 1); /* in place */
    assert_close(ck[0], 2.3, 1e-6);
    float g[1] = {1.0f}, ck2[1] = {0.5f};
    fl_scaffold_correct(g, c, ck2, 1);
    assert_close(g[0], 0.7, 1e-7);
}

/* Order: prox into the loss gradient, clip, then the SCAFFOLD correction (not clipped). */
static void client_step_order(void **state)
{
    (void)state;
    fl_adamw_config cfg = small_config();
    fl_adamw_t *opt = fl_adamw_new(1);
    float theta[1] = {2.0f}, w[1] = {1.0f}, c[1] = {5.0f}, ck[1] = {1.0f};
    float g[1] = {1.0f};
    fl_client_extras ex = {.prox_mu = 2.0, .w_global = w, .c = c, .c_k = ck};
    fp_error err;
    /* 1 + 2·(2 − 1) = 3 → clipped to 1/(3 + 1e−6)·3 ≈ 1 → + 5 − 1 = 5. */
    assert_int_equal(fl_client_step(opt, &cfg, &ex, theta, g, &err), FP_OK);
    assert_close(g[0], 5.0, 1e-5);
    assert_close(opt->m[0], 0.5, 1e-5);
    fl_adamw_destroy(&opt);
}

static void adamw_state_round_trips_and_continues(void **state)
{
    (void)state;
    fl_adamw_config cfg = small_config();
    cfg.total_steps = 100;
    enum { N = 37 };
    fl_adamw_t *a = fl_adamw_new(N);
    float ta[N], tb[N], g[N];
    for (int i = 0; i < N; i++)
        ta[i] = (float)i / N - 0.5f;
    fp_error err;
    for (int s = 0; s < 5; s++) {
        for (int i = 0; i < N; i++)
            g[i] = (float)sin(i * 0.7 + s);
        assert_int_equal(fl_client_step(a, &cfg, NULL, ta, g, &err), FP_OK);
    }
    uint8_t *blob;
    size_t len;
    assert_int_equal(fl_adamw_save(a, &blob, &len, &err), FP_OK);
    assert_int_equal(len, fl_adamw_blob_size(N));
    fl_adamw_t *b = NULL;
    assert_int_equal(fl_adamw_load(blob, len, &b, &err), FP_OK);
    assert_int_equal(b->step, 5);
    assert_memory_equal(a->m, b->m, sizeof(float) * N);
    assert_memory_equal(a->v, b->v, sizeof(float) * N);
    uint8_t *blob2;
    size_t len2;
    assert_int_equal(fl_adamw_save(b, &blob2, &len2, &err), FP_OK);
    assert_int_equal(len2, len);
    assert_memory_equal(blob, blob2, len); /* save ∘ load ∘ save is the identity */
    memcpy(tb, ta, sizeof ta);
    for (int s = 0; s < 3; s++) { /* the restored optimizer continues bit for bit */
        float ga[N], gb[N];
        for (int i = 0; i < N; i++)
            ga[i] = gb[i] = (float)cos(i * 0.3 + s);
        assert_int_equal(fl_client_step(a, &cfg, NULL, ta, ga, &err), FP_OK);
        assert_int_equal(fl_client_step(b, &cfg, NULL, tb, gb, &err), FP_OK);
    }
    assert_memory_equal(ta, tb, sizeof ta);
    /* Malformed blobs: every truncation, a bad magic, a bad version, a forged length. */
    fl_adamw_t *c = NULL;
    for (size_t cut = 0; cut < len; cut += 7)
        assert_int_equal(fl_adamw_load(blob, cut, &c, &err), FP_EFORMAT);
    blob[0] ^= 1;
    assert_int_equal(fl_adamw_load(blob, len, &c, &err), FP_EFORMAT);
    blob[0] ^= 1;
    blob[4] = 9;
    assert_int_equal(fl_adamw_load(blob, len, &c, &err), FP_EVERSION);
    blob[4] = 1;
    blob[15] = 0x7f; /* n = huge */
    assert_int_equal(fl_adamw_load(blob, len, &c, &err), FP_EFORMAT);
    assert_null(c);
    free(blob);
    free(blob2);
    fl_adamw_destroy(&a);
    fl_adamw_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_fedpeptao),
        cmocka_unit_test(adamw_two_steps_by_hand),
        cmocka_unit_test(adamw_rejects_nonfinite_gradient_untouched),
        cmocka_unit_test(prox_gradient_by_hand_and_finite_differences),
        cmocka_unit_test(clipping_is_global_norm),
        cmocka_unit_test(scaffold_variate_and_correction_by_hand),
        cmocka_unit_test(client_step_order),
        cmocka_unit_test(adamw_state_round_trips_and_continues),
    };
    return cmocka_run_group_tests_name("fl_optim", tests, NULL, NULL);
}
