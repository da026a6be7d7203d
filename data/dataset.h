/* dataset.h — strict loading of a task's TSV files into labelled examples.
 *
 * One loader, driven by the task table (task.h): it reads the whole file, checks every row
 * (column count, UTF-8, non-empty text, a known label) and fails on the first bad row with
 * `path:line: why` — it never skips a row. Texts are trimmed of surrounding blanks (SST-2 and MR
 * end every sentence with a space); a UTF-8 BOM and CRLF line ends are accepted.
 * Splits: train/eval files per the table; QNLI ships only dev here, so its train and eval
 * splits are a seeded, disjoint split of dev.tsv (eval = round(fraction * n) rows drawn with
 * rng_derive(seed, CARVE_TAG, 0), both kept in file order).
 * Nothing here tokenizes or touches the network. */
#ifndef FEDPEP_DATA_DATASET_H
#define FEDPEP_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "task.h"

typedef struct fp_example {
    const char *text_a; /* never NULL, never empty */
    const char *text_b; /* second sentence of pair tasks, else NULL */
    int label;          /* class index in [0, task->n_classes) */
    int line;           /* 1-based line in the source file, for messages */
} fp_example;

/* Read-only after loading, except through dataset_subsample. */
typedef struct dataset {
    const fp_task *task;
    fp_example *examples;
    size_t n;
    char *buf; /* the file's bytes; every text points into it */
} dataset_t;

/* Reads one TSV file laid out as task says. FP_ENOTFOUND/FP_EIO if it cannot be read,
 * FP_EFORMAT for a bad row (the message names path and line), FP_ELIMIT above 1 GiB. */
fp_status dataset_load_file(const fp_task *task, const char *path, dataset_t **out, fp_error *err);

/* Loads the task's train or eval split from dir/<folder>/. For a carved task (QNLI) seed and
 * eval_fraction (in (0, 1)) choose the split; other tasks ignore both. */
fp_status dataset_load(const fp_task *task, fp_split split, const char *dir, uint64_t seed,
                       double eval_fraction, dataset_t **out, fp_error *err);

/* Keeps a seeded random subset of max examples (all if max is 0 or >= n), in file order. */
fp_status dataset_subsample(dataset_t *ds, size_t max, uint64_t seed, fp_error *err);

/* counts[c] = examples of class c, for c < task->n_classes. */
void dataset_class_counts(const dataset_t *ds, size_t counts[FP_TASK_MAX_CLASSES]);

void dataset_destroy(dataset_t **ds);

#endif
