/* test_gradcheck_weights.c — full-weight gradients (the pretraining path, tf_options.grads):
 * every tensor of the RoBERTa and GPT-2 tables against central finite differences, with dropout
 * and a deep prompt on, and the prompt gradient unchanged by asking for weight gradients. */
#include "tests/support/test.h"

#include "common/rng.h"
#include "model/transformer.h"
#include "tests/test_gradcheck.h"
#include "tests/test_transformer_reference.h"

enum { L = 2, D = 8, V = 19, B = 2, T = 5, P = 2 };

typedef struct ctx {
    model_config cfg;
    tf_weights w, g;
    tf_acts_t *acts;
    int tokens[B * T], mask[B * T], targets[B * T];
    float E[P * L * 2 * D], dE[P * L * 2 * D];
    bool present[L], trainable[L];
    tf_prompt prompt;
    tf_batch batch;
    tf_options opt;
} ctx;

static double loss_of(void *p)
{
    ctx *c = p;
    tf_result res;
    fp_error err;
    if (tf_forward(c->acts, &c->cfg, &c->w, &c->prompt, NULL, &c->batch, &c->opt, &res, &err))
        fail_msg("forward: %s", err.msg);
    return res.loss;
}

static ctx *ctx_new(model_arch arch)
{
    ctx *c = calloc(1, sizeof *c);
    c->cfg = tiny_config(arch, L, D, V, 16, 12);
    fp_error err;
    assert_int_equal(tf_weights_init_random(&c->w, &c->cfg, 0.3f, 5, &err), FP_OK);
    assert_int_equal(tf_weights_init_zero(&c->g, &c->cfg, &err), FP_OK);
    rng_t r;
    rng_seed(&r, 8);
    for (int i = 0; i < B * T; i++) {
        c->tokens[i] = 5 + (int)rng_below(&r, V - 5);
        c->mask[i] = !(i == B * T - 1); /* the last example ends with a pad */
        c->targets[i] = i % 2 ? (int)rng_below(&r, V) : -1;
    }
    for (int i = 0; i < P * L * 2 * D; i++)
        c->E[i] = 0.5f * (float)rng_normal(&r);
    c->present[0] = c->present[1] = true;
    c->trainable[1] = true;
    c->prompt = (tf_prompt){P, c->E, c->present, c->trainable, c->dE, 0, NULL, NULL};
    c->batch = (tf_batch){B, T, c->tokens, c->mask, c->targets, NULL};
    c->opt = (tf_options){.grad = true, .dropout = 0.1f, .prefix_dropout = 0.1f, .seed = 3,
                          .grads = &c->g};
    c->acts = tf_acts_new(&c->cfg, (tf_acts_spec){B, T, P, L, B * T, 0, true, 0}, &err);
    assert_non_null(c->acts);
    return c;
}

static void ctx_free(ctx *c)
{
    tf_acts_destroy(&c->acts);
    tf_weights_free(&c->w);
    tf_weights_free(&c->g);
    free(c);
}

static const gc_tol TOL = {1e-2f, 5e-5, 3e-2, 1e-2};

static void check_all_weights(model_arch arch)
{
    ctx *c = ctx_new(arch);
    fp_error err;
    size_t total = tf_weights_numel(&c->cfg);
    memset(c->g.block, 0, total * sizeof(float));
    loss_of(c);
    assert_int_equal(tf_backward(c->acts, &err), FP_OK);

    /* the tables of w and g list the same tensors in the same order over their blocks */
    size_t n = tf_weights_table(&c->cfg, &c->w, NULL, 0);
    tf_tensor_spec *specs = calloc(n, sizeof *specs);
    tf_weights_table(&c->cfg, &c->w, specs, n);
    size_t off = 0;
    gc_sums all = {0};
    for (size_t i = 0; i < n; i++) {
        int numel = (int)specs[i].numel, stride = numel > 24 ? numel / 24 + 1 : 1;
        gradcheck_into(specs[i].name, c->w.block + off, c->g.block + off, numel, stride, loss_of,
                       c, TOL, &all);
        off += specs[i].numel;
    }
    assert_int_equal(off, total);
    gc_sums_check("all weights", all, TOL.vrel);
    free(specs);

    /* the prompt gradient is the same with and without weight gradients */
    float dE_with[P * L * 2 * D];
    memcpy(dE_with, c->dE, sizeof dE_with);
    c->opt.grads = NULL;
    loss_of(c);
    assert_int_equal(tf_backward(c->acts, &err), FP_OK);
    for (int i = 0; i < P * L * 2 * D; i++)
        assert_close(c->dE[i], dE_with[i], 1e-6);
    ctx_free(c);
}

static void roberta_weight_gradients(void **state)
{
    (void)state;
    check_all_weights(MODEL_ARCH_ROBERTA);
}

static void gpt2_weight_gradients(void **state)
{
    (void)state;
    check_all_weights(MODEL_ARCH_GPT2);
}

static void weight_gradients_need_their_arena(void **state)
{
    (void)state;
    ctx *c = ctx_new(MODEL_ARCH_GPT2);
    fp_error err;
    tf_acts_destroy(&c->acts);
    c->acts = tf_acts_new(&c->cfg, (tf_acts_spec){B, T, P, L, B * T, 0, false, 0}, &err);
    tf_result res;
    assert_int_equal(tf_forward(c->acts, &c->cfg, &c->w, &c->prompt, NULL, &c->batch, &c->opt,
                                &res, &err),
                     FP_EINVAL);
    assert_null(tf_acts_new(&c->cfg, (tf_acts_spec){B, T, P, L - 1, B * T, 0, true, 0}, &err));
    /* weight gradients with prefix dropout and no trainable prompt layer */
    tf_acts_destroy(&c->acts);
    c->acts = tf_acts_new(&c->cfg, (tf_acts_spec){B, T, P, L, B * T, 0, true, 0}, &err);
    c->trainable[1] = false;
    assert_int_equal(tf_forward(c->acts, &c->cfg, &c->w, &c->prompt, NULL, &c->batch, &c->opt,
                                &res, &err),
                     FP_OK);
    assert_int_equal(tf_backward(c->acts, &err), FP_OK);
    c->prompt.trainable = NULL;
    assert_int_equal(tf_forward(c->acts, &c->cfg, &c->w, &c->prompt, NULL, &c->batch, &c->opt,
                                &res, &err),
                     FP_OK);
    assert_int_equal(tf_backward(c->acts, &err), FP_OK);
    ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roberta_weight_gradients),
        cmocka_unit_test(gpt2_weight_gradients),
        cmocka_unit_test(weight_gradients_need_their_arena),
    };
    return cmocka_run_group_tests_name("gradcheck_weights", tests, NULL, NULL);
}
