/* test_distill_loss.c — the distillation objective (train/distill_loss.h): each of its three
 * parts and their sum against central finite differences in the student's states, the map and
 * its bias, with padding; known values; and tf_backward_seeded, which carries the gradient of a
 * block's output into every weight, against finite differences through a whole model. */
#include "tests/support/test.h"

#include "common/rng.h"
#include "model/transformer.h"
#include "tests/test_gradcheck.h"
#include "tests/test_transformer_reference.h"
#include "train/distill_loss.h"

enum { B = 3, T = 4, DS = 5, DT = 6 };

typedef struct lctx {
    distill_loss_t *loss;
    distill_batch x;
    distill_weights w;
    int mask[B * T];
    float h_s[B * T * DS], h_t[B * T * DT], mu[DT], sigma[DT], M[DT * DS], b[DT];
    float dh_s[B * T * DS], dM[DT * DS], db[DT];
} lctx;

static double loss_of(void *p)
{
    lctx *c = p;
    distill_parts parts;
    fp_error err;
    if (distill_loss_eval(c->loss, &c->x, c->w, &parts, NULL, NULL, NULL, &err))
        fail_msg("loss: %s", err.msg);
    return parts.loss;
}

static void lctx_init(lctx *c, distill_weights w)
{
    memset(c, 0, sizeof *c);
    fp_error err;
    c->loss = distill_loss_new(B * T, B, DS, DT, &err);
    assert_non_null(c->loss);
    rng_t r;
    rng_seed(&r, 11);
    for (int i = 0; i < B * T; i++)
        c->mask[i] = !(i == T - 1 || i == 2 * T - 2 || i == 2 * T - 1); /* padded tails */
    for (int i = 0; i < B * T * DS; i++)
        c->h_s[i] = (float)rng_normal(&r);
    for (int i = 0; i < B * T * DT; i++)
        c->h_t[i] = 0.5f + (float)rng_normal(&r);
    for (int k = 0; k < DT; k++) {
        c->mu[k] = 0.3f * (float)rng_normal(&r);
        c->sigma[k] = 0.5f + (float)rng_uniform(&r);
        c->b[k] = 0.2f * (float)rng_normal(&r);
    }
    for (int i = 0; i < DT * DS; i++)
        c->M[i] = 0.4f * (float)rng_normal(&r);
    c->x = (distill_batch){B, T, c->mask, c->h_s, c->h_t, c->mu, c->sigma, c->M, c->b};
    c->w = w;
}

static void check_weights(distill_weights w, const char *what)
{
    lctx c;
    lctx_init(&c, w);
    distill_parts parts;
    fp_error err;
    assert_int_equal(distill_loss_eval(c.loss, &c.x, w, &parts, c.dh_s, c.dM, c.db, &err), FP_OK);
    const gc_tol tol = {1e-3f, 2e-5, 2e-2, 1e-2};
    char name[64];
    snprintf(name, sizeof name, "%s: d h_s", what);
    gc_sums s = {0};
    gradcheck_into(name, c.h_s, c.dh_s, B * T * DS, 1, loss_of, &c, tol, &s);
    gc_sums_check(name, s, tol.vrel);
    if (w.tok != 0 || w.pool != 0) { /* rel does not read the map */
        snprintf(name, sizeof name, "%s: d M", what);
        gradcheck(name, c.M, c.dM, DT * DS, 1, loss_of, &c, tol);
        snprintf(name, sizeof name, "%s: d b", what);
        gradcheck(name, c.b, c.db, DT, 1, loss_of, &c, tol);
    }
    /* padding rows get no gradient */
    for (int r = 0; r < B * T; r++)
        if (!c.mask[r])
            for (int k = 0; k < DS; k++)
                assert_true(c.dh_s[r * DS + k] == 0.0f);
    distill_loss_destroy(&c.loss);
}

static void token_part_gradients(void **state)
{
    (void)state;
    check_weights((distill_weights){1, 0, 0}, "tok");
}

static void pool_part_gradients(void **state)
{
    (void)state;
    check_weights((distill_weights){0, 1, 0}, "pool");
}

static void rel_part_gradients(void **state)
{
    (void)state;
    check_weights((distill_weights){0, 0, 1}, "rel");
}

static void weighted_sum_gradients(void **state)
{
    (void)state;
    check_weights((distill_weights){0.7f, 2.0f, 3.0f}, "sum");
}

/* A student that maps exactly onto the standardised teacher scores zero everywhere; a known
 * mismatch scores what the formulas say. */
static void known_values(void **state)
{
    (void)state;
    lctx c;
    lctx_init(&c, (distill_weights){1, 1, 1});
    /* M = [I; 0] on the first DS dims, b = 0: Z's first DS columns are h_s, the rest 0 */
    memset(c.M, 0, sizeof c.M);
    memset(c.b, 0, sizeof c.b);
    for (int k = 0; k < DS; k++)
        c.M[k * DS + k] = 1.0f;
    for (int r = 0; r < B * T; r++)
        for (int k = 0; k < DT; k++) {
            float z = k < DS ? c.h_s[r * DS + k] : 0.0f;
            c.h_t[r * DT + k] = c.sigma[k] * z + c.mu[k];
        }
    distill_parts parts;
    fp_error err;
    assert_int_equal(distill_loss_eval(c.loss, &c.x, c.w, &parts, NULL, NULL, NULL, &err), FP_OK);
    assert_true(parts.tok < 1e-12);
    assert_close(parts.pool_cos, 1.0, 1e-6);
    /* rel compares the student's pools with the teacher's, which differ by σ, μ: not zero */
    assert_true(parts.rel > 1e-6);
    /* shifting every target by σ_k adds exactly 1 to each squared standardised difference */
    for (int r = 0; r < B * T; r++)
        for (int k = 0; k < DT; k++)
            c.h_t[r * DT + k] += c.sigma[k];
    assert_int_equal(distill_loss_eval(c.loss, &c.x, c.w, &parts, NULL, NULL, NULL, &err), FP_OK);
    assert_close(parts.tok, 1.0, 1e-5);
    distill_loss_destroy(&c.loss);
}

static void refuses_what_does_not_fit(void **state)
{
    (void)state;
    lctx c;
    lctx_init(&c, (distill_weights){1, 1, 1});
    distill_parts parts;
    fp_error err;
    c.x.B = B + 1;
    assert_int_equal(distill_loss_eval(c.loss, &c.x, c.w, &parts, NULL, NULL, NULL, &err),
                     FP_EINVAL);
    c.x.B = B;
    for (int t = 0; t < T; t++)
        c.mask[T + t] = 0; /* example 1 without a real token */
    assert_int_equal(distill_loss_eval(c.loss, &c.x, c.w, &parts, NULL, NULL, NULL, &err),
                     FP_EINVAL);
    assert_non_null(strstr(err.msg, "no real token"));
    assert_null(distill_loss_new(0, B, DS, DT, &err));
    distill_loss_destroy(&c.loss);
}

/* ---- tf_backward_seeded: L(w) = Σ_l Σ r_l · out_l(w) for fixed random r_l on two blocks */

enum { ML = 3, MD = 8, MV = 17, MB = 2, MT = 5 };

typedef struct mctx {
    model_config cfg;
    tf_weights w, g;
    tf_acts_t *acts;
    int tokens[MB * MT], mask[MB * MT];
    float r1[MB * MT * MD], r2[MB * MT * MD];
    tf_batch batch;
    tf_options opt;
} mctx;

static double seeded_loss(void *p)
{
    mctx *c = p;
    tf_result res;
    fp_error err;
    if (tf_forward(c->acts, &c->cfg, &c->w, NULL, NULL, &c->batch, &c->opt, &res, &err))
        fail_msg("forward: %s", err.msg);
    const float *o1 = tf_acts_layer_output(c->acts, 1), *o2 = tf_acts_hidden(c->acts);
    double s = 0;
    for (int i = 0; i < MB * MT * MD; i++)
        s += (double)o1[i] * c->r1[i] + (double)o2[i] * c->r2[i];
    return s;
}

static void seeded_backward_reaches_every_weight(void **state)
{
    (void)state;
    mctx *c = calloc(1, sizeof *c);
    c->cfg = tiny_config(MODEL_ARCH_ROBERTA, ML, MD, MV, 16, 12);
    c->cfg.pre_ln = true;
    fp_error err;
    assert_int_equal(tf_weights_init_random(&c->w, &c->cfg, 0.3f, 5, &err), FP_OK);
    assert_int_equal(tf_weights_init_zero(&c->g, &c->cfg, &err), FP_OK);
    rng_t r;
    rng_seed(&r, 9);
    for (int i = 0; i < MB * MT; i++) {
        c->tokens[i] = 5 + (int)rng_below(&r, MV - 5);
        c->mask[i] = i != MB * MT - 1;
    }
    for (int i = 0; i < MB * MT * MD; i++) {
        /* padding rows carry no seed, as the contract asks */
        float keep = c->mask[i / MD] ? 1.0f : 0.0f;
        c->r1[i] = keep * (float)rng_normal(&r);
        c->r2[i] = keep * (float)rng_normal(&r);
    }
    c->batch = (tf_batch){MB, MT, c->tokens, c->mask, NULL, NULL};
    c->opt = (tf_options){.grad = true, .grads = &c->g};
    c->acts = tf_acts_new(&c->cfg, (tf_acts_spec){MB, MT, 0, ML, 0, 0, true, 0}, &err);
    assert_non_null(c->acts);
    seeded_loss(c);
    const float *seeds[ML] = {NULL, c->r1, c->r2};
    assert_int_equal(tf_backward_seeded(c->acts, seeds, &err), FP_OK);

    size_t n = tf_weights_table(&c->cfg, &c->w, NULL, 0);
    tf_tensor_spec *specs = calloc(n, sizeof *specs);
    tf_weights_table(&c->cfg, &c->w, specs, n);
    size_t off = 0;
    gc_sums all = {0}, top = {0};
    /* the loss sums 2·B·T·d float outputs: its rounding noise over 2h is about 2e-4, so entries
     * are held to 1e-3 and the vectors, where noise averages out, to 1% */
    const gc_tol tol = {1e-2f, 1e-3, 3e-2, 1e-2};
    for (size_t i = 0; i < n; i++) {
        int numel = (int)specs[i].numel, stride = numel > 24 ? numel / 24 + 1 : 1;
        bool in_top = strstr(specs[i].name, "layer.2.") != NULL;
        /* the heads are not in this loss; a key bias adds q·b to every score of a query alike,
         * which softmax cancels: its gradient is exactly zero without a prefix */
        if (!strstr(specs[i].name, "lm_head") && !strstr(specs[i].name, "sentence_head") &&
            !strstr(specs[i].name, "key.bias"))
            gradcheck_into(specs[i].name, c->w.block + off, c->g.block + off, numel, stride,
                           seeded_loss, c, tol, in_top ? &top : &all);
        off += specs[i].numel;
    }
    gc_sums_check("weights below the top block", all, tol.vrel);
    gc_sums_check("top block", top, tol.vrel);
    free(specs);
    tf_acts_destroy(&c->acts);
    tf_weights_free(&c->w);
    tf_weights_free(&c->g);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_part_gradients),
        cmocka_unit_test(pool_part_gradients),
        cmocka_unit_test(rel_part_gradients),
        cmocka_unit_test(weighted_sum_gradients),
        cmocka_unit_test(known_values),
        cmocka_unit_test(refuses_what_does_not_fit),
        cmocka_unit_test(seeded_backward_reaches_every_weight),
    };
    return cmocka_run_group_tests_name("distill_loss", tests, NULL, NULL);
}
