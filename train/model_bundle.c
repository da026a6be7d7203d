/* model_bundle.c — opens a model folder through hf_config, safetensors and weights. Must never
 * copy or modify the mapped weights. */
#include "train/model_bundle.h"

#include <stdlib.h>

#include "model/hf_config.h"

train_model_t *train_model_open(const char *dir, const char *fallback_vocab,
                                const char *fallback_merges, fp_error *err)
{
    train_model_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "model %s: out of memory", dir);
        return NULL;
    }
    bpe_t *bpe = NULL;
    model_paths paths;
    if (hf_model_load_config(dir, fallback_vocab, fallback_merges, &self->cfg, &bpe, err) ||
        model_dir_paths(dir, &paths, err))
        goto fail;
    if (!bpe) {
        fp_fail(err, FP_ENOTFOUND, "model %s: no tokenizer (vocab.json + merges.txt)", dir);
        goto fail;
    }
    self->tok = train_tok_from_bpe(bpe);
    if (!self->tok) {
        fp_fail(err, FP_ENOMEM, "model %s: out of memory", dir);
        goto fail;
    }
    self->file = st_open(paths.weights, err);
    if (!self->file)
        goto fail;
    if (tf_weights_from_safetensors(&self->w, &self->cfg, self->file, err)) {
        fp_wrap(err, "model %s: ", dir);
        goto fail;
    }
    self->decoder = self->cfg.arch == MODEL_ARCH_GPT2;
    if (!self->decoder && self->tok->mask < 0) {
        fp_fail(err, FP_EFORMAT, "model %s: encoder tokenizer has no <mask>", dir);
        goto fail;
    }
    return self;
fail:
    if (!self->tok)
        bpe_destroy(&bpe);
    train_model_destroy(&self);
    return NULL;
}

void train_model_destroy(train_model_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    train_model_t *self = *self_p;
    tf_weights_free(&self->w);
    st_close(&self->file);
    train_tok_destroy(&self->tok);
    free(self);
    *self_p = NULL;
}
