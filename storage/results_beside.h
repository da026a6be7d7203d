/* results_beside.h — the "Models side by side" section of `fedpep report`'s page
 * (storage-internal, see results_report.h): a task recorded on several models (issue 16: the
 * deeper model's SST-2, MR and TREC rows beside the default model's) as one table, strategy by
 * strategy, each model's best global and pooled metric and client CPU per round in adjacent
 * columns. Settings with a variant stay in their own task tables only. */
#ifndef FEDPEP_STORAGE_RESULTS_BESIDE_H
#define FEDPEP_STORAGE_RESULTS_BESIDE_H

#include <stdio.h>

#include "storage/results_model.h"

/* The section; nothing when no task was recorded on more than one model. */
void results_write_beside(FILE *out, const rm_model *m);

#endif
