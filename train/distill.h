/* distill.h — `fedpep distill`: makes a deeper student encoder from a frozen teacher (USE-lite)
 * by distillation on text (distill_text.h) with the objective of distill_loss.h, through the C
 * core's full-weight gradients (tf_options.grads) and AdamW.
 *
 * The student is the teacher's config with another depth, width, head count, MLP width and
 * activation; its token, position and type embeddings start as the teacher's (the widths must
 * match) and may stay frozen; its blocks start random. The map M, b of the loss trains with it.
 *
 * Resumable and deterministic: out/distill/state.bin holds everything (weights, map, AdamW
 * moments, the standardisation, step and place in the epoch, the recipe), written atomically at
 * every checkpoint, so a run stopped at any moment (SIGINT/SIGTERM: a checkpoint first; kill -9:
 * the last checkpoint) continues to the same bytes as an uninterrupted one with the same thread
 * count. Every checkpoint also exports out/ as an ordinary model folder (config.json,
 * model.safetensors, the teacher's tokenizer files) and appends the held-out figures to
 * out/distill/log.tsv. Resuming with another recipe is refused, naming the difference. */
#ifndef FEDPEP_TRAIN_DISTILL_H
#define FEDPEP_TRAIN_DISTILL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/progress.h"
#include "common/status.h"
#include "train/distill_loss.h"

#define DISTILL_MAX_FILES 8

typedef struct distill_options {
    /* what */
    const char *teacher_dir;  /* the teacher model folder (models/default) */
    const char *out_dir;      /* the student model folder, made or resumed */
    const char *datasets_dir; /* tasks' training text (NULL: none) */
    uint32_t task_mask;       /* which tasks' training splits (bit = fp_task_id) */
    const char *files[DISTILL_MAX_FILES];
    int n_files;
    /* the recipe (stored in the state; a resume must match) */
    int layers, d_model, heads, d_ff;
    bool relu;             /* false: GELU */
    bool train_embeddings; /* false: the teacher's embeddings stay frozen */
    int batch, max_len;    /* sentences per step, ids per sentence */
    uint64_t steps;        /* total optimizer steps */
    int warmup;            /* linear warm-up steps */
    double lr, lr_final;   /* peak, and the end of the linear decay (as a fraction of lr) */
    double weight_decay, clip;
    float init_std;
    distill_weights w;
    uint64_t seed;
    /* how (not part of the recipe) */
    double for_seconds;      /* stop (with a checkpoint) after this much CPU time; 0: no limit */
    double checkpoint_every; /* CPU seconds between checkpoints */
    int eval_every;          /* steps between held-out evaluations */
    int held_max;            /* held-out sentences evaluated */
    progress_t *progress;    /* may be NULL */
    volatile int *stop;      /* set nonzero (a signal): checkpoint and return */
} distill_options;

/* The shipped recipe (docs in models/deep/MODEL.md). */
void distill_defaults(distill_options *o);

/* The recipe as "key = value" lines (what state.bin stores and a resume compares). */
void distill_recipe_text(const distill_options *o, char *buf, size_t n);

typedef struct distill_result {
    uint64_t step;      /* steps done in all */
    bool finished;      /* step == steps */
    double tokens;      /* tokens seen in all */
    double cpu_s;       /* CPU seconds in all (every invocation) */
    bool evaluated;     /* this invocation evaluated the held-out text */
    distill_parts held; /* its last held-out figures */
} distill_result;

/* Runs (or resumes) until the recipe's steps are done, for_seconds pass or *stop is set. Lines
 * about the text, the evaluations and checkpoints go to log (may be NULL). */
fp_status distill_run(const distill_options *o, FILE *log, distill_result *res, fp_error *err);

#endif
