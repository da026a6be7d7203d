/* cmd_launch.c — `fedpep launch [CONFIG] [section.key=value ...] [options]`: the whole actor
 * system of one run on this machine (launch/launch.h). Only parses the command line. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "launch/launch.h"

static int usage(FILE *out, int code)
{
    fprintf(out,
            "usage: fedpep launch [CONFIG] [section.key=value ...] [--dir D] [--fresh]\n"
            "                     [--endpoint E] [--kill-clients P] [--grace-ms N]\n"
            "                     [--kill-broker-at-round R] [--kill-store-at-round R]\n"
            "  starts broker, store, evaluator, coordinator and [federation] clients client\n"
            "  processes for the run of CONFIG (default: the embedded default run), restarts\n"
            "  them by [launch] policy, prints one line per round, and exits with the\n"
            "  coordinator's exit code (2: bad configuration; 78: a process found its model,\n"
            "  dataset or database unusable). SIGINT/SIGTERM stop every actor cleanly.\n"
            "  --dir D           run folder (default runs/<run.name>): config.ini, the database,\n"
            "                    logs/<actor>.log, slots/, broker.ipc\n"
            "  --fresh           delete an existing run folder first (default: resume the run)\n"
            "  --endpoint E      broker endpoint (default [broker] endpoint if the config names\n"
            "                    one, else ipc://D/broker.ipc); a tcp:// endpoint lets actors on\n"
            "                    other machines join (docs/launch.md)\n"
            "  --kill-clients P  SIGKILL each client with probability P per round at a seeded\n"
            "                    time (crash-and-restart; seed = [run] seed)\n"
            "  --kill-broker-at-round R, --kill-store-at-round R\n"
            "                    SIGKILL the broker / the store once during round R (0-based,\n"
            "                    like [faults] kill_coordinator_at_round); they are restarted\n"
            "  --grace-ms N      SIGTERM to SIGKILL at shutdown (default 5000)\n");
    return code;
}

int cmd_launch(int argc, char **argv)
{
    launch_options o;
    launch_options_defaults(&o);
    const char **over = calloc((size_t)argc + 1, sizeof *over);
    if (!over)
        return 1;
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        char *end = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            free(over);
            return usage(stdout, 0);
        } else if (!strcmp(a, "--fresh")) {
            o.fresh = true;
        } else if (!strcmp(a, "--dir") && has_value) {
            o.run_dir = argv[++i];
        } else if (!strcmp(a, "--endpoint") && has_value) {
            o.endpoint = argv[++i];
        } else if (!strcmp(a, "--kill-clients") && has_value) {
            o.kill_clients = strtod(argv[++i], &end);
            bad = *end || end == argv[i] || !(o.kill_clients >= 0 && o.kill_clients <= 1);
        } else if ((!strcmp(a, "--kill-broker-at-round") ||
                    !strcmp(a, "--kill-store-at-round")) && has_value) {
            long v = strtol(argv[++i], &end, 10);
            bad = *end || end == argv[i] || v < 0 || v > 1000000;
            *(a[7] == 'b' ? &o.kill_broker_at_round : &o.kill_store_at_round) = (int)v;
        } else if (!strcmp(a, "--grace-ms") && has_value) {
            long v = strtol(argv[++i], &end, 10);
            bad = *end || end == argv[i] || v < 0 || v > 600000;
            o.grace_ms = (int)v;
        } else if (!strncmp(a, "--", 2)) {
            bad = 1;
        } else if (strchr(a, '=')) {
            over[o.n_overrides++] = a;
        } else if (!o.config_path) {
            o.config_path = a;
        } else {
            bad = 1;
        }
        if (bad)
            fprintf(stderr, "fedpep launch: bad argument '%s'\n", a);
    }
    if (bad) {
        free(over);
        return usage(stderr, 2);
    }
    o.overrides = over;
    int code = 1;
    fp_error err = {0};
    fp_status st = launch_run(&o, &code, &err);
    free(over);
    if (st) /* code: 2 for a missing or bad configuration, else 1 */
        return cli_error("launch", code, "%s", err.msg);
    return code;
}
