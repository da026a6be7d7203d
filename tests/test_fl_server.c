/* test_fl_server.c — the server round of fl/server.c: FedPepTAO's control-variate momentum
 * step in both variants, FedAvg, FedAvgM, FedAdam/Yogi/Adagrad and the SCAFFOLD server, all on
 * hand-computed values; atomic failure on bad uploads; byte-exact state that continues
 * exactly as the original would. */
#include "tests/support/test.h"

#include "fl/blob.h"
#include "fl/server.h"

#include <stdbool.h>

static fl_server_t *one_dim_server(fl_server_opt opt, fl_server_config *cfg)
{
    *cfg = fl_server_config_defaults(opt);
    float w0[1] = {1.0f};
    fl_server_t *s = fl_server_new(cfg, 1, 4, 42, w0);
    assert_non_null(s);
    return s;
}

/* N = 4, dim 1, w_0 = 1, η_l = 0.5.
 * Round 0: client 1 (n 1, K 2, θ 0.6), client 3 (n 3, K 4, θ 0.2); p = (1/4, 3/4).
 *   w̄ = 0.15 + 0.15 = 0.3, Δ_0 = 0.7;
 *   c_1⁺ = 0 − 0 + 0.4/(2·0.5) = 0.4, c_3⁺ = 0.8/(4·0.5) = 0.4;
 *   c⁺ = 0 + (2/4)(2·0.4 + 4·0.4)/6 = 0.2; round-0 rule: w_1 = 0.3, m stays 0.
 * Round 1: client 3 (θ 0.1) then client 1 (θ 0.5); w̄ = 0.075 + 0.125 = 0.2, Δ_1 = 0.1;
 *   c_3⁺ = 0.4 − 0.2 + 0.2/2 = 0.3, c_1⁺ = 0.4 − 0.2 − 0.2/1 = 0;
 *   c⁺ = 0.2 + 0.5 (4·(−0.1) + 2·(−0.4))/6 = 0.1; g = Δ_0 − Δ_1 = 0.6; η_s = 0.0495.
 *   parallel:   M_3 = 0.06 + 0.1 − 0.3 = −0.14, M_1 = 0.06 + 0.1 − 0 = 0.16,
 *               m = 0.75(−0.14) + 0.25(0.16) = −0.065, w = 0.2 + 0.0495·0.065 = 0.2032175.
 *   sequential: M_3 = −0.14, M_1 = 0.9(−0.14) + 0.16 = 0.034,
 *               m = −0.105 + 0.0085 = −0.0965, w = 0.2 + 0.0495·0.0965 = 0.20477675.
 * Without control variates (the ablation) every M_k drops c⁺ − c_k⁺, the variates still move:
 *   parallel:   M_3 = M_1 = 0.06, m = 0.06, w = 0.2 − 0.0495·0.06 = 0.19703;
 *   sequential: M_3 = 0.06, M_1 = 0.9·0.06 + 0.06 = 0.114, m = 0.045 + 0.0285 = 0.0735,
 *               w = 0.2 − 0.0495·0.0735 = 0.19636175. */
static void momentum_step_by_hand(fl_server_step_variant variant, bool no_cv, double w2, double m2)
{
    fl_server_config cfg;
    fl_server_t *s = one_dim_server(FL_SERVER_MOMENTUM_CV, &cfg);
    cfg.client_lr = 0.5;
    cfg.variant = variant;
    cfg.no_control_variates = no_cv;
    fp_error err;
    float a = 0.6f, b = 0.2f;
    fl_upload r0[2] = {{1, 1, 2, &a, NULL}, {3, 3, 4, &b, NULL}};
    assert_int_equal(fl_server_round(s, &cfg, r0, 2, &err), FP_OK);
    assert_close(s->w[0], 0.3, 1e-7);
    assert_close(s->m[0], 0.0, 0);
    assert_close(s->c[0], 0.2, 1e-7);
    assert_close(s->c_k[1], 0.4, 1e-7);
    assert_close(s->c_k[3], 0.4, 1e-7);
    assert_close(s->c_k[0], 0.0, 0);
    assert_close(s->delta_prev[0], 0.7, 1e-7);
    assert_close(s->eta_s, 0.05, 0);
    assert_int_equal(s->round, 1);
    float c = 0.1f, d = 0.5f;
    fl_upload r1[2] = {{3, 3, 4, &c, NULL}, {1, 1, 2, &d, NULL}};
    assert_int_equal(fl_server_round(s, &cfg, r1, 2, &err), FP_OK);
    assert_close(s->c[0], 0.1, 1e-7);
    assert_close(s->c_k[3], 0.3, 1e-7);
    assert_close(s->c_k[1], 0.0, 1e-7);
    assert_close(s->delta_prev[0], 0.1, 1e-7);
    assert_close(s->eta_s, 0.0495, 1e-15);
    assert_close(s->m[0], m2, 1e-7);
    assert_close(s->w[0], w2, 1e-7);
    fl_server_destroy(&s);
}

static void momentum_parallel_by_hand(void **state)
{
    (void)state;
    momentum_step_by_hand(FL_STEP_PARALLEL, false, 0.2032175, -0.065);
    momentum_step_by_hand(FL_STEP_PARALLEL, true, 0.19703, 0.06);
}

static void momentum_sequential_by_hand(void **state)
{
    (void)state;
    momentum_step_by_hand(FL_STEP_SEQUENTIAL, false, 0.20477675, -0.0965);
    momentum_step_by_hand(FL_STEP_SEQUENTIAL, true, 0.19636175, 0.0735);
}

static void eta_s_decays_to_its_floor(void **state)
{
    (void)state;
    fl_server_config cfg;
    fl_server_t *s = one_dim_server(FL_SERVER_MOMENTUM_CV, &cfg);
    cfg.eta_s0 = 0.05;
    float th = 1.0f;
    fl_upload u = {0, 5, 3, &th, NULL};
    fp_error err;
    for (int r = 0; r < 700; r++)
        assert_int_equal(fl_server_round(s, &cfg, &u, 1, &err), FP_OK);
    /* 699 momentum steps: 0.05 · 0.99^699 < 1e−4, so the floor holds. */
    assert_close(s->eta_s, 1e-4, 0);
    fl_server_destroy(&s);
}

/* One round from w = 1 with uploads θ = (0.6, 0.2), n = (1, 3): w̄ = 0.3, Reddi Δ = −0.7.
 * m = 0.1·(−0.7) = −0.07; v_0 = τ² = 1e−6;
 *   Adam:    v = 0.99e−6 + 0.01·0.49 = 0.00490099,  w = 1 + 0.01·m/(√v + 1e−3) = 0.990141827
 *   Yogi:    v = 1e−6 + 0.01·0.49 (v < Δ²) = 0.004901,  w = 0.990141837
 *   Adagrad: v = 1e−6 + 0.49 = 0.490001,                w = 0.999001428
 *   FedAvgM: m = 0.9·0 + 0.7, w = 1 − 1·0.7 = 0.3;  FedAvg: w = 0.3. */
static void baselines_one_step_by_hand(void **state)
{
    (void)state;
    struct {
        fl_server_opt opt;
        double w, m, v;
    } want[] = {
        {FL_SERVER_ADAM, 0.990141827, -0.07, 0.00490099},
        {FL_SERVER_YOGI, 0.990141837, -0.07, 0.004901},
        {FL_SERVER_ADAGRAD, 0.999001428, -0.07, 0.490001},
        {FL_SERVER_AVGM, 0.3, 0.7, 0.0},
        {FL_SERVER_FEDAVG, 0.3, 0.0, 0.0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        fl_server_config cfg;
        fl_server_t *s = one_dim_server(want[i].opt, &cfg);
        float a = 0.6f, b = 0.2f;
        fl_upload up[2] = {{1, 1, 2, &a, NULL}, {3, 3, 4, &b, NULL}};
        fp_error err;
        assert_int_equal(fl_server_round(s, &cfg, up, 2, &err), FP_OK);
        assert_close(s->w[0], want[i].w, 1e-7);
        assert_close(s->m[0], want[i].m, 1e-7);
        assert_close(s->v[0], want[i].v, 1e-7 * want[i].v + 1e-12); /* float state */
        assert_null(s->c_k);
        fl_server_destroy(&s);
    }
}

/* SCAFFOLD server: w ← w + 1·(w̄ − w) = 0.3;
 * c ← c + (|S|/N) Σ p_k Δc_k = (2/4)(0.25·0.4 + 0.75·0.8) = 0.35. */
static void scaffold_server_by_hand(void **state)
{
    (void)state;
    fl_server_config cfg;
    fl_server_t *s = one_dim_server(FL_SERVER_SCAFFOLD, &cfg);
    float a = 0.6f, b = 0.2f, da = 0.4f, db = 0.8f;
    fl_upload up[2] = {{1, 1, 2, &a, &da}, {3, 3, 4, &b, &db}};
    fp_error err;
    assert_int_equal(fl_server_round(s, &cfg, up, 2, &err), FP_OK);
    assert_close(s->w[0], 0.3, 1e-7);
    assert_close(s->c[0], 0.35, 1e-7);
    up[0].delta_c = NULL;
    assert_int_equal(fl_server_round(s, &cfg, up, 2, &err), FP_EINVAL);
    fl_server_destroy(&s);
}

/* Every bad round leaves the state byte-for-byte as it was. */
static void bad_uploads_leave_state_unchanged(void **state)
{
    (void)state;
    fl_server_config cfg;
    fl_server_t *s = one_dim_server(FL_SERVER_MOMENTUM_CV, &cfg);
    fp_error err;
    uint8_t *before, *after;
    size_t lb, la;
    assert_int_equal(fl_server_save(s, &before, &lb, &err), FP_OK);
    float ok = 0.5f, nan = NAN;
    fl_upload cases[][2] = {
        {{4, 1, 1, &ok, NULL}, {0, 1, 1, &ok, NULL}},  /* client out of range */
        {{1, 1, 1, &ok, NULL}, {1, 1, 1, &ok, NULL}},  /* twice */
        {{1, 0, 1, &ok, NULL}, {2, 1, 1, &ok, NULL}},  /* n_k = 0 */
        {{1, 1, 0, &ok, NULL}, {2, 1, 1, &ok, NULL}},  /* zero local steps */
        {{1, 1, 1, &ok, NULL}, {2, 1, 1, &nan, NULL}}, /* NaN rows */
        {{1, 1, 1, NULL, NULL}, {2, 1, 1, &ok, NULL}}, /* no rows */
    };
    fp_status want[] = {FP_EINVAL, FP_EINVAL, FP_EINVAL, FP_EINVAL, FP_ENUMERIC, FP_EINVAL};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(fl_server_round(s, &cfg, cases[i], 2, &err), want[i]);
    assert_int_equal(fl_server_round(s, &cfg, cases[0], 0, &err), FP_EINVAL);
    fl_server_config other = fl_server_config_defaults(FL_SERVER_ADAM);
    assert_int_equal(fl_server_round(s, &other, cases[0] + 1, 1, &err), FP_ESTATE);
    assert_int_equal(fl_server_save(s, &after, &la, &err), FP_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(before, after, lb);
    free(before);
    free(after);
    fl_server_destroy(&s);
}

/* Deterministic synthetic uploads for round r and client k. */
static void fake_rows(float *th, size_t dim, const float *w, int r, int k)
{
    for (size_t i = 0; i < dim; i++)
        th[i] = w[i] - 0.01f * (float)sin(0.1 * (double)i + r + 0.3 * k) + 0.002f * k;
}

static void run_rounds(fl_server_t *s, const fl_server_config *cfg, int from, int to)
{
    enum { DIM = 50, PER = 3 };
    float th[PER][DIM];
    fp_error err;
    for (int r = from; r < to; r++) {
        int ids[PER];
        assert_int_equal(fl_server_sample(s, s->round, PER, ids, &err), FP_OK);
        fl_upload up[PER];
        for (int j = 0; j < PER; j++) {
            fake_rows(th[j], DIM, s->w, r, ids[j]);
            up[j] = (fl_upload){ids[j], 10 + ids[j], 5 + j, th[j], NULL};
        }
        assert_int_equal(fl_server_round(s, cfg, up, PER, &err), FP_OK);
    }
}

/* For every optimizer: run 6 rounds, save, restore; run 5 more rounds on both: identical. */
static void restored_server_continues_exactly(void **state)
{
    (void)state;
    fl_server_opt opts[] = {FL_SERVER_FEDAVG, FL_SERVER_MOMENTUM_CV, FL_SERVER_AVGM,
                            FL_SERVER_ADAM,   FL_SERVER_YOGI,        FL_SERVER_ADAGRAD};
    for (size_t o = 0; o < sizeof opts / sizeof opts[0]; o++) {
        for (int variant = 0; variant < 2; variant++) {
            fl_server_config cfg = fl_server_config_defaults(opts[o]);
            cfg.variant = (fl_server_step_variant)variant;
            float w0[50];
            for (int i = 0; i < 50; i++)
                w0[i] = 0.02f * (float)cos(i);
            fl_server_t *a = fl_server_new(&cfg, 50, 12, 7, w0);
            run_rounds(a, &cfg, 0, 6);
            uint8_t *blob, *blob2;
            size_t len, len2;
            fp_error err;
            assert_int_equal(fl_server_save(a, &blob, &len, &err), FP_OK);
            assert_int_equal(len, fl_server_blob_size(a));
            fl_server_t *b = NULL;
            assert_int_equal(fl_server_load(blob, len, &b, &err), FP_OK);
            assert_int_equal(fl_server_save(b, &blob2, &len2, &err), FP_OK);
            assert_int_equal(len, len2);
            assert_memory_equal(blob, blob2, len);
            run_rounds(a, &cfg, 6, 11);
            run_rounds(b, &cfg, 6, 11);
            free(blob);
            free(blob2);
            assert_int_equal(fl_server_save(a, &blob, &len, &err), FP_OK);
            assert_int_equal(fl_server_save(b, &blob2, &len2, &err), FP_OK);
            assert_int_equal(len, len2);
            assert_memory_equal(blob, blob2, len);
            assert_int_equal(a->round, 11);
            free(blob);
            free(blob2);
            fl_server_destroy(&a);
            fl_server_destroy(&b);
        }
    }
}

/* fl_server_blob_size is a measuring pass of the writer fl_server_save uses, so the two agree
 * for every optimizer and shape, and both match the layout server.h documents. */
static void blob_size_is_measured_by_the_writer(void **state)
{
    (void)state;
    fl_blob_writer m = {0}; /* measuring: counts, writes nothing, reads no value */
    fl_blob_put_header(&m, "TEST", 1);
    fl_blob_put_u32(&m, 1);
    fl_blob_put_u64(&m, 2);
    fl_blob_put_f64(&m, 3.0);
    fl_blob_put_f32s(&m, NULL, 5);
    assert_int_equal(m.len, 8 + 4 + 8 + 8 + 4 * 5);
    fl_server_opt opts[] = {FL_SERVER_FEDAVG, FL_SERVER_MOMENTUM_CV, FL_SERVER_AVGM,
                            FL_SERVER_ADAM,   FL_SERVER_YOGI,        FL_SERVER_ADAGRAD};
    const size_t dims[] = {1, 50};
    const int clients[] = {1, 12};
    float w0[50] = {0};
    for (size_t o = 0; o < sizeof opts / sizeof opts[0]; o++)
        for (int d = 0; d < 2; d++)
            for (int n = 0; n < 2; n++) {
                fl_server_config cfg = fl_server_config_defaults(opts[o]);
                fl_server_t *s = fl_server_new(&cfg, dims[d], clients[n], 7, w0);
                assert_non_null(s);
                uint8_t *blob;
                size_t len;
                assert_int_equal(fl_server_save(s, &blob, &len, NULL), FP_OK);
                assert_int_equal(len, fl_server_blob_size(s));
                size_t rows = 5 + (opts[o] == FL_SERVER_MOMENTUM_CV ? (size_t)clients[n] : 0);
                assert_int_equal(len,
                                 8 + 4 + 8 + 4 + 8 + 8 + 8 + 4 + 8 * 4 + 4 + 4 * rows * dims[d]);
                free(blob);
                fl_server_destroy(&s);
            }
}

static void malformed_server_blobs_are_rejected(void **state)
{
    (void)state;
    fl_server_config cfg = fl_server_config_defaults(FL_SERVER_MOMENTUM_CV);
    float w0[5] = {1, 2, 3, 4, 5};
    fl_server_t *s = fl_server_new(&cfg, 5, 3, 1, w0);
    uint8_t *blob;
    size_t len;
    fp_error err;
    assert_int_equal(fl_server_save(s, &blob, &len, &err), FP_OK);
    fl_server_t *out = NULL;
    for (size_t cut = 0; cut < len; cut++)
        assert_int_not_equal(fl_server_load(blob, cut, &out, &err), FP_OK);
    blob[8] = 99; /* optimizer out of range */
    assert_int_equal(fl_server_load(blob, len, &out, &err), FP_EFORMAT);
    blob[8] = FL_SERVER_ADAM; /* a c_k section for an optimizer that has none */
    assert_int_equal(fl_server_load(blob, len, &out, &err), FP_EFORMAT);
    blob[8] = FL_SERVER_MOMENTUM_CV;
    blob[19] = 0x40; /* dim forged huge */
    assert_int_equal(fl_server_load(blob, len, &out, &err), FP_EFORMAT);
    assert_null(out);
    free(blob);
    fl_server_destroy(&s);
}

static void sampling_is_a_pure_function_of_seed_and_round(void **state)
{
    (void)state;
    fl_server_config cfg = fl_server_config_defaults(FL_SERVER_FEDAVG);
    float w0[1] = {0};
    fl_server_t *a = fl_server_new(&cfg, 1, 100, 42, w0), *b = fl_server_new(&cfg, 1, 100, 42, w0);
    int x[10], y[10], z[10];
    fp_error err;
    assert_int_equal(fl_server_sample(a, 5, 10, x, &err), FP_OK);
    assert_int_equal(fl_server_sample(b, 5, 10, y, &err), FP_OK);
    assert_int_equal(fl_server_sample(a, 6, 10, z, &err), FP_OK);
    assert_memory_equal(x, y, sizeof x);
    assert_memory_not_equal(x, z, sizeof x);
    assert_int_equal(fl_server_sample(a, 0, 101, x, &err), FP_EINVAL);
    fl_server_destroy(&a);
    fl_server_destroy(&b);
    assert_null(fl_server_new(&cfg, 0, 3, 1, w0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(momentum_parallel_by_hand),
        cmocka_unit_test(momentum_sequential_by_hand),
        cmocka_unit_test(eta_s_decays_to_its_floor),
        cmocka_unit_test(baselines_one_step_by_hand),
        cmocka_unit_test(scaffold_server_by_hand),
        cmocka_unit_test(bad_uploads_leave_state_unchanged),
        cmocka_unit_test(restored_server_continues_exactly),
        cmocka_unit_test(blob_size_is_measured_by_the_writer),
        cmocka_unit_test(malformed_server_blobs_are_rejected),
        cmocka_unit_test(sampling_is_a_pure_function_of_seed_and_round),
    };
    return cmocka_run_group_tests_name("fl_server", tests, NULL, NULL);
}
