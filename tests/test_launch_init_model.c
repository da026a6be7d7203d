/* test_launch_init_model.c — `fedpep init-model`'s writer: the folder loads back as a RoBERTa
 * model with RoBERTa's special ids, carries its placeholder notice, and bad shapes or missing
 * tokenizer files are refused. With --like: a BPE RoBERTa and a USE-lite-shaped model (d_embed <
 * d_model, unigram vocab.json, sentence head) come back through train_model_open with the same
 * config, the same tokenizer bytes and heads and new weights of the asked std; the same seed
 * gives the same bytes; bad sources write nothing; foreign files are never overwritten. */
#include "tests/support/test.h"

#include <sys/stat.h>
#include <unistd.h>

#include "train/init_model.h"
#include "model/bpe.h"
#include "model/hf_config.h"
#include "tests/test_train_fixture.h"
#include "train/model_bundle.h"

#define TINY_UNIGRAM "tests/data/sp_tiny_vocab.json"

static void tokenizer_paths(char *vocab, char *merges, size_t n)
{
    const char *cache = getenv("FEDPEP_CACHE");
    snprintf(vocab, n, "%s/gpt2/vocab.json", cache && *cache ? cache : ".cache");
    snprintf(merges, n, "%s/gpt2/merges.txt", cache && *cache ? cache : ".cache");
}

static void writes_a_loadable_placeholder(void **state)
{
    (void)state;
    const char *tmp = test_tmpdir("initmodel");
    char dir[400], vocab[512], merges[512];
    snprintf(dir, sizeof dir, "%s/a/b", tmp); /* parents are created */
    tokenizer_paths(vocab, merges, sizeof vocab);
    init_model_options o;
    init_model_defaults(&o);
    o.layers = 2;
    o.d_model = 32;
    o.vocab = vocab;
    o.merges = merges;
    fp_error err = {0};
    if (init_model_write(dir, &o, &err))
        fail_msg("%s", err.msg);
    model_config c;
    bpe_t *tok = NULL;
    if (hf_model_load_config(dir, NULL, NULL, &c, &tok, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(c.arch, MODEL_ARCH_ROBERTA);
    assert_int_equal(c.n_layers, 2);
    assert_int_equal(c.d_model, 32);
    assert_int_equal(c.d_ff, 128);
    assert_int_equal(c.pad_token_id, 1);
    assert_int_equal(c.mask_token_id, bpe_token_id(tok, "<mask>"));
    assert_int_equal(c.vocab_size, bpe_vocab_size(tok));
    bpe_destroy(&tok);
    char path[600];
    snprintf(path, sizeof path, "%s/PLACEHOLDER.txt", dir);
    char *text = test_read_file(path, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "UNTRAINED PLACEHOLDER"));
    free(text);
    model_paths paths;
    assert_int_equal(model_dir_paths(dir, &paths, &err), FP_OK);
    assert_true(paths.has_tokenizer);
    test_rmtree(tmp);
}

static void refuses_bad_input(void **state)
{
    (void)state;
    const char *tmp = test_tmpdir("initmodel");
    char vocab[512], merges[512];
    tokenizer_paths(vocab, merges, sizeof vocab);
    init_model_options o;
    init_model_defaults(&o);
    o.vocab = vocab;
    o.merges = merges;
    fp_error err = {0};
    o.heads = 3; /* 256 % 3 != 0 */
    assert_int_equal(init_model_write(tmp, &o, &err), FP_EINVAL);
    init_model_defaults(&o);
    o.layers = 0;
    o.vocab = vocab;
    o.merges = merges;
    assert_int_equal(init_model_write(tmp, &o, &err), FP_EINVAL);
    init_model_defaults(&o);
    assert_int_equal(init_model_write(tmp, &o, &err), FP_EINVAL); /* no tokenizer given */
    o.vocab = "/nonexistent/vocab.json";
    o.merges = merges;
    assert_true(init_model_write(tmp, &o, &err) != FP_OK);
    assert_non_null(strstr(err.msg, "/nonexistent/vocab.json"));
    test_rmtree(tmp);
}

static bool exists(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* True when dir_a/name and dir_b/name both read and hold the same bytes. */
static bool same_file(const char *dir_a, const char *dir_b, const char *name)
{
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/%s", dir_a, name);
    snprintf(b, sizeof b, "%s/%s", dir_b, name);
    size_t na, nb;
    char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    bool same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

static void assert_same_file(const char *dir_a, const char *dir_b, const char *name)
{
    if (!same_file(dir_a, dir_b, name))
        fail_msg("%s/%s and %s/%s differ", dir_a, name, dir_b, name);
}

/* Asserts two opened models have the same config, compared as the config.json each saves to
 * (test_hf_config proves that save and load keep every field). */
static void assert_same_config(const char *tmp, const model_config *a, const model_config *b)
{
    char dir_a[600], dir_b[600], path[700];
    fp_error err = {0};
    snprintf(dir_a, sizeof dir_a, "%s/config_a", tmp);
    snprintf(dir_b, sizeof dir_b, "%s/config_b", tmp);
    mkdir(dir_a, 0700);
    mkdir(dir_b, 0700);
    snprintf(path, sizeof path, "%s/config.json", dir_a);
    assert_int_equal(hf_config_save(path, a, &err), FP_OK);
    snprintf(path, sizeof path, "%s/config.json", dir_b);
    assert_int_equal(hf_config_save(path, b, &err), FP_OK);
    assert_same_file(dir_a, dir_b, "config.json");
    assert_int_equal(a->d_embed, b->d_embed);
}

/* A USE-lite-shaped encoder in dir: width 32 over 16-wide embeddings, pre-LN, ReLU, no
 * embedding LayerNorm, fixed positions, a sentence head and the tiny unigram vocab.json. */
static void write_unigram_model(const char *dir)
{
    model_config c = {.arch = MODEL_ARCH_ROBERTA,
                      .vocab_size = 19, /* 17 pieces, <pad>, <mask> */
                      .max_positions = 40,
                      .n_layers = 2,
                      .d_model = 32,
                      .d_embed = 16,
                      .n_heads = 4,
                      .d_ff = 48,
                      .type_vocab_size = 1,
                      .layer_norm_eps = 1e-6f,
                      .pre_ln = true,
                      .no_embedding_ln = true,
                      .prefix_keeps_positions = true,
                      .hidden_act = MODEL_ACT_RELU,
                      .pad_token_id = 17,
                      .bos_token_id = 1,
                      .eos_token_id = 2,
                      .mask_token_id = 18,
                      .position_offset = 0};
    char path[600];
    fp_error err = {0};
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (hf_config_save(path, &c, &err))
        fail_msg("%s", err.msg);
    tf_weights w = {0};
    assert_int_equal(tf_weights_init_random(&w, &c, 0.1f, 3, &err), FP_OK);
    w.has_sentence_head = true; /* as the USE-lite conversion writes it */
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (tf_weights_save(&w, &c, path, &err))
        fail_msg("%s", err.msg);
    tf_weights_free(&w);
    size_t n;
    char *vocab = test_read_file(TINY_UNIGRAM, &n);
    assert_non_null(vocab);
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(vocab, 1, n, f), n);
    fclose(f);
    free(vocab);
}

static train_model_t *open_model(const char *dir)
{
    fp_error err = {0};
    train_model_t *m = train_model_open(dir, NULL, NULL, &err);
    if (!m)
        fail_msg("%s", err.msg);
    return m;
}

/* Writes dst like src with seed and std, then checks what both open as. Returns the sample
 * standard deviation of dst's token embedding. */
static double check_like(const char *tmp, const char *src, const char *dst, uint64_t seed,
                         float std)
{
    init_model_options o;
    init_model_defaults(&o);
    o.seed = seed;
    o.std = std;
    o.layers = 999; /* shape fields are ignored with a source */
    fp_error err = {0};
    if (init_model_write_like(dst, src, &o, &err))
        fail_msg("%s", err.msg);
    train_model_t *a = open_model(src), *b = open_model(dst);
    assert_same_config(tmp, &a->cfg, &b->cfg);
    assert_int_equal(a->w.has_lm_head, b->w.has_lm_head);
    assert_int_equal(a->w.has_sentence_head, b->w.has_sentence_head);
    assert_int_equal(train_tok_vocab_size(a->tok), train_tok_vocab_size(b->tok));
    assert_same_file(src, dst, "vocab.json");
    assert_int_equal(exists(src, "merges.txt"), exists(dst, "merges.txt"));
    if (exists(src, "merges.txt"))
        assert_same_file(src, dst, "merges.txt");
    size_t n = (size_t)a->cfg.vocab_size * (size_t)model_embed_width(&a->cfg);
    assert_memory_not_equal(a->w.wte, b->w.wte, n * sizeof(float));
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        sum += b->w.wte[i];
        sq += (double)b->w.wte[i] * b->w.wte[i];
    }
    train_model_destroy(&a);
    train_model_destroy(&b);
    char path[600];
    snprintf(path, sizeof path, "%s/PLACEHOLDER.txt", dst);
    char *text = test_read_file(path, NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "UNTRAINED PLACEHOLDER"));
    assert_non_null(strstr(text, src));
    free(text);
    return sqrt(sq / (double)n - (sum / (double)n) * (sum / (double)n));
}

static void like_a_bpe_roberta(void **state)
{
    (void)state;
    const char *tmp = test_tmpdir("initlike");
    char src[400], dst[400];
    snprintf(src, sizeof src, "%s/src", tmp);
    snprintf(dst, sizeof dst, "%s/out/like", tmp);
    mkdir(src, 0700);
    fixture_model(src, 2, 32, 0.05f, 7);
    assert_close(check_like(tmp, src, dst, 42, 0.02f), 0.02, 0.002);
    test_rmtree(tmp);
}

static void like_a_use_lite_shaped_unigram_model(void **state)
{
    (void)state;
    const char *tmp = test_tmpdir("initlike");
    char src[400], dst[400];
    snprintf(src, sizeof src, "%s/src", tmp);
    snprintf(dst, sizeof dst, "%s/like", tmp);
    write_unigram_model(src);
    assert_close(check_like(tmp, src, dst, 5, 0.5f), 0.5, 0.1); /* 19 x 16 samples */
    train_model_t *m = open_model(dst);
    assert_int_equal(model_embed_width(&m->cfg), 16);
    assert_true(m->w.has_sentence_head);
    assert_false(m->w.has_lm_head);
    assert_non_null(m->w.layers[0].in_proj.w);
    assert_false(exists(dst, "merges.txt"));
    train_model_destroy(&m);
    test_rmtree(tmp);
}

/* Same seed: the same bytes in every file of two folders; another seed: other weights (and
 * rewriting its own earlier folder is allowed). */
static void like_is_deterministic(void **state)
{
    (void)state;
    const char *tmp = test_tmpdir("initlike");
    char src[400], a[400], b[400];
    snprintf(src, sizeof src, "%s/src", tmp);
    snprintf(a, sizeof a, "%s/a", tmp);
    snprintf(b, sizeof b, "%s/b", tmp);
    write_unigram_model(src);
    init_model_options o;
    init_model_defaults(&o);
    fp_error err = {0};
    assert_int_equal(init_model_write_like(a, src, &o, &err), FP_OK);
    assert_int_equal(init_model_write_like(b, src, &o, &err), FP_OK);
    const char *files[] = {"config.json", "model.safetensors", "vocab.json", "PLACEHOLDER.txt"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        assert_same_file(a, b, files[i]);
    o.seed = 43; /* b is ours: rewritten in place */
    assert_int_equal(init_model_write_like(b, src, &o, &err), FP_OK);
    assert_false(same_file(a, b, "model.safetensors"));
    assert_same_file(a, b, "config.json");
    test_rmtree(tmp);
}

/* Nothing is written for a missing or broken source or into the source itself, and files that
 * init-model did not write are never overwritten (in either mode). */
static void like_refusals_write_nothing(void **state)
{
    (void)state;
    const char *tmp = test_tmpdir("initlike");
    char src[400], dst[400], path[600];
    snprintf(src, sizeof src, "%s/src", tmp);
    snprintf(dst, sizeof dst, "%s/dst", tmp);
    init_model_options o;
    init_model_defaults(&o);
    fp_error err = {0};

    assert_int_equal(init_model_write_like(dst, src, &o, NULL), FP_ENOTFOUND); /* no source */
    assert_int_equal(init_model_write_like(dst, src, &o, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, src));
    assert_int_equal(access(dst, F_OK), -1);

    write_unigram_model(src);
    snprintf(path, sizeof path, "%s/config.json", src);
    char *config = test_read_file(path, NULL);
    FILE *f = fopen(path, "w");
    fputs("{\"model_type\": \"roberta\", \"hidden_size\": -3}", f);
    fclose(f);
    assert_int_not_equal(init_model_write_like(dst, src, &o, &err), FP_OK); /* broken source */
    assert_non_null(strstr(err.msg, "config.json"));
    assert_int_equal(access(dst, F_OK), -1);
    f = fopen(path, "w");
    fputs(config, f);
    fclose(f);
    free(config);

    snprintf(path, sizeof path, "%s/.", src);
    assert_int_equal(init_model_write_like(path, src, &o, &err), FP_EINVAL); /* itself */
    o.std = 0;
    assert_int_equal(init_model_write_like(dst, src, &o, &err), FP_EINVAL);
    assert_int_equal(access(dst, F_OK), -1);

    /* A foreign file in the target: refused, untouched, by both modes. */
    init_model_defaults(&o);
    mkdir(dst, 0700);
    snprintf(path, sizeof path, "%s/merges.txt", dst);
    f = fopen(path, "w");
    fputs("mine", f);
    fclose(f);
    assert_int_equal(init_model_write_like(dst, src, &o, &err), FP_ESTATE);
    assert_non_null(strstr(err.msg, "merges.txt"));
    char vocab[512], merges[512];
    tokenizer_paths(vocab, merges, sizeof vocab);
    o.vocab = vocab;
    o.merges = merges;
    o.layers = 1;
    o.d_model = 16;
    assert_int_equal(init_model_write(dst, &o, &err), FP_ESTATE);
    char *text = test_read_file(path, NULL);
    assert_string_equal(text, "mine");
    free(text);
    assert_false(exists(dst, "config.json"));
    assert_false(exists(dst, "PLACEHOLDER.txt"));

    /* Its own earlier output (BPE) may be replaced by a unigram twin: no stale merges.txt. */
    unlink(path);
    assert_int_equal(init_model_write(dst, &o, &err), FP_OK);
    assert_true(exists(dst, "merges.txt"));
    assert_int_equal(init_model_write_like(dst, src, &o, &err), FP_OK);
    assert_false(exists(dst, "merges.txt"));
    assert_same_file(src, dst, "vocab.json");
    train_model_t *m = open_model(dst);
    assert_int_equal(m->cfg.d_embed, 16);
    train_model_destroy(&m);
    test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writes_a_loadable_placeholder),
        cmocka_unit_test(refuses_bad_input),
        cmocka_unit_test(like_a_bpe_roberta),
        cmocka_unit_test(like_a_use_lite_shaped_unigram_model),
        cmocka_unit_test(like_is_deterministic),
        cmocka_unit_test(like_refusals_write_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
