/* test_use_lite.c — the USE-lite conversion end to end: the real TF.js package converted, opened
 * as a fedpep model, its tokenizer and forward pass reproducing TF.js's golden sentence
 * embeddings (../shared/USE-LITE.md §1.6), byte-for-byte determinism (and equality with the
 * committed models/default when present), and refused malformed packages. */
#include "tests/support/test.h"

#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/linear.h"
#include "model/transformer.h"
#include "model/use_lite.h"
#include "train/model_bundle.h"

#define PACKAGE ".cache/use-lite/package/dist"
#define HEAD_W "module/Encoder_en/hidden_layers/tanh_layer_0/weights"
#define N_SENT 3
#define T_MAX 12

static const char *const SENTENCES[N_SENT] = {
    "the movie was wonderful and moving .",
    "a dull , tedious mess of a film",
    "How old are you?",
};
static const int IDS[N_SENT][T_MAX] = {
    {9, 888, 33, 3781, 12, 1747, 30, 6},
    {11, 1090, 120, 30, 8, 30, 703, 1353, 2477, 14, 11, 722},
    {728, 446, 31, 19, 54},
};
static const int N_IDS[N_SENT] = {8, 12, 5};
/* TF.js outputs: the first 6 dims of each unit embedding, and the pairwise dots. */
static const float FIRST6[N_SENT][6] = {
    {0.008046f, 0.026219f, 0.033241f, -0.040855f, 0.000300f, -0.025943f},
    {-0.002547f, -0.069924f, 0.007236f, -0.041317f, 0.039167f, -0.070350f},
    {0.038685f, 0.050444f, -0.045524f, 0.056079f, -0.060077f, -0.055097f},
};
static const float DOTS[3] = {0.5147f, 0.1342f, 0.1212f}; /* s1·s2, s1·s3, s2·s3 */

static void require_package(void)
{
    struct stat sb;
    if (stat(PACKAGE "/model.json", &sb))
        fail_msg("%s is missing: run `bash scripts/setup.sh` (it fetches the USE-lite package)",
                 PACKAGE);
}

/* Converts the real package into dir/name; returns the folder (static storage). */
static const char *convert_into(const char *dir, const char *name)
{
    static char out[512];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    fp_error err = {0};
    if (use_lite_convert(PACKAGE, out, NULL, &err))
        fail_msg("use_lite_convert: %s", err.msg);
    return out;
}

/* Unit sentence embeddings [N_SENT][d] of the golden sentences through the converted model. */
static void embed_golden(train_model_t *m, float *emb)
{
    const model_config *c = &m->cfg;
    const int d = c->d_model;
    int tokens[N_SENT * T_MAX], mask[N_SENT * T_MAX];
    fp_error err = {0};
    for (int b = 0; b < N_SENT; b++) {
        tok_ids ids = {0};
        assert_int_equal(train_tok_encode(m->tok, SENTENCES[b], strlen(SENTENCES[b]), &ids, &err),
                         FP_OK);
        assert_int_equal(ids.n, N_IDS[b]);
        assert_memory_equal(ids.ids, IDS[b], ids.n * sizeof *ids.ids);
        for (int t = 0; t < T_MAX; t++) {
            tokens[b * T_MAX + t] = t < (int)ids.n ? ids.ids[t] : c->pad_token_id;
            mask[b * T_MAX + t] = t < (int)ids.n;
        }
        tok_ids_free(&ids);
    }
    tf_acts_t *acts = tf_acts_new(c, (tf_acts_spec){.B = N_SENT, .T = T_MAX}, &err);
    if (!acts)
        fail_msg("tf_acts_new: %s", err.msg);
    const tf_prompt prompt = {0};
    const tf_batch batch = {.B = N_SENT, .T = T_MAX, .tokens = tokens, .mask = mask};
    const tf_options opt = {0};
    tf_result res;
    if (tf_forward(acts, c, &m->w, &prompt, NULL, &batch, &opt, &res, &err))
        fail_msg("tf_forward: %s", err.msg);
    const float *h = tf_acts_hidden(acts);
    assert_non_null(h);
    float pool[N_SENT * 512];
    assert_true(d <= 512);
    for (int b = 0; b < N_SENT; b++)
        for (int i = 0; i < d; i++) {
            double s = 0;
            for (int t = 0; t < N_IDS[b]; t++)
                s += h[((size_t)b * T_MAX + t) * d + i];
            pool[b * d + i] = (float)(s / N_IDS[b]);
        }
    assert_true(m->w.has_sentence_head);
    linear_forward(emb, d, pool, d, m->w.sentence_dense, m->w.sentence_dense_b, N_SENT, d, d,
                   false);
    for (int b = 0; b < N_SENT; b++) {
        double n2 = 0;
        for (int i = 0; i < d; i++) {
            emb[b * d + i] = tanhf(emb[b * d + i]);
            n2 += (double)emb[b * d + i] * emb[b * d + i];
        }
        const float inv = (float)(1.0 / sqrt(n2 > 1e-12 ? n2 : 1e-12));
        for (int i = 0; i < d; i++)
            emb[b * d + i] *= inv;
    }
    tf_acts_destroy(&acts);
}

static void converted_model_reproduces_tfjs_embeddings(void **state)
{
    (void)state;
    require_package();
    const char *dir = test_tmpdir("uselite");
    const char *out = convert_into(dir, "model");
    fp_error err = {0};
    train_model_t *m = train_model_open(out, NULL, NULL, &err);
    if (!m)
        fail_msg("train_model_open: %s", err.msg);
    model_config want;
    use_lite_model_config(&want);
    assert_int_equal(m->cfg.d_model, 512);
    assert_int_equal(model_embed_width(&m->cfg), 256);
    assert_int_equal(m->cfg.vocab_size, want.vocab_size);
    assert_int_equal(m->cfg.pad_token_id, 8000);
    assert_int_equal(m->cfg.mask_token_id, 8001);
    assert_int_equal(m->cfg.position_offset, 0);
    assert_true(m->cfg.pre_ln && m->cfg.no_embedding_ln && m->cfg.prefix_keeps_positions);
    assert_int_equal(m->cfg.hidden_act, MODEL_ACT_RELU);
    assert_false(m->w.has_lm_head);

    const int d = m->cfg.d_model;
    float emb[N_SENT * 512];
    embed_golden(m, emb);
    double worst = 0, worst_dot = 0;
    for (int b = 0; b < N_SENT; b++)
        for (int i = 0; i < 6; i++) {
            assert_close(emb[b * d + i], FIRST6[b][i], 1e-5);
            worst = fmax(worst, fabs(emb[b * d + i] - FIRST6[b][i]));
        }
    const int pairs[3][2] = {{0, 1}, {0, 2}, {1, 2}};
    for (int p = 0; p < 3; p++) {
        double dot = 0;
        for (int i = 0; i < d; i++)
            dot += (double)emb[pairs[p][0] * d + i] * emb[pairs[p][1] * d + i];
        assert_close(dot, DOTS[p], 1e-4);
        worst_dot = fmax(worst_dot, fabs(dot - DOTS[p]));
    }
    /* The golden figures have 6 (dims) and 4 (dots) decimals: half a unit of the last one is
     * the best agreement they can show. */
    print_message("USE-lite vs TF.js: max |delta| %.2g on the 18 dims, %.2g on the 3 dots\n", worst,
                  worst_dot);
    train_model_destroy(&m);
    test_rmtree(dir);
}

/* Asserts that files a and b have the same bytes. */
static void assert_same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    if (!x || !y)
        fail_msg("cannot read %s or %s", a, b);
    if (na != nb || memcmp(x, y, na))
        fail_msg("%s and %s differ (%zu and %zu bytes)", a, b, na, nb);
    free(x);
    free(y);
}

static void conversion_is_deterministic_and_matches_models_default(void **state)
{
    (void)state;
    require_package();
    const char *dir = test_tmpdir("uselite-det");
    char one[512], two[512];
    snprintf(one, sizeof one, "%s", convert_into(dir, "one"));
    snprintf(two, sizeof two, "%s", convert_into(dir, "two"));
    static const char *const files[] = {"config.json", "model.safetensors", "vocab.json"};
    for (size_t i = 0; i < 3; i++) {
        char a[600], b[600];
        snprintf(a, sizeof a, "%s/%s", one, files[i]);
        snprintf(b, sizeof b, "%s/%s", two, files[i]);
        assert_same_file(a, b);
        /* `make model` must reproduce the committed default model. */
        snprintf(b, sizeof b, "models/default/%s", files[i]);
        if (access(b, F_OK) == 0)
            assert_same_file(a, b);
    }
    char vocab[600];
    snprintf(vocab, sizeof vocab, "%s/vocab.json", one);
    assert_same_file(vocab, PACKAGE "/vocab.json");
    test_rmtree(dir);
}

/* A copy of the package in a fresh folder: shards as symlinks, model.json rewritten by edit
 * (applied to the manifest entry named `name`), vocab.json linked unless drop_vocab. */
static const char *broken_package(const char *tag, const char *name, void (*edit)(json_t *entry),
                                  bool drop_vocab)
{
    const char *dir = test_tmpdir(tag);
    char cwd[512], src[1024], dst[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    for (int i = 1; i <= 7; i++) {
        snprintf(src, sizeof src, "%s/" PACKAGE "/group1-shard%dof7", cwd, i);
        snprintf(dst, sizeof dst, "%s/group1-shard%dof7", dir, i);
        assert_int_equal(symlink(src, dst), 0);
    }
    if (!drop_vocab) {
        snprintf(src, sizeof src, "%s/" PACKAGE "/vocab.json", cwd);
        snprintf(dst, sizeof dst, "%s/vocab.json", dir);
        assert_int_equal(symlink(src, dst), 0);
    }
    json_error_t jerr;
    json_t *root = json_load_file(PACKAGE "/model.json", 0, &jerr);
    assert_non_null(root);
    json_t *weights =
        json_object_get(json_array_get(json_object_get(root, "weightsManifest"), 0), "weights");
    size_t i;
    json_t *entry;
    bool found = false;
    json_array_foreach(weights, i, entry)
    {
        if (name && !strcmp(json_string_value(json_object_get(entry, "name")), name)) {
            edit(entry);
            found = true;
        }
    }
    assert_true(found || !name);
    snprintf(dst, sizeof dst, "%s/model.json", dir);
    assert_int_equal(json_dump_file(root, dst, 0), 0);
    json_decref(root);
    return dir;
}

static void rename_tensor(json_t *entry)
{
    json_object_set_new(entry, "name", json_string(HEAD_W "_renamed"));
}

static void reshape_tensor(json_t *entry) /* [512, 512] → [256, 1024]: same bytes */
{
    json_object_set_new(entry, "shape", json_pack("[ii]", 256, 1024));
}

/* Converting dir fails with status and a reason containing why, and writes no model. */
static void assert_refused(const char *dir, fp_status status, const char *why)
{
    char out[600], config[700];
    snprintf(out, sizeof out, "%s/out", dir);
    fp_error err = {0};
    assert_int_equal(use_lite_convert(dir, out, NULL, &err), status);
    if (!strstr(err.msg, why))
        fail_msg("reason '%s' does not mention '%s'", err.msg, why);
    snprintf(config, sizeof config, "%s/config.json", out);
    assert_int_not_equal(access(config, F_OK), 0);
}

static void refuses_malformed_packages(void **state)
{
    (void)state;
    require_package();
    const char *dir = broken_package("uselite-missing", HEAD_W, rename_tensor, false);
    assert_refused(dir, FP_ENOTFOUND, "tanh_layer_0/weights");
    test_rmtree(dir);

    dir = broken_package("uselite-shape", HEAD_W, reshape_tensor, false);
    assert_refused(dir, FP_EFORMAT, "expected [512, 512]");
    test_rmtree(dir);

    dir = broken_package("uselite-vocab", NULL, NULL, true);
    assert_refused(dir, FP_ENOTFOUND, "vocab.json");
    test_rmtree(dir);

    /* Not a package at all. */
    dir = test_tmpdir("uselite-empty");
    assert_refused(dir, FP_ENOTFOUND, "model.json");
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(converted_model_reproduces_tfjs_embeddings),
        cmocka_unit_test(conversion_is_deterministic_and_matches_models_default),
        cmocka_unit_test(refuses_malformed_packages),
    };
    return cmocka_run_group_tests_name("use_lite", tests, NULL, NULL);
}
