/* init_model.h — writes a randomly initialised RoBERTa-style model folder (config.json,
 * model.safetensors, and GPT-2's BPE tokenizer saved in RoBERTa's layout: vocab.json,
 * merges.txt) plus a PLACEHOLDER.txt saying it is untrained. `make run` uses it when
 * models/default is missing so a fresh machine can still run the whole system end to end.
 * This module must never overwrite an existing model folder's files it did not write. */
#ifndef FEDPEP_LAUNCH_INIT_MODEL_H
#define FEDPEP_LAUNCH_INIT_MODEL_H

#include <stdint.h>

#include "common/status.h"

typedef struct init_model_options {
    int layers;        /* L (default 4) */
    int d_model;       /* d (default 256) */
    int heads;         /* H (default 4); d must be a multiple */
    int d_ff;          /* MLP width (default 4 d) */
    int max_positions; /* longest sequence + RoBERTa's 2 offset rows (default 130) */
    float std;         /* init standard deviation (default 0.02) */
    uint64_t seed;     /* default 42 */
    const char *vocab, *merges; /* GPT-2's tokenizer files (required) */
} init_model_options;

void init_model_defaults(init_model_options *o);

/* Creates dir (and parents) and writes the model. FP_ENOTFOUND when the tokenizer files are
 * missing, FP_EINVAL for an impossible shape, FP_EIO when a file cannot be written. */
fp_status init_model_write(const char *dir, const init_model_options *o, fp_error *err);

#endif
