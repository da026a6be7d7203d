/* test_threads.c — the model core gives bit-identical results whatever the thread count
 * (model/parallel.h): attention with its heads on two threads against one, and the whole step
 * (loss, logits, last hidden states, dE, the linear head's dW/db, and on the full-weight path
 * every weight's gradient) with OpenBLAS, oneDNN and the core's own loops on two threads against
 * one, in fp32 and bf16, with and without dropout.
 * Kill -9 recovery and reproducible runs rely on this. The shapes are above PAR_MIN_FLOATS, so
 * every split loop does split; with one processor the threads take turns, and the results must
 * still be equal. Values are compared bit by bit, element by element. fp32 is compared only with
 * OpenBLAS kernels that round a product the same whatever its split (par_blas_split_exact). */
#include "tests/support/test.h"

#include "common/rng.h"
#include "model/attention.h"
#include "model/blas_kernel.h"
#include "model/matmul_bf16.h"
#include "model/parallel.h"
#include "model/transformer.h"
#include "tests/test_transformer_reference.h"

/* After the model headers: OpenBLAS's cblas.h pulls in <complex.h> (see bench_step.c). */
#include <cblas.h>

/* The first element whose bits differ, or -1. */
static long first_difference(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof *a))
            return (long)i;
    return -1;
}

#define assert_same_bits(a, b, n, what)                                                            \
    do {                                                                                           \
        long i_ = first_difference((a), (b), (n));                                                 \
        if (i_ >= 0)                                                                               \
            fail_msg("%s: element %ld is %.9g with 2 threads, %.9g with 1", (what), i_,            \
                     (double)(a)[i_], (double)(b)[i_]);                                            \
    } while (0)

static void fill(float *x, size_t n, rng_t *r, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * (float)rng_normal(r);
}

/* ---------------------------------------------------------------- attention alone */

enum { AB = 4, AT = 48, AH = 4, ADH = 16, AD = AH * ADH, AP = 8, AW = AP + AT };

typedef struct attn_run {
    float out[AB * AT * AD], A[AB * AH * AT * AW], dqkv[AB * AT * 3 * AD];
    float dpre[AB * AP * 2 * AD];
} attn_run;

/* Forward and backward of one layer on `threads` threads; the prefix shared by the batch
 * (its gradient summed over the examples in place) or one per example. */
static void attn_once(attn_run *o, int threads, bool shared, float drop)
{
    static float qkv[AB * AT * 3 * AD], prefix[AB * AP * 2 * AD], dout[AB * AT * AD];
    static float scratch[2 * 2 * AT * AW];
    static int mask[AB * AT];
    rng_t r;
    rng_seed(&r, 11);
    fill(qkv, sizeof qkv / sizeof *qkv, &r, 1.0f);
    fill(prefix, sizeof prefix / sizeof *prefix, &r, 1.0f);
    fill(dout, sizeof dout / sizeof *dout, &r, 1.0f);
    for (int i = 0; i < AB * AT; i++)
        mask[i] = i % AT < AT - (i / AT) * 5; /* examples padded by 0, 5, 10, 15 tokens */
    const size_t bs = shared ? 0 : (size_t)AP * 2 * AD;
    attn_prefix pre = {prefix, prefix + AD, 2 * AD, bs};
    attn_prefix_grad g = {o->dpre, o->dpre + AD, 2 * AD, bs};
    attn_shape s = {AB, AT, AH, ADH, AP, false};
    memset(o, 0, sizeof *o);
    openblas_set_num_threads(threads);
    assert_int_equal(par_threads(AH, (size_t)AB * AT * AW), threads);
    attention_forward(o->out, o->A, scratch, 2, qkv, pre, mask, s, drop, 3, 1);
    attention_backward(o->dqkv, g, scratch, 2, dout, qkv, o->A, pre, s, drop, 3, 1);
    openblas_set_num_threads(1);
    assert_int_equal(openblas_get_num_threads(), 1); /* the region gave the count back */
}

static void attention_case(bool shared, float drop)
{
    attn_run *one = calloc(1, sizeof *one), *two = calloc(1, sizeof *two);
    assert_true(one && two);
    attn_once(one, 1, shared, drop);
    attn_once(two, 2, shared, drop);
    assert_same_bits(two->out, one->out, sizeof one->out / sizeof(float), "attention output");
    assert_same_bits(two->A, one->A, sizeof one->A / sizeof(float), "attention probabilities");
    assert_same_bits(two->dqkv, one->dqkv, sizeof one->dqkv / sizeof(float), "dqkv");
    assert_same_bits(two->dpre, one->dpre, sizeof one->dpre / sizeof(float), "dprefix");
    double norm = 0;
    for (size_t i = 0; i < sizeof one->dpre / sizeof(float); i++)
        norm += fabs(one->dpre[i]);
    assert_true(norm > 0); /* the prefix gradient was computed */
    free(one);
    free(two);
}

static void attention_shared_prefix(void **state)
{
    (void)state;
    attention_case(true, 0.0f);
}

static void attention_per_example_prefix_dropout(void **state)
{
    (void)state;
    attention_case(false, 0.1f);
}

/* ---------------------------------------------------------------- the whole step */

/* B·T·d = 32768 = PAR_MIN_FLOATS: LayerNorm, the activations and attention all split. */
enum { L = 2, D = 128, F = 512, V = 301, B = 4, T = 64, P = 8, MAXPOS = 80, C = 3 };

typedef struct step_out {
    float loss, logits[B * T * V], hidden[B * T * D], dE[P * L * 2 * D], dW[C * D], db[C];
} step_out;

typedef struct step_model {
    model_config cfg;
    tf_weights w;
    tf_acts_t *acts;
    int tokens[B * T], targets[B * T], mask[B * T], labels[B];
    float E[P * L * 2 * D], W[C * D], bias[C];
    bool trainable[L];
    bool use_head;
    tf_weights grads; /* full-weight training (the distillation's path) when grads.block */
    tf_acts_spec spec;
} step_model;

/* The shape beyond the architecture: the distillation's student is pre-LN without the embedding
 * LayerNorm, its teacher (USE-lite) has narrower embeddings (d_embed < D, an in_proj), and
 * full-weight training keeps every weight's gradient in m->grads. */
typedef struct step_shape {
    bool pre_ln;
    int d_embed;
    bool weight_grads;
} step_shape;

static void model_init(step_model *m, model_arch arch, step_shape shape)
{
    memset(m, 0, sizeof *m);
    m->cfg = tiny_config(arch, L, D, V, MAXPOS, F);
    m->cfg.n_heads = 4;
    if (shape.pre_ln) /* GPT-2's tiny config is pre-LN already: only ever switch it on */
        m->cfg.pre_ln = m->cfg.no_embedding_ln = true;
    if (shape.d_embed)
        m->cfg.d_embed = shape.d_embed;
    fp_error err = {0};
    assert_int_equal(tf_weights_init_random(&m->w, &m->cfg, 0.1f, 7, &err), FP_OK);
    rng_t r;
    rng_seed(&r, 23);
    for (int i = 0; i < B * T; i++) {
        m->tokens[i] = 5 + (int)rng_below(&r, V - 6);
        m->targets[i] = i % 7 == 3 ? 5 + (int)rng_below(&r, V - 6) : -1;
        m->mask[i] = i % T < T - (i / T) * 3;
        if (!m->mask[i])
            m->targets[i] = -1;
    }
    fill(m->E, sizeof m->E / sizeof *m->E, &r, 0.5f);
    fill(m->W, C * D, &r, 0.3f);
    for (int b = 0; b < B; b++)
        m->labels[b] = b % C;
    m->trainable[0] = m->trainable[1] = true;
    m->spec = (tf_acts_spec){.B = B,
                             .T = T,
                             .P = P,
                             .saved_layers = L,
                             .max_lm_rows = B * T,
                             .max_classes = C,
                             .weight_grads = shape.weight_grads};
    m->acts = tf_acts_new(&m->cfg, m->spec, &err);
    assert_non_null(m->acts);
    if (shape.weight_grads)
        assert_int_equal(tf_weights_init_zero(&m->grads, &m->cfg, &err), FP_OK);
}

static void model_free(step_model *m)
{
    tf_acts_destroy(&m->acts);
    tf_weights_free(&m->w);
    tf_weights_free(&m->grads);
}

static void step_once(step_model *m, int threads, float dropout, step_out *o)
{
    memset(o, 0, sizeof *o);
    tf_prompt pr = {.P = P, .E = m->E, .trainable = m->trainable, .dE = o->dE};
    tf_batch bt = {.B = B,
                   .T = T,
                   .tokens = m->tokens,
                   .mask = m->mask,
                   .targets = m->use_head ? NULL : m->targets,
                   .labels = m->use_head ? m->labels : NULL};
    tf_cls_head head = {C, m->W, m->bias, o->dW, o->db};
    tf_options opt = {.grad = true,
                      .keep_all_layers = true,
                      .dropout = dropout,
                      .prefix_dropout = dropout,
                      .seed = 99,
                      .grads = m->grads.block ? &m->grads : NULL};
    if (m->grads.block)
        memset(m->grads.block, 0, tf_weights_numel(&m->cfg) * sizeof(float));
    tf_result res;
    fp_error err = {0};
    openblas_set_num_threads(threads);
    if (tf_forward(m->acts, &m->cfg, &m->w, &pr, m->use_head ? &head : NULL, &bt, &opt, &res,
                   &err) ||
        tf_backward(m->acts, &err))
        fail_msg("step on %d threads: %s", threads, err.msg);
    openblas_set_num_threads(1);
    o->loss = res.loss;
    int rows = 0;
    const float *lg =
        m->use_head ? tf_acts_cls_logits(m->acts) : tf_acts_lm_logits(m->acts, NULL, &rows);
    memcpy(o->logits, lg, sizeof(float) * (m->use_head ? B * C : (size_t)rows * V));
    memcpy(o->hidden, tf_acts_hidden(m->acts), sizeof o->hidden);
}

static void assert_same_step(const step_out *two, const step_out *one)
{
    assert_same_bits(&two->loss, &one->loss, 1, "loss");
    assert_same_bits(two->logits, one->logits, B * T * V, "logits");
    assert_same_bits(two->hidden, one->hidden, B * T * D, "last hidden states");
    assert_same_bits(two->dE, one->dE, P * L * 2 * D, "dE");
    assert_same_bits(two->dW, one->dW, C * D, "head dW");
    assert_same_bits(two->db, one->db, C, "head db");
}

/* fp32 is compared only where a split product rounds as the whole one does. */
static void skip_unless_split_exact(void)
{
    if (!par_blas_split_exact()) {
        print_message("OpenBLAS's %s kernels round a split product differently: skipped\n",
                      blas_kernel_name());
        skip();
    }
}

static void step_case(model_arch arch, bool head, bool bf16, float dropout)
{
    char isa[32];
    if (bf16 && !mm_bf16_supported(isa, sizeof isa)) {
        print_message("no bf16 on this CPU (oneDNN ISA %s): skipped\n", isa);
        skip();
    }
    if (!bf16)
        skip_unless_split_exact();
    step_model *m = malloc(sizeof *m);
    step_out *one = malloc(sizeof *one), *two = malloc(sizeof *two);
    assert_true(m && one && two);
    model_init(m, arch, (step_shape){0});
    m->use_head = head;
    fp_error err = {0};
    if (bf16)
        assert_int_equal(tf_weights_to_bf16(&m->w, &m->cfg, &err), FP_OK);
    step_once(m, 1, dropout, one);
    assert_true(isfinite(one->loss) && one->loss > 0);
    const size_t made = tf_acts_bf16_stats(m->acts).primitives;
    step_once(m, 2, dropout, two);
    assert_same_step(two, one);
    if (bf16) /* oneDNN keeps the split it was made with: two threads need their own */
        assert_true(tf_acts_bf16_stats(m->acts).primitives > made);
    /* and in a fresh arena, whose bf16 primitives are made for two threads */
    tf_acts_destroy(&m->acts);
    m->acts = tf_acts_new(&m->cfg, m->spec, &err);
    assert_non_null(m->acts);
    step_once(m, 2, dropout, two);
    assert_same_step(two, one);
    if (bf16)
        assert_int_equal(tf_acts_bf16_stats(m->acts).fallbacks, 0);
    model_free(m);
    free(m);
    free(one);
    free(two);
}

/* The distillation's shapes at 1 and 2 threads: with full-weight training (tf_options.grads)
 * every weight's gradient, the products dW += dyᵀ x among them, must be bit-identical too; the
 * teacher's narrow embeddings run with the prompt's gradients only (full-weight gradients do not
 * take an in_proj, and no LM head ties to embeddings narrower than the blocks). */
static void distill_shape_case(step_shape shape)
{
    skip_unless_split_exact();
    step_model *m = malloc(sizeof *m);
    step_out *one = malloc(sizeof *one), *two = malloc(sizeof *two);
    assert_true(m && one && two);
    model_init(m, MODEL_ARCH_ROBERTA, shape);
    m->use_head = shape.d_embed != 0;
    const size_t n = shape.weight_grads ? tf_weights_numel(&m->cfg) : 0;
    float *g1 = malloc((n ? n : 1) * sizeof *g1);
    assert_non_null(g1);
    step_once(m, 1, 0.1f, one);
    if (n) {
        memcpy(g1, m->grads.block, n * sizeof *g1);
        size_t nonzero = 0;
        for (size_t i = 0; i < n; i++)
            nonzero += g1[i] != 0.0f;
        assert_true(nonzero > n / 2); /* the comparison below compares real gradients */
    }
    step_once(m, 2, 0.1f, two);
    assert_same_step(two, one);
    if (n)
        assert_same_bits(m->grads.block, g1, n, "weight gradients");
    free(g1);
    model_free(m);
    free(m);
    free(one);
    free(two);
}

static void roberta_weight_grads_fp32(void **state)
{
    (void)state;
    distill_shape_case((step_shape){.weight_grads = true});
}

static void pre_ln_weight_grads_fp32(void **state)
{
    (void)state;
    distill_shape_case((step_shape){.pre_ln = true, .weight_grads = true});
}

static void narrow_embedding_fp32(void **state)
{
    (void)state;
    distill_shape_case((step_shape){.pre_ln = true, .d_embed = D / 2});
}

static void roberta_fp32(void **state)
{
    (void)state;
    step_case(MODEL_ARCH_ROBERTA, false, false, 0.0f);
}

static void roberta_fp32_dropout(void **state)
{
    (void)state;
    step_case(MODEL_ARCH_ROBERTA, false, false, 0.1f);
}

static void gpt2_fp32(void **state)
{
    (void)state;
    step_case(MODEL_ARCH_GPT2, false, false, 0.0f);
}

static void roberta_head_fp32(void **state)
{
    (void)state;
    step_case(MODEL_ARCH_ROBERTA, true, false, 0.0f);
}

static void roberta_bf16(void **state)
{
    (void)state;
    step_case(MODEL_ARCH_ROBERTA, false, true, 0.1f);
}

static void gpt2_bf16(void **state)
{
    (void)state;
    step_case(MODEL_ARCH_GPT2, false, true, 0.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attention_shared_prefix),
        cmocka_unit_test(attention_per_example_prefix_dropout),
        cmocka_unit_test(roberta_fp32),
        cmocka_unit_test(roberta_fp32_dropout),
        cmocka_unit_test(roberta_weight_grads_fp32),
        cmocka_unit_test(pre_ln_weight_grads_fp32),
        cmocka_unit_test(narrow_embedding_fp32),
        cmocka_unit_test(gpt2_fp32),
        cmocka_unit_test(roberta_head_fp32),
        cmocka_unit_test(roberta_bf16),
        cmocka_unit_test(gpt2_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
