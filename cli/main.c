/* main.c — the multi-call entry point: `fedpep <command> [args]`, like git.
 * Each command lives in the folder of its part; this file only dispatches and prints usage. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "model/blas_kernel.h"

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} COMMANDS[] = {
    {"version", cmd_version, "print the version and protocol/schema numbers"},
    {"config", cmd_config, "print the effective configuration of a run (--doc: all options)"},
    {"tune", cmd_tune, "centralised deep prompt tuning of a model on a task"},
    {"simulate", cmd_simulate, "the whole federated run in one process (resumable)"},
    {"broker", cmd_broker, "the message router between actors (--endpoint E)"},
    {"store", cmd_store, "the store actor: the one writer of the run database (--db PATH)"},
    {"coordinator", cmd_coordinator, "the round loop of a run through the broker (resumable)"},
    {"client", cmd_client, "one federated client of a run (--id K)"},
    {"evaluator", cmd_evaluator, "the layer selection from the clients' statistics"},
    {"launch", cmd_launch, "a whole run as supervised processes on this machine"},
    {"distill", cmd_distill, "make a deeper model by distilling the default one (resumable)"},
    {"init-model", cmd_init_model, "write an untrained random model (a placeholder)"},
    {"import-use-lite", cmd_import_use_lite, "convert the USE-lite TF.js package into a model"},
    {"history", cmd_history, "list the runs of a database, or a run's rounds (read-only)"},
    {"plot", cmd_plot, "SVG charts of a run's metric, loss and bytes per round"},
    {"report", cmd_report, "the comparison of the strategies in a database (Markdown + SVG)"},
    {"keygen", cmd_keygen, "CurveZMQ keys and the broker's allow-list (DIR [--clients N])"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: fedpep <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(out, "  %-16s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\n`fedpep <command> --help` describes one command.\n");
}

int main(int argc, char **argv)
{
    blas_use_native_kernel(argv); /* first: it may run this program again (model/blas_kernel.h) */
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name))
            return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "fedpep: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
