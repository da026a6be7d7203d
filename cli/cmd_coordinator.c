/* cmd_coordinator.c — `fedpep coordinator [--broker E] [--config F] [overrides]`: the round
 * loop (actors/coordinator.h); exits 0 when the run is done, 1 when it failed. Restarting it on
 * the same run resumes from the last committed round. */
#include <stdio.h>
#include <stdlib.h>

#include "actors/coordinator.h"
#include "cli/commands.h"
#include "cli/role_args.h"

int cmd_coordinator(int argc, char **argv)
{
    static const char usage[] =
        "  runs the rounds of the configured run through the broker: selection, sampling,\n"
        "  TRAIN with a deadline, aggregation, evaluation, one committed round at a time.\n";
    role_args_t *a = calloc(1, sizeof *a);
    if (!a)
        return 1;
    int code = role_args_parse(argc, argv, "coordinator", MSG_ROLE_COORDINATOR, false, usage, a);
    if (code >= 0) {
        free(a);
        return code;
    }
    fp_error err = {0};
    coordinator_options_t o = {.cfg = &a->cfg, .fallback_vocab = a->vocab,
                               .fallback_merges = a->merges, .log = stdout,
                               .stop_before_save = -1};
    coordinator_t *c = coordinator_new(&o, &err);
    if (!c) {
        code = cli_error("coordinator", fp_exit_code_for_setup(err.status), "%s", err.msg);
        free(a);
        return code;
    }
    coordinator_actor_options(&a->actor);
    if (actor_run(&a->actor, coordinator_actor(), c, &code, &err))
        cli_error("coordinator", code, "%s", err.msg);
    coordinator_destroy(&c);
    free(a);
    return code;
}
