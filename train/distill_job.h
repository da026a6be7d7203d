/* distill_job.h — what one distillation run holds, shared by its lifecycle (distill.c: set-up,
 * checkpoints, the loop) and its arithmetic (distill_step.c: batches, the loss, one optimizer
 * step, the held-out figures). Internal to train/. */
#ifndef FEDPEP_TRAIN_DISTILL_JOB_H
#define FEDPEP_TRAIN_DISTILL_JOB_H

#include <stdio.h>

#include "model/transformer.h"
#include "train/distill.h"
#include "train/distill_loss.h"
#include "train/distill_state.h"
#include "train/distill_text.h"
#include "train/model_bundle.h"

enum { DISTILL_RECIPE_MAX = 2048 };

typedef struct distill_job {
    const distill_options *o;
    FILE *log;
    train_model_t *teacher;
    distill_text text;
    model_config cfg; /* the student's */
    tf_weights w, g;
    size_t emb_off; /* first trainable float of the block */
    distill_state st;
    float *dmap;
    tf_acts_t *t_acts, *s_acts;
    distill_loss_t *loss;
    float *dh_s; /* [B][T][d_s] */
    int *tokens, *mask;
    int *order;     /* this epoch's sentences, batch after batch */
    size_t *bstart; /* [n_batches + 1] into order */
    size_t n_batches;
    uint32_t order_epoch; /* epoch order was made for (UINT32_MAX: none) */
    char recipe[DISTILL_RECIPE_MAX];
    char path[4096];
} distill_job;

static inline size_t distill_seq_len(const distill_seqs *q, size_t i)
{
    return q->start[i + 1] - q->start[i];
}

/* μ, σ of the teacher's last hidden states over the real rows of the first training sentences. */
fp_status distill_standardisation(distill_job *r, fp_error *err);
/* The learning rate of step t (1-based): linear warm-up, then linear decay to lr·lr_final. */
double distill_lr_at(const distill_options *o, uint64_t t);
/* One optimizer step on the next batch of the epoch; advances step, epoch and batch position. */
fp_status distill_train_step(distill_job *r, distill_parts *parts, fp_error *err);
/* The loss terms over the first held_max held-out sentences. */
fp_status distill_evaluate_held(distill_job *r, distill_parts *out, fp_error *err);

#endif
