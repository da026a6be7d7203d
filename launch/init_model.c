/* init_model.c — a random RoBERTa-style model folder (see init_model.h). */
#include "launch/init_model.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "model/bpe.h"
#include "model/hf_config.h"
#include "model/weights.h"

void init_model_defaults(init_model_options *o)
{
    memset(o, 0, sizeof *o);
    o->layers = 4;
    o->d_model = 256;
    o->heads = 4;
    o->d_ff = 0; /* 4 d */
    o->max_positions = 130;
    o->std = 0.02f;
    o->seed = 42;
}

static fp_status make_dirs(const char *dir, fp_error *err)
{
    char buf[MODEL_PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return fp_fail(err, FP_EINVAL, "init-model: folder name too long");
    for (char *s = buf + 1;; s++) {
        char c = *s;
        if (c && c != '/')
            continue;
        *s = 0;
        if (mkdir(buf, 0755) && errno != EEXIST)
            return fp_fail(err, FP_EIO, "init-model: mkdir %s: %s", buf, strerror(errno));
        if (!c)
            return FP_OK;
        *s = c;
    }
}

fp_status init_model_write(const char *dir, const init_model_options *o, fp_error *err)
{
    if (o->layers < 1 || o->d_model < 1 || o->heads < 1 || o->d_model % o->heads ||
        o->max_positions < 10 || !(o->std > 0))
        return fp_fail(err, FP_EINVAL,
                       "init-model: impossible shape (layers %d, d %d, heads %d, positions %d)",
                       o->layers, o->d_model, o->heads, o->max_positions);
    if (!o->vocab || !o->merges)
        return fp_fail(err, FP_EINVAL, "init-model: no tokenizer files given");
    bpe_t *tok = bpe_new_roberta(o->vocab, o->merges, err);
    if (!tok)
        return err ? err->status : FP_ENOTFOUND;
    model_config c = {.arch = MODEL_ARCH_ROBERTA, .vocab_size = bpe_vocab_size(tok),
                      .max_positions = o->max_positions, .n_layers = o->layers,
                      .d_model = o->d_model, .n_heads = o->heads,
                      .d_ff = o->d_ff ? o->d_ff : 4 * o->d_model, .type_vocab_size = 1,
                      .layer_norm_eps = 1e-5f, .pre_ln = false, .final_ln = false,
                      .pad_token_id = 1, .bos_token_id = 0, .eos_token_id = 2,
                      .mask_token_id = bpe_token_id(tok, "<mask>"), .position_offset = 2};
    char path[MODEL_PATH_MAX + 32], path2[MODEL_PATH_MAX + 32];
    tf_weights w = {0};
    fp_status st = make_dirs(dir, err);
    if (!st)
        st = tf_config_check(&c, err);
    if (!st) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        st = hf_config_save(path, &c, err);
    }
    if (!st) {
        snprintf(path, sizeof path, "%s/vocab.json", dir);
        snprintf(path2, sizeof path2, "%s/merges.txt", dir);
        st = bpe_save(tok, path, path2, err);
    }
    if (!st)
        st = tf_weights_init_random(&w, &c, o->std, o->seed, err);
    if (!st) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        st = tf_weights_save(&w, &c, path, err);
    }
    tf_weights_free(&w);
    bpe_destroy(&tok);
    if (st)
        return st;
    snprintf(path, sizeof path, "%s/PLACEHOLDER.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return fp_fail(err, FP_EIO, "init-model: %s: %s", path, strerror(errno));
    fprintf(f,
            "UNTRAINED PLACEHOLDER written by `fedpep init-model` (seed %llu): random weights\n"
            "with %d layers of width %d. It runs the whole system, but its accuracy is chance.\n"
            "Replace this folder with a pretrained model for real results.\n",
            (unsigned long long)o->seed, o->layers, o->d_model);
    return fclose(f) ? fp_fail(err, FP_EIO, "init-model: cannot write %s", path) : FP_OK;
}
