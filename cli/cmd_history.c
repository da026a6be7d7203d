/* cmd_history.c — `fedpep history DB [RUN] [--csv] [--clients ROUND]`: inspect the runs of a
 * database, read-only (safe beside a live store: WAL readers never block the writer).
 * It must never open the database for writing. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "storage/store_db.h"
#include "storage/store_report.h"

static void history_usage(FILE *out)
{
    fprintf(out,
            "usage: fedpep history DB [RUN] [--csv] [--clients ROUND]\n"
            "  without RUN: list the runs (id, name, task, strategy, status, rounds, best metric,"
            " created)\n"
            "  with RUN (name or id): the run's round table\n"
            "  --clients ROUND  the client rows of one round of RUN\n"
            "  --csv            comma-separated output with a header row\n"
            "The database is opened read-only; docs/storage.md has an SQL cookbook.\n");
}

/* A non-negative int32 from text, or -1. */
static int32_t parse_round(const char *s)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    return (errno || end == s || *end || v < 0 || v > INT32_MAX) ? -1 : (int32_t)v;
}

int cmd_history(int argc, char **argv)
{
    const char *path = NULL, *run = NULL;
    store_report_format format = STORE_REPORT_TEXT;
    int32_t round = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            history_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--csv")) {
            format = STORE_REPORT_CSV;
        } else if (!strcmp(a, "--clients") && i + 1 < argc) {
            if ((round = parse_round(argv[++i])) < 0) {
                fprintf(stderr, "fedpep history: bad round '%s'\n", argv[i]);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "fedpep history: unknown or incomplete option '%s'\n", a);
            history_usage(stderr);
            return 2;
        } else if (!path) {
            path = a;
        } else if (!run) {
            run = a;
        } else {
            history_usage(stderr);
            return 2;
        }
    }
    if (!path || (round >= 0 && !run)) {
        history_usage(stderr);
        return 2;
    }
    fp_error err = {0};
    store_db_t *db = NULL;
    fp_status st = store_db_open(&db, path, STORE_DB_READONLY, &err);
    if (!st) {
        if (!run)
            st = store_report_runs(db, stdout, format, &err);
        else if (round < 0)
            st = store_report_rounds(db, run, stdout, format, &err);
        else
            st = store_report_clients(db, run, round, stdout, format, &err);
    }
    store_db_close(&db);
    if (!st && fflush(stdout) != 0)
        st = fp_fail(&err, FP_EIO, "cannot write to standard output");
    if (st) {
        fprintf(stderr, "fedpep history: %s\n", err.msg);
        return 1;
    }
    return 0;
}
