/* cmd_simulate.c — `fedpep simulate CONFIG [section.key=value ...] [--stop-after ROUND]`: the
 * whole federated run in one process (simulate/simulate.h); resumes a killed run of its name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "common/config.h"
#include "simulate/simulate.h"

int cmd_simulate(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: fedpep simulate CONFIG [section.key=value ...] [--stop-after ROUND]\n"
                "                       [--keep-checkpoints N]\n"
                "  runs the federated run of CONFIG in one process, recording every round in\n"
                "  run.db; run again to resume a run that was stopped. Checkpoint blobs of all\n"
                "  but the newest N rounds (default 2; 0 = keep all) are pruned.\n");
        return argc < 2 ? 2 : 0;
    }
    train_sim_options o = {.stop_after_round = -1, .stop_before_commit = -1, .keep_checkpoints = 2};
    const char **over = calloc((size_t)argc, sizeof *over);
    size_t n_over = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--stop-after") && i + 1 < argc)
            o.stop_after_round = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--keep-checkpoints") && i + 1 < argc)
            o.keep_checkpoints = atoi(argv[++i]);
        else if (!strncmp(argv[i], "--", 2)) {
            fprintf(stderr, "fedpep simulate: unknown option '%s'\n", argv[i]);
            free(over);
            return 2;
        } else
            over[n_over++] = argv[i];
    }
    fedpep_config cfg;
    cli_run_setup run;
    int rc = cli_run_setup_open(&run, "simulate", argv[1], over, n_over, &cfg);
    free(over);
    if (rc)
        return rc;
    fp_error err = {0};
    o.fallback_vocab = run.vocab;
    o.fallback_merges = run.merges;
    o.progress = run.progress;
    train_sim_result res;
    fp_status st = train_simulate(&cfg, &o, stdout, &res, &err);
    cli_run_setup_close(&run);
    if (st) {
        fprintf(stderr, "fedpep simulate: %s\n", err.msg);
        return 1;
    }
    printf("rounds %d..%d done; best %.4f  last %.4f\n", res.first_round,
           res.first_round + res.rounds_done - 1, res.best_metric, res.last_metric);
    return 0;
}
