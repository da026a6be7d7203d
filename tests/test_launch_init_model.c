/* test_launch_init_model.c — `fedpep init-model`'s writer: the folder loads back as a RoBERTa
 * model with RoBERTa's special ids, carries its placeholder notice, and bad shapes or missing
 * tokenizer files are refused. */
#include "tests/support/test.h"

#include "launch/init_model.h"
#include "model/bpe.h"
#include "model/hf_config.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writes_a_loadable_placeholder),
        cmocka_unit_test(refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
