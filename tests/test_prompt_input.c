/* test_prompt_input.c — the input soft prompt (prompt tuning, the fedavg-input baseline): logits
 * against the double reference, dI (with a deep prompt and the linear head alongside) against
 * finite differences, backward through every block, row numbering as the caller's, errors. */
#include "tests/support/test.h"

#include "common/rng.h"
#include "model/transformer.h"
#include "tests/test_gradcheck.h"
#include "tests/test_transformer_reference.h"

enum { L = 3, D = 8, V = 29, B = 2, T = 5, P = 3, PIN = 2, C = 3 };

typedef struct fx {
    model_config cfg;
    tf_weights w;
    tf_acts_t *acts;
    int tokens[B * T], mask[B * T], targets[B * T], labels[B];
    float E[P * L * 2 * D], dE[P * L * 2 * D], I[PIN * D], dI[PIN * D];
    float W[C * D], bias[C], dW[C * D], db[C];
    bool present[L], trainable[L];
    tf_prompt prompt;
    tf_cls_head head;
    bool use_head;
    tf_batch batch;
    tf_options opt;
} fx;

static fx *fx_new(model_arch arch)
{
    fx *f = calloc(1, sizeof *f);
    f->cfg = tiny_config(arch, L, D, V, 24, 12);
    fp_error err;
    assert_int_equal(tf_weights_init_random(&f->w, &f->cfg, 0.3f, 21, &err), FP_OK);
    rng_t r;
    rng_seed(&r, 22 + arch);
    for (int i = 0; i < B * T; i++) {
        f->tokens[i] = 5 + (int)rng_below(&r, V - 5);
        f->mask[i] = i != B * T - 1; /* the last example ends with a pad */
        f->targets[i] = i % T == 2 ? 5 + i / T : -1;
    }
    for (int i = 0; i < P * L * 2 * D; i++)
        f->E[i] = 0.5f * (float)rng_normal(&r);
    for (int i = 0; i < PIN * D; i++)
        f->I[i] = 0.5f * (float)rng_normal(&r);
    for (int i = 0; i < C * D; i++)
        f->W[i] = 0.5f * (float)rng_normal(&r);
    f->labels[0] = 2;
    f->labels[1] = 0;
    f->present[0] = f->present[2] = true; /* prefix in layers 0 and 2, tuned in 2 */
    f->trainable[2] = true;
    f->prompt = (tf_prompt){P, f->E, f->present, f->trainable, f->dE, PIN, f->I, f->dI};
    f->head = (tf_cls_head){C, f->W, f->bias, f->dW, f->db};
    f->batch = (tf_batch){B, T, f->tokens, f->mask, f->targets, NULL};
    f->opt = (tf_options){.grad = true};
    f->acts = tf_acts_new(&f->cfg, (tf_acts_spec){B, T, P, L, B * T, C, false, PIN}, &err);
    assert_non_null(f->acts);
    return f;
}

static void fx_free(fx *f)
{
    tf_acts_destroy(&f->acts);
    tf_weights_free(&f->w);
    free(f);
}

static double fx_loss(void *p)
{
    fx *f = p;
    tf_result res;
    fp_error err;
    f->batch.labels = f->use_head ? f->labels : NULL;
    if (tf_forward(f->acts, &f->cfg, &f->w, &f->prompt, f->use_head ? &f->head : NULL, &f->batch,
                   &f->opt, &res, &err))
        fail_msg("forward: %s", err.msg);
    return res.loss;
}

static void input_prompt_matches_reference(void **state)
{
    (void)state;
    for (int arch = MODEL_ARCH_ROBERTA; arch <= MODEL_ARCH_GPT2; arch++) {
        fx *f = fx_new((model_arch)arch);
        f->opt.grad = false;
        fx_loss(f);
        const int *rows;
        int n;
        const float *logits = tf_acts_lm_logits(f->acts, &rows, &n);
        assert_int_equal(n, B);
        double hid[(PIN + T) * D], ref[V];
        for (int r = 0; r < n; r++) {
            int b = rows[r] / T, t = rows[r] % T; /* the caller's numbering */
            assert_int_equal(t, 2);
            ref_hidden_in(hid, &f->cfg, &f->w, f->tokens + b * T, f->mask + b * T, T, P, f->E,
                          f->present, PIN, f->I);
            ref_lm_logits(ref, &f->cfg, &f->w, hid + (PIN + t) * D);
            for (int v = 0; v < V; v++)
                assert_close(logits[r * V + v], ref[v], 1e-4 * (1 + fabs(ref[v])));
        }
        fx_free(f);
    }
}

static const gc_tol TOL = {1e-2f, 5e-5, 3e-2, 1e-2};

static void check_input_gradients(model_arch arch, float dropout, bool head)
{
    fx *f = fx_new(arch);
    f->opt.dropout = f->opt.prefix_dropout = dropout;
    f->opt.seed = 5;
    f->use_head = head;
    fp_error err;
    fx_loss(f);
    assert_int_equal(tf_backward(f->acts, &err), FP_OK);
    int lowest, visited = tf_acts_backward_layers(f->acts, &lowest);
    assert_int_equal(visited, L); /* the input prompt's gradient crosses every block */
    assert_int_equal(lowest, 0);
    gradcheck("dI", f->I, f->dI, PIN * D, 1, fx_loss, f, TOL);
    size_t at = tf_prompt_index(L, D, 0, 2, 0);
    gc_sums sums = {0};
    for (int p = 0; p < P; p++)
        for (int s = 0; s < 2; s++) {
            at = tf_prompt_index(L, D, p, 2, s);
            gradcheck_into("dE layer 2", f->E + at, f->dE + at, D, 1, fx_loss, f, TOL, &sums);
        }
    gc_sums_check("dE", sums, TOL.vrel);
    if (head)
        gradcheck("head dW", f->W, f->dW, C * D, 1, fx_loss, f, TOL);
    fx_free(f);
}

static void input_prompt_gradients(void **state)
{
    (void)state;
    check_input_gradients(MODEL_ARCH_ROBERTA, 0.0f, false);
    check_input_gradients(MODEL_ARCH_GPT2, 0.0f, false);
    check_input_gradients(MODEL_ARCH_ROBERTA, 0.1f, true);
    check_input_gradients(MODEL_ARCH_GPT2, 0.1f, true);
}

/* The head pools the text only: changing I changes the pooled text states (through attention)
 * but a prompt with P_in = 0 and the same text gives the plain pooled result. */
static void no_input_prompt_is_the_plain_model(void **state)
{
    (void)state;
    fx *f = fx_new(MODEL_ARCH_ROBERTA);
    f->opt.grad = false;
    f->prompt.P_in = 0;
    double with_zero = fx_loss(f);
    f->prompt.input = NULL;
    f->prompt.d_input = NULL;
    assert_close(fx_loss(f), with_zero, 0);
    f->prompt.P_in = PIN;
    f->prompt.input = f->I;
    assert_true(fabs(fx_loss(f) - with_zero) > 1e-6);
    fx_free(f);
}

static void input_prompt_errors(void **state)
{
    (void)state;
    fx *f = fx_new(MODEL_ARCH_GPT2);
    fp_error err;
    tf_result res;
    f->prompt.P_in = PIN + 1; /* longer than the arena */
    assert_int_equal(tf_forward(f->acts, &f->cfg, &f->w, &f->prompt, NULL, &f->batch, &f->opt,
                                &res, &err),
                     FP_ELIMIT);
    f->prompt.P_in = PIN;
    f->prompt.input = NULL;
    assert_int_equal(tf_forward(f->acts, &f->cfg, &f->w, &f->prompt, NULL, &f->batch, &f->opt,
                                &res, &err),
                     FP_ELIMIT);
    f->prompt.input = f->I;
    /* a trainable input prompt needs every block's activations */
    tf_acts_destroy(&f->acts);
    f->acts = tf_acts_new(&f->cfg, (tf_acts_spec){B, T, P, 1, B * T, C, false, PIN}, &err);
    assert_int_equal(tf_forward(f->acts, &f->cfg, &f->w, &f->prompt, NULL, &f->batch, &f->opt,
                                &res, &err),
                     FP_ELIMIT);
    /* but a frozen one does not */
    f->prompt.d_input = NULL;
    assert_int_equal(tf_forward(f->acts, &f->cfg, &f->w, &f->prompt, NULL, &f->batch, &f->opt,
                                &res, &err),
                     FP_OK);
    assert_int_equal(tf_backward(f->acts, &err), FP_OK);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(input_prompt_matches_reference),
        cmocka_unit_test(input_prompt_gradients),
        cmocka_unit_test(no_input_prompt_is_the_plain_model),
        cmocka_unit_test(input_prompt_errors),
    };
    return cmocka_run_group_tests_name("prompt_input", tests, NULL, NULL);
}
