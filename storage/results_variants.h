/* results_variants.h — the "Variants against their strategy" section of `fedpep report`'s page
 * (storage-internal, see results_report.h): every setting with a variant (an ablation such as
 * no server momentum or another ρ, client dropout and stragglers, an availability trace)
 * against the same strategy without variant on the same task and model, at equal rounds, each
 * gap judged against the seeds' spread like the wins and losses, with the clients aggregated,
 * dropped and late per round — issue 16's ablations and robustness, read off the database. */
#ifndef FEDPEP_STORAGE_RESULTS_VARIANTS_H
#define FEDPEP_STORAGE_RESULTS_VARIANTS_H

#include <stdio.h>

#include "storage/results_model.h"

/* The section; nothing when no setting with a variant has its strategy without variant beside
 * it. */
void results_write_variants(FILE *out, const rm_model *m);

#endif
