/* cmd_evaluator.c — `fedpep evaluator [--broker E] [--config F] [overrides]`: the run's layer
 * selection from the clients' statistics (actors/evaluator.h). */
#include <stdio.h>
#include <stdlib.h>

#include "actors/evaluator.h"
#include "cli/commands.h"
#include "cli/role_args.h"

int cmd_evaluator(int argc, char **argv)
{
    static const char usage[] =
        "  scores the prompt layers from the clients' statistics and sends the selection to\n"
        "  the coordinator and the store.\n";
    role_args_t *a = calloc(1, sizeof *a);
    if (!a)
        return 1;
    int code = role_args_parse(argc, argv, "evaluator", MSG_ROLE_EVALUATOR, false, usage, a);
    if (code >= 0) {
        free(a);
        return code;
    }
    fp_error err = {0};
    evaluator_options_t o = {.cfg = &a->cfg, .fallback_vocab = a->vocab,
                             .fallback_merges = a->merges};
    evaluator_t *e = evaluator_new(&o, &err);
    if (!e) {
        code = cli_error("evaluator", fp_exit_code_for_setup(err.status), "%s", err.msg);
        free(a);
        return code;
    }
    if (actor_run(&a->actor, evaluator_actor(), e, &code, &err))
        cli_error("evaluator", code, "%s", err.msg);
    evaluator_destroy(&e);
    free(a);
    return code;
}
