/* batch.h — examples → model batches (FEDPEPTAO.md §1).
 *
 * train_set_encode renders every example through its task's template (data/template.h) and
 * tokenises it once:
 *   encoder  <s> {template with one <mask>} </s> (<s>/</s> only if tok->wrap_bos_eos); target = the label word's id at the mask row;
 *   decoder  {x [+ s2]} It was / They are, followed at batch time by one class's label tokens,
 *            whose rows are the targets (prediction = the class with the lowest loss, one
 *            scoring pass per class).
 * The template's pieces are tokenised separately (RoBERTa's <mask> absorbs the blank before it;
 * a blank before a text piece goes with the text, as the whole-string BPE would do; only the
 * first piece gets a unigram tokenizer's dummy "▁", later ones continue the string, so the
 * joined ids are the whole string's, the mask's blank aside), so an input
 * longer than max_len loses tokens of its texts only — the longer of s1/s2 first, from the end —
 * never of the template, the mask or the cue words.
 * With the linear head the batch carries class labels and no LM targets.
 * A batch (train_batch_t) is padded to its longest row; its buffers are sized once.
 * Nothing here runs the model. */
#ifndef FEDPEP_TRAIN_BATCH_H
#define FEDPEP_TRAIN_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "data/dataset.h"
#include "data/task.h"
#include "model/model_config.h"
#include "model/transformer.h"
#include "train/tokenizer.h"

#define TRAIN_MAX_LABEL_TOKENS 8

typedef struct train_example {
    int *ids; /* [n] the prompt tokens (into the set's one allocation) */
    int n;
    int mask_pos; /* encoder: index of <mask> in ids; decoder: -1 */
    int label;
} train_example;

typedef struct train_set {
    const fp_task *task;
    bool decoder, linear_head;
    int n_classes;
    train_example *ex;
    size_t n;
    int *pool;                        /* every example's ids */
    int word_id[FP_TASK_MAX_CLASSES]; /* encoder: the label word's single token */
    int class_tokens[FP_TASK_MAX_CLASSES][TRAIN_MAX_LABEL_TOKENS]; /* decoder label tokens */
    int class_len[FP_TASK_MAX_CLASSES];
    int max_class_len; /* decoder: longest label; 0 with the linear head or encoders */
    int pad_id;
    int max_len;      /* longest full row (prompt + label tokens) of the set */
    size_t truncated; /* examples that lost tokens to max_len */
} train_set_t;

/* The longest token sequence (template included) the model can take with a prompt of P:
 * min(max_seq_len, position table rows left after the offset and the prefix). */
int train_max_len(const model_config *cfg, int P, int max_seq_len);

/* Encodes examples idx[0..n) of ds (idx NULL: all ds->n) with rows of at most max_len tokens.
 * FP_EFORMAT if a label word is not a single token (encoder) or longer than
 * TRAIN_MAX_LABEL_TOKENS (decoder), FP_ELIMIT if the template alone does not fit max_len. */
fp_status train_set_encode(train_tok_t *tok, const model_config *cfg, const dataset_t *ds,
                           const int *idx, size_t n, int max_len, bool linear_head,
                           train_set_t **out, fp_error *err);
void train_set_destroy(train_set_t **self_p);

/* One example's prompt ids as train_set_encode makes them (no truncation, no label checks),
 * appended to out; *mask_pos = the mask's index in out, or -1. For tests and tools. */
fp_status train_prompt_encode(train_tok_t *tok, const fp_task *task, bool decoder,
                              const fp_example *ex, tok_ids *out, int *mask_pos, fp_error *err);

/* Labels of the set's examples in order, into labels[n] (for partitioning). */
void train_set_labels(const train_set_t *s, int *labels);

typedef struct train_batch {
    int cap_B, cap_T;
    int *tokens, *mask, *targets, *labels; /* [cap_B][cap_T] ×3, [cap_B] */
    tf_batch view;                         /* what tf_forward takes, set by fill */
} train_batch_t;

/* Buffers for up to B rows of T tokens. NULL if out of memory. */
train_batch_t *train_batch_new(int B, int T);
void train_batch_destroy(train_batch_t **self_p);

/* The rows of examples idx[0..n) of s. cls < 0: each example with its own label (training);
 * cls >= 0 (decoder scoring): every example continued by class cls's label tokens. Padding:
 * set.pad_id with mask 0; T = the longest row. FP_ELIMIT if n or a row does not fit. */
fp_status train_batch_fill(train_batch_t *b, const train_set_t *s, const int *idx, int n, int cls,
                           fp_error *err);

/* Target rows a batch of B rows of s can carry at most (the arena's max_lm_rows). */
int train_set_max_lm_rows(const train_set_t *s, int B);

#endif
