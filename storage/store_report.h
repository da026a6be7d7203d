/* store_report.h — what `fedpep history` and `fedpep plot` print about the runs in a database:
 * the runs list, a run's round table, a round's client rows (aligned text or CSV), and the
 * per-round series a plot draws.
 *
 * Every report reads inside one snapshot (store_db_read_begin/end), so it is consistent while
 * the store commits rounds; it works on a read-only handle and must never write. Absent values
 * (NULL in the database) print as "-" in text and as an empty field in CSV. */
#ifndef FEDPEP_STORAGE_STORE_REPORT_H
#define FEDPEP_STORAGE_STORE_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/status.h"
#include "storage/store_db.h"

typedef enum store_report_format {
    STORE_REPORT_TEXT, /* aligned columns for people */
    STORE_REPORT_CSV,  /* RFC 4180: a header row, comma-separated, quoted where needed */
} store_report_format;

/* All runs: id, name, task, strategy, status, rounds (committed), best_metric, created (UTC). */
fp_status store_report_runs(store_db_t *db, FILE *out, store_report_format format,
                            fp_error *err);

/* The run (by name, or by id when no run has that name and it is a number) into *out.
 * FP_ENOTFOUND naming the run and the file. Release with store_run_clear. */
fp_status store_report_find_run(store_db_t *db, const char *run, store_run *out, fp_error *err);

/* The round table of a run: round, status, sampled, ok, dropped, late, train_loss, metric,
 * bytes_down, bytes_up, wall_s, slowest_s, global (the global model's metric on the whole
 * evaluation split), cpu_s (the aggregated clients' training CPU seconds, summed); in text
 * preceded by a line describing the run. */
fp_status store_report_rounds(store_db_t *db, const char *run, FILE *out,
                              store_report_format format, fp_error *err);

/* The client rows of one round: client, status, n_k, steps, loss, seconds. FP_ENOTFOUND when
 * the run has no such round. */
fp_status store_report_clients(store_db_t *db, const char *run, int32_t round, FILE *out,
                               store_report_format format, fp_error *err);

/* Writes the SVG plot of a run (eval metric, train loss, bytes per round; see svg_plot.h). */
fp_status store_report_plot(store_db_t *db, const char *run, FILE *out, fp_error *err);

#endif
