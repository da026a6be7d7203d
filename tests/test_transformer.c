/* test_transformer.c — the model core's forward pass on tiny random RoBERTa- and GPT-2-style
 * models (test_transformer_fixture.h): against an independent double-precision reference, the
 * invariances (padding, causality, P = 0, an absent prompt with kept positions, a pruned last
 * block), dropout that changes with the seed only, the layer outputs kept on request, and the
 * input errors. Gradients are in test_transformer_gradients.c. */
#include "tests/test_transformer_fixture.h"

/* Hidden states of the narrow model (a padded example included) against the double reference. */
static void narrow_embedding_matches_reference(void **state)
{
    (void)state;
    fixture *f = fixture_new_cfg(narrow_config(), 07, 0);
    f->opt.grad = false;
    f->use_head = true;
    fp_error err;
    tf_result res;
    assert_int_equal(fixture_forward(f, &res, &err), FP_OK);
    const float *hidden = tf_acts_hidden(f->acts);
    assert_non_null(hidden);
    double *ref = malloc(sizeof(double) * T * D);
    for (int b = 0; b < B; b++) {
        ref_hidden(ref, &f->cfg, &f->w, f->tokens + b * T, f->mask + b * T, T, P, f->E, f->present);
        for (int i = 0; i < T * D; i++)
            assert_close(hidden[b * T * D + i], ref[i], 1e-4 * (1 + fabs(ref[i])));
    }
    free(ref);
    fixture_free(f);
}

/* Logits at the target rows and (GPT-2) hidden states against the double reference. */
static void check_cfg_against_reference(model_config cfg, unsigned present)
{
    fixture *f = fixture_new_cfg(cfg, present, 0);
    f->opt.grad = false;
    tf_result res;
    fp_error err;
    assert_int_equal(fixture_forward(f, &res, &err), FP_OK);
    const int *rows;
    int n;
    const float *logits = tf_acts_lm_logits(f->acts, &rows, &n);
    assert_true(n > 0);
    double *hid = malloc(sizeof(double) * T * D), ref[V], loss = 0;
    for (int r = 0; r < n; r++) {
        int b = rows[r] / T, t = rows[r] % T;
        ref_hidden(hid, &f->cfg, &f->w, f->tokens + b * T, f->mask + b * T, T, P, f->E, f->present);
        ref_lm_logits(ref, &f->cfg, &f->w, hid + t * D);
        double mx = -INFINITY, z = 0;
        for (int v = 0; v < V; v++) {
            assert_close(logits[r * V + v], ref[v], 1e-4 * (1 + fabs(ref[v])));
            mx = ref[v] > mx ? ref[v] : mx;
        }
        for (int v = 0; v < V; v++)
            z += exp(ref[v] - mx);
        loss += mx + log(z) - ref[f->targets[rows[r]]];
    }
    assert_close(res.lm_loss, loss / n, 1e-4);
    assert_close(res.loss, loss / n, 1e-4);
    free(hid);
    fixture_free(f);
}

static void check_against_reference(model_arch arch, unsigned present)
{
    check_cfg_against_reference(tiny_config(arch, L, D, V, 40, 12), present);
}

static void forward_matches_reference(void **state)
{
    (void)state;
    check_cfg_against_reference(uselite_config(), 07);
    check_cfg_against_reference(uselite_config(), 05);
    for (int arch = MODEL_ARCH_ROBERTA; arch <= MODEL_ARCH_GPT2; arch++) {
        check_against_reference((model_arch)arch, 07);
        check_against_reference((model_arch)arch, 05);
        check_against_reference((model_arch)arch, 00);
    }
}

/* P = 0 is the plain model, and a prompt present in no layer only shifts the positions. */
static void no_prompt_is_the_plain_model(void **state)
{
    (void)state;
    for (int arch = MODEL_ARCH_ROBERTA; arch <= MODEL_ARCH_GPT2; arch++) {
        fixture *f = fixture_new((model_arch)arch, 0, 0);
        f->opt.grad = false;
        f->prompt.P = 0;
        fp_error err;
        tf_result res;
        assert_int_equal(fixture_forward(f, &res, &err), FP_OK);
        const int *rows;
        int n;
        const float *logits = tf_acts_lm_logits(f->acts, &rows, &n);
        double *hid = malloc(sizeof(double) * T * D), ref[V];
        for (int r = 0; r < n; r++) {
            int b = rows[r] / T;
            ref_hidden(hid, &f->cfg, &f->w, f->tokens + b * T, f->mask + b * T, T, 0, NULL, NULL);
            ref_lm_logits(ref, &f->cfg, &f->w, hid + (rows[r] % T) * D);
            for (int v = 0; v < V; v++)
                assert_close(logits[r * V + v], ref[v], 1e-4 * (1 + fabs(ref[v])));
        }
        /* the same with prompt = NULL */
        f->batch.targets = f->targets;
        tf_result res2;
        assert_int_equal(
            tf_forward(f->acts, &f->cfg, &f->w, NULL, NULL, &f->batch, &f->opt, &res2, &err),
            FP_OK);
        assert_close(res2.loss, res.loss, 0);
        free(hid);
        fixture_free(f);
    }
}

/* An encoder's logits at <mask> do not change when the batch is padded wider or shares the
 * batch with another example. */
static void check_padding_invariance(model_config cfg)
{
    fixture *f = fixture_new_cfg(cfg, 07, 0);
    f->opt.grad = false;
    fp_error err;
    /* example alone: 4 tokens, T = 4 */
    int tok1[4] = {0, 9, 4, 2}, tgt1[4] = {-1, -1, 7, -1};
    tf_batch b1 = {1, 4, tok1, NULL, tgt1, NULL};
    tf_result r1;
    assert_int_equal(tf_forward(f->acts, &f->cfg, &f->w, &f->prompt, NULL, &b1, &f->opt, &r1, &err),
                     FP_OK);
    float alone[V];
    memcpy(alone, tf_acts_lm_logits(f->acts, NULL, NULL), sizeof alone);
    /* in a batch of two with T = 6: the same example padded by 2, after a full one */
    int tok2[2 * 6] = {0, 11, 12, 4, 13, 2, 0, 9, 4, 2, 1, 1};
    int msk2[2 * 6] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    int tgt2[2 * 6] = {-1, -1, -1, 5, -1, -1, -1, -1, 7, -1, -1, -1};
    tf_batch b2 = {2, 6, tok2, msk2, tgt2, NULL};
    tf_result r2;
    assert_int_equal(tf_forward(f->acts, &f->cfg, &f->w, &f->prompt, NULL, &b2, &f->opt, &r2, &err),
                     FP_OK);
    const float *batched = tf_acts_lm_logits(f->acts, NULL, NULL) + V; /* second row */
    for (int v = 0; v < V; v++)
        assert_close(batched[v], alone[v], 1e-5);
    assert_close(tf_acts_example_loss(f->acts)[1], r1.lm_loss, 1e-5);
    fixture_free(f);
}

static void encoder_padding_invariance(void **state)
{
    (void)state;
    check_padding_invariance(tiny_config(MODEL_ARCH_ROBERTA, L, D, V, 40, 12));
    check_padding_invariance(uselite_config());
}

/* With prefix_keeps_positions, a prompt present in no layer is exactly the plain model (without
 * the switch it would still shift the positions by P). */
static void kept_positions_make_an_absent_prompt_invisible(void **state)
{
    (void)state;
    fixture *f = fixture_new_cfg(uselite_config(), 0, 0);
    f->opt.grad = false;
    fp_error err;
    tf_result with, without;
    assert_int_equal(model_prefix_position_shift(&f->cfg, P), 0);
    assert_int_equal(fixture_forward(f, &with, &err), FP_OK);
    float logits[B * V];
    int n;
    const float *got = tf_acts_lm_logits(f->acts, NULL, &n);
    assert_int_equal(n, B);
    memcpy(logits, got, sizeof logits);
    f->prompt.P = 0;
    assert_int_equal(fixture_forward(f, &without, &err), FP_OK);
    const float *plain = tf_acts_lm_logits(f->acts, NULL, NULL);
    for (int i = 0; i < n * V; i++)
        assert_true(logits[i] == plain[i]);
    assert_true(with.loss == without.loss);
    f->cfg.prefix_keeps_positions = false; /* RoBERTa's shift: the same prompt now changes it */
    assert_int_equal(model_prefix_position_shift(&f->cfg, P), P);
    tf_acts_destroy(&f->acts); /* an arena serves one config */
    f->acts = tf_acts_new(&f->cfg, (tf_acts_spec){B, T, P, 0, B * T, C, false, 0}, &err);
    assert_non_null(f->acts);
    f->prompt.P = P;
    assert_int_equal(fixture_forward(f, &with, &err), FP_OK);
    assert_true(fabs(with.loss - without.loss) > 1e-4);
    fixture_free(f);
}

/* A decoder's hidden state at position i does not depend on tokens after i. */
static void decoder_is_causal(void **state)
{
    (void)state;
    fixture *f = fixture_new(MODEL_ARCH_GPT2, 07, 0);
    f->opt.grad = false;
    f->use_targets = false;
    fp_error err;
    tf_result res;
    assert_int_equal(fixture_forward(f, &res, &err), FP_OK);
    float *before = malloc(sizeof(float) * B * T * D);
    memcpy(before, tf_acts_hidden(f->acts), sizeof(float) * B * T * D);
    const int i = 2;
    for (int b = 0; b < B; b++)
        for (int t = i + 1; t < T; t++)
            f->tokens[b * T + t] = (f->tokens[b * T + t] + 3) % V;
    assert_int_equal(fixture_forward(f, &res, &err), FP_OK);
    const float *after = tf_acts_hidden(f->acts);
    for (int b = 0; b < B; b++) {
        for (int t = 0; t <= i; t++)
            for (int e = 0; e < D; e++)
                assert_close(after[(b * T + t) * D + e], before[(b * T + t) * D + e], 1e-6);
        /* and the later positions do change */
        assert_true(fabsf(after[(b * T + T - 1) * D] - before[(b * T + T - 1) * D]) > 1e-6f);
    }
    free(before);
    fixture_free(f);
}

static void dropout_changes_with_seed_only(void **state)
{
    (void)state;
    fixture *f = fixture_new(MODEL_ARCH_ROBERTA, 07, 07);
    fp_error err;
    f->opt.dropout = f->opt.prefix_dropout = 0.1f;
    f->opt.seed = 1;
    double a = fixture_loss(f), b = fixture_loss(f);
    f->opt.seed = 2;
    double c = fixture_loss(f);
    assert_true(a == b);
    assert_true(a != c);
    f->opt.dropout = f->opt.prefix_dropout = 0.0f;
    tf_result res;
    assert_int_equal(fixture_forward(f, &res, &err), FP_OK);
    assert_true(res.loss != a);
    fixture_free(f);
}

static void bad_inputs_are_errors(void **state)
{
    (void)state;
    fixture *f = fixture_new(MODEL_ARCH_ROBERTA, 07, 06);
    fp_error err;
    tf_result res;
    f->tokens[3] = V;
    assert_int_equal(fixture_forward(f, &res, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "token"));
    f->tokens[3] = 5;
    f->targets[0] = -2; /* negative other than -1 means "none" too; out of range above is bad */
    f->targets[1] = V + 1;
    assert_int_equal(fixture_forward(f, &res, &err), FP_EINVAL);
    f->targets[1] = -1;
    /* a layer marked trainable without its prefix */
    f->present[1] = false;
    assert_int_equal(fixture_forward(f, &res, &err), FP_EINVAL);
    f->present[1] = true;
    /* the arena keeps 2 layers: making layer 0 trainable needs 3 */
    f->trainable[0] = true;
    assert_int_equal(fixture_forward(f, &res, &err), FP_ELIMIT);
    f->trainable[0] = false;
    /* backward after an inference pass */
    f->opt.grad = false;
    assert_int_equal(fixture_forward(f, &res, &err), FP_OK);
    assert_int_equal(tf_backward(f->acts, &err), FP_ESTATE);
    /* labels without a head */
    f->use_labels = true;
    assert_int_equal(fixture_forward(f, &res, &err), FP_EINVAL);
    fixture_free(f);

    /* positions past the table: P + T beyond max_positions */
    model_config c = tiny_config(MODEL_ARCH_GPT2, L, D, V, 40, 12);
    c.max_positions = P + T - 1;
    tf_weights w;
    assert_int_equal(tf_weights_init_random(&w, &c, 0.3f, 1, &err), FP_OK);
    tf_acts_t *a = tf_acts_new(&c, (tf_acts_spec){1, T, P, 0, 1, 0, false, 0}, &err);
    int tok[T] = {0};
    float E[P * L * 2 * D] = {0};
    tf_prompt pr = {P, E, NULL, NULL, NULL, 0, NULL, NULL};
    tf_batch bt = {1, T, tok, NULL, NULL, NULL};
    tf_options opt = {0};
    assert_int_equal(tf_forward(a, &c, &w, &pr, NULL, &bt, &opt, &res, &err), FP_ELIMIT);
    assert_non_null(strstr(err.msg, "position"));
    tf_acts_destroy(&a);
    tf_weights_free(&w);
    /* a config that makes no sense */
    c.n_heads = 3;
    assert_null(tf_acts_new(&c, (tf_acts_spec){1, T, P, 0, 1, 0, false, 0}, &err));
    assert_int_equal(err.status, FP_EINVAL);
}

/* keep_all_layers exposes every block's output (layer scoring); they match a grad pass. */
static void layer_outputs_are_kept_on_request(void **state)
{
    (void)state;
    fixture *f = fixture_new(MODEL_ARCH_GPT2, 07, 0);
    f->use_targets = false; /* with targets the last block computes only their rows */
    tf_acts_destroy(&f->acts);
    fp_error err;
    f->acts = tf_acts_new(&f->cfg, (tf_acts_spec){B, T, P, L, B * T, 0, false, 0}, &err);
    f->opt.grad = false;
    f->opt.keep_all_layers = true;
    tf_result res;
    assert_int_equal(fixture_forward(f, &res, &err), FP_OK);
    for (int l = 0; l < L; l++)
        assert_non_null(tf_acts_layer_output(f->acts, l));
    /* the last block's output, normalised by ln_f, is the hidden state */
    f->opt.keep_all_layers = false;
    assert_int_equal(fixture_forward(f, &res, &err), FP_OK);
    assert_null(tf_acts_layer_output(f->acts, 0));
    assert_non_null(tf_acts_layer_output(f->acts, L - 1));
    fixture_free(f);
}

/* The last block on the target rows only (no head) and on all rows (a head without labels adds
 * nothing to the loss but needs every row) give the same loss, logits and dE. */
static void pruned_last_block_changes_nothing(void **state)
{
    (void)state;
    for (int arch = MODEL_ARCH_ROBERTA; arch <= MODEL_ARCH_GPT2; arch++) {
        fixture *f = fixture_new((model_arch)arch, 07, 06);
        fp_error err;
        tf_result pruned, full;
        assert_int_equal(fixture_forward(f, &pruned, &err), FP_OK);
        assert_null(tf_acts_hidden(f->acts)); /* only target rows were computed */
        int n;
        const float *lg = tf_acts_lm_logits(f->acts, NULL, &n);
        float *logits = malloc(sizeof(float) * n * V), dE[P * L * 2 * D];
        memcpy(logits, lg, sizeof(float) * n * V);
        assert_int_equal(tf_backward(f->acts, &err), FP_OK);
        memcpy(dE, f->dE, sizeof dE);
        f->use_head = true;
        assert_int_equal(fixture_forward(f, &full, &err), FP_OK);
        assert_non_null(tf_acts_hidden(f->acts));
        assert_int_equal(tf_backward(f->acts, &err), FP_OK);
        assert_close(full.loss, pruned.loss, 1e-6);
        lg = tf_acts_lm_logits(f->acts, NULL, NULL);
        for (int i = 0; i < n * V; i++)
            assert_close(lg[i], logits[i], 1e-5);
        for (int i = 0; i < P * L * 2 * D; i++)
            assert_close(f->dE[i], dE[i], 1e-6);
        free(logits);
        fixture_free(f);
    }
}
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forward_matches_reference),
        cmocka_unit_test(no_prompt_is_the_plain_model),
        cmocka_unit_test(narrow_embedding_matches_reference),
        cmocka_unit_test(encoder_padding_invariance),
        cmocka_unit_test(kept_positions_make_an_absent_prompt_invisible),
        cmocka_unit_test(decoder_is_causal),
        cmocka_unit_test(dropout_changes_with_seed_only),
        cmocka_unit_test(bad_inputs_are_errors),
        cmocka_unit_test(layer_outputs_are_kept_on_request),
        cmocka_unit_test(pruned_last_block_changes_nothing),
    };
    return cmocka_run_group_tests_name("transformer", tests, NULL, NULL);
}
