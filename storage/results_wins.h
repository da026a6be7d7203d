/* results_wins.h — the "Wins and losses" section of `fedpep report`'s page (storage-internal,
 * see results_report.h): FedPepTAO against every other strategy, task by task, on the global
 * and on the pooled metric, each gap judged against the seeds' spread, then counted per
 * baseline — so the page's conclusions are computed from the database, never typed. */
#ifndef FEDPEP_STORAGE_RESULTS_WINS_H
#define FEDPEP_STORAGE_RESULTS_WINS_H

#include <stdio.h>

#include "storage/results_model.h"

/* The section; nothing when the model has no FedPepTAO setting without variant. */
void results_write_wins(FILE *out, const rm_model *m);

#endif
