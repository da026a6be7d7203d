/* test_kernels.c — every transformer kernel: forward against a direct double-precision
 * computation, backward against central finite differences. */
#include "tests/support/test.h"

#include "common/rng.h"
#include "model/attention.h"
#include "model/fastmath.h"
#include "model/kernels.h"
#include "model/linear.h"
#include "model/matmul_bf16.h"
#include "tests/test_gradcheck.h"

static void fill(float *x, int n, rng_t *r, float scale)
{
    for (int i = 0; i < n; i++)
        x[i] = scale * (float)rng_normal(r);
}

static const gc_tol TOL = {1e-3f, 2e-3, 2e-2, 5e-3};

/* ------------------------------------------------------------ the gradient check itself */

/* L = ½ Σ x²: gradient x, zero at x = 0 (where its central differences are exactly 0). */
enum { GC_N = 16 };
static double half_square_loss(void *ctx)
{
    const float *x = ctx;
    double s = 0;
    for (int i = 0; i < GC_N; i++)
        s += 0.5 * (double)x[i] * x[i];
    return s;
}

static void the_gradient_check_refuses_a_zero_gradient(void **state)
{
    (void)state;
    float x[GC_N], right[GC_N], zero[GC_N] = {0};
    for (int i = 0; i < GC_N; i++)
        x[i] = right[i] = (i % 2 ? -0.5f : 0.5f) + 0.1f * (float)i;
    gc_sums s = {0};
    double rel;
    /* The right gradient passes. */
    assert_int_equal(gc_measure(x, right, GC_N, 1, half_square_loss, x, TOL, &s).index, -1);
    assert_int_equal(gc_judge(s, TOL.vrel, false, &rel), GC_PASS);
    /* A backward that returns zeros for a loss whose gradient is not zero: every element misses,
     * and the vector is refused as zero, even when zero is allowed (it is not the truth). */
    s = (gc_sums){0};
    assert_int_equal(gc_measure(x, zero, GC_N, 1, half_square_loss, x, TOL, &s).index, 0);
    assert_int_equal(gc_judge(s, TOL.vrel, false, &rel), GC_ZERO);
    assert_int_equal(gc_judge(s, TOL.vrel, true, &rel), GC_FAR);
    /* An analytic gradient negligible beside the numeric one counts as zero. */
    gc_sums tiny = {.diff2 = 1, .num2 = 1, .ana2 = 1e-8};
    assert_int_equal(gc_judge(tiny, TOL.vrel, false, &rel), GC_ZERO);
    /* At x = 0 the numeric gradient is 0 as well: every element agrees and the relative error is
     * 0, which used to pass; only a caller that expects zero may accept it. */
    float origin[GC_N] = {0};
    s = (gc_sums){0};
    assert_int_equal(gc_measure(origin, zero, GC_N, 1, half_square_loss, origin, TOL, &s).index,
                     -1);
    assert_true(s.num2 == 0 && s.ana2 == 0);
    assert_int_equal(gc_judge(s, TOL.vrel, false, &rel), GC_ZERO);
    assert_int_equal(gc_judge(s, TOL.vrel, true, &rel), GC_PASS);
    gradcheck_allow_zero("half square at 0", origin, zero, GC_N, 1, half_square_loss, origin, TOL);
}

/* ------------------------------------------------------------ fast exp / erf / tanh */

static void fastmath_matches_libm(void **state)
{
    (void)state;
    double worst_exp = 0, worst_erf = 0, worst_tanh = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -87.0f + 175.0f * (float)i / 200000.0f;
        double e = exp((double)x);
        worst_exp = fmax(worst_exp, fabs(fm_expf(x) - e) / e);
        float y = -6.0f + 12.0f * (float)i / 200000.0f;
        worst_erf = fmax(worst_erf, fabs(fm_erff(y) - erf((double)y)));
        worst_tanh = fmax(worst_tanh, fabs(fm_tanhf(y) - tanh((double)y)));
    }
    fprintf(stderr, "fastmath: exp rel %.3g, erf abs %.3g, tanh abs %.3g\n", worst_exp, worst_erf,
            worst_tanh);
    assert_true(worst_exp < 1e-7);
    assert_true(worst_erf < 6e-7);
    assert_true(worst_tanh < 2e-7);
    /* the edges masked softmax and saturated units rely on */
    assert_true(fm_expf(-INFINITY) == 0.0f);
    assert_true(fm_expf(-100.0f) == 0.0f);
    assert_true(isfinite(fm_expf(100.0f)));
    assert_true(fm_tanhf(50.0f) == 1.0f && fm_tanhf(-50.0f) == -1.0f);
    assert_true(fm_erff(10.0f) == 1.0f && fm_erff(-10.0f) == -1.0f);
}

/* ------------------------------------------------------------ layernorm */

enum { LN_N = 3, LN_D = 7 };
typedef struct ln_ctx {
    float x[LN_N * LN_D], w[LN_D], b[LN_D], r[LN_N * LN_D];
} ln_ctx;

static double ln_loss(void *p)
{
    ln_ctx *c = p;
    float out[LN_N * LN_D], mean[LN_N], rstd[LN_N];
    layernorm_forward(out, mean, rstd, c->x, c->w, c->b, LN_N, LN_D, 1e-5f);
    return gc_dot(out, c->r, LN_N * LN_D);
}

static void layernorm_matches_definition_and_gradients(void **state)
{
    (void)state;
    rng_t r;
    rng_seed(&r, 1);
    ln_ctx c;
    fill(c.x, LN_N * LN_D, &r, 2.0f);
    fill(c.w, LN_D, &r, 1.0f);
    fill(c.b, LN_D, &r, 1.0f);
    fill(c.r, LN_N * LN_D, &r, 1.0f);
    float out[LN_N * LN_D], mean[LN_N], rstd[LN_N];
    layernorm_forward(out, mean, rstd, c.x, c.w, c.b, LN_N, LN_D, 1e-5f);
    for (int n = 0; n < LN_N; n++) {
        double m = 0, v = 0;
        for (int i = 0; i < LN_D; i++)
            m += c.x[n * LN_D + i] / LN_D;
        for (int i = 0; i < LN_D; i++)
            v += (c.x[n * LN_D + i] - m) * (c.x[n * LN_D + i] - m) / LN_D;
        for (int i = 0; i < LN_D; i++)
            assert_close(out[n * LN_D + i],
                         (c.x[n * LN_D + i] - m) / sqrt(v + 1e-5) * c.w[i] + c.b[i], 1e-5);
    }
    float dx[LN_N * LN_D] = {0}, dw[LN_D] = {0}, db[LN_D] = {0};
    layernorm_backward(dx, dw, db, c.r, c.x, c.w, mean, rstd, LN_N, LN_D);
    gradcheck("layernorm dx", c.x, dx, LN_N * LN_D, 1, ln_loss, &c, TOL);
    gradcheck("layernorm dw", c.w, dw, LN_D, 1, ln_loss, &c, TOL);
    gradcheck("layernorm db", c.b, db, LN_D, 1, ln_loss, &c, TOL);
}

/* ------------------------------------------------------------ gelu */

enum { GE_N = 41 };
typedef struct gelu_ctx {
    float x[GE_N], r[GE_N];
    bool tanh_approx;
} gelu_ctx;

static double gelu_loss(void *p)
{
    gelu_ctx *c = p;
    float out[GE_N];
    gelu_forward(out, c->x, GE_N, c->tanh_approx);
    return gc_dot(out, c->r, GE_N);
}

static void gelu_both_forms_values_and_gradients(void **state)
{
    (void)state;
    float one[1] = {1.0f}, y[1];
    gelu_forward(y, one, 1, false);
    assert_close(y[0], 0.8413447460685429, 1e-6); /* Φ(1) */
    gelu_forward(y, one, 1, true);
    assert_close(y[0], 0.8411919906082768, 1e-6); /* tanh form at 1 */
    rng_t r;
    rng_seed(&r, 2);
    for (int form = 0; form < 2; form++) {
        gelu_ctx c = {.tanh_approx = form == 1};
        for (int i = 0; i < GE_N; i++)
            c.x[i] = -5.0f + 10.0f * i / (GE_N - 1);
        fill(c.r, GE_N, &r, 1.0f);
        float dx[GE_N] = {0};
        gelu_backward(dx, c.r, c.x, GE_N, c.tanh_approx);
        gradcheck(form ? "gelu_new dx" : "gelu dx", c.x, dx, GE_N, 1, gelu_loss, &c, TOL);
    }
}

/* ------------------------------------------------------------ relu */

static double relu_loss(void *p)
{
    gelu_ctx *c = p;
    float out[GE_N];
    relu_forward(out, c->x, GE_N);
    return gc_dot(out, c->r, GE_N);
}

/* Values, the zero subgradient at the kink, and dx against finite differences at points at
 * least 0.125 from the kink (a central difference across 0 would average the two slopes). */
/* The bf16-writing activations equal the fp32 kernel followed by the rounding, bit for bit
 * (N = 600: two full blocks and a tail); the backward ones overwrite. */
static void activations_written_in_bf16(void **state)
{
    (void)state;
    enum { BN = 600 };
    static float x[BN], g[BN], y[BN], dx[BN];
    static uint16_t want[BN], got[BN];
    rng_t r;
    rng_seed(&r, 41);
    fill(x, BN, &r, 3.0f);
    fill(g, BN, &r, 1.0f);
    for (int kind = 0; kind < 3; kind++) { /* erf GELU, tanh GELU, ReLU */
        if (kind < 2)
            gelu_forward(y, x, BN, kind == 1);
        else
            relu_forward(y, x, BN);
        mm_bf16_from_f32(want, y, BN);
        if (kind < 2)
            gelu_forward_bf16(got, x, BN, kind == 1);
        else
            relu_forward_bf16(got, x, BN);
        for (int i = 0; i < BN; i++)
            assert_int_equal(got[i], want[i]);
        memset(dx, 0, sizeof dx);
        if (kind < 2)
            gelu_backward(dx, g, x, BN, kind == 1);
        else
            relu_backward(dx, g, x, BN);
        mm_bf16_from_f32(want, dx, BN);
        memset(got, 0xff, sizeof got); /* overwritten, not accumulated */
        if (kind < 2)
            gelu_backward_bf16(got, g, x, BN, kind == 1);
        else
            relu_backward_bf16(got, g, x, BN);
        for (int i = 0; i < BN; i++)
            assert_int_equal(got[i], want[i]);
    }
}

static void relu_values_and_gradients(void **state)
{
    (void)state;
    float x[4] = {-2.0f, 0.0f, 0.5f, 3.0f}, y[4], g[4] = {0}, ones[4] = {1, 1, 1, 1};
    relu_forward(y, x, 4);
    assert_true(y[0] == 0.0f && y[1] == 0.0f && y[2] == 0.5f && y[3] == 3.0f);
    relu_backward(g, ones, x, 4);
    assert_true(g[0] == 0.0f && g[1] == 0.0f && g[2] == 1.0f && g[3] == 1.0f);
    relu_forward(x, x, 4); /* in place */
    assert_true(x[0] == 0.0f && x[3] == 3.0f);
    rng_t r;
    rng_seed(&r, 3);
    gelu_ctx c = {0};
    for (int i = 0; i < GE_N; i++)
        c.x[i] = -5.0f + 10.0f * i / (GE_N - 1) + 0.125f;
    fill(c.r, GE_N, &r, 1.0f);
    float dx[GE_N];
    for (int i = 0; i < GE_N; i++)
        dx[i] = 0.5f; /* backward accumulates */
    relu_backward(dx, c.r, c.x, GE_N);
    for (int i = 0; i < GE_N; i++)
        dx[i] -= 0.5f;
    gradcheck("relu dx", c.x, dx, GE_N, 1, relu_loss, &c, TOL);
}

/* ------------------------------------------------------------ linear */

enum { LI_N = 4, LI_IN = 5, LI_OUT = 6, LI_LD = 9 };
typedef struct lin_ctx {
    float x[LI_N * LI_IN], w[LI_OUT * LI_LD], b[LI_OUT], r[LI_N * LI_OUT];
    lin_layout layout;
} lin_ctx;

static lin_w lin_view(lin_ctx *c)
{
    /* a strided view: ld larger than the logical row, as for a column block of c_attn */
    return (lin_w){c->w, LI_LD, c->layout, NULL};
}

static double lin_loss(void *p)
{
    lin_ctx *c = p;
    float y[LI_N * LI_OUT];
    linear_forward(y, LI_OUT, c->x, LI_IN, lin_view(c), c->b, LI_N, LI_IN, LI_OUT, false);
    return gc_dot(y, c->r, LI_N * LI_OUT);
}

static void linear_both_layouts_values_and_gradients(void **state)
{
    (void)state;
    rng_t r;
    rng_seed(&r, 3);
    for (int k = 0; k < 2; k++) {
        lin_ctx c;
        c.layout = k ? LIN_IN_OUT : LIN_OUT_IN;
        fill(c.x, LI_N * LI_IN, &r, 1.0f);
        fill(c.w, LI_OUT * LI_LD, &r, 1.0f);
        fill(c.b, LI_OUT, &r, 1.0f);
        fill(c.r, LI_N * LI_OUT, &r, 1.0f);
        float y[LI_N * LI_OUT];
        linear_forward(y, LI_OUT, c.x, LI_IN, lin_view(&c), c.b, LI_N, LI_IN, LI_OUT, false);
        for (int n = 0; n < LI_N; n++)
            for (int o = 0; o < LI_OUT; o++) {
                double s = c.b[o];
                for (int i = 0; i < LI_IN; i++)
                    s += (double)c.x[n * LI_IN + i] * (k ? c.w[i * LI_LD + o] : c.w[o * LI_LD + i]);
                assert_close(y[n * LI_OUT + o], s, 1e-5);
            }
        /* accumulate mode adds */
        float y2[LI_N * LI_OUT];
        memcpy(y2, y, sizeof y);
        linear_forward(y2, LI_OUT, c.x, LI_IN, lin_view(&c), c.b, LI_N, LI_IN, LI_OUT, true);
        for (int i = 0; i < LI_N * LI_OUT; i++)
            assert_close(y2[i], 2 * y[i], 1e-5);
        float dx[LI_N * LI_IN], dw[LI_OUT * LI_LD] = {0}, db[LI_OUT] = {0};
        linear_backward_input(dx, LI_IN, c.r, LI_OUT, lin_view(&c), LI_N, LI_IN, LI_OUT, false);
        linear_backward_weight(dw, lin_view(&c), db, c.x, LI_IN, c.r, LI_OUT, LI_N, LI_IN, LI_OUT);
        gradcheck("linear dx", c.x, dx, LI_N * LI_IN, 1, lin_loss, &c, TOL);
        gradcheck("linear dW", c.w, dw, LI_OUT * LI_LD, 1, lin_loss, &c, TOL);
        gradcheck("linear db", c.b, db, LI_OUT, 1, lin_loss, &c, TOL);
    }
}

/* ------------------------------------------------------------ cross-entropy, dropout, embedding */

enum { CE_V = 11 };
typedef struct ce_ctx {
    float logits[CE_V];
    int target;
} ce_ctx;

static double ce_loss(void *p)
{
    ce_ctx *c = p;
    return crossentropy_forward(c->logits, CE_V, c->target);
}

static void crossentropy_value_and_gradient(void **state)
{
    (void)state;
    rng_t r;
    rng_seed(&r, 4);
    ce_ctx c = {.target = 7};
    fill(c.logits, CE_V, &r, 3.0f);
    double z = 0;
    for (int v = 0; v < CE_V; v++)
        z += exp(c.logits[v]);
    assert_close(crossentropy_forward(c.logits, CE_V, 7), log(z) - c.logits[7], 1e-5);
    /* huge logits stay finite */
    float big[3] = {1000.0f, -1000.0f, 999.0f};
    assert_close(crossentropy_forward(big, 3, 2), 1.0 + log1p(exp(-1.0)), 1e-4);
    float g[CE_V];
    crossentropy_backward(g, c.logits, CE_V, c.target, 1.0f);
    gradcheck("crossentropy dlogits", c.logits, g, CE_V, 1, ce_loss, &c, TOL);
}

static void dropout_mask_is_reproducible_and_unbiased(void **state)
{
    (void)state;
    enum { N = 20000 };
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *g = calloc(N, sizeof *g);
    for (int i = 0; i < N; i++)
        x[i] = 1.0f;
    dropout_forward(y, x, N, 0.25f, 42, 3, 5);
    double sum = 0;
    int kept = 0;
    for (int i = 0; i < N; i++) {
        sum += y[i];
        kept += y[i] != 0.0f;
        assert_true(y[i] == 0.0f || fabsf(y[i] - 1.0f / 0.75f) < 1e-6f);
    }
    assert_true(fabs(kept / (double)N - 0.75) < 0.015);
    assert_true(fabs(sum / N - 1.0) < 0.02); /* inverted dropout keeps the mean */
    /* backward reproduces the mask: g = dropout'(1) equals y exactly */
    dropout_backward(g, x, N, 0.25f, 42, 3, 5);
    assert_memory_equal(g, y, N * sizeof *y);
    /* another index gives another mask; p = 0 is the identity */
    dropout_forward(g, x, N, 0.25f, 42, 3, 6);
    assert_memory_not_equal(g, y, N * sizeof *y);
    dropout_forward(y, x, N, 0.0f, 42, 3, 5);
    assert_memory_equal(y, x, N * sizeof *y);
    free(x);
    free(y);
    free(g);
}

static void embedding_sums_rows_and_scatters_back(void **state)
{
    (void)state;
    enum { V = 5, PMAX = 6, D = 3, N = 4 };
    float wte[V * D], wpe[PMAX * D], wtt[D], out[N * D];
    for (int i = 0; i < V * D; i++)
        wte[i] = (float)i;
    for (int i = 0; i < PMAX * D; i++)
        wpe[i] = 100.0f * i;
    for (int i = 0; i < D; i++)
        wtt[i] = 0.5f;
    int tok[N] = {4, 0, 4, 2}, pos[N] = {2, 3, 4, 5};
    embedding_forward(out, tok, pos, wte, wpe, wtt, N, D);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < D; i++)
            assert_close(out[n * D + i], wte[tok[n] * D + i] + wpe[pos[n] * D + i] + 0.5f, 0);
    float dwte[V * D] = {0}, dwpe[PMAX * D] = {0}, dout[N * D];
    for (int i = 0; i < N * D; i++)
        dout[i] = 1.0f;
    embedding_backward(dwte, dwpe, dout, tok, pos, N, D);
    assert_close(dwte[4 * D], 2.0, 0); /* token 4 used twice */
    assert_close(dwte[1 * D], 0.0, 0);
    assert_close(dwpe[5 * D + 2], 1.0, 0);
}

/* ------------------------------------------------------------ attention */

enum { AT_B = 2, AT_T = 5, AT_H = 2, AT_DH = 3, AT_D = AT_H * AT_DH, AT_P = 3 };
/* The prefix sits inside a wider [P][stride] buffer like one layer of the [P][L][2][d] prompt. */
enum { AT_PSTRIDE = 4 * AT_D };
typedef struct at_ctx {
    float qkv[AT_B * AT_T * 3 * AT_D];
    float prefix[AT_B * AT_P * AT_PSTRIDE]; /* per-example prefixes when per_example */
    float r[AT_B * AT_T * AT_D];
    int mask[AT_B * AT_T];
    attn_shape s;
    bool per_example;
    float drop;
    float A[AT_B * AT_H * AT_T * (AT_P + AT_T)], scratch[2 * AT_T * (AT_P + AT_T)];
} at_ctx;

static attn_prefix at_prefix(at_ctx *c)
{
    /* keys at column 0, values at column 2d of each prefix row (as s = 0 / 1 of one layer) */
    return (attn_prefix){c->prefix, c->prefix + 2 * AT_D, AT_PSTRIDE,
                         c->per_example ? (size_t)AT_P * AT_PSTRIDE : 0};
}

static double at_loss(void *p)
{
    at_ctx *c = p;
    float out[AT_B * AT_T * AT_D];
    attention_forward(out, c->A, c->scratch, 1, c->qkv, at_prefix(c), c->mask, c->s, c->drop, 9, 1);
    return gc_dot(out, c->r, AT_B * AT_T * AT_D);
}

/* Direct double-precision attention of one (b, h, i), no dropout. */
static void at_reference(const at_ctx *c, int b, int h, int i, double *o)
{
    const int P = c->s.P, T = AT_T;
    double sc[AT_P + AT_T], mx = -INFINITY;
    const float *q = c->qkv + (b * T + i) * 3 * AT_D + h * AT_DH;
    const float *pre = c->prefix + (c->per_example ? b * AT_P * AT_PSTRIDE : 0);
    for (int j = 0; j < P + T; j++) {
        const float *k = j < P ? pre + j * AT_PSTRIDE + h * AT_DH
                               : c->qkv + (b * T + j - P) * 3 * AT_D + AT_D + h * AT_DH;
        double s = 0;
        for (int e = 0; e < AT_DH; e++)
            s += (double)q[e] * k[e];
        s /= sqrt(AT_DH);
        bool masked = j >= P && (!c->mask[b * T + j - P] || (c->s.causal && j - P > i));
        sc[j] = masked ? -INFINITY : s;
        mx = sc[j] > mx ? sc[j] : mx;
    }
    double z = 0;
    for (int j = 0; j < P + T; j++)
        z += exp(sc[j] - mx);
    for (int e = 0; e < AT_DH; e++)
        o[e] = 0;
    for (int j = 0; j < P + T; j++) {
        const float *v = j < P ? pre + j * AT_PSTRIDE + 2 * AT_D + h * AT_DH
                               : c->qkv + (b * T + j - P) * 3 * AT_D + 2 * AT_D + h * AT_DH;
        for (int e = 0; e < AT_DH; e++)
            o[e] += exp(sc[j] - mx) / z * v[e];
    }
}

static void attention_case(bool causal, int P, bool per_example, float drop)
{
    rng_t r;
    rng_seed(&r, 5 + P + 10 * causal + 100 * per_example);
    at_ctx *c = calloc(1, sizeof *c);
    c->s = (attn_shape){AT_B, AT_T, AT_H, AT_DH, P, causal};
    c->per_example = per_example;
    c->drop = drop;
    fill(c->qkv, AT_B * AT_T * 3 * AT_D, &r, 1.0f);
    fill(c->prefix, AT_B * AT_P * AT_PSTRIDE, &r, 1.0f);
    fill(c->r, AT_B * AT_T * AT_D, &r, 1.0f);
    for (int i = 0; i < AT_B * AT_T; i++)
        c->mask[i] = 1;
    c->mask[1 * AT_T + 4] = c->mask[1 * AT_T + 3] = 0; /* example 1 is padded */
    if (drop == 0.0f) {
        float out[AT_B * AT_T * AT_D];
        attention_forward(out, c->A, c->scratch, 1, c->qkv, at_prefix(c), c->mask, c->s, 0, 9, 1);
        for (int b = 0; b < AT_B; b++)
            for (int h = 0; h < AT_H; h++)
                for (int i = 0; i < AT_T; i++) {
                    double o[AT_DH];
                    if (P == 0 && !c->mask[b * AT_T] && causal)
                        continue;
                    at_reference(c, b, h, i, o);
                    for (int e = 0; e < AT_DH; e++)
                        assert_close(out[(b * AT_T + i) * AT_D + h * AT_DH + e], o[e], 1e-5);
                }
    }
    float dqkv[AT_B * AT_T * 3 * AT_D] = {0}, dpre[AT_B * AT_P * AT_PSTRIDE] = {0};
    at_loss(c); /* fills A */
    attn_prefix_grad g = {dpre, dpre + 2 * AT_D, AT_PSTRIDE,
                          per_example ? (size_t)AT_P * AT_PSTRIDE : 0};
    attention_backward(dqkv, g, c->scratch, 1, c->r, c->qkv, c->A, at_prefix(c), c->s, drop, 9, 1);
    gradcheck("attention dqkv", c->qkv, dqkv, AT_B * AT_T * 3 * AT_D, 1, at_loss, c, TOL);
    if (P > 0)
        gradcheck("attention dprefix", c->prefix, dpre, AT_B * AT_P * AT_PSTRIDE, 1, at_loss, c,
                  TOL);
    /* without dqkv the prefix gradient is the same (lowest tuned layer path) */
    float dpre2[AT_B * AT_P * AT_PSTRIDE] = {0};
    g.k = dpre2;
    g.v = dpre2 + 2 * AT_D;
    attention_backward(NULL, g, c->scratch, 1, c->r, c->qkv, c->A, at_prefix(c), c->s, drop, 9, 1);
    for (int i = 0; i < AT_B * AT_P * AT_PSTRIDE; i++)
        assert_close(dpre2[i], dpre[i], 1e-6);
    free(c);
}

static void attention_with_prefix_values_and_gradients(void **state)
{
    (void)state;
    attention_case(false, AT_P, false, 0.0f);
    attention_case(true, AT_P, false, 0.0f);
    attention_case(false, AT_P, true, 0.0f);
    attention_case(true, 0, false, 0.0f);
    attention_case(false, 0, false, 0.0f);
}

static void attention_dropout_gradients(void **state)
{
    (void)state;
    attention_case(false, AT_P, true, 0.3f);
    attention_case(true, AT_P, false, 0.3f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_gradient_check_refuses_a_zero_gradient),
        cmocka_unit_test(fastmath_matches_libm),
        cmocka_unit_test(layernorm_matches_definition_and_gradients),
        cmocka_unit_test(gelu_both_forms_values_and_gradients),
        cmocka_unit_test(relu_values_and_gradients),
        cmocka_unit_test(activations_written_in_bf16),
        cmocka_unit_test(linear_both_layouts_values_and_gradients),
        cmocka_unit_test(crossentropy_value_and_gradient),
        cmocka_unit_test(dropout_mask_is_reproducible_and_unbiased),
        cmocka_unit_test(embedding_sums_rows_and_scatters_back),
        cmocka_unit_test(attention_with_prefix_values_and_gradients),
        cmocka_unit_test(attention_dropout_gradients),
    };
    return cmocka_run_group_tests_name("kernels", tests, NULL, NULL);
}
