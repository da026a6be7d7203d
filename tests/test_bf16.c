/* test_bf16.c — the bf16 products (model/matmul_bf16.h, tf_weights_to_bf16): rounding to bf16,
 * one product against a double reference in every weight layout, the whole step (logits, last
 * hidden states, dL/dE) against the fp32 step on the same random models, the primitive cache
 * (made once per shape, then reused), and weight gradients refused on bf16 weights.
 * On a CPU without bf16 instructions the comparisons are skipped (oneDNN would emulate them):
 * test_bf16_fallback covers what such a CPU gets. */
#include "tests/support/test.h"

#include "common/rng.h"
#include "model/matmul_bf16.h"
#include "model/transformer.h"
#include "tests/test_transformer_reference.h"

static void skip_without_bf16(void)
{
    char isa[32];
    if (!mm_bf16_supported(isa, sizeof isa)) {
        print_message("no bf16 on this CPU (oneDNN ISA %s): skipped\n", isa);
        skip();
    }
}

static uint16_t bits(float f)
{
    uint16_t b;
    mm_bf16_from_f32(&b, &f, 1);
    return b;
}

/* Round to nearest even, exactly what a bf16 unit does; NaN and infinities survive. */
static void rounding_is_nearest_even(void **state)
{
    (void)state;
    assert_int_equal(bits(1.0f), 0x3f80);
    assert_int_equal(bits(-2.0f), 0xc000);
    assert_int_equal(bits(1.0f + 0x1p-8f), 0x3f80);            /* tie, even below */
    assert_int_equal(bits(1.0f + 0x1p-7f + 0x1p-8f), 0x3f82);  /* tie, even above */
    assert_int_equal(bits(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81); /* above the tie */
    assert_int_equal(bits(3.0e38f), 0x7f62);
    assert_int_equal(bits(3.4e38f), 0x7f80); /* rounds up to infinity, as IEEE does */
    assert_int_equal(bits(INFINITY), 0x7f80);
    assert_true(isnan(mm_bf16_to_f32(bits(NAN))));
    uint32_t low_nan = 0x7f800001u; /* payload only in the half that is cut off */
    float f;
    memcpy(&f, &low_nan, sizeof f);
    assert_true(isnan(mm_bf16_to_f32(bits(f))));
    assert_true(mm_bf16_to_f32(bits(0.1f)) == 0.10009765625f);
    assert_int_equal(bits(1e-39f), 0x0000);  /* subnormal: flushed */
    assert_int_equal(bits(-1e-39f), 0x8000); /* keeping its sign */
    /* the 16-wide path (where built) rounds every value as the one-value path does */
    float many[37];
    uint16_t wide[37];
    const float special[6] = {1.0f + 0x1p-8f, 1.0f + 0x1p-7f + 0x1p-8f, 3.4e38f, -1e-39f, NAN,
                              -INFINITY};
    for (int i = 0; i < 37; i++)
        many[i] = i < 6 ? special[i] : (float)(i - 18) * 0.377f;
    mm_bf16_from_f32(wide, many, 37);
    for (int i = 0; i < 37; i++)
        if (isnan(many[i]))
            assert_true(isnan(mm_bf16_to_f32(wide[i])));
        else
            assert_int_equal(wide[i], bits(many[i]));
}

enum { GM = 70, GK = 40, GN = 24, LDX = 45, LDY = 30 };

/* One product in each weight layout, = and +=, with strided input and output, M = 70 (64 rows
 * by the fixed-M primitive, 6 by the run-time one): equal to the double product of the
 * bf16-rounded operands up to fp32 accumulation (K = 40 terms: ~1e-6 relative). */
static void gemm_matches_reference(void **state)
{
    (void)state;
    skip_without_bf16();
    fp_error err = {0};
    mm_bf16_t *mm = mm_bf16_new(&err);
    assert_non_null(mm);
    rng_t r;
    rng_seed(&r, 3);
    static float x[GM * LDX], w[GK * GN], y[GM * LDY], y0[GM * LDY], bias[GN];
    static uint16_t w16[GK * GN];
    for (size_t i = 0; i < GM * LDX; i++)
        x[i] = (float)rng_normal(&r);
    for (size_t i = 0; i < GK * GN; i++)
        w[i] = (float)rng_normal(&r);
    for (size_t i = 0; i < GM * LDY; i++)
        y0[i] = (float)rng_normal(&r);
    for (size_t i = 0; i < GN; i++)
        bias[i] = (float)rng_normal(&r);
    mm_bf16_from_f32(w16, w, GK * GN);
    for (int transposed = 0; transposed < 2; transposed++)
        for (int acc = 0; acc < 2; acc++) {
            /* W [K][N] row-major, or the same numbers read as a row-major Wᵀ; a bias with the
             * transposed layout */
            mm_bf16_weight W = {w16, transposed ? 1 : GN, transposed ? GK : 1};
            const float *b = transposed ? bias : NULL;
            memcpy(y, y0, sizeof y);
            assert_int_equal(mm_bf16_gemm(mm, y, LDY, x, LDX, W, GM, GK, GN, b, acc, &err), FP_OK);
            double worst = 0, scale = 0;
            for (int m = 0; m < GM; m++)
                for (int n = 0; n < GN; n++) {
                    double ref = (acc ? y0[m * LDY + n] : 0.0) + (b ? b[n] : 0.0);
                    for (int k = 0; k < GK; k++)
                        ref += (double)mm_bf16_to_f32(bits(x[m * LDX + k])) *
                               mm_bf16_to_f32(w16[k * W.rs + n * W.cs]);
                    worst = fmax(worst, fabs(y[m * LDY + n] - ref));
                    scale = fmax(scale, fabs(ref));
                }
            assert_true(worst / scale < 1e-5);
            for (int m = 0; m < GM; m++) /* the columns beyond N are not written */
                for (int n = GN; n < LDY; n++)
                    assert_true(y[m * LDY + n] == y0[m * LDY + n]);
        }
    mm_bf16_stats s = mm_bf16_get_stats(mm);
    assert_int_equal(s.primitives, 8); /* 2 layouts × 2 (=, +=) × (fixed M, run-time M) */
    assert_int_equal(s.calls, 4);
    mm_bf16_destroy(&mm);
    mm_bf16_destroy(&mm); /* idempotent */
}

/* A model big enough that bf16's error is typical: products of K = 64..128 terms, B·T = 160
 * rows (both kinds of primitive), 3 layers. */
enum { L = 3, D = 64, F = 128, V = 101, B = 4, T = 40, P = 4, MAXPOS = 64, C = 3 };

typedef struct step {
    model_config cfg;
    tf_weights w;
    tf_acts_t *acts;
    int tokens[B * T], targets[B * T];
    float E[P * L * 2 * D], dE[P * L * 2 * D];
    bool trainable[L];
    bool use_head; /* a model without an LM head (USE-lite's kind) is scored by a linear head */
    int labels[B];
    float W[C * D], bias[C], dW[C * D], db[C];
} step;

static void step_init(step *s, model_config cfg)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->cfg.n_heads = 4;
    fp_error err = {0};
    /* N(0, 0.1²) weights keep the activations O(1) through 3 layers, like a trained model. */
    assert_int_equal(tf_weights_init_random(&s->w, &s->cfg, 0.1f, 5, &err), FP_OK);
    rng_t r;
    rng_seed(&r, 17);
    for (int i = 0; i < B * T; i++) {
        s->tokens[i] = 5 + (int)rng_below(&r, V - 6);
        s->targets[i] = -1;
    }
    for (int b = 0; b < B; b++) {
        if (cfg.arch == MODEL_ARCH_ROBERTA)
            s->tokens[b * T + 3] = s->cfg.mask_token_id;
        s->targets[b * T + 3] = 5 + b;
    }
    for (size_t i = 0; i < sizeof s->E / sizeof *s->E; i++)
        s->E[i] = 0.5f * (float)rng_normal(&r);
    s->use_head = !s->w.has_lm_head && cfg.arch == MODEL_ARCH_ROBERTA;
    for (int i = 0; i < C * D; i++)
        s->W[i] = 0.3f * (float)rng_normal(&r);
    for (int b = 0; b < B; b++)
        s->labels[b] = b % C;
    s->trainable[1] = s->trainable[2] = true;
    tf_acts_spec spec = {
        .B = B, .T = T, .P = P, .saved_layers = L, .max_lm_rows = B, .max_classes = C};
    s->acts = tf_acts_new(&s->cfg, spec, &err);
    assert_non_null(s->acts);
}

static void step_free(step *s)
{
    tf_acts_destroy(&s->acts);
    tf_weights_free(&s->w);
}

/* One forward (keeping every layer, so the hidden states are there) + backward over the first
 * Tn tokens; copies the logits (LM rows [B][V], or the linear head's [B][C]), the last hidden
 * states and dE. */
static void step_run(step *s, int Tn, float *logits, float *hidden, float *dE)
{
    tf_prompt pr = {.P = P, .E = s->E, .trainable = s->trainable, .dE = s->dE};
    int tok[B * T], tg[B * T];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tn; t++) {
            tok[b * Tn + t] = s->tokens[b * T + t];
            tg[b * Tn + t] = s->targets[b * T + t];
        }
    tf_batch bt = {.B = B,
                   .T = Tn,
                   .tokens = tok,
                   .targets = s->use_head ? NULL : tg,
                   .labels = s->use_head ? s->labels : NULL};
    tf_cls_head head = {C, s->W, s->bias, s->dW, s->db};
    tf_options opt = {.grad = true, .keep_all_layers = true};
    tf_result res;
    fp_error err = {0};
    assert_int_equal(
        tf_forward(s->acts, &s->cfg, &s->w, &pr, s->use_head ? &head : NULL, &bt, &opt, &res, &err),
        FP_OK);
    assert_int_equal(tf_backward(s->acts, &err), FP_OK);
    int rows;
    const float *lg =
        s->use_head ? tf_acts_cls_logits(s->acts) : tf_acts_lm_logits(s->acts, NULL, &rows);
    if (!s->use_head)
        assert_int_equal(rows, B);
    if (logits)
        memcpy(logits, lg, sizeof(float) * B * (s->use_head ? C : V));
    if (hidden)
        memcpy(hidden, tf_acts_hidden(s->acts), sizeof(float) * B * Tn * D);
    if (dE)
        memcpy(dE, s->dE, sizeof s->dE);
}

/* max|a − b| / max|b|: norm-wise, as the reference check measures (elementwise ratios blow up
 * near zero). */
static double rel_err(const float *a, const float *b, size_t n)
{
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return e / m;
}

/* How far bf16 may move the step, from bf16's 8-bit significand: each rounded operand carries a
 * relative error of at most u = 2^-9 (uniform, standard deviation u/√3 ≈ 1.1e-3), a product of
 * two of them ≈ 1.6e-3. A dot product of K such products with independent signs has an error of
 * that relative size against its own scale (both grow as √K), so K does not enter; fp32
 * accumulation adds ~K·6e-8 ≤ 1e-5, nothing. Each layer adds Q/K/V, O, FC and PROJ errors in
 * sequence (≈ 4 products, √4 · 1.6e-3 ≈ 3e-3) and LayerNorm does not amplify them; over 3
 * layers and the head ≈ 6e-3 in standard deviation per element, and the largest of ~10⁴
 * elements about 4σ ≈ 2.5e-2 of an element's scale — as a ratio to the LARGEST element (the
 * measure here) smaller still. Forward: 2e-2. Backward runs the transposed products of the same
 * layers again (twice the products) through softmax's derivative: 4e-2. The floor proves bf16
 * ran: fp32 against itself differs by 0. */
static const double FWD_TOL = 2e-2, BWD_TOL = 4e-2, FLOOR = 1e-4;

static void check_against_fp32(model_config cfg)
{
    skip_without_bf16();
    step s;
    step_init(&s, cfg);
    static float lg32[B * V], h32[B * T * D], dE32[P * L * 2 * D];
    static float lg16[B * V], h16[B * T * D], dE16[P * L * 2 * D];
    step_run(&s, T, lg32, h32, dE32);
    assert_int_equal(tf_acts_bf16_stats(s.acts).calls, 0); /* fp32 weights: no bf16 product */
    fp_error err = {0};
    assert_int_equal(tf_weights_to_bf16(&s.w, &s.cfg, &err), FP_OK);
    assert_true(s.w.bf16_bytes > 0);
    step_run(&s, T, lg16, h16, dE16);
    const double el = rel_err(lg16, lg32, B * (s.use_head ? C : V)),
                 eh = rel_err(h16, h32, B * T * D), ed = rel_err(dE16, dE32, P * L * 2 * D);
    print_message("bf16 vs fp32: logits %.2e, hidden %.2e, dE %.2e\n", el, eh, ed);
    assert_true(el < FWD_TOL && eh < FWD_TOL && ed < BWD_TOL);
    assert_true(el > FLOOR && eh > FLOOR && ed > FLOOR);
    for (int l = 0; l < 1; l++) /* the untrainable layer's rows stay as they were */
        for (int p = 0; p < P; p++)
            for (int k = 0; k < 2 * D; k++)
                assert_true(dE16[tf_prompt_index(L, D, p, l, 0) + k] == 0.0f);
    mm_bf16_stats st = tf_acts_bf16_stats(s.acts);
    assert_true(st.calls > 0);
    assert_int_equal(st.fallbacks, 0);
    step_free(&s);
}

/* RoBERTa: separate Q, K, V in nn.Linear [out][in], post-LN, MLM head with the tied decoder. */
static void roberta_matches_fp32(void **state)
{
    (void)state;
    check_against_fp32(tiny_config(MODEL_ARCH_ROBERTA, L, D, V, MAXPOS, F));
}

/* GPT-2: fused c_attn [d][3d] Conv1D (one product for Q, K, V), pre-LN, ln_f. */
static void gpt2_matches_fp32(void **state)
{
    (void)state;
    check_against_fp32(tiny_config(MODEL_ARCH_GPT2, L, D, V, MAXPOS, F));
}

/* The default model's kind: pre-LN, ReLU, block 0 half as wide with its residual projection,
 * no LM head (scored through a linear head here). */
static void uselite_matches_fp32(void **state)
{
    (void)state;
    model_config c = tiny_config(MODEL_ARCH_ROBERTA, L, D, V, MAXPOS, F);
    c.pre_ln = true;
    c.hidden_act = MODEL_ACT_RELU;
    c.no_embedding_ln = true;
    c.d_embed = D / 2;
    check_against_fp32(c);
}

/* Primitives are made by the first step and reused by the next ones; another row count needs
 * new ones only for the shapes it changes. */
static void primitives_are_reused(void **state)
{
    (void)state;
    skip_without_bf16();
    step s;
    step_init(&s, tiny_config(MODEL_ARCH_ROBERTA, L, D, V, MAXPOS, F));
    fp_error err = {0};
    assert_int_equal(tf_weights_to_bf16(&s.w, &s.cfg, &err), FP_OK);
    step_run(&s, T, NULL, NULL, NULL);
    const mm_bf16_stats a = tf_acts_bf16_stats(s.acts);
    assert_true(a.primitives > 0);
    step_run(&s, T, NULL, NULL, NULL);
    step_run(&s, T, NULL, NULL, NULL);
    const mm_bf16_stats b = tf_acts_bf16_stats(s.acts);
    assert_int_equal(b.primitives, a.primitives);
    assert_int_equal(b.calls, 3 * a.calls);
    assert_int_equal(b.fallbacks, 0);
    /* T 36: B·T = 144 = 128 + 16 rows, the same fixed-M part as 160 = 128 + 32 and a run-time
     * M tail: nothing new. */
    step_run(&s, 36, NULL, NULL, NULL);
    assert_int_equal(tf_acts_bf16_stats(s.acts).primitives, a.primitives);
    /* T 8: 32 rows, all by the run-time-M primitives the tails already made */
    step_run(&s, 8, NULL, NULL, NULL);
    assert_int_equal(tf_acts_bf16_stats(s.acts).primitives, a.primitives);
    /* T 20: 80 = 64 + 16 rows: a new fixed-M part for the block shapes */
    step_run(&s, 20, NULL, NULL, NULL);
    assert_true(tf_acts_bf16_stats(s.acts).primitives > a.primitives);
    step_free(&s);
}

/* bf16 copies are for frozen weights: a step that would update them is refused. */
static void weight_gradients_refused(void **state)
{
    (void)state;
    model_config cfg = tiny_config(MODEL_ARCH_GPT2, 1, 8, 11, 16, 16);
    tf_weights w, g;
    fp_error err = {0};
    assert_int_equal(tf_weights_init_random(&w, &cfg, 0.1f, 1, &err), FP_OK);
    assert_int_equal(tf_weights_init_zero(&g, &cfg, &err), FP_OK);
    assert_int_equal(tf_weights_to_bf16(&w, &cfg, &err), FP_OK);
    const size_t bytes = w.bf16_bytes;
    assert_int_equal(tf_weights_to_bf16(&w, &cfg, &err), FP_OK); /* a second call: no-op */
    assert_int_equal(w.bf16_bytes, bytes);
    /* wte [11][8] + per layer c_attn [8][24], c_proj [8][8], c_fc [8][16], mlp c_proj [16][8] */
    assert_int_equal(bytes, 2 * (11 * 8 + 8 * 24 + 8 * 8 + 8 * 16 + 16 * 8));
    tf_acts_spec spec = {.B = 1, .T = 4, .saved_layers = 1, .max_lm_rows = 1, .weight_grads = true};
    tf_acts_t *a = tf_acts_new(&cfg, spec, &err);
    assert_non_null(a);
    int tok[4] = {1, 2, 3, 4}, tg[4] = {-1, -1, 5, -1};
    tf_batch bt = {.B = 1, .T = 4, .tokens = tok, .targets = tg};
    tf_options opt = {.grad = true, .grads = &g};
    assert_int_equal(tf_forward(a, &cfg, &w, NULL, NULL, &bt, &opt, NULL, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "bf16"));
    tf_acts_destroy(&a);
    tf_weights_free(&w);
    tf_weights_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rounding_is_nearest_even), cmocka_unit_test(gemm_matches_reference),
        cmocka_unit_test(roberta_matches_fp32),     cmocka_unit_test(gpt2_matches_fp32),
        cmocka_unit_test(uselite_matches_fp32),     cmocka_unit_test(primitives_are_reused),
        cmocka_unit_test(weight_gradients_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
