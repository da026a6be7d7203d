/* distill_state.h — what a distillation run is at a checkpoint, and its file out/distill/
 * state.bin: "FPDS", u32 version 1, the recipe text, step, place in the epoch, tokens and CPU
 * seconds so far, the student's weight block, the loss's map, the standardisation, and both AdamW
 * states (fl_adamw blobs); all little-endian. Loading checks every length against the file and
 * the sizes the caller expects, so a damaged file is refused with its cause, never half read. */
#ifndef FEDPEP_TRAIN_DISTILL_STATE_H
#define FEDPEP_TRAIN_DISTILL_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "fl/adamw.h"

typedef struct distill_state {
    char *recipe;         /* owned, NUL-terminated */
    uint64_t step;        /* optimizer steps done */
    uint32_t epoch;       /* current epoch */
    uint32_t batch_pos;   /* next batch of the epoch */
    double tokens, cpu_s; /* so far, over every invocation */
    float *block;         /* [numel] student weights (tf_weights block order) */
    size_t numel;
    float *map; /* [map_n]: M [d_t][d_s] then b [d_t] */
    size_t map_n;
    float *mu, *sigma; /* [d_t] each */
    int d_t;
    size_t n_trainable; /* the weights AdamW steps: block[numel − n_trainable ..] */
    fl_adamw_t *opt_w, *opt_map;
} distill_state;

/* Writes s to path atomically. */
fp_status distill_state_save(const distill_state *s, const char *path, fp_error *err);

/* Frees recipe, opt_w and opt_map (what load makes) and sets them NULL. */
void distill_state_free_owned(distill_state *s);

/* Reads path into *s, whose numel, n_trainable, map_n and d_t say what the caller expects (a
 * mismatch is FP_EFORMAT naming the field); the buffers block, map, mu, sigma must be allocated by
 * the caller and are filled; recipe, opt_w and opt_map are made (free them with
 * distill_state_free_owned, also after a failure). FP_ENOTFOUND when there is no file. */
fp_status distill_state_load(distill_state *s, const char *path, fp_error *err);

#endif
