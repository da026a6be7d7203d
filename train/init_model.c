/* init_model.c — a random model folder, of a given RoBERTa shape or like another model folder
 * (see init_model.h). Never writes into a folder holding files it did not write. */
#include "train/init_model.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/bpe.h"
#include "model/hf_config.h"
#include "model/weights.h"
#include "train/model_bundle.h"

#define PLACEHOLDER_MARK "UNTRAINED PLACEHOLDER written by `fedpep init-model`"

/* Every file this module writes or removes in a model folder. */
static const char *const OWN_FILES[] = {"config.json", "model.safetensors", "vocab.json",
                                        "merges.txt", "PLACEHOLDER.txt"};

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

static fp_status join(char *out, size_t n, const char *dir, const char *name, fp_error *err)
{
    if (snprintf(out, n, "%s/%s", dir, name) >= (int)n)
        return fp_fail(err, FP_EINVAL, "init-model: path %s/%s too long", dir, name);
    return FP_OK;
}

/* True when dir/PLACEHOLDER.txt starts with this module's mark: the folder is ours to rewrite. */
static bool folder_is_ours(const char *dir)
{
    char path[MODEL_PATH_MAX + 32], head[sizeof PLACEHOLDER_MARK] = {0};
    if (join(path, sizeof path, dir, "PLACEHOLDER.txt", NULL))
        return false;
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t got = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    return got == sizeof head - 1 && !memcmp(head, PLACEHOLDER_MARK, got);
}

/* FP_ESTATE when dir holds one of OWN_FILES that an earlier init-model did not write. */
static fp_status check_may_write(const char *dir, fp_error *err)
{
    if (folder_is_ours(dir))
        return FP_OK;
    char path[MODEL_PATH_MAX + 32];
    for (size_t i = 0; i < sizeof OWN_FILES / sizeof *OWN_FILES; i++) {
        fp_status st = join(path, sizeof path, dir, OWN_FILES[i], err);
        if (st)
            return st;
        if (access(path, F_OK) == 0)
            return fp_fail(err, FP_ESTATE,
                           "init-model: %s exists and was not written by init-model; "
                           "refusing to overwrite it (choose another folder)",
                           path);
    }
    return FP_OK;
}

/* Claims dir for writing: refuses files that are not ours, creates it, and removes an earlier
 * config.json so that until the new one is written last the folder reads as incomplete. */
static fp_status start_folder(const char *dir, fp_error *err)
{
    char path[MODEL_PATH_MAX + 32];
    fp_status st = check_may_write(dir, err);
    if (!st)
        st = make_dirs(dir, err);
    if (!st)
        st = join(path, sizeof path, dir, "config.json", err);
    if (!st && unlink(path) && errno != ENOENT)
        st = fp_fail(err, FP_EIO, "init-model: cannot remove %s: %s", path, strerror(errno));
    return st;
}

static fp_status write_placeholder(const char *dir, const model_config *c,
                                   const init_model_options *o, const char *like, fp_error *err)
{
    char path[MODEL_PATH_MAX + 32];
    fp_status st = join(path, sizeof path, dir, "PLACEHOLDER.txt", err);
    if (st)
        return st;
    FILE *f = fopen(path, "w");
    if (!f)
        return fp_fail(err, FP_EIO, "init-model: %s: %s", path, strerror(errno));
    fprintf(f,
            PLACEHOLDER_MARK
            " (seed %llu, std %g): random weights\n"
            "with %d layers of width %d.\n%s%s%s"
            "It runs the whole system, but it has learned nothing: its accuracy before tuning\n"
            "is chance.\n"
            "Replace this folder with a pretrained model for real results.\n",
            (unsigned long long)o->seed, (double)o->std, c->n_layers, c->d_model,
            like ? "Shape, config and tokenizer copied from " : "", like ? like : "",
            like ? " (--like).\n" : "");
    return fclose(f) ? fp_fail(err, FP_EIO, "init-model: cannot write %s", path) : FP_OK;
}

/* Random weights for c into dir/model.safetensors; with `heads`, the optional heads are saved
 * exactly when heads has them (the random block always holds them). */
static fp_status write_weights(const char *dir, const model_config *c, const init_model_options *o,
                               const tf_weights *heads, fp_error *err)
{
    char path[MODEL_PATH_MAX + 32];
    tf_weights w = {0};
    fp_status st = join(path, sizeof path, dir, "model.safetensors", err);
    if (!st)
        st = tf_weights_init_random(&w, c, o->std, o->seed, err);
    if (!st && heads) {
        w.has_lm_head = heads->has_lm_head;
        w.has_sentence_head = heads->has_sentence_head;
    }
    if (!st)
        st = tf_weights_save(&w, c, path, err);
    tf_weights_free(&w);
    return st;
}

static fp_status write_config(const char *dir, const model_config *c, fp_error *err)
{
    char path[MODEL_PATH_MAX + 32];
    fp_status st = join(path, sizeof path, dir, "config.json", err);
    return st ? st : hf_config_save(path, c, err);
}

static fp_status check_std(const init_model_options *o, fp_error *err)
{
    if (!(o->std > 0) || !isfinite(o->std))
        return fp_fail(err, FP_EINVAL, "init-model: std %g must be a positive number",
                       (double)o->std);
    return FP_OK;
}

fp_status init_model_write(const char *dir, const init_model_options *o, fp_error *err)
{
    if (o->layers < 1 || o->d_model < 1 || o->heads < 1 || o->d_model % o->heads ||
        o->max_positions < 10)
        return fp_fail(err, FP_EINVAL,
                       "init-model: impossible shape (layers %d, d %d, heads %d, positions %d)",
                       o->layers, o->d_model, o->heads, o->max_positions);
    fp_status st = check_std(o, err);
    if (st)
        return st;
    if (!o->vocab || !o->merges)
        return fp_fail(err, FP_EINVAL, "init-model: no tokenizer files given");
    bpe_t *tok = bpe_new_roberta(o->vocab, o->merges, err);
    if (!tok)
        return err ? err->status : FP_ENOTFOUND;
    model_config c = {.arch = MODEL_ARCH_ROBERTA,
                      .vocab_size = bpe_vocab_size(tok),
                      .max_positions = o->max_positions,
                      .n_layers = o->layers,
                      .d_model = o->d_model,
                      .n_heads = o->heads,
                      .d_ff = o->d_ff ? o->d_ff : 4 * o->d_model,
                      .type_vocab_size = 1,
                      .layer_norm_eps = 1e-5f,
                      .pre_ln = false,
                      .final_ln = false,
                      .pad_token_id = 1,
                      .bos_token_id = 0,
                      .eos_token_id = 2,
                      .mask_token_id = bpe_token_id(tok, "<mask>"),
                      .position_offset = 2};
    char vocab[MODEL_PATH_MAX + 32], merges[MODEL_PATH_MAX + 32];
    st = tf_config_check(&c, err);
    if (!st)
        st = start_folder(dir, err);
    if (!st)
        st = write_placeholder(dir, &c, o, NULL, err);
    if (!st)
        st = join(vocab, sizeof vocab, dir, "vocab.json", err);
    if (!st)
        st = join(merges, sizeof merges, dir, "merges.txt", err);
    if (!st)
        st = bpe_save(tok, vocab, merges, err);
    if (!st)
        st = write_weights(dir, &c, o, NULL, err);
    if (!st)
        st = write_config(dir, &c, err);
    bpe_destroy(&tok);
    return st;
}

/* Copies dir_from/name to dir_to/name byte for byte when it exists there; otherwise removes a
 * stale dir_to/name (only ever one of our own, check_may_write made sure). */
static fp_status copy_or_remove(const char *dir_from, const char *dir_to, const char *name,
                                fp_error *err)
{
    char from[MODEL_PATH_MAX + 32], to[MODEL_PATH_MAX + 32];
    fp_status st = join(from, sizeof from, dir_from, name, err);
    if (!st)
        st = join(to, sizeof to, dir_to, name, err);
    if (st)
        return st;
    FILE *in = fopen(from, "rb");
    if (!in) {
        if (errno != ENOENT)
            return fp_fail(err, FP_EIO, "init-model: %s: %s", from, strerror(errno));
        if (unlink(to) && errno != ENOENT)
            return fp_fail(err, FP_EIO, "init-model: cannot remove %s: %s", to, strerror(errno));
        return FP_OK;
    }
    FILE *out = fopen(to, "wb");
    if (!out) {
        fclose(in);
        return fp_fail(err, FP_EIO, "init-model: %s: %s", to, strerror(errno));
    }
    char buf[1 << 16];
    size_t n;
    bool ok = true;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    fclose(in);
    if (fclose(out) || !ok)
        return fp_fail(err, FP_EIO, "init-model: cannot copy %s to %s", from, to);
    return FP_OK;
}

/* True when a and b name the same existing folder. */
static bool same_folder(const char *a, const char *b)
{
    struct stat sa, sb;
    return !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

fp_status init_model_write_like(const char *dir, const char *like, const init_model_options *o,
                                fp_error *err)
{
    fp_error local = {0};
    if (!err)
        err = &local; /* the source's failure status is read back from it */
    fp_status st = check_std(o, err);
    if (st)
        return st;
    if (!dir || !like)
        return fp_fail(err, FP_EINVAL, "init-model: no folder given");
    if (same_folder(dir, like))
        return fp_fail(err, FP_EINVAL, "init-model: %s is the source model itself", dir);
    /* The source must open as a model the system can tune, or nothing is written. */
    train_model_t *src = train_model_open(like, o->vocab, o->merges, err);
    if (!src)
        return fp_wrap(err, "init-model --like");
    model_config c; /* config.json as written, before a tokenizer sets its mask id */
    char path[MODEL_PATH_MAX + 32];
    st = join(path, sizeof path, like, "config.json", err);
    if (!st)
        st = hf_config_load(path, &c, err);
    if (!st)
        st = start_folder(dir, err);
    if (!st)
        st = write_placeholder(dir, &c, o, like, err);
    if (!st)
        st = copy_or_remove(like, dir, "vocab.json", err);
    if (!st)
        st = copy_or_remove(like, dir, "merges.txt", err);
    if (!st)
        st = write_weights(dir, &c, o, &src->w, err);
    if (!st)
        st = write_config(dir, &c, err);
    train_model_destroy(&src);
    return st;
}
