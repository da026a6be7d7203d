/* results_model.h — the runs of a database as `fedpep report` compares them (storage-internal;
 * see results_report.h): each run with its rounds, layers and parsed configuration, grouped into
 * settings (runs equal but for name, seed and database), and the per-run measures the page
 * tabulates. Reads the database through store_db only; computes, never writes. */
#ifndef FEDPEP_STORAGE_RESULTS_MODEL_H
#define FEDPEP_STORAGE_RESULTS_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/status.h"
#include "storage/store_db.h"

/* One "section.key = value" line of a run's stored configuration. */
typedef struct rm_kv {
    char key[64];
    char value[168];
} rm_kv;

typedef struct rm_run {
    store_run run;
    store_round *rounds;
    size_t n_rounds;
    store_layer *layers;
    size_t n_layers;
    rm_kv *kv; /* in the order of the stored text */
    size_t n_kv;
    int setting; /* index into rm_model.settings */
} rm_run;

/* One table of the page: the runs of one task on one model. A database may hold a task on
 * several models (issue 16: the deeper model's rows beside the default's); each is its own
 * table, with its own FedPrompt reference. */
typedef struct rm_task {
    const char *task;                   /* data.task, borrowed from its runs */
    const char *model;                  /* the runs' model, borrowed */
    char label[2 * STORE_TEXT_MAX + 8]; /* "sst-2"; "sst-2 on models/deep" off the main model */
    char slug[2 * STORE_TEXT_MAX + 8];  /* the label in file names: "sst-2", "sst-2-deep" */
} rm_task;

typedef struct rm_setting {
    int task;          /* index into rm_model.tasks */
    char variant[512]; /* "key=value, ..." where it departs from its task's common values */
    int *runs;         /* its runs (seeds), by run id */
    int n_runs;
} rm_setting;

typedef struct rm_model {
    rm_run *runs; /* runs with at least one committed round, by id */
    size_t n_runs;
    rm_setting *settings; /* by task, then the settings without a variant, then first run */
    size_t n_settings;
    rm_task *tasks; /* the main model's first, then by model, then by task name */
    size_t n_tasks;
    const char *main_model; /* the model most runs used (the first such on a tie), borrowed */
} rm_model;

/* Loads every run with a committed round, in one read snapshot. */
fp_status rm_load(store_db_t *db, rm_model *m, fp_error *err);
void rm_free(rm_model *m);

/* The value of "section.key" in the run's stored configuration; NULL when absent. */
const char *rm_value(const rm_run *r, const char *key);

/* What a run measured; NaN when it did not (no evaluation, no measured CPU time). */
typedef enum rm_measure {
    RM_BEST_GLOBAL, /* the global model's best metric over the rounds */
    RM_LAST_GLOBAL, /* ... at the last evaluated round */
    RM_BEST_POOLED, /* the pooled (personalised where the strategy is) metric */
    RM_LAST_POOLED,
    RM_CPU_S,     /* clients' training CPU seconds per round, summed over the clients */
    RM_CPU_MAX_S, /* the largest client's, per round */
    RM_KB_DOWN,   /* payload kB sent to clients per round */
    RM_KB_UP,     /* payload kB received per round */
    RM_SAMPLED,   /* clients sampled per round (every client row of the round) */
    RM_COMPLETED, /* clients aggregated per round */
    RM_DROPPED,   /* clients that dropped out, per round */
    RM_LATE,      /* clients whose update came after the deadline, per round */
    RM_MEASURE_COUNT,
} rm_measure;

double rm_run_measure(const rm_run *r, rm_measure which);

/* The number of rounds (1 = after the first) until the global metric first reaches threshold;
 * -1 when it never does. */
int rm_rounds_to(const rm_run *r, double threshold);

/* Mean and sample standard deviation of the finite values among v[0..n) (sd NaN below 2). */
typedef struct rm_stat {
    double mean, sd;
    int n;
} rm_stat;
rm_stat rm_stat_of(const double *v, int n);

/* "81.2" or "81.2 ± 0.4" (scaled); "-" when nothing was measured. Returns buf. */
const char *rm_format_stat(char *buf, size_t n, rm_stat s, double scale, int decimals);

/* The measure over a setting's runs. */
rm_stat rm_setting_stat(const rm_model *m, const rm_setting *s, rm_measure which);

/* How far two settings' means are apart, and whether that is more than their seeds' spread. */
typedef enum rm_verdict {
    RM_UNMEASURED,    /* either side measured nothing */
    RM_NOISE_UNKNOWN, /* one seed on a side and no typical spread to compare with */
    RM_WITHIN,        /* the gap is at most the spread */
    RM_HIGHER,        /* a above b beyond the spread */
    RM_LOWER,         /* a below b beyond the spread */
} rm_verdict;

typedef struct rm_gap {
    double d; /* a.mean - b.mean */
    rm_verdict v;
    bool one_seed; /* judged against typical_sd: a side had a single seed */
} rm_gap;

/* The spread two settings' means may differ by without meaning anything, in standard
 * deviations: their gap against the sum of their sample standard deviations. */
#define RM_NOISE_SDS 1.0

/* a against b. Both with several seeds: within noise when |d| <= RM_NOISE_SDS (sd_a + sd_b).
 * A side with one seed: the same against typical_sd for each side's sd (NaN: not judged). */
rm_gap rm_compare(rm_stat a, rm_stat b, double typical_sd);

/* "+1.2 | win (1 seed)": the gap in points (×100) and its verdict, two cells of a table;
 * "- | -" when unmeasured. Returns buf. */
const char *rm_format_gap(char *buf, size_t n, rm_gap g);

/* The mean sample standard deviation of `which` over the settings without variant that have
 * several seeds; NaN when there is none. */
double rm_typical_sd(const rm_model *m, rm_measure which);

/* The setting of the task with this strategy and no variant; NULL when there is none. */
const rm_setting *rm_main_setting(const rm_model *m, int task, const char *strategy);

#endif
