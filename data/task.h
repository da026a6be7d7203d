/* task.h — the nine classification tasks as data: where their files are, how their columns are
 * laid out, their classes, label words, template and metric (FEDPEPTAO.md §1 and §5,
 * ASSETS.md). One table drives the loader, the templates and the metrics; nothing here knows the
 * tokenizer or the model. */
#ifndef FEDPEP_DATA_TASK_H
#define FEDPEP_DATA_TASK_H

#include <stdbool.h>

#include "common/config.h"

#define FP_TASK_MAX_CLASSES 6

typedef enum fp_metric {
    FP_METRIC_ACCURACY,
    FP_METRIC_MCC,    /* Matthews correlation (CoLA) */
    FP_METRIC_ACC_F1, /* (accuracy + F1 of class 1) / 2 (MRPC) */
    FP_METRIC_COUNT
} fp_metric;

/* Which template shape a task uses (see template.h for the exact strings). */
typedef enum fp_template_kind {
    FP_TEMPLATE_SINGLE,    /* "{x} . It was <mask> ."      decoder: "{x} It was"        */
    FP_TEMPLATE_PAIR,      /* "{s1} ? <mask> , {s2}"       decoder: "{s1} {s2} They are" */
    FP_TEMPLATE_MASK_FIRST /* "<mask> : {x}"  (TREC)       decoder: "{x} It was"        */
} fp_template_kind;

typedef enum fp_split { FP_SPLIT_TRAIN, FP_SPLIT_EVAL } fp_split;

typedef struct fp_task {
    fp_task_id id;
    const char *name;       /* as in the config: "sst-2" */
    const char *folder;     /* under the datasets folder */
    const char *train_file; /* "train.tsv"; QNLI: "dev.tsv" (carved, see carve) */
    const char *eval_file;  /* "dev.tsv" for GLUE, "test.tsv" for mr, subj, mpqa, trec */
    bool carve;             /* train and eval are a seeded split of one file (QNLI) */
    /* Layout: exact number of tab-separated columns, where text and label sit. */
    const char *header; /* expected first column of the header line; NULL = no header */
    int columns;
    int text_a_col;
    int text_b_col; /* -1 for single-sentence tasks */
    int label_col;
    /* Classes, in class-index order: the label as written in the file, a readable name, the
     * verbalizer word (one BPE token with its leading space) for encoders and for decoders. */
    int n_classes;
    const char *labels[FP_TASK_MAX_CLASSES];
    const char *class_names[FP_TASK_MAX_CLASSES];
    const char *label_words[FP_TASK_MAX_CLASSES];
    const char *decoder_words[FP_TASK_MAX_CLASSES];
    fp_template_kind template_kind;
    fp_metric metric;
} fp_task;

/* The task with this id; NULL if out of range. */
const fp_task *task_get(fp_task_id id);

/* The task with this config name ("sst-2"); NULL if none. */
const fp_task *task_find(const char *name);

/* "accuracy", "mcc", "acc+f1"; "?" out of range. */
const char *metric_name(fp_metric metric);

#endif
