/* cmd_keygen.c — `fedpep keygen DIR [--clients N]`: the CurveZMQ key folder of a run
 * (messages/curve.h; README, "Security"). Keys already there are kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/status.h"
#include "messages/curve.h"

int cmd_keygen(int argc, char **argv)
{
    const char *dir = NULL;
    long clients = 10;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--clients") && i + 1 < argc) {
            clients = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || clients < 0 || clients > 1000000)
                return cli_error("keygen", FP_EXIT_USAGE, "--clients %s: not a count", argv[i]);
        } else if (!strcmp(argv[i], "--help")) {
            printf("usage: fedpep keygen DIR [--clients N]\n"
                   "Writes CurveZMQ key pairs for the broker, coordinator, store, evaluator and\n"
                   "client.0 .. client.N-1 (default 10) into DIR, and the broker's allow-list\n"
                   "(public keys bound to their actor ids) into DIR/allow. Existing keys are\n"
                   "kept. Turn CURVE on with [broker] curve_dir = DIR.\n");
            return FP_EXIT_OK;
        } else if (!dir && argv[i][0] != '-') {
            dir = argv[i];
        } else {
            return cli_error("keygen", FP_EXIT_USAGE, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!dir)
        return cli_error("keygen", FP_EXIT_USAGE, "usage: fedpep keygen DIR [--clients N]");
    fp_error err = {0};
    if (curve_keygen(dir, (uint32_t)clients, &err))
        return cli_error("keygen", FP_EXIT_FAILURE, "%s", err.msg);
    printf("keys for the broker, coordinator, store, evaluator and %ld clients in %s "
           "(allow-list: %s/allow)\n",
           clients, dir, dir);
    return FP_EXIT_OK;
}
