/* console.h — what `fedpep launch` shows while a run goes: one line per newly committed round,
 * read from the run database opened read-only; between them a progress line (common/progress.h:
 * "round 2 (3 of 5) running  ETA 12 s", live on a terminal, every 10 s into a file); and the
 * supervisor's process events, held back and written after the round lines committed before
 * them, so that the last round's line comes before "coordinator exited".
 * Rounds are numbered as the database numbers them, from 0: "round 4 (5 of 5)".
 * It also knows how far the run is (for the launcher's timing of faults).
 * This module must never write the database and never fail a run: a database that does not
 * exist yet, or a read that fails, just means "no progress to report right now". */
#ifndef FEDPEP_LAUNCH_CONSOLE_H
#define FEDPEP_LAUNCH_CONSOLE_H

#include <stdbool.h>
#include <stdio.h>

#include "common/progress.h"

typedef struct console console_t;

/* Round lines and the progress line go to po->out (NULL po: stdout, live when a terminal);
 * events is where the held process events end up. Strings are copied. NULL when out of
 * memory. */
console_t *console_new(const char *db_path, const char *run_name, int total_rounds, FILE *events,
                       const progress_options *po);

/* Writes the held events, erases the progress line, frees; accepts NULL and *c_p == NULL. */
void console_destroy(console_t **c_p);

/* The stream to give the supervisor for its event lines: they are held until the next
 * console_poll (the events stream itself if holding is impossible; NULL for a NULL console). */
FILE *console_events(console_t *c);

/* Reads the database and prints the rounds committed since the last call, then the events held
 * since the last call, then the progress line when due. Returns the number of committed rounds
 * (= the round now in progress), or -1 while the run is not in the database. */
int console_poll(console_t *c);

/* Mean wall time of the committed rounds seen (the database's wall_ms), ms; fallback when none
 * yet. */
double console_mean_round_ms(const console_t *c, double fallback);

/* Whether the run's status in the database is "finished" (as of the last poll). */
bool console_finished(const console_t *c);

#endif
