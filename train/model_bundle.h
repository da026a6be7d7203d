/* model_bundle.h — one opened model folder: its config, its weights mapped read-only from
 * model.safetensors, and its tokenizer (train/tokenizer.h), through the loaders of model/.
 * Shared read-only by every client of a process; nothing here ever writes to the weights. */
#ifndef FEDPEP_TRAIN_MODEL_BUNDLE_H
#define FEDPEP_TRAIN_MODEL_BUNDLE_H

#include <stdbool.h>
#include <stdio.h>

#include "common/config.h"
#include "common/status.h"
#include "model/model_config.h"
#include "model/safetensors.h"
#include "model/weights.h"
#include "train/tokenizer.h"

typedef struct train_model {
    model_config cfg;
    tf_weights w; /* pointers into file's map */
    st_file_t *file;
    train_tok_t *tok;
    bool decoder; /* GPT-2 family: generative verbalizer */
} train_model_t;

/* Opens dir (config.json, model.safetensors, vocab.json + merges.txt; a folder without the
 * tokenizer pair uses fallback_vocab/fallback_merges when given). A vocab.json that is a JSON
 * array of [piece, score] pairs is a SentencePiece unigram tokenizer instead (no merges.txt;
 * docs/sentencepiece.md). NULL with err on failure, naming the file. */
train_model_t *train_model_open(const char *dir, const char *fallback_vocab,
                                const char *fallback_merges, fp_error *err);
void train_model_destroy(train_model_t **self_p);

/* Applies [model] precision: bf16 makes the frozen weights' bf16 copies (tf_weights_to_bf16;
 * half the matrices' bytes more per process) when the CPU multiplies bf16 natively; on a CPU
 * that does not, the weights stay fp32; either way one line on log (when not NULL) says which. fp32 does nothing. Call once
 * after train_model_open, before any forward pass. FP_ENOMEM. */
fp_status train_model_set_precision(train_model_t *self, fp_precision precision, FILE *log,
                                    fp_error *err);

#endif
