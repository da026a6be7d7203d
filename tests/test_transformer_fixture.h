/* test_transformer_fixture.h — shared by test_transformer.c and test_transformer_gradients.c:
 * tiny random models (L = 3 layers of width 8, RoBERTa, GPT-2, USE-lite-style and its narrow
 * block 0), a batch whose last example is padded, a deep prompt and a linear head, and the loss of
 * one forward pass. */
#ifndef FEDPEP_TESTS_TEST_TRANSFORMER_FIXTURE_H
#define FEDPEP_TESTS_TEST_TRANSFORMER_FIXTURE_H

#include "tests/support/test.h"

#include "common/rng.h"
#include "model/transformer.h"
#include "tests/test_transformer_reference.h"

enum { L = 3, D = 8, V = 29, B = 3, T = 6, P = 3, C = 4 };

typedef struct fixture {
    model_config cfg;
    tf_weights w;
    tf_acts_t *acts;
    int tokens[B * T], mask[B * T], targets[B * T], labels[B];
    float E[P * L * 2 * D], dE[P * L * 2 * D];
    bool present[L], trainable[L];
    float W[C * D], bias[C], dW[C * D], db[C];
    tf_prompt prompt;
    tf_cls_head head;
    bool use_head, use_targets, use_labels;
    tf_batch batch;
    tf_options opt;
} fixture;

/* A tiny USE-lite-style encoder: RoBERTa's tables and MLM head, but pre-LN without a final
 * LayerNorm, ReLU, no embedding LayerNorm, and a deep prompt that does not shift positions. */
static inline model_config uselite_config(void)
{
    model_config c = tiny_config(MODEL_ARCH_ROBERTA, L, D, V, 40, 12);
    c.pre_ln = true;
    c.hidden_act = MODEL_ACT_RELU;
    c.no_embedding_ln = true;
    c.prefix_keeps_positions = true;
    return c;
}

/* USE-lite's shape: embeddings (and block 0's input and attention) half as wide as the stream,
 * with block 0's projected residual; pad_token_id beyond the position table; no LM head. */
static inline model_config narrow_config(void)
{
    model_config c = uselite_config();
    c.max_positions = 20;
    c.d_embed = D / 2;
    c.position_offset = 0;
    c.pad_token_id = 25;
    c.hidden_act = MODEL_ACT_ARCH; /* ReLU's kinks defeat finite differences of wpe here;
                                      uselite_config covers ReLU */
    return c;
}

/* Fills a fixture: random weights, a batch whose last example is padded, targets per arch. */
static inline fixture *fixture_new_cfg(model_config cfg, unsigned present_bits,
                                       unsigned trainable_bits)
{
    fixture *f = calloc(1, sizeof *f);
    const model_arch arch = cfg.arch;
    f->cfg = cfg;
    fp_error err;
    assert_int_equal(tf_weights_init_random(&f->w, &f->cfg, 0.3f, 7 + arch, &err), FP_OK);
    rng_t r;
    rng_seed(&r, 11 + arch);
    for (int i = 0; i < B * T; i++) {
        f->tokens[i] = 5 + (int)rng_below(&r, V - 5);
        f->mask[i] = 1;
        f->targets[i] = -1;
    }
    for (int t = T - 2; t < T; t++) { /* example 2 has 4 real tokens and 2 pads */
        f->mask[2 * T + t] = 0;
        f->tokens[2 * T + t] = arch == MODEL_ARCH_ROBERTA ? 1 : 0;
    }
    if (arch == MODEL_ARCH_ROBERTA) {
        for (int b = 0; b < B; b++) { /* a <mask> at t = 2 with a label word target */
            f->tokens[b * T + 2] = f->cfg.mask_token_id;
            f->targets[b * T + 2] = 5 + b;
        }
    } else {
        for (int b = 0; b < B; b++) { /* the rows before the last two real tokens */
            int len = b == 2 ? T - 2 : T;
            for (int t = len - 3; t < len - 1; t++)
                f->targets[b * T + t] = f->tokens[b * T + t + 1];
        }
    }
    for (int i = 0; i < P * L * 2 * D; i++)
        f->E[i] = 0.5f * (float)rng_normal(&r);
    for (int i = 0; i < C * D; i++)
        f->W[i] = 0.5f * (float)rng_normal(&r);
    for (int i = 0; i < C; i++) {
        f->bias[i] = 0.1f * (float)rng_normal(&r);
        f->labels[i % B] = i % C;
    }
    int lowest = L;
    for (int l = 0; l < L; l++) {
        f->present[l] = present_bits >> l & 1;
        f->trainable[l] = trainable_bits >> l & 1;
        if (f->trainable[l] && lowest == L)
            lowest = l;
    }
    f->prompt = (tf_prompt){P, f->E, f->present, f->trainable, f->dE, 0, NULL, NULL};
    f->head = (tf_cls_head){C, f->W, f->bias, f->dW, f->db};
    f->use_targets = !model_has_input_projection(&cfg); /* a narrow model has no LM head */
    f->opt = (tf_options){.grad = true};
    tf_acts_spec spec = {B, T, P, L - lowest, B * T, C, false, 0};
    f->acts = tf_acts_new(&f->cfg, spec, &err);
    assert_non_null(f->acts);
    return f;
}

static inline fixture *fixture_new(model_arch arch, unsigned present_bits, unsigned trainable_bits)
{
    return fixture_new_cfg(tiny_config(arch, L, D, V, 40, 12), present_bits, trainable_bits);
}

static inline void fixture_free(fixture *f)
{
    tf_acts_destroy(&f->acts);
    tf_weights_free(&f->w);
    free(f);
}

static inline fp_status fixture_forward(fixture *f, tf_result *res, fp_error *err)
{
    f->batch = (tf_batch){B,
                          T,
                          f->tokens,
                          f->mask,
                          f->use_targets ? f->targets : NULL,
                          f->use_labels ? f->labels : NULL};
    return tf_forward(f->acts, &f->cfg, &f->w, &f->prompt, f->use_head ? &f->head : NULL, &f->batch,
                      &f->opt, res, err);
}

static inline double fixture_loss(void *p)
{
    fixture *f = p;
    tf_result res;
    fp_error err;
    if (fixture_forward(f, &res, &err))
        fail_msg("forward: %s", err.msg);
    return res.loss;
}

#endif
