/* init_model.h — writes a randomly initialised model folder plus a PLACEHOLDER.txt saying it is
 * untrained: either a RoBERTa-style model of a given shape with GPT-2's BPE tokenizer saved in
 * RoBERTa's layout (vocab.json, merges.txt), which `make run` uses when models/default is
 * missing, or a never-trained twin of an existing model folder (`--like`): its config.json, its
 * tokenizer files byte for byte and its optional heads, with fresh random weights — the baseline
 * "same shape, no pretraining" under the same tuning.
 * This module must never overwrite an existing model folder's files it did not write: it refuses
 * a folder holding any of its file names unless that folder's PLACEHOLDER.txt is its own. */
#ifndef FEDPEP_TRAIN_INIT_MODEL_H
#define FEDPEP_TRAIN_INIT_MODEL_H

#include <stdint.h>

#include "common/status.h"

typedef struct init_model_options {
    int layers;                 /* L (default 4) */
    int d_model;                /* d (default 256) */
    int heads;                  /* H (default 4); d must be a multiple */
    int d_ff;                   /* MLP width (default 4 d) */
    int max_positions;          /* longest sequence + RoBERTa's 2 offset rows (default 130) */
    float std;                  /* init standard deviation (default 0.02) */
    uint64_t seed;              /* default 42 */
    const char *vocab, *merges; /* GPT-2's tokenizer files (required by init_model_write; the
                                   fallback of a --like source without its own, may be NULL) */
} init_model_options;

void init_model_defaults(init_model_options *o);

/* Creates dir (and parents) and writes the model. FP_ENOTFOUND when the tokenizer files are
 * missing, FP_EINVAL for an impossible shape, FP_ESTATE when dir holds files it did not write,
 * FP_EIO when a file cannot be written. config.json is written last, so its presence means the
 * folder is complete. */
fp_status init_model_write(const char *dir, const init_model_options *o, fp_error *err);

/* The same, shaped like the model folder `like`: its config.json as read (hf_config_load), its
 * vocab.json and merges.txt (those it has) copied byte for byte, its optional heads (RoBERTa's
 * lm_head, USE-lite's sentence_head) present exactly when `like` has them, and weights drawn
 * N(0, o->std²) from o->seed (LayerNorm gains around 1); o's shape fields are ignored. `like`
 * must open as a model (train_model_open, with o->vocab/o->merges as the fallback tokenizer);
 * when it does not, or is dir itself, nothing is written. */
fp_status init_model_write_like(const char *dir, const char *like, const init_model_options *o,
                                fp_error *err);

#endif
