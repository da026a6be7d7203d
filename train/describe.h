/* describe.h — zero-shot classification by label descriptions: each class is a short sentence
 * built from the task's template and verbalizer word ("It was great ."), encoded by the frozen
 * model; the linear head's row of class c is the unit vector of that sentence's mean-pooled last
 * hidden state, so the head's argmax is the class whose description is closest in cosine (the
 * zero-shot of a sentence encoder without an LM head, USE-LITE.md §1.7 (a)). It is also a
 * trained head's starting point. Never touches the prompt. */
#ifndef FEDPEP_TRAIN_DESCRIBE_H
#define FEDPEP_TRAIN_DESCRIBE_H

#include <stddef.h>

#include "common/status.h"
#include "data/task.h"
#include "train/model_bundle.h"

/* The description of class c into out (cap bytes): the encoder template rendered with empty
 * texts and the label word in place of the mask, without the leading blanks and punctuation the
 * empty text leaves ("It was great ."; TREC "Description :"). FP_EINVAL / FP_ELIMIT. */
fp_status train_class_description(const fp_task *task, int c, char *out, size_t cap,
                                  fp_error *err);

/* head [C][d] + [C] (the layout of tf_cls_head W then b): row c = unit mean pool of the
 * description of class c through m with no prompt, bias 0. */
fp_status train_head_from_descriptions(const train_model_t *m, const fp_task *task, float *head,
                                       fp_error *err);

/* The class the linear head (layout as above) gives one text through m with no prompt, in
 * *cls. For checks and demonstrations; batches go through train/evaluate.h. */
fp_status train_head_classify(const train_model_t *m, const float *head, int n_classes,
                              const char *text, int *cls, fp_error *err);

#endif
