/* results_report.h — `fedpep report`: the comparison of the strategies recorded in one run
 * database, as a Markdown page and one SVG figure per task, generated from the database alone.
 *
 * Runs whose stored configurations differ only in run.name, run.seed and run.db are one
 * *setting* (their seeds: mean ± sample standard deviation). A setting is labelled by its task,
 * its strategy and its *variant*: the options in which it differs from the most common value
 * among the runs of its task (ablations, faults), so nothing in the page is typed by hand.
 *
 * Deterministic: the same database and arguments give the same bytes (no clock, no locale, no
 * path but the ones given). Reads inside one snapshot; never writes the database. Every file is
 * written to a temporary name and renamed into place, so a failure leaves no half file. */
#ifndef FEDPEP_STORAGE_RESULTS_REPORT_H
#define FEDPEP_STORAGE_RESULTS_REPORT_H

#include "common/status.h"
#include "storage/store_db.h"

/* The task's metric in words ("accuracy", "MCC", ...), or NULL when unknown. */
typedef const char *results_metric_name_fn(const char *task);

typedef struct results_report_options {
    const char *db_label; /* the database as the regenerating command names it */
    const char *md_path;  /* the page; figures go beside it as STEM-TASK.svg */
    results_metric_name_fn *metric_name;
} results_report_options;

/* Writes the page and its figures. FP_ENOTFOUND when the database holds no run with a
 * committed round; FP_EIO when a file cannot be written; database errors as store_db_*. */
fp_status results_report_write(store_db_t *db, const results_report_options *o, fp_error *err);

#endif
