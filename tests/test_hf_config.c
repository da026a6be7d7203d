/* test_hf_config.c — Hugging Face config.json reading and writing for RoBERTa and GPT-2, model
 * folders, and the tie between a model's config and its tokenizer. */
#include "tests/support/test.h"

#include <sys/stat.h>
#include <unistd.h>

#include "model/hf_config.h"
#include "model/safetensors.h"

/* tests/data/{roberta-base,gpt2}.config.json are the config.json files of the Hugging Face
 * checkpoints "roberta-base" and "gpt2", byte for byte. */
static void reads_roberta_base(void **state)
{
    (void)state;
    model_config c;
    fp_error err = {0};
    assert_int_equal(hf_config_load("tests/data/roberta-base.config.json", &c, &err), FP_OK);
    assert_int_equal(c.arch, MODEL_ARCH_ROBERTA);
    assert_int_equal(c.vocab_size, 50265);
    assert_int_equal(c.d_model, 768);
    assert_int_equal(c.n_layers, 12);
    assert_int_equal(c.n_heads, 12);
    assert_int_equal(c.d_ff, 3072);
    assert_int_equal(c.max_positions, 514);
    assert_int_equal(c.type_vocab_size, 1);
    assert_true(c.layer_norm_eps == 1e-5f);
    assert_false(c.pre_ln);
    assert_false(c.final_ln);
    assert_int_equal(c.pad_token_id, 1);
    assert_int_equal(c.bos_token_id, 0);
    assert_int_equal(c.eos_token_id, 2);
    assert_int_equal(c.mask_token_id, -1); /* not in config.json: comes from the tokenizer */
    assert_int_equal(c.position_offset, 2);
    assert_int_equal(hf_config_set_mask_token(&c, 50264, &err), FP_OK);
    assert_int_equal(c.mask_token_id, 50264);
    assert_int_equal(hf_config_set_mask_token(&c, 50265, &err), FP_EINVAL);
    assert_int_equal(c.mask_token_id, 50264);
}

static void reads_gpt2(void **state)
{
    (void)state;
    model_config c;
    fp_error err = {0};
    assert_int_equal(hf_config_load("tests/data/gpt2.config.json", &c, &err), FP_OK);
    assert_int_equal(c.arch, MODEL_ARCH_GPT2);
    assert_int_equal(c.vocab_size, 50257);
    assert_int_equal(c.d_model, 768);
    assert_int_equal(c.n_layers, 12);
    assert_int_equal(c.n_heads, 12);
    assert_int_equal(c.d_ff, 3072); /* n_inner absent → 4 · n_embd */
    assert_int_equal(c.max_positions, 1024);
    assert_int_equal(c.type_vocab_size, 0);
    assert_true(c.layer_norm_eps == 1e-5f);
    assert_true(c.pre_ln);
    assert_true(c.final_ln);
    assert_int_equal(c.pad_token_id, -1);
    assert_int_equal(c.bos_token_id, 50256);
    assert_int_equal(c.eos_token_id, 50256);
    assert_int_equal(c.mask_token_id, -1);
    assert_int_equal(c.position_offset, 0);

    /* Old configs: n_ctx only; n_inner null; explicit n_inner wins. */
    const char *old = "{\"model_type\":\"gpt2\",\"vocab_size\":100,\"n_ctx\":64,\"n_embd\":32,"
                      "\"n_layer\":2,\"n_head\":4,\"n_inner\":null,\"bos_token_id\":99,"
                      "\"eos_token_id\":99}";
    assert_int_equal(hf_config_parse(old, strlen(old), "old", &c, &err), FP_OK);
    assert_int_equal(c.max_positions, 64);
    assert_int_equal(c.d_ff, 128);
    const char *inner = "{\"model_type\":\"gpt2\",\"vocab_size\":100,\"n_positions\":64,"
                        "\"n_embd\":32,\"n_layer\":2,\"n_head\":4,\"n_inner\":50,"
                        "\"bos_token_id\":0,\"eos_token_id\":0,"
                        "\"activation_function\":\"gelu_pytorch_tanh\"}";
    assert_int_equal(hf_config_parse(inner, strlen(inner), "inner", &c, &err), FP_OK);
    assert_int_equal(c.d_ff, 50);
}

typedef struct bad_config {
    const char *why, *json, *must_name;
} bad_config;

#define RB                                                                                         \
    "\"model_type\":\"roberta\",\"vocab_size\":100,\"hidden_size\":32,"                            \
    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":64"
#define GP                                                                                         \
    "\"model_type\":\"gpt2\",\"vocab_size\":100,\"n_embd\":32,\"n_layer\":2,\"n_head\":4,"         \
    "\"bos_token_id\":0,\"eos_token_id\":0"

static void assert_same_config(const model_config *a, const model_config *b)
{
    assert_int_equal(a->arch, b->arch);
    assert_int_equal(a->vocab_size, b->vocab_size);
    assert_int_equal(a->max_positions, b->max_positions);
    assert_int_equal(a->n_layers, b->n_layers);
    assert_int_equal(a->d_model, b->d_model);
    assert_int_equal(a->n_heads, b->n_heads);
    assert_int_equal(a->d_ff, b->d_ff);
    assert_int_equal(a->type_vocab_size, b->type_vocab_size);
    assert_true(a->layer_norm_eps == b->layer_norm_eps);
    assert_int_equal(a->pre_ln, b->pre_ln);
    assert_int_equal(a->final_ln, b->final_ln);
    assert_int_equal(a->pad_token_id, b->pad_token_id);
    assert_int_equal(a->bos_token_id, b->bos_token_id);
    assert_int_equal(a->eos_token_id, b->eos_token_id);
    assert_int_equal(a->mask_token_id, b->mask_token_id);
    assert_int_equal(a->position_offset, b->position_offset);
    assert_int_equal(a->hidden_act, b->hidden_act);
    assert_int_equal(a->no_embedding_ln, b->no_embedding_ln);
    assert_int_equal(a->prefix_keeps_positions, b->prefix_keeps_positions);
    assert_int_equal(model_embed_width(a), model_embed_width(b));
}

/* Every field exactly, d_embed itself included (assert_same_config compares the embedding width,
 * which a save and load may spell as 0 or d_model). Field by field: model_config has padding. */
static void assert_config_identical(const model_config *a, const model_config *b)
{
    assert_same_config(a, b);
    assert_int_equal(a->d_embed, b->d_embed);
}

static void refuses_bad_configs_by_field(void **state)
{
    (void)state;
    const bad_config BAD[] = {
        {"not JSON", "{\"model_type\": ", "line 1"},
        {"not an object", "[]", "not a JSON object"},
        {"no model_type", "{\"vocab_size\": 3}", "'model_type' missing"},
        {"model_type a number", "{\"model_type\": 3}", "'model_type' is not a string"},
        {"bert", "{\"model_type\":\"bert\"}", "model_type 'bert'"},
        {"roberta without sizes", "{\"model_type\":\"roberta\"}", "'vocab_size' missing"},
        {"roberta no positions", "{" RB "}", "'max_position_embeddings' missing"},
        {"hidden_size a string",
         "{\"model_type\":\"roberta\",\"vocab_size\":100,"
         "\"hidden_size\":\"32\"}",
         "'hidden_size' is not an integer"},
        {"zero layers",
         "{\"model_type\":\"roberta\",\"vocab_size\":100,\"hidden_size\":32,"
         "\"num_hidden_layers\":0}",
         "'num_hidden_layers' = 0"},
        {"heads do not divide",
         "{\"model_type\":\"roberta\",\"vocab_size\":100,"
         "\"hidden_size\":30,\"num_hidden_layers\":2,"
         "\"num_attention_heads\":4,\"intermediate_size\":64,"
         "\"max_position_embeddings\":40}",
         "not divisible by 4 heads"},
        {"silu", "{" RB ",\"max_position_embeddings\":40,\"hidden_act\":\"silu\"}",
         "hidden_act 'silu'"},
        {"pre_ln a string", "{" RB ",\"max_position_embeddings\":40,\"fedpep_pre_ln\":\"yes\"}",
         "'fedpep_pre_ln' is not true or false"},
        {"embedding LN a number",
         "{" RB ",\"max_position_embeddings\":40,\"fedpep_embedding_layernorm\":0}",
         "'fedpep_embedding_layernorm' is not true or false"},
        {"prefix shift a string",
         "{" RB ",\"max_position_embeddings\":40,\"fedpep_prefix_shifts_positions\":\"no\"}",
         "'fedpep_prefix_shifts_positions' is not true or false"},
        {"relative positions",
         "{" RB ",\"max_position_embeddings\":40,"
         "\"position_embedding_type\":\"relative_key\"}",
         "position_embedding_type 'relative_key'"},
        {"decoder roberta", "{" RB ",\"max_position_embeddings\":40,\"is_decoder\":true}",
         "is_decoder"},
        {"eps zero", "{" RB ",\"max_position_embeddings\":40,\"layer_norm_eps\":0}",
         "'layer_norm_eps' = 0"},
        {"eps a string", "{" RB ",\"max_position_embeddings\":40,\"layer_norm_eps\":\"1e-5\"}",
         "'layer_norm_eps' is not a number"},
        {"pad outside vocab", "{" RB ",\"max_position_embeddings\":200,\"pad_token_id\":100}",
         "pad_token_id 100"},
        {"negative bos", "{" RB ",\"max_position_embeddings\":40,\"bos_token_id\":-1}",
         "'bos_token_id' = -1"},
        {"positions all offset", "{" RB ",\"max_position_embeddings\":2}", "none after offset"},
        {"gpt2 no positions", "{" GP "}", "'n_ctx' missing"},
        {"gpt2 relu", "{" GP ",\"n_positions\":8,\"activation_function\":\"relu\"}",
         "activation_function 'relu'"},
        {"gpt2 layer-scaled attention",
         "{" GP ",\"n_positions\":8,"
         "\"scale_attn_by_inverse_layer_idx\":true}",
         "scale_attn_by_inverse_layer_idx"},
        {"gpt2 unscaled attention", "{" GP ",\"n_positions\":8,\"scale_attn_weights\":false}",
         "scale_attn_weights"},
        {"gpt2 default eos outside a small vocab",
         "{\"model_type\":\"gpt2\",\"vocab_size\":100,\"n_embd\":32,\"n_layer\":2,\"n_head\":4,"
         "\"n_positions\":8}",
         "bos_token_id 50256"},
        {"gpt2 n_inner negative", "{" GP ",\"n_positions\":8,\"n_inner\":-4}", "'n_inner' = -4"},
        {"duplicate key", "{" GP ",\"n_positions\":8,\"n_positions\":9}", "duplicate"},
    };
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        /* A sentinel no parse would produce, every field set (a byte pattern would leave the
         * bools holding values a bool cannot hold). */
        model_config before = {
            .arch = MODEL_ARCH_GPT2,
            .vocab_size = 7001,
            .max_positions = 7002,
            .n_layers = 7003,
            .d_model = 7004,
            .n_heads = 7005,
            .d_ff = 7006,
            .type_vocab_size = 7007,
            .layer_norm_eps = 0.625f,
            .pre_ln = true,
            .final_ln = true,
            .pad_token_id = 7008,
            .bos_token_id = 7009,
            .eos_token_id = 7010,
            .mask_token_id = 7011,
            .position_offset = 7012,
            .hidden_act = MODEL_ACT_RELU,
            .no_embedding_ln = true,
            .prefix_keeps_positions = true,
            .d_embed = 7013,
        };
        model_config c = before;
        fp_error err = {0};
        fp_status st = hf_config_parse(BAD[i].json, strlen(BAD[i].json), "cfg", &c, &err);
        if (st != FP_EFORMAT || !strstr(err.msg, BAD[i].must_name))
            fail_msg("case '%s': got %s \"%s\", want EFORMAT naming \"%s\"", BAD[i].why,
                     fp_status_name(st), err.msg, BAD[i].must_name);
        assert_config_identical(&c, &before); /* untouched on failure */
    }
    model_config c;
    fp_error err = {0};
    /* missing is FP_ENOTFOUND (common/file_io, 57f1b53), like a missing dataset or tokenizer */
    assert_int_equal(hf_config_load("/nonexistent/config.json", &c, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/config.json"));
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void save_then_load_gives_the_same_config(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("hfc");
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    fp_error err = {0};
    const char *sources[] = {"tests/data/roberta-base.config.json", "tests/data/gpt2.config.json"};
    for (int k = 0; k < 2; k++) {
        model_config a, b;
        assert_int_equal(hf_config_load(sources[k], &a, &err), FP_OK);
        if (k == 0)
            a.mask_token_id = 50264;
        assert_int_equal(hf_config_save(path, &a, &err), FP_OK);
        assert_int_equal(hf_config_load(path, &b, &err), FP_OK);
        assert_same_config(&a, &b);
        const char *text = slurp(path);
        /* The epsilon is written as people write it, and HF's own names are used. */
        assert_non_null(
            strstr(text, k == 0 ? "\"layer_norm_eps\": 1e-5" : "\"layer_norm_epsilon\": 1e-5"));
        assert_non_null(strstr(text, k == 0 ? "\"RobertaForMaskedLM\"" : "\"GPT2LMHeadModel\""));
        if (k == 0)
            assert_non_null(strstr(text, "\"mask_token_id\": 50264"));
    }
    /* A config fedpep cannot describe is refused and the file is left as it was. */
    model_config bad;
    assert_int_equal(hf_config_load(path, &bad, &err), FP_OK);
    bad.n_heads = 5;
    assert_int_equal(hf_config_save(path, &bad, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "divisible"));
    bad.n_heads = 12;
    bad.pre_ln = false;
    assert_int_equal(hf_config_save(path, &bad, &err), FP_EINVAL);
    model_config still;
    assert_int_equal(hf_config_load(path, &still, &err), FP_OK);
    assert_int_equal(still.n_heads, 12);
    assert_true(still.pre_ln);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);
    test_rmtree(dir);
}

/* A USE-lite-style encoder (pre-LN, ReLU, no embedding LayerNorm, prompt keeps positions) reads
 * from fedpep's keys, writes them back only when they differ from RoBERTa, and round-trips. */
static void uselite_switches_read_and_round_trip(void **state)
{
    (void)state;
    static const char JS[] =
        "{\"model_type\":\"roberta\",\"vocab_size\":8002,\"hidden_size\":512,"
        "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":1536,"
        "\"max_position_embeddings\":258,\"type_vocab_size\":1,\"layer_norm_eps\":1e-6,"
        "\"hidden_act\":\"relu\",\"fedpep_pre_ln\":true,"
        "\"fedpep_embedding_layernorm\":false,\"fedpep_prefix_shifts_positions\":false}";
    model_config c, back;
    fp_error err = {0};
    assert_int_equal(hf_config_parse(JS, strlen(JS), "use", &c, &err), FP_OK);
    assert_int_equal(c.arch, MODEL_ARCH_ROBERTA);
    assert_true(c.pre_ln && !c.final_ln && c.no_embedding_ln && c.prefix_keeps_positions);
    assert_int_equal(c.hidden_act, MODEL_ACT_RELU);
    assert_int_equal(c.position_offset, 2);
    /* the defaults, written out explicitly, are RoBERTa */
    static const char PLAIN[] =
        "{\"model_type\":\"roberta\",\"vocab_size\":100,\"hidden_size\":8,"
        "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"intermediate_size\":16,"
        "\"max_position_embeddings\":20,\"hidden_act\":\"gelu\",\"fedpep_pre_ln\":false,"
        "\"fedpep_embedding_layernorm\":true,\"fedpep_prefix_shifts_positions\":true}";
    model_config p;
    assert_int_equal(hf_config_parse(PLAIN, strlen(PLAIN), "plain", &p, &err), FP_OK);
    assert_true(!p.pre_ln && !p.no_embedding_ln && !p.prefix_keeps_positions);
    assert_int_equal(p.hidden_act, MODEL_ACT_ARCH);

    const char *dir = test_tmpdir("hfu");
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(hf_config_save(path, &c, &err), FP_OK);
    assert_int_equal(hf_config_load(path, &back, &err), FP_OK);
    assert_same_config(&c, &back);
    const char *text = slurp(path);
    assert_non_null(strstr(text, "\"hidden_act\": \"relu\""));
    assert_non_null(strstr(text, "\"fedpep_pre_ln\": true"));
    assert_non_null(strstr(text, "\"fedpep_embedding_layernorm\": false"));
    assert_non_null(strstr(text, "\"fedpep_prefix_shifts_positions\": false"));
    /* plain RoBERTa files carry none of fedpep's keys */
    assert_int_equal(hf_config_save(path, &p, &err), FP_OK);
    assert_null(strstr(slurp(path), "fedpep_"));

    /* combinations the core does not run are refused on save */
    model_config bad = c;
    bad.final_ln = true;
    assert_int_equal(hf_config_save(path, &bad, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "no final LayerNorm"));
    assert_int_equal(hf_config_load("tests/data/gpt2.config.json", &bad, &err), FP_OK);
    bad.hidden_act = MODEL_ACT_RELU;
    assert_int_equal(hf_config_save(path, &bad, &err), FP_EINVAL);
    bad.hidden_act = MODEL_ACT_ARCH;
    bad.no_embedding_ln = true;
    assert_int_equal(hf_config_save(path, &bad, &err), FP_EINVAL);
    bad.no_embedding_ln = false;
    bad.prefix_keeps_positions = true;
    assert_int_equal(hf_config_save(path, &bad, &err), FP_EINVAL);
    bad = c;
    bad.hidden_act = (model_act)7;
    assert_int_equal(hf_config_save(path, &bad, &err), FP_EINVAL);

    /* USE-lite's widths and positions: embedding_size (ALBERT's key) narrower than the stream,
     * the first real token at position 0 although pad_token_id is 8000 */
    static const char NARROW[] =
        "{\"model_type\":\"roberta\",\"vocab_size\":8002,\"hidden_size\":512,"
        "\"embedding_size\":256,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
        "\"intermediate_size\":1536,\"max_position_embeddings\":512,\"pad_token_id\":8000,"
        "\"fedpep_position_offset\":0}";
    assert_int_equal(hf_config_parse(NARROW, strlen(NARROW), "narrow", &c, &err), FP_OK);
    assert_int_equal(model_embed_width(&c), 256);
    assert_true(model_has_input_projection(&c));
    assert_int_equal(c.position_offset, 0);
    assert_int_equal(hf_config_save(path, &c, &err), FP_OK);
    assert_int_equal(hf_config_load(path, &back, &err), FP_OK);
    assert_same_config(&c, &back);
    text = slurp(path);
    assert_non_null(strstr(text, "\"embedding_size\": 256"));
    assert_non_null(strstr(text, "\"fedpep_position_offset\": 0"));
    /* an embedding_size equal to hidden_size is the plain model, and is not written */
    assert_int_equal(hf_config_parse(PLAIN, strlen(PLAIN), "plain", &p, &err), FP_OK);
    assert_false(model_has_input_projection(&p));
    bad = c;
    bad.d_embed = 1024; /* wider than the stream */
    assert_int_equal(hf_config_save(path, &bad, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "embedding_size"));
    bad.d_embed = 254; /* not divisible by 4 heads */
    assert_int_equal(hf_config_save(path, &bad, &err), FP_EINVAL);
    test_rmtree(dir);
}

static void copy_file(const char *from, const char *dir, const char *name)
{
    char to[512];
    snprintf(to, sizeof to, "%s/%s", dir, name);
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
}

static void save_model_config(const char *dir, model_config c)
{
    char path[512];
    fp_error err = {0};
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (hf_config_save(path, &c, &err))
        fail_msg("hf_config_save: %s", err.msg);
}

/* A small RoBERTa with roberta-base's special ids (pad 1, bos 0, eos 2, positions from 2). */
static model_config small_roberta(int vocab_size)
{
    model_config c = {0};
    c.arch = MODEL_ARCH_ROBERTA;
    c.vocab_size = vocab_size;
    c.max_positions = 34;
    c.n_layers = 2;
    c.d_model = 16;
    c.n_heads = 4;
    c.d_ff = 32;
    c.type_vocab_size = 1;
    c.layer_norm_eps = 1e-5f;
    c.pad_token_id = 1;
    c.bos_token_id = 0;
    c.eos_token_id = 2;
    c.mask_token_id = -1;
    c.position_offset = 2;
    return c;
}

static void model_folders_tie_config_and_tokenizer(void **state)
{
    (void)state;
    const char *tmp = test_tmpdir("hfdir");
    char dir[256];
    snprintf(dir, sizeof dir, "%s", tmp);
    model_paths p;
    fp_error err = {0};
    assert_int_equal(model_dir_paths(dir, &p, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "config.json"));

    /* A RoBERTa model on the tiny RoBERTa-layout tokenizer (ids 0..269, <mask> 269). */
    model_config c = small_roberta(270);
    save_model_config(dir, c);
    assert_int_equal(model_dir_paths(dir, &p, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "model.safetensors"));
    char weights[512];
    snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
    assert_int_equal(st_write(weights, NULL, 0, NULL, 0, &err), FP_OK);
    assert_int_equal(model_dir_paths(dir, &p, &err), FP_OK);
    assert_false(p.has_tokenizer);
    assert_string_equal(p.weights, weights);

    model_config got;
    bpe_t *tok = (bpe_t *)&got; /* must be reset to NULL on failure */
    assert_int_equal(hf_model_load_config(dir, NULL, NULL, &got, &tok, &err), FP_ENOTFOUND);
    assert_null(tok);
    assert_int_equal(hf_model_load_config(dir, NULL, NULL, &got, NULL, &err), FP_OK);

    copy_file("tests/data/tiny_bpe/vocab.json", dir, "vocab.json");
    copy_file("tests/data/tiny_bpe/merges.txt", dir, "merges.txt");
    assert_int_equal(model_dir_paths(dir, &p, &err), FP_OK);
    assert_true(p.has_tokenizer);
    assert_int_equal(hf_model_load_config(dir, NULL, NULL, &got, &tok, &err), FP_OK);
    assert_non_null(tok);
    assert_int_equal(got.mask_token_id, 269);
    assert_int_equal(bpe_vocab_size(tok), 270);
    bpe_destroy(&tok);

    /* A tokenizer larger than the model's embedding table is refused. */
    c.vocab_size = 200;
    save_model_config(dir, c);
    assert_int_equal(hf_model_load_config(dir, NULL, NULL, &got, &tok, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "270 ids"));
    assert_null(tok);
    /* Config pad/bos/eos that disagree with the tokenizer's <pad> <s> </s> are refused. */
    c.vocab_size = 270;
    c.bos_token_id = 3;
    save_model_config(dir, c);
    assert_int_equal(hf_model_load_config(dir, NULL, NULL, &got, &tok, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "<s>"));

    /* A RoBERTa-style model on GPT-2's files: RoBERTa's layout, <mask> 50261, offset 2. */
    char v[512], m[512];
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/sub");
    assert_int_equal(mkdir(dir, 0700), 0);
    c = small_roberta(50262);
    save_model_config(dir, c);
    snprintf(weights, sizeof weights, "%s/model.safetensors", dir);
    assert_int_equal(st_write(weights, NULL, 0, NULL, 0, &err), FP_OK);
    const char *cache = getenv("FEDPEP_CACHE");
    snprintf(v, sizeof v, "%s/gpt2/vocab.json", cache && *cache ? cache : ".cache");
    snprintf(m, sizeof m, "%s/gpt2/merges.txt", cache && *cache ? cache : ".cache");
    assert_int_equal(hf_model_load_config(dir, v, m, &got, &tok, &err), FP_OK);
    assert_int_equal(got.mask_token_id, 50261);
    assert_int_equal(bpe_token_id(tok, "<unk>"), 3);
    /* Saved into the folder, the tokenizer is found there next time with the same ids. */
    model_paths sub;
    assert_int_equal(model_dir_paths(dir, &sub, &err), FP_OK);
    assert_false(sub.has_tokenizer);
    assert_int_equal(bpe_save(tok, sub.vocab, sub.merges, &err), FP_OK);
    bpe_destroy(&tok);
    assert_int_equal(hf_model_load_config(dir, NULL, NULL, &got, &tok, &err), FP_OK);
    assert_int_equal(got.mask_token_id, 50261);
    assert_int_equal(bpe_token_id(tok, "\xc4\xa0world"), 995 + 4);
    bpe_destroy(&tok);
    test_rmtree(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_roberta_base),
        cmocka_unit_test(reads_gpt2),
        cmocka_unit_test(refuses_bad_configs_by_field),
        cmocka_unit_test(save_then_load_gives_the_same_config),
        cmocka_unit_test(uselite_switches_read_and_round_trip),
        cmocka_unit_test(model_folders_tie_config_and_tokenizer),
    };
    return cmocka_run_group_tests_name("hf_config", tests, NULL, NULL);
}
