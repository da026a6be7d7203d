/* cmd_plot.c — `fedpep plot DB RUN -o out.svg`: line charts of a run's eval metric, training
 * loss and bytes per round as a standalone SVG. Reads the database read-only; writes the SVG
 * to a temporary file renamed into place, so a failed plot never leaves half a file. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "storage/store_db.h"
#include "storage/store_report.h"

static void plot_usage(FILE *out)
{
    fprintf(out, "usage: fedpep plot DB RUN -o OUT.svg   (RUN: name or id; '-o -' = stdout)\n");
}

int cmd_plot(int argc, char **argv)
{
    const char *path = NULL, *run = NULL, *outpath = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            plot_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
            outpath = argv[++i];
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else if (argv[i][0] != '-' && !run) {
            run = argv[i];
        } else {
            plot_usage(stderr);
            return 2;
        }
    }
    if (!path || !run || !outpath) {
        plot_usage(stderr);
        return 2;
    }
    fp_error err = {0};
    store_db_t *db = NULL;
    fp_status st = store_db_open(&db, path, STORE_DB_READONLY, &err);
    bool to_stdout = !strcmp(outpath, "-");
    char tmp[4096] = "";
    FILE *out = stdout;
    if (!st && !to_stdout) {
        snprintf(tmp, sizeof tmp, "%s.tmp", outpath);
        if (!(out = fopen(tmp, "w")))
            st = fp_fail(&err, FP_EIO, "cannot write %s", tmp);
    }
    if (!st)
        st = store_report_plot(db, run, out, &err);
    if (out && out != stdout && fclose(out) != 0 && !st)
        st = fp_fail(&err, FP_EIO, "cannot write %s", tmp);
    if (!st && !to_stdout && rename(tmp, outpath) != 0)
        st = fp_fail(&err, FP_EIO, "cannot rename %s to %s", tmp, outpath);
    if (st && tmp[0])
        unlink(tmp);
    store_db_close(&db);
    if (st) {
        fprintf(stderr, "fedpep plot: %s\n", err.msg);
        return 1;
    }
    if (!to_stdout)
        fprintf(stderr, "fedpep plot: wrote %s\n", outpath);
    return 0;
}
