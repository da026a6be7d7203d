/* test_transformer_gradients.c — the model core's backward pass on tiny random models
 * (test_transformer_fixture.h): dL/dE, the weights' and the linear head's gradients against
 * finite differences (prefix in all layers, in some, only some trainable; with dropout on), that
 * untrainable rows are untouched and lower layers do no backward work. */
#include "tests/test_transformer_fixture.h"

#include "tests/test_gradcheck.h"

/* A float forward pass of a loss ~3 is exact to ~1 ulp (2.4e-7), so with steps of 1e-2 a
 * finite difference is quantised to ~1.2e-5: per-element slack 5e-5 + 3%, and 1% on the whole
 * gradient (all trainable rows together). */
static const gc_tol MODEL_TOL = {1e-2f, 5e-5, 3e-2, 1e-2};

/* dE (and the head) against finite differences; untrainable rows untouched; backward stops at
 * the lowest trainable layer. */
static void check_cfg_gradients(model_config cfg, unsigned present, unsigned trainable,
                                float dropout, bool head)
{
    fixture *f = fixture_new_cfg(cfg, present, trainable);
    f->opt.dropout = dropout;
    f->opt.prefix_dropout = dropout;
    f->opt.seed = 99;
    f->use_head = f->use_labels = head;
    fp_error err;
    for (int i = 0; i < P * L * 2 * D; i++)
        f->dE[i] = 777.0f;
    tf_result res;
    assert_int_equal(fixture_forward(f, &res, &err), FP_OK);
    assert_true(isfinite(res.loss) && res.loss > 0);
    assert_int_equal(tf_backward(f->acts, &err), FP_OK);

    int lowest = L, touched = tf_acts_backward_layers(f->acts, &lowest), want_lowest = L;
    for (int l = L - 1; l >= 0; l--)
        if (f->trainable[l])
            want_lowest = l;
    assert_int_equal(lowest, want_lowest);
    assert_int_equal(touched, L - want_lowest);

    char what[64];
    gc_sums sums = {0};
    for (int p = 0; p < P; p++)
        for (int l = 0; l < L; l++)
            for (int s = 0; s < 2; s++) {
                size_t at = tf_prompt_index(L, D, p, l, s);
                if (!f->trainable[l]) {
                    for (int i = 0; i < D; i++)
                        assert_true(f->dE[at + i] == 777.0f);
                    continue;
                }
                const int width = model_layer_width(&f->cfg, l); /* rows beyond it unused */
                for (int i = width; i < D; i++)
                    assert_true(f->dE[at + i] == 0.0f);
                snprintf(what, sizeof what, "dE[p=%d][l=%d][s=%d]", p, l, s);
                gradcheck_into(what, f->E + at, f->dE + at, D, 1, fixture_loss, f, MODEL_TOL,
                               &sums);
            }
    if (want_lowest < L)
        gc_sums_check("dE", sums, MODEL_TOL.vrel);
    else /* no trainable layer: no row was measured, and every one kept its 777 above */
        assert_true(sums.num2 == 0 && sums.ana2 == 0);
    if (head) {
        gradcheck("head dW", f->W, f->dW, C * D, 1, fixture_loss, f, MODEL_TOL);
        gradcheck("head db", f->bias, f->db, C, 1, fixture_loss, f, MODEL_TOL);
    }
    fixture_free(f);
}

static void check_prompt_gradients(model_arch arch, unsigned present, unsigned trainable,
                                   float dropout, bool head)
{
    check_cfg_gradients(tiny_config(arch, L, D, V, 40, 12), present, trainable, dropout, head);
}

static void uselite_prompt_gradients(void **state)
{
    (void)state;
    check_cfg_gradients(uselite_config(), 07, 07, 0.0f, false);
    check_cfg_gradients(uselite_config(), 05, 04, 0.0f, false);
    check_cfg_gradients(uselite_config(), 07, 03, 0.1f, true);
}

/* Full-weight gradients of the USE-lite-style encoder (the pretraining path through the
 * switches: ReLU, the pre-LN encoder's LN1/LN2, embeddings without LayerNorm), a sample of every
 * tensor against finite differences. */
static void check_weight_gradients(model_config cfg)
{
    fixture *f = fixture_new_cfg(cfg, 07, 07);
    f->use_head = f->use_labels = !f->use_targets;
    fp_error err;
    tf_weights g;
    assert_int_equal(tf_weights_init_zero(&g, &f->cfg, &err), FP_OK);
    tf_acts_destroy(&f->acts);
    f->acts = tf_acts_new(&f->cfg, (tf_acts_spec){B, T, P, L, B * T, C, true, 0}, &err);
    assert_non_null(f->acts);
    f->opt.grads = &g;
    tf_result res;
    assert_int_equal(fixture_forward(f, &res, &err), FP_OK);
    assert_int_equal(tf_backward(f->acts, &err), FP_OK);
    size_t n = tf_weights_table(&f->cfg, &f->w, NULL, 0), off = 0;
    tf_tensor_spec *specs = calloc(n, sizeof *specs);
    tf_weights_table(&f->cfg, &f->w, specs, n);
    gc_sums sums = {0};
    for (size_t i = 0; i < n; i++) { /* every tensor, about 8 coordinates of each */
        int numel = (int)specs[i].numel;
        gradcheck_into(specs[i].name, f->w.block + off, g.block + off, numel, numel / 8 + 1,
                       fixture_loss, f, MODEL_TOL, &sums);
        off += specs[i].numel;
    }
    gc_sums_check("weights", sums, MODEL_TOL.vrel);
    free(specs);
    tf_weights_free(&g);
    fixture_free(f);
}

static void uselite_weight_gradients(void **state)
{
    (void)state;
    check_weight_gradients(uselite_config());
}

/* Block 0 changing width: every weight (the input projection included) and the prompt, whose
 * block-0 rows are read and written only in their first d_embed floats. */
static void narrow_embedding_gradients(void **state)
{
    (void)state;
    check_weight_gradients(narrow_config());
    check_cfg_gradients(narrow_config(), 07, 07, 0.0f, true);
    check_cfg_gradients(narrow_config(), 07, 01, 0.0f, true);
    check_cfg_gradients(narrow_config(), 05, 05, 0.1f, true);
}
static void roberta_prompt_gradients(void **state)
{
    (void)state;
    check_prompt_gradients(MODEL_ARCH_ROBERTA, 07, 07, 0.0f, false); /* all layers */
    check_prompt_gradients(MODEL_ARCH_ROBERTA, 07, 06, 0.0f, false); /* top two trainable */
    check_prompt_gradients(MODEL_ARCH_ROBERTA, 05, 04, 0.0f, false); /* prefix in 0, 2; tune 2 */
    check_prompt_gradients(MODEL_ARCH_ROBERTA, 06, 02, 0.0f, false); /* 2 present, not tuned */
    check_prompt_gradients(MODEL_ARCH_ROBERTA, 07, 05, 0.1f, false); /* with dropout */
}

static void gpt2_prompt_gradients(void **state)
{
    (void)state;
    check_prompt_gradients(MODEL_ARCH_GPT2, 07, 07, 0.0f, false);
    check_prompt_gradients(MODEL_ARCH_GPT2, 07, 06, 0.0f, false);
    check_prompt_gradients(MODEL_ARCH_GPT2, 05, 04, 0.0f, false);
    check_prompt_gradients(MODEL_ARCH_GPT2, 06, 02, 0.0f, false);
    check_prompt_gradients(MODEL_ARCH_GPT2, 07, 03, 0.1f, false);
}

static void linear_head_gradients(void **state)
{
    (void)state;
    /* head alone (targets kept: LM + head losses summed), and head with no prompt training */
    check_prompt_gradients(MODEL_ARCH_ROBERTA, 07, 06, 0.0f, true);
    check_prompt_gradients(MODEL_ARCH_GPT2, 07, 07, 0.1f, true);
    check_prompt_gradients(MODEL_ARCH_ROBERTA, 07, 00, 0.0f, true);
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roberta_prompt_gradients),   cmocka_unit_test(gpt2_prompt_gradients),
        cmocka_unit_test(uselite_prompt_gradients),   cmocka_unit_test(uselite_weight_gradients),
        cmocka_unit_test(narrow_embedding_gradients), cmocka_unit_test(linear_head_gradients),
    };
    return cmocka_run_group_tests_name("transformer_gradients", tests, NULL, NULL);
}
