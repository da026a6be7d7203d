/* store_report.c — the reports of `fedpep history` and `fedpep plot` (see store_report.h).
 * A report first collects its cells as strings in a table, then prints them aligned or as CSV,
 * so both formats show the same values. It must never write to the database. */
#include "storage/store_report.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "storage/svg_plot.h"

enum { CELL_MAX = STORE_TEXT_MAX + 1, MAX_COLS = 16 };

typedef struct table {
    size_t cols, rows, cap;
    const char *const *header;
    const char *right; /* per column: 'r' right-aligned (numbers), 'l' left */
    char (*cells)[CELL_MAX];
} table;

static fp_status table_row(table *t, fp_error *err)
{
    if (t->rows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        void *p = realloc(t->cells, cap * t->cols * sizeof *t->cells);
        if (!p)
            return fp_fail(err, FP_ENOMEM, "no memory for a %zu-row report", cap);
        t->cells = p;
        t->cap = cap;
    }
    memset(t->cells[t->rows * t->cols], 0, t->cols * sizeof *t->cells);
    t->rows++;
    return FP_OK;
}

/* Cell c of the last row. */
static char *cell(table *t, size_t c)
{
    return t->cells[(t->rows - 1) * t->cols + c];
}

/* Absent values: "-" for people, an empty field for machines. */
static void put_real(table *t, size_t c, double v, const char *fmt, store_report_format f)
{
    if (isnan(v))
        snprintf(cell(t, c), CELL_MAX, "%s", f == STORE_REPORT_CSV ? "" : "-");
    else
        snprintf(cell(t, c), CELL_MAX, fmt, v);
}

static void put_int(table *t, size_t c, int64_t v, store_report_format f)
{
    if (v < 0)
        snprintf(cell(t, c), CELL_MAX, "%s", f == STORE_REPORT_CSV ? "" : "-");
    else
        snprintf(cell(t, c), CELL_MAX, "%" PRId64, v);
}

static void put_seconds(table *t, size_t c, int64_t ms, store_report_format f)
{
    put_real(t, c, ms < 0 ? NAN : (double)ms / 1000.0, "%.2f", f);
}

static void put_csv_field(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static fp_status table_print(const table *t, FILE *out, store_report_format f, fp_error *err)
{
    size_t width[MAX_COLS] = {0};
    for (size_t c = 0; c < t->cols; c++) {
        width[c] = strlen(t->header[c]);
        for (size_t r = 0; r < t->rows; r++) {
            size_t n = strlen(t->cells[r * t->cols + c]);
            width[c] = n > width[c] ? n : width[c];
        }
    }
    for (size_t r = 0; r <= t->rows; r++) {
        for (size_t c = 0; c < t->cols; c++) {
            const char *s = r == 0 ? t->header[c] : t->cells[(r - 1) * t->cols + c];
            if (f == STORE_REPORT_CSV) {
                if (c)
                    fputc(',', out);
                put_csv_field(out, s);
            } else if (c + 1 == t->cols && t->right[c] != 'r') {
                fputs(s, out); /* no trailing blanks */
            } else {
                fprintf(out, t->right[c] == 'r' ? "%*s" : "%-*s", (int)width[c], s);
                if (c + 1 < t->cols)
                    fputs("  ", out);
            }
        }
        fputc('\n', out);
    }
    if (ferror(out))
        return fp_fail(err, FP_EIO, "cannot write the report");
    return FP_OK;
}

static void format_time_utc(char *buf, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || !gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm))
        snprintf(buf, n, "-");
}

/* Best (largest) eval metric among rounds; NaN if none was evaluated. */
static double best_metric(const store_round *rounds, size_t n)
{
    double best = NAN;
    for (size_t i = 0; i < n; i++)
        if (!isnan(rounds[i].eval_metric) && !(rounds[i].eval_metric <= best))
            best = rounds[i].eval_metric;
    return best;
}

/* Runs f(db, arg) inside one read snapshot. */
static fp_status in_snapshot(store_db_t *db, fp_status (*f)(store_db_t *, void *, fp_error *),
                             void *arg, fp_error *err)
{
    fp_status st = store_db_read_begin(db, err);
    if (st)
        return st;
    st = f(db, arg, err);
    fp_error end_err = {0};
    fp_status end = store_db_read_end(db, &end_err);
    if (!st && end) {
        *err = end_err;
        st = end;
    }
    return st;
}

/* ---- runs ---- */

typedef struct runs_args {
    FILE *out;
    store_report_format format;
} runs_args;

static fp_status runs_report(store_db_t *db, void *arg, fp_error *err)
{
    static const char *const HEADER[] = {"id",     "name",   "task",        "strategy",
                                         "status", "rounds", "best_metric", "created"};
    runs_args *a = arg;
    table t = {.cols = 8, .header = HEADER, .right = "rllllrrl"};
    store_run *runs = NULL;
    size_t n = 0;
    fp_status st = store_db_runs_list(db, &runs, &n, err);
    for (size_t i = 0; !st && i < n; i++) {
        store_round *rounds = NULL;
        size_t nr = 0;
        st = store_db_rounds_list(db, runs[i].id, &rounds, &nr, err);
        if (!st)
            st = table_row(&t, err);
        if (!st) {
            put_int(&t, 0, runs[i].id, a->format);
            snprintf(cell(&t, 1), CELL_MAX, "%s", runs[i].name);
            snprintf(cell(&t, 2), CELL_MAX, "%s", runs[i].task);
            snprintf(cell(&t, 3), CELL_MAX, "%s", runs[i].strategy);
            snprintf(cell(&t, 4), CELL_MAX, "%s", store_run_status_name(runs[i].status));
            put_int(&t, 5, (int64_t)nr, a->format);
            put_real(&t, 6, best_metric(rounds, nr), "%.4f", a->format);
            format_time_utc(cell(&t, 7), CELL_MAX, runs[i].created_ms);
        }
        free(rounds);
    }
    if (!st)
        st = table_print(&t, a->out, a->format, err);
    free(t.cells);
    store_runs_free(&runs, n);
    return st;
}

fp_status store_report_runs(store_db_t *db, FILE *out, store_report_format format, fp_error *err)
{
    runs_args a = {out, format};
    return in_snapshot(db, runs_report, &a, err);
}

fp_status store_report_find_run(store_db_t *db, const char *run, store_run *out, fp_error *err)
{
    fp_status st = store_db_run_find(db, run, out, err);
    if (st != FP_ENOTFOUND)
        return st;
    char *end = NULL;
    long long id = strtoll(run, &end, 10);
    if (*run && !*end && id > 0 && store_db_run_get(db, id, out, NULL) == FP_OK)
        return FP_OK;
    return fp_fail(err, FP_ENOTFOUND, "%s: no run named '%s' (`fedpep history %s` lists them)",
                   store_db_path(db), run, store_db_path(db));
}

/* ---- rounds ---- */

typedef struct rounds_args {
    const char *run;
    int32_t round; /* clients report: which round */
    FILE *out;
    store_report_format format;
} rounds_args;

static fp_status rounds_report(store_db_t *db, void *arg, fp_error *err)
{
    static const char *const HEADER[] = {
        "round",  "status",     "sampled",  "ok",     "dropped",   "late",   "train_loss",
        "metric", "bytes_down", "bytes_up", "wall_s", "slowest_s", "global", "cpu_s"};
    rounds_args *a = arg;
    store_run run = {0};
    fp_status st = store_report_find_run(db, a->run, &run, err);
    if (st)
        return st;
    table t = {.cols = 14, .header = HEADER, .right = "rlrrrrrrrrrrrr"};
    store_round *rounds = NULL;
    size_t n = 0;
    st = store_db_rounds_list(db, run.id, &rounds, &n, err);
    for (size_t i = 0; !st && i < n; i++) {
        const store_round *r = &rounds[i];
        st = table_row(&t, err);
        if (st)
            break;
        put_int(&t, 0, r->round, a->format);
        snprintf(cell(&t, 1), CELL_MAX, "%s", store_round_status_name(r->status));
        put_int(&t, 2, r->sampled, a->format);
        put_int(&t, 3, r->completed, a->format);
        put_int(&t, 4, r->dropped, a->format);
        put_int(&t, 5, r->late, a->format);
        put_real(&t, 6, r->train_loss, "%.4f", a->format);
        put_real(&t, 7, r->eval_metric, "%.4f", a->format);
        put_int(&t, 8, r->bytes_down, a->format);
        put_int(&t, 9, r->bytes_up, a->format);
        put_seconds(&t, 10, r->wall_ms, a->format);
        put_seconds(&t, 11, r->slowest_client_ms, a->format);
        put_real(&t, 12, r->global_metric, "%.4f", a->format);
        put_seconds(&t, 13, r->client_cpu_ms, a->format);
    }
    if (!st && a->format == STORE_REPORT_TEXT) {
        char best[32];
        double b = best_metric(rounds, n);
        snprintf(best, sizeof best, isnan(b) ? "-" : "%.4f", b);
        fprintf(a->out,
                "run %s (id %" PRId64 "): %s, %s, %s, seed %" PRIu64
                ", %s, %zu round%s, best metric %s\n",
                run.name, run.id, run.model, run.task, run.strategy, run.seed,
                store_run_status_name(run.status), n, n == 1 ? "" : "s", best);
        if (run.reason[0])
            fprintf(a->out, "%s: %s\n", store_run_status_name(run.status), run.reason);
    }
    if (!st)
        st = table_print(&t, a->out, a->format, err);
    if (!st && n == 0 && a->format == STORE_REPORT_TEXT)
        fprintf(a->out, "(no round committed yet)\n");
    /* Under the table, what the columns cannot say: retried rounds and why a round failed. */
    for (size_t i = 0; !st && a->format == STORE_REPORT_TEXT && i < n; i++) {
        const store_round *r = &rounds[i];
        if (r->retries > 0 || r->reason[0])
            fprintf(a->out, "round %d: %s after %d retr%s%s%s\n", r->round,
                    store_round_status_name(r->status), r->retries, r->retries == 1 ? "y" : "ies",
                    r->reason[0] ? ": " : "", r->reason);
    }
    free(t.cells);
    free(rounds);
    store_run_clear(&run);
    return st;
}

fp_status store_report_rounds(store_db_t *db, const char *run, FILE *out,
                              store_report_format format, fp_error *err)
{
    rounds_args a = {.run = run, .out = out, .format = format};
    return in_snapshot(db, rounds_report, &a, err);
}

static fp_status clients_report(store_db_t *db, void *arg, fp_error *err)
{
    static const char *const HEADER[] = {"client", "status", "n_k", "steps", "loss", "s"};
    rounds_args *a = arg;
    store_run run = {0};
    fp_status st = store_report_find_run(db, a->run, &run, err);
    if (st)
        return st;
    table t = {.cols = 6, .header = HEADER, .right = "rlrrrr"};
    store_client_round *cl = NULL;
    size_t n = 0;
    st = store_db_round_clients(db, run.id, a->round, &cl, &n, err);
    if (!st && n == 0) /* every committed round has one row per sampled client */
        st = fp_fail(err, FP_ENOTFOUND, "%s: run '%s' has no round %d", store_db_path(db),
                     run.name, a->round);
    for (size_t i = 0; !st && i < n; i++) {
        st = table_row(&t, err);
        if (st)
            break;
        put_int(&t, 0, cl[i].client, a->format);
        snprintf(cell(&t, 1), CELL_MAX, "%s", store_client_status_name(cl[i].status));
        put_int(&t, 2, cl[i].n_k, a->format);
        put_int(&t, 3, cl[i].steps, a->format);
        put_real(&t, 4, cl[i].loss, "%.4f", a->format);
        put_seconds(&t, 5, cl[i].ms, a->format);
    }
    if (!st && a->format == STORE_REPORT_TEXT)
        fprintf(a->out, "run %s, round %d: %zu sampled clients\n", run.name, a->round, n);
    if (!st)
        st = table_print(&t, a->out, a->format, err);
    free(t.cells);
    free(cl);
    store_run_clear(&run);
    return st;
}

fp_status store_report_clients(store_db_t *db, const char *run, int32_t round, FILE *out,
                               store_report_format format, fp_error *err)
{
    rounds_args a = {.run = run, .round = round, .out = out, .format = format};
    return in_snapshot(db, clients_report, &a, err);
}

/* ---- plot ---- */

static fp_status plot_report(store_db_t *db, void *arg, fp_error *err)
{
    rounds_args *a = arg;
    store_run run = {0};
    fp_status st = store_report_find_run(db, a->run, &run, err);
    if (st)
        return st;
    store_round *rounds = NULL;
    size_t n = 0;
    st = store_db_rounds_list(db, run.id, &rounds, &n, err);
    double *v = st ? NULL : malloc((5 * n + 1) * sizeof *v);
    if (!st && !v)
        st = fp_fail(err, FP_ENOMEM, "no memory to plot %zu rounds", n);
    if (!st) {
        double *x = v, *metric = v + n, *loss = v + 2 * n, *down = v + 3 * n, *up = v + 4 * n;
        for (size_t i = 0; i < n; i++) {
            x[i] = rounds[i].round;
            metric[i] = rounds[i].eval_metric;
            loss[i] = rounds[i].train_loss;
            down[i] = rounds[i].bytes_down < 0 ? NAN : (double)rounds[i].bytes_down;
            up[i] = rounds[i].bytes_up < 0 ? NAN : (double)rounds[i].bytes_up;
        }
        char ytitle[STORE_TEXT_MAX + 16];
        snprintf(ytitle, sizeof ytitle, "metric (%s)", run.task);
        const svg_series s_metric[] = {{"eval metric", x, metric, n}};
        const svg_series s_loss[] = {{"train loss", x, loss, n}};
        const svg_series s_bytes[] = {{"down (to clients)", x, down, n},
                                      {"up (from clients)", x, up, n}};
        const svg_panel panels[] = {
            {"Evaluation metric", "round", ytitle, s_metric, 1, 1, 0},
            {"Training loss", "round", "mean local loss", s_loss, 1, 1, 1},
            {"Bytes per round", "round", "bytes", s_bytes, 2, 1, 1},
        };
        char title[3 * STORE_TEXT_MAX + 64];
        snprintf(title, sizeof title, "run %s: %s, %s (%zu round%s)", run.name, run.task,
                 run.strategy, n, n == 1 ? "" : "s");
        st = svg_plot_write(a->out, title, panels, 3, err);
    }
    free(v);
    free(rounds);
    store_run_clear(&run);
    return st;
}

fp_status store_report_plot(store_db_t *db, const char *run, FILE *out, fp_error *err)
{
    rounds_args a = {.run = run, .out = out};
    return in_snapshot(db, plot_report, &a, err);
}
