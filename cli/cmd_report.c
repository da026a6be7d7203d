/* cmd_report.c — `fedpep report DB [--out docs/results.md]`: the comparison of the strategies
 * recorded in DB as a Markdown page and its SVG figures (storage/results_report.h). Reads the
 * database; a file of an older schema is migrated first (a read-only open cannot), which is
 * the one write this command may make. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/status.h"
#include "data/task.h"
#include "storage/results_report.h"
#include "storage/store_db.h"

static void report_usage(FILE *out)
{
    fprintf(out, "usage: fedpep report DB [--out docs/results.md]\n"
                 "  writes the page and, beside it, one SVG figure per task (PAGE-TASK.svg)\n");
}

static const char *task_metric_name(const char *task)
{
    const fp_task *t = task_find(task);
    return t ? metric_name(t->metric) : NULL;
}

int cmd_report(int argc, char **argv)
{
    const char *path = NULL, *out = "docs/results.md";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            report_usage(stdout);
            return FP_EXIT_OK;
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            report_usage(stderr);
            return FP_EXIT_USAGE;
        }
    }
    if (!path) {
        report_usage(stderr);
        return FP_EXIT_USAGE;
    }
    fp_error err = {0};
    store_db_t *db = NULL;
    fp_status st = store_db_open(&db, path, STORE_DB_READONLY, &err);
    if (st == FP_EVERSION && strstr(err.msg, "older")) {
        fprintf(stderr, "fedpep report: %s has an older schema: migrating it first\n", path);
        st = store_db_open(&db, path, 0, &err);
    }
    results_report_options o = {path, out, task_metric_name};
    if (!st)
        st = results_report_write(db, &o, &err);
    store_db_close(&db);
    if (st)
        return cli_error("report", st == FP_EIO ? FP_EXIT_FAILURE : FP_EXIT_INPUT, "%s", err.msg);
    fprintf(stderr, "fedpep report: wrote %s\n", out);
    return FP_EXIT_OK;
}
