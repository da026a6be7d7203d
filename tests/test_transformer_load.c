/* test_transformer_load.c — Hugging Face checkpoints through the weight table: a saved random
 * model loads back (mapped, no copy) and computes the same logits; the optional "roberta." and
 * "transformer." prefixes; F16 tensors; missing and misshapen tensors are clear errors. */
#include "tests/support/test.h"

#include <stdio.h>

#include "model/safetensors.h"
#include "model/transformer.h"
#include "tests/test_transformer_reference.h"

enum { L = 2, D = 8, V = 23, T = 5 };

static model_config config_of(model_arch arch) { return tiny_config(arch, L, D, V, 16, 16); }

/* Loss of a fixed batch with a prompt through weights w. */
static float loss_of(const model_config *c, const tf_weights *w)
{
    fp_error err;
    tf_acts_t *a = tf_acts_new(c, (tf_acts_spec){1, T, 2, 0, T, 0, false, 0}, &err);
    assert_non_null(a);
    int tok[T] = {0, 7, 4, 9, 2}, tgt[T] = {-1, 5, 6, -1, 8};
    float E[2 * L * 2 * D];
    for (int i = 0; i < 2 * L * 2 * D; i++)
        E[i] = 0.01f * (float)(i % 17) - 0.08f;
    tf_prompt pr = {2, E, NULL, NULL, NULL, 0, NULL, NULL};
    tf_batch bt = {1, T, tok, NULL, tgt, NULL};
    tf_options opt = {0};
    tf_result res;
    if (tf_forward(a, c, w, &pr, NULL, &bt, &opt, &res, &err))
        fail_msg("forward: %s", err.msg);
    tf_acts_destroy(&a);
    return res.loss;
}

/* Rewrites the tensors of src into dst: renamed by rename(), skipping `drop`, with `bad` given
 * one extra row; returns FP_OK. */
typedef const char *(*rename_fn)(const char *name, char *buf, size_t cap);

static void rewrite(const char *src, const char *dst, rename_fn rename, const char *drop,
                    const char *bad)
{
    fp_error err;
    st_file_t *f = st_open(src, &err);
    assert_non_null(f);
    size_t n = st_count(f), m = 0;
    st_write_tensor *out = calloc(n, sizeof *out);
    char (*names)[128] = calloc(n, sizeof *names);
    float *extra = NULL;
    for (size_t i = 0; i < n; i++) {
        const st_tensor *t = st_at(f, i);
        if (drop && !strcmp(t->name, drop))
            continue;
        char tmp[128];
        snprintf(names[m], sizeof names[m], "%s",
                 rename ? rename(t->name, tmp, sizeof tmp) : t->name);
        out[m].name = names[m];
        out[m].ndim = t->ndim;
        for (int k = 0; k < t->ndim; k++)
            out[m].shape[k] = t->shape[k];
        out[m].data = t->data;
        if (bad && !strcmp(t->name, bad)) {
            size_t row = t->ndim == 2 ? (size_t)t->shape[1] : 1;
            extra = calloc(t->numel + row, sizeof *extra);
            memcpy(extra, t->data, t->numel * sizeof *extra);
            out[m].shape[0]++;
            out[m].data = extra;
        }
        m++;
    }
    if (st_write(dst, out, m, NULL, 0, &err))
        fail_msg("st_write: %s", err.msg);
    free(extra);
    free(names);
    free(out);
    st_close(&f);
}

static const char *strip_roberta(const char *name, char *buf, size_t cap)
{
    (void)buf;
    (void)cap;
    return strncmp(name, "roberta.", 8) ? name : name + 8;
}

static const char *add_transformer(const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "transformer.%s", name);
    return buf;
}

static fp_status load(const char *path, const model_config *c, tf_weights *w, st_file_t **f,
                      fp_error *err)
{
    *f = st_open(path, err);
    assert_non_null(*f);
    fp_status st = tf_weights_from_safetensors(w, c, *f, err);
    if (st)
        st_close(f);
    return st;
}

static void saved_model_loads_back_with_either_naming(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("tfload");
    char orig[512], renamed[512];
    snprintf(orig, sizeof orig, "%s/model.safetensors", dir);
    snprintf(renamed, sizeof renamed, "%s/renamed.safetensors", dir);
    for (int arch = MODEL_ARCH_ROBERTA; arch <= MODEL_ARCH_GPT2; arch++) {
        model_config c = config_of((model_arch)arch);
        fp_error err;
        tf_weights w, back;
        assert_int_equal(tf_weights_init_random(&w, &c, 0.2f, 3, &err), FP_OK);
        float want = loss_of(&c, &w);
        assert_int_equal(tf_weights_save(&w, &c, orig, &err), FP_OK);
        st_file_t *f;
        assert_int_equal(load(orig, &c, &back, &f, &err), FP_OK);
        assert_true(back.wte != w.wte); /* points into the map */
        assert_close(loss_of(&c, &back), want, 0);
        tf_weights_free(&back);
        st_close(&f);
        rewrite(orig, renamed, arch == MODEL_ARCH_ROBERTA ? strip_roberta : add_transformer, NULL,
                NULL);
        assert_int_equal(load(renamed, &c, &back, &f, &err), FP_OK);
        assert_close(loss_of(&c, &back), want, 0);
        tf_weights_free(&back);
        st_close(&f);
        tf_weights_free(&w);
    }
    test_rmtree(dir);
}

static void missing_and_misshapen_tensors_are_named(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("tfbad");
    char orig[512], broken[512];
    snprintf(orig, sizeof orig, "%s/model.safetensors", dir);
    snprintf(broken, sizeof broken, "%s/broken.safetensors", dir);
    model_config c = config_of(MODEL_ARCH_GPT2);
    fp_error err;
    tf_weights w, back;
    st_file_t *f;
    assert_int_equal(tf_weights_init_random(&w, &c, 0.2f, 3, &err), FP_OK);
    assert_int_equal(tf_weights_save(&w, &c, orig, &err), FP_OK);

    rewrite(orig, broken, NULL, "h.1.mlp.c_fc.weight", NULL);
    assert_int_equal(load(broken, &c, &back, &f, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "h.1.mlp.c_fc.weight"));

    rewrite(orig, broken, NULL, NULL, "h.0.attn.c_attn.weight");
    assert_int_not_equal(load(broken, &c, &back, &f, &err), FP_OK);
    assert_non_null(strstr(err.msg, "h.0.attn.c_attn.weight"));

    /* a decoder matrix stored beside wte: accepted when tied, refused when it differs */
    {
        st_file_t *src = st_open(orig, &err);
        const st_tensor *wte = st_find(src, "wte.weight");
        float *other = malloc(wte->numel * sizeof *other);
        memcpy(other, wte->data, wte->numel * sizeof *other);
        st_write_tensor decoder = {"lm_head.weight", 2, {V, D}, other};
        char path[600];
        snprintf(path, sizeof path, "%s.tied", broken);
        const float kept = other[3];
        other[3] += 1.0f;
        size_t n = st_count(src);
        st_write_tensor *all = calloc(n + 1, sizeof *all);
        for (size_t i = 0; i < n; i++) {
            const st_tensor *x = st_at(src, i);
            all[i] = (st_write_tensor){x->name, x->ndim, {x->shape[0], x->shape[1]}, x->data};
        }
        all[n] = decoder;
        assert_int_equal(st_write(path, all, n + 1, NULL, 0, &err), FP_OK);
        st_file_t *t = st_open(path, &err);
        assert_int_equal(tf_weights_from_safetensors(&back, &c, t, &err), FP_EFORMAT);
        assert_non_null(strstr(err.msg, "untied lm_head.weight"));
        st_close(&t);
        other[3] = kept;
        assert_int_equal(st_write(path, all, n + 1, NULL, 0, &err), FP_OK);
        t = st_open(path, &err);
        assert_int_equal(tf_weights_from_safetensors(&back, &c, t, &err), FP_OK);
        tf_weights_free(&back);
        st_close(&t);
        free(all);
        st_close(&src);
        free(other);
    }

    /* a config that does not match the file (wider vocabulary) */
    model_config wide = c;
    wide.vocab_size = V + 1;
    assert_int_not_equal(load(orig, &wide, &back, &f, &err), FP_OK);
    assert_non_null(strstr(err.msg, "wte.weight"));
    tf_weights_free(&w);

    /* RoBERTa without an MLM head loads (a bare encoder) but refuses MLM targets */
    c = config_of(MODEL_ARCH_ROBERTA);
    assert_int_equal(tf_weights_init_random(&w, &c, 0.2f, 3, &err), FP_OK);
    assert_int_equal(tf_weights_save(&w, &c, orig, &err), FP_OK);
    w.has_lm_head = false;
    assert_int_equal(tf_weights_save(&w, &c, broken, &err), FP_OK);
    assert_int_equal(load(broken, &c, &back, &f, &err), FP_OK);
    assert_false(back.has_lm_head);
    tf_acts_t *a = tf_acts_new(&c, (tf_acts_spec){1, T, 0, 0, T, 0, false, 0}, &err);
    int tok[T] = {0, 7, 4, 9, 2}, tgt[T] = {-1, -1, 6, -1, -1};
    tf_batch bt = {1, T, tok, NULL, tgt, NULL};
    tf_options opt = {0};
    tf_result res;
    assert_int_equal(tf_forward(a, &c, &back, NULL, NULL, &bt, &opt, &res, &err), FP_ESTATE);
    bt.targets = NULL; /* hidden states are still available */
    assert_int_equal(tf_forward(a, &c, &back, NULL, NULL, &bt, &opt, &res, &err), FP_OK);
    tf_acts_destroy(&a);
    tf_weights_free(&back);
    st_close(&f);
    /* …but half a head is an error */
    rewrite(orig, broken, NULL, "lm_head.layer_norm.bias", NULL);
    assert_int_equal(load(broken, &c, &back, &f, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "lm_head"));
    tf_weights_free(&w);
    test_rmtree(dir);
}

/* A USE-lite-style encoder's table: no embedding LayerNorm, pre-LN names of Hugging Face's
 * roberta-prelayernorm (attention.LayerNorm, intermediate.LayerNorm), no output.LayerNorm; a
 * saved model loads back and computes the same loss. */
static void uselite_table_saves_and_loads(void **state)
{
    (void)state;
    model_config c = config_of(MODEL_ARCH_ROBERTA);
    c.pre_ln = true;
    c.hidden_act = MODEL_ACT_RELU;
    c.no_embedding_ln = true;
    c.prefix_keeps_positions = true;
    tf_weights w = {0}, back;
    size_t n = tf_weights_table(&c, &w, NULL, 0);
    tf_tensor_spec *specs = calloc(n, sizeof *specs);
    w.layers = calloc(L, sizeof *w.layers); /* the slots the named table points at */
    tf_weights_table(&c, &w, specs, n);
    int pre_ln_names = 0;
    for (size_t i = 0; i < n; i++) {
        assert_null(strstr(specs[i].name, "embeddings.LayerNorm"));
        assert_null(strstr(specs[i].name, "output.LayerNorm"));
        pre_ln_names += strstr(specs[i].name, "attention.LayerNorm") != NULL ||
                        strstr(specs[i].name, "intermediate.LayerNorm") != NULL;
    }
    assert_int_equal(pre_ln_names, 4 * L); /* weight and bias, two per block */
    free(specs);
    free(w.layers);
    w.layers = NULL;
    /* as many LayerNorms per block as post-LN RoBERTa; only the embedding one (2) is gone */
    model_config plain = config_of(MODEL_ARCH_ROBERTA);
    assert_int_equal(tf_weights_table(&plain, &w, NULL, 0), n + 2);

    const char *dir = test_tmpdir("tfuse");
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    fp_error err;
    assert_int_equal(tf_weights_init_random(&w, &c, 0.2f, 4, &err), FP_OK);
    float want = loss_of(&c, &w);
    assert_true(isfinite(want) && want > 0);
    assert_int_equal(tf_weights_save(&w, &c, path, &err), FP_OK);
    st_file_t *f;
    assert_int_equal(load(path, &c, &back, &f, &err), FP_OK);
    assert_close(loss_of(&c, &back), want, 0);
    tf_weights_free(&back);
    st_close(&f);
    /* a post-LN RoBERTa config does not accept the file: its LayerNorms are missing */
    assert_int_not_equal(load(path, &plain, &back, &f, &err), FP_OK);
    assert_non_null(strstr(err.msg, "LayerNorm"));
    tf_weights_free(&w);
    test_rmtree(dir);
}

/* Embeddings narrower than the stream: block 0's input projection is in the table, the LM head
 * (tied to the narrow wte) is not; the optional sentence head loads as a whole group or not at
 * all. */
static void narrow_embedding_table_saves_and_loads(void **state)
{
    (void)state;
    model_config c = config_of(MODEL_ARCH_ROBERTA);
    c.pre_ln = true;
    c.no_embedding_ln = true;
    c.d_embed = D / 2;
    tf_weights w = {0}, back;
    size_t n = tf_weights_table(&c, &w, NULL, 0);
    tf_tensor_spec *specs = calloc(n, sizeof *specs);
    w.layers = calloc(L, sizeof *w.layers);
    tf_weights_table(&c, &w, specs, n);
    int projections = 0, lm_head = 0, sentence = 0;
    for (size_t i = 0; i < n; i++) {
        projections += strstr(specs[i].name, "input_projection") != NULL;
        lm_head += strstr(specs[i].name, "lm_head") != NULL;
        sentence += specs[i].optional == TF_OPT_SENTENCE_HEAD;
        if (!strcmp(specs[i].name, "roberta.embeddings.word_embeddings.weight"))
            assert_int_equal(specs[i].shape[1], D / 2);
        if (!strcmp(specs[i].name, "roberta.encoder.layer.0.attention.output.dense.weight")) {
            assert_int_equal(specs[i].shape[0], D); /* [out][in] */
            assert_int_equal(specs[i].shape[1], D / 2);
        }
    }
    assert_int_equal(projections, 2); /* weight and bias of block 0 only */
    assert_int_equal(lm_head, 0);
    assert_int_equal(sentence, 2);
    free(specs);
    free(w.layers);

    const char *dir = test_tmpdir("tfnarrow");
    char path[512], half[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(half, sizeof half, "%s/half.safetensors", dir);
    fp_error err;
    assert_int_equal(tf_weights_init_random(&w, &c, 0.2f, 5, &err), FP_OK);
    assert_false(w.has_lm_head);
    w.has_sentence_head = true; /* write it, as the USE-lite conversion does */
    assert_int_equal(tf_weights_save(&w, &c, path, &err), FP_OK);
    st_file_t *f;
    assert_int_equal(load(path, &c, &back, &f, &err), FP_OK);
    assert_true(back.has_sentence_head);
    assert_memory_equal(back.sentence_dense.w, w.sentence_dense.w, sizeof(float) * D * D);
    tf_weights_free(&back);
    st_close(&f);
    /* half of the sentence head is an error that names it */
    rewrite(path, half, NULL, "sentence_head.dense.bias", NULL);
    assert_int_not_equal(load(half, &c, &back, &f, &err), FP_OK);
    assert_non_null(strstr(err.msg, "sentence_head"));
    tf_weights_free(&w);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(saved_model_loads_back_with_either_naming),
        cmocka_unit_test(missing_and_misshapen_tensors_are_named),
        cmocka_unit_test(uselite_table_saves_and_loads),
        cmocka_unit_test(narrow_embedding_table_saves_and_loads),
    };
    return cmocka_run_group_tests_name("transformer_load", tests, NULL, NULL);
}
