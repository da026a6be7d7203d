/* test_train_fixture.h — a tiny random RoBERTa-style model folder (config.json,
 * model.safetensors, GPT-2's BPE files with RoBERTa's specials) and a synthetic SST-2-shaped
 * dataset folder whose label is visible in the words, the tree of both that the train/, simulate,
 * actor-role and launch tests share, and configurations over that tree. */
#ifndef FEDPEP_TESTS_TEST_TRAIN_FIXTURE_H
#define FEDPEP_TESTS_TEST_TRAIN_FIXTURE_H

#include <stdio.h>
#include <sys/stat.h>

#include "common/config.h"
#include "common/rng.h"
#include "model/hf_config.h"
#include "model/weights.h"

static inline void fixture_cache(char *vocab, char *merges, size_t n)
{
    const char *cache = getenv("FEDPEP_CACHE");
    snprintf(vocab, n, "%s/gpt2/vocab.json", cache && *cache ? cache : ".cache");
    snprintf(merges, n, "%s/gpt2/merges.txt", cache && *cache ? cache : ".cache");
}

/* Writes config.json, random N(0, std²) weights and the GPT-2 BPE files into dir: in RoBERTa's
 * id layout (specials first, see bpe_new_roberta) or GPT-2's own. */
static inline void fixture_write_model(const char *dir, const model_config *c, float std,
                                       uint64_t seed, bool roberta_layout)
{
    char path[512], vocab[512], merges[512], v2[512], m2[512];
    fp_error err = {0};
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (hf_config_save(path, c, &err))
        fail_msg("config: %s", err.msg);
    tf_weights w = {0};
    if (tf_weights_init_random(&w, c, std, seed, &err))
        fail_msg("weights: %s", err.msg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (tf_weights_save(&w, c, path, &err))
        fail_msg("save: %s", err.msg);
    tf_weights_free(&w);
    fixture_cache(vocab, merges, sizeof vocab);
    bpe_t *tok =
        roberta_layout ? bpe_new_roberta(vocab, merges, &err) : bpe_new(vocab, merges, &err);
    if (!tok)
        fail_msg("tokenizer: %s", err.msg);
    snprintf(v2, sizeof v2, "%s/vocab.json", dir);
    snprintf(m2, sizeof m2, "%s/merges.txt", dir);
    if (bpe_save(tok, v2, m2, &err))
        fail_msg("bpe_save: %s", err.msg);
    bpe_destroy(&tok);
}

/* A RoBERTa-style model's config: L layers of width d. */
static inline model_config fixture_roberta_config(int L, int d)
{
    return (model_config){.arch = MODEL_ARCH_ROBERTA,
                          .vocab_size = 50262,
                          .max_positions = 130,
                          .n_layers = L,
                          .d_model = d,
                          .n_heads = 4,
                          .d_ff = 2 * d,
                          .type_vocab_size = 1,
                          .layer_norm_eps = 1e-5f,
                          .pre_ln = false,
                          .final_ln = false,
                          .pad_token_id = 1,
                          .bos_token_id = 0,
                          .eos_token_id = 2,
                          .mask_token_id = 50261,
                          .position_offset = 2};
}

/* Writes a RoBERTa-style model with L layers of width d into dir. */
static inline void fixture_model(const char *dir, int L, int d, float std, uint64_t seed)
{
    model_config c = fixture_roberta_config(L, d);
    fixture_write_model(dir, &c, std, seed, true);
}

/* Writes a GPT-2-style decoder with L layers of width d and GPT-2's own tokenizer into dir. */
static inline void fixture_gpt2_model(const char *dir, int L, int d, float std, uint64_t seed)
{
    model_config c = {.arch = MODEL_ARCH_GPT2,
                      .vocab_size = 50257,
                      .max_positions = 64,
                      .n_layers = L,
                      .d_model = d,
                      .n_heads = 4,
                      .d_ff = 4 * d,
                      .type_vocab_size = 0,
                      .layer_norm_eps = 1e-5f,
                      .pre_ln = true,
                      .final_ln = true,
                      .pad_token_id = -1,
                      .bos_token_id = 50256,
                      .eos_token_id = 50256,
                      .mask_token_id = -1,
                      .position_offset = 0};
    fixture_write_model(dir, &c, std, seed, false);
}

/* dir/sst-2/{train,dev}.tsv: class 1 sentences are made of "good" words, class 0 of "bad"
 * words, 3–6 words each; n_train and n_dev rows. */
static inline void fixture_data(const char *dir, int n_train, int n_dev, uint64_t seed)
{
    static const char *good[] = {"sunny", "happy", "bright", "warm", "lovely", "kind"};
    static const char *bad[] = {"rainy", "sad", "dark", "cold", "awful", "cruel"};
    char path[512];
    snprintf(path, sizeof path, "%s/sst-2", dir);
    mkdir(path, 0700);
    rng_t r;
    rng_seed(&r, seed);
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/sst-2/%s", dir, f ? "dev.tsv" : "train.tsv");
        FILE *out = fopen(path, "w");
        assert_non_null(out);
        fprintf(out, "sentence\tlabel\n");
        for (int i = 0; i < (f ? n_dev : n_train); i++) {
            int y = (int)rng_below(&r, 2), len = 3 + (int)rng_below(&r, 4);
            for (int j = 0; j < len; j++)
                fprintf(out, "%s%s", j ? " " : "", (y ? good : bad)[rng_below(&r, 6)]);
            fprintf(out, "\t%d\n", y);
        }
        fclose(out);
    }
}

/* dir/model (n_layers layers of width 32, weights N(0, 0.05²), model_seed) and dir/data
 * (n_train / n_dev synthetic sst-2 rows, data_seed) in the existing folder dir. */
static inline void fixture_tree_in(const char *dir, int n_layers, uint64_t model_seed, int n_train,
                                   int n_dev, uint64_t data_seed)
{
    char m[300], d[300]; /* the fixtures append to them in 512-byte buffers */
    snprintf(m, sizeof m, "%s/model", dir);
    snprintf(d, sizeof d, "%s/data", dir);
    mkdir(m, 0700);
    mkdir(d, 0700);
    fixture_model(m, n_layers, 32, 0.05f, model_seed);
    fixture_data(d, n_train, n_dev, data_seed);
}

/* A fresh temporary folder `dir` (n bytes) holding model/ (n_layers layers of width 32, weights
 * N(0, 0.05²), seed 7) and data/ (n_train / n_dev synthetic sst-2 rows, seed 11). */
static inline void fixture_tree_layers(const char *tag, char *dir, size_t n, int n_layers,
                                       int n_train, int n_dev)
{
    snprintf(dir, n, "%s", test_tmpdir(tag));
    fixture_tree_in(dir, n_layers, 7, n_train, n_dev, 11);
}

/* fixture_tree_layers with 3 layers: the standard tree of the train/, simulate and actor-role
 * tests. */
static inline void fixture_tree(const char *tag, char *dir, size_t n, int n_train, int n_dev)
{
    fixture_tree_layers(tag, dir, n, 3, n_train, n_dev);
}

/* What a test program's actors share: its tree (fixture_tree_layers) and the BPE files a model
 * folder without its own tokenizer falls back on (fixture_cache). */
typedef struct fixture_files {
    char dir[100];
    char vocab[512], merges[512];
} fixture_files;

/* For a cmocka group setup: makes f (a fresh folder named after tag holding n_layers layers and
 * n_train / n_dev rows) and hands it to fixture_files_teardown through *state. */
static inline int fixture_files_setup(void **state, fixture_files *f, const char *tag, int n_layers,
                                      int n_train, int n_dev)
{
    fixture_tree_layers(tag, f->dir, sizeof f->dir, n_layers, n_train, n_dev);
    fixture_cache(f->vocab, f->merges, sizeof f->vocab);
    *state = f;
    return 0;
}

/* The cmocka group teardown of fixture_files_setup: removes the tree. */
static inline int fixture_files_teardown(void **state)
{
    fixture_files *f = *state;
    if (f) /* NULL when the set-up failed */
        test_rmtree(f->dir);
    return 0;
}

/* The defaults, with the model and data of the tree in dir (fixture_tree_in). */
static inline void fixture_config(fedpep_config *cfg, const char *dir)
{
    config_defaults(cfg);
    snprintf(cfg->model.path, sizeof cfg->model.path, "%s/model", dir);
    snprintf(cfg->data.dir, sizeof cfg->data.dir, "%s/data", dir);
}

/* A tiny run over the tree in dir, its database dir/db: run "t" of 3 rounds, 4 clients with 2 a
 * round (at least 1), a prompt of 4, sequences of 32 tokens, a linear head, evaluation batches of
 * 16; the rest the defaults. */
static inline void fixture_run_config(fedpep_config *cfg, const char *dir, const char *db)
{
    fixture_config(cfg, dir);
    snprintf(cfg->run.db, sizeof cfg->run.db, "%s/%s", dir, db);
    snprintf(cfg->run.name, sizeof cfg->run.name, "t");
    cfg->run.rounds = 3;
    cfg->model.prompt_length = 4;
    cfg->model.max_seq_len = 32;
    cfg->model.head = FP_HEAD_LINEAR;
    cfg->federation.clients = 4;
    cfg->federation.clients_per_round = 2;
    cfg->federation.min_clients = 1;
    cfg->eval.batch_size = 16;
}

#endif
