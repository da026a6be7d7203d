/* transformer.h — one forward/backward code path for RoBERTa-style encoders and GPT-2-style
 * decoders with a deep prompt (P-tuning v2 prefixes), an MLM/LM head evaluated only at the rows
 * that carry a target, and an optional linear classification head.
 *
 * Prompt tuning updates only the deep prompt E [P][L][2][d] (s=0 keys, s=1 values), optionally an
 * input soft prompt and the linear head; the transformer weights are frozen and read-only.
 * Backward therefore computes activation gradients only, and only down to the lowest layer whose
 * prefix is trainable: layers below it run forward only and keep no activations. Full weight
 * gradients (pretraining fedpep's default model) are an option through the same kernels
 * (tf_options.grads).
 *
 * Activations live in one arena (tf_acts_t) sized once for (B, T, P, number of layers that keep
 * activations, LM rows, classes) and reused by every step: no allocation per step.
 * This file must never write to the weights or keep pointers to caller buffers beyond one
 * forward/backward pair. */
#ifndef FEDPEP_MODEL_TRANSFORMER_H
#define FEDPEP_MODEL_TRANSFORMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "model/model_config.h"
#include "model/weights.h"

/* The deep prompt of one forward pass. */
typedef struct tf_prompt {
    int P;                  /* prefix length (0: the plain model) */
    const float *E;         /* [P][L][2][d]; E[p][l][0] key p of layer l, E[p][l][1] value p.
                               Block 0 of a model with d_embed < d reads (and backward writes)
                               only the first d_embed floats of its rows. */
    const bool *present;    /* [L]: layer l sees its prefix (NULL: all layers) */
    const bool *trainable;  /* [L]: dE wanted for layer l (NULL: none); requires present */
    float *dE;              /* [P][L][2][d]: backward OVERWRITES the rows of trainable layers and
                               leaves the others untouched */
    /* Input soft prompt (prompt tuning, Lester et al.; the fedavg-input baseline): P_in virtual
     * tokens whose embeddings I replace the word embedding, prepended to every example. They are
     * real tokens to attention and positions (RoBERTa: offset + P + p, or offset + p with
     * prefix_keeps_positions, then the text), excluded
     * from the linear head's mean pool. 0/NULL: none. */
    int P_in;
    const float *input;     /* [P_in][d], the first d_embed of each row used (named so: complex.h
                               defines I) */
    float *d_input;         /* [P_in][d]: OVERWRITTEN by backward when not NULL (trainable); the
                               floats beyond d_embed are zero */
} tf_prompt;

/* An optional linear classifier over the mean of the last hidden states of real tokens
 * (prefix excluded): logits[b] = W · mean_t h[b][t] + bias. Trained with the prompt. */
typedef struct tf_cls_head {
    int n_classes;   /* C */
    const float *W;  /* [C][d] */
    const float *b;  /* [C] */
    float *dW, *db;  /* [C][d], [C]: backward OVERWRITES them (NULL: not wanted) */
} tf_cls_head;

typedef struct tf_batch {
    int B, T;
    const int *tokens;  /* [B][T] */
    const int *mask;    /* [B][T] nonzero = real token, 0 = padding (NULL: all real) */
    const int *targets; /* [B][T] LM target id for the row's logits, -1 = none (NULL: no LM
                           loss). Encoder: the label word at <mask>; decoder: the NEXT token at
                           each row whose next token is a label token. */
    const int *labels;  /* [B] class for the linear head (NULL: no head loss) */
} tf_batch;

typedef struct tf_options {
    bool grad;            /* keep what backward needs (false: inference, nothing saved) */
    bool keep_all_layers; /* keep every layer's output (layer scoring); needs saved_layers = L */
    float dropout;        /* embeddings, attention probabilities, both residual branches */
    float prefix_dropout; /* on the prefix, per example */
    uint64_t seed;        /* dropout stream of this step */
    tf_weights *grads;    /* pretraining only: non-NULL also ADDS every weight's gradient into
                             these buffers (made by tf_weights_init_zero; the caller zeroes them
                             between steps, so micro-batches accumulate). Needs grad = true and an
                             arena with weight_grads. */
} tf_options;

/* Arena sizing. */
typedef struct tf_acts_spec {
    int B, T, P;
    int saved_layers; /* how many top layers can keep activations (L - lowest trainable) */
    int max_lm_rows;  /* rows with a target per batch, at most */
    int max_classes;  /* 0 without a classification head */
    bool weight_grads; /* keep the inputs of every weight product (full-weight training);
                          needs saved_layers = L */
    int P_in;          /* longest input soft prompt (the arena holds T + P_in rows per example;
                          a trainable one needs saved_layers = L) */
} tf_acts_spec;

typedef struct tf_acts tf_acts_t;

/* Allocates the arena for cfg and spec. NULL with err on bad sizes or out of memory. */
tf_acts_t *tf_acts_new(const model_config *cfg, tf_acts_spec spec, fp_error *err);
void tf_acts_destroy(tf_acts_t **self_p);
/* Bytes the arena holds (for reports and memory budgets). */
size_t tf_acts_bytes(const tf_acts_t *self);

/* Outputs of the last forward pass. */
typedef struct tf_result {
    float loss;     /* lm_loss + cls_loss of what was asked for */
    float lm_loss;  /* mean CE over all rows with a target (0 when none) */
    float cls_loss; /* mean CE of the head over the batch (0 when no labels) */
    int lm_rows;    /* number of rows with a target */
} tf_result;

/* Runs the model on batch. Validates every id against the tables (bad input is FP_EINVAL, never
 * a crash) and the sizes against the arena (FP_ELIMIT). head may be NULL. The buffers of batch,
 * prompt and head must stay unchanged until tf_backward returns. */
fp_status tf_forward(tf_acts_t *acts, const model_config *cfg, const tf_weights *w,
                     const tf_prompt *prompt, const tf_cls_head *head, const tf_batch *batch,
                     const tf_options *opt, tf_result *res, fp_error *err);

/* Gradients of res->loss of the last forward pass: dE rows of trainable layers and the head's
 * dW/db. FP_ESTATE if the forward pass did not keep what is needed (opt->grad false). */
fp_status tf_backward(tf_acts_t *acts, fp_error *err);

/* tf_backward with extra gradients on the blocks' outputs: dout_layers[l] (NULL, or a NULL
 * entry: none) is added to the gradient of block l's output [B][P_in + T][d] (before GPT-2's
 * ln_f) — the loss of a caller that reads tf_acts_layer_output or tf_acts_hidden itself, such as
 * distillation. Rows of padding should carry zeros. Seeds below the lowest block backward visits
 * change nothing wanted and are not read. FP_ESTATE as tf_backward, or when the last block kept
 * only its target rows. */
fp_status tf_backward_seeded(tf_acts_t *acts, const float *const *dout_layers, fp_error *err);

/* Views into the arena after a forward pass (valid until the next forward pass). */
/* Logits [lm_rows][V] of the rows with a target, in (b, t) order; row r is batch row
 * row_index[r] = b·T + t. */
const float *tf_acts_lm_logits(const tf_acts_t *self, const int **row_index, int *n_rows);
/* Per-example mean LM loss [B] over its target rows (0 for an example without targets). */
const float *tf_acts_example_loss(const tf_acts_t *self);
/* Classification logits [B][C] (NULL without head). */
const float *tf_acts_cls_logits(const tf_acts_t *self);
/* Last hidden states [B][P_in + T][d] (after ln_f for GPT-2; the input prompt's rows first), or
 * NULL when the last block computed only the target rows. */
const float *tf_acts_hidden(const tf_acts_t *self);
/* Output of block l [B][P_in + T][d], or NULL if that layer kept nothing (see
 * keep_all_layers). */
const float *tf_acts_layer_output(const tf_acts_t *self, int l);

/* Blocks the last tf_backward went through, and the lowest of them in *lowest (L if none):
 * lets tests prove that layers below the lowest trainable one do no backward work. */
int tf_acts_backward_layers(const tf_acts_t *self, int *lowest);

/* What the bf16 products of this arena did so far (all zero when its weights had no bf16
 * copies): primitives made, products run, products that had to fall back to fp32. */
mm_bf16_stats tf_acts_bf16_stats(const tf_acts_t *self);

/* Index of E[p][l][s][0] in the [P][L][2][d] layout. */
static inline size_t tf_prompt_index(int L, int d, int p, int l, int s)
{
    return (((size_t)p * L + l) * 2 + s) * (size_t)d;
}

#endif
