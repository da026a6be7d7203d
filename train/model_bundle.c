/* model_bundle.c — opens a model folder through hf_config, safetensors and weights. Must never
 * copy or modify the mapped weights. */
#include "train/model_bundle.h"

#include <stdlib.h>

#include "model/hf_config.h"
#include "model/matmul_bf16.h"
#include "model/sentencepiece.h"

/* The unigram tokenizer of dir (with <pad>, <mask> appended): its ids must fit the model's
 * vocabulary, and its <mask> becomes the config's mask token. */
static fp_status open_unigram(train_model_t *self, const char *dir, const char *vocab,
                              fp_error *err)
{
    sp_t *sp = sp_new(vocab, err);
    if (!sp || !(self->tok = train_tok_from_unigram(sp, err)))
        return fp_wrap(err, "model %s: ", dir);
    if (train_tok_vocab_size(self->tok) > self->cfg.vocab_size)
        return fp_fail(err, FP_EFORMAT, "model %s: unigram tokenizer has %d ids (with <pad>, "
                       "<mask>), config.json vocab_size %d", dir,
                       train_tok_vocab_size(self->tok), self->cfg.vocab_size);
    return hf_config_set_mask_token(&self->cfg, self->tok->mask, err);
}

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
    if (model_dir_paths(dir, &paths, err))
        goto fail;
    if (sp_vocab_file_is_unigram(paths.vocab)) {
        /* A vocab.json that is an array of [piece, score] pairs: SentencePiece unigram. */
        if (hf_model_load_config(dir, NULL, NULL, &self->cfg, NULL, err) ||
            open_unigram(self, dir, paths.vocab, err))
            goto fail;
    } else {
        if (hf_model_load_config(dir, fallback_vocab, fallback_merges, &self->cfg, &bpe, err))
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

fp_status train_model_set_precision(train_model_t *self, fp_precision precision, FILE *log,
                                    fp_error *err)
{
    if (precision != FP_PRECISION_BF16)
        return FP_OK;
    char isa[32];
    if (!mm_bf16_supported(isa, sizeof isa)) {
        if (log)
            fprintf(
                log,
                "model: precision = bf16, but this CPU has no bf16 instructions (oneDNN ISA %s): "
                "the products stay fp32\n",
                isa);
        return FP_OK;
    }
    if (tf_weights_to_bf16(&self->w, &self->cfg, err))
        return fp_wrap(err, "model: precision = bf16: ");
    if (log)
        fprintf(log,
                "model: precision = bf16 (oneDNN ISA %s): bf16 copies of the frozen weights, "
                "%.1f MB beside the fp32 map\n",
                isa, (double)self->w.bf16_bytes / 1e6);
    return FP_OK;
}
