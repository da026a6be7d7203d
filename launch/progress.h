/* progress.h — the launcher's view of a run: reads the run database read-only, prints one line
 * per newly committed round, and knows how far the run is (for the ETA and for timing faults).
 * This module must never write the database and never fail a run: a database that does not
 * exist yet, or a read that fails, just means "no progress to report right now". */
#ifndef FEDPEP_LAUNCH_PROGRESS_H
#define FEDPEP_LAUNCH_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "storage/store_db.h"

typedef struct progress progress_t;

/* Strings are copied. NULL only when out of memory. */
progress_t *progress_new(const char *db_path, const char *run_name, int total_rounds, FILE *out);
void progress_destroy(progress_t **p);

/* Reads the database and prints the rounds committed since the last call. Returns the number of
 * committed rounds (= the round now in progress), or -1 while the run is not in the database. */
int progress_poll(progress_t *p);

/* Mean wall time of the committed rounds seen, ms; fallback when none yet. */
double progress_mean_round_ms(const progress_t *p, double fallback);

/* Whether the run's status in the database is "finished" (as of the last poll). */
bool progress_finished(const progress_t *p);

#endif
