/* cmd_client.c — `fedpep client --id K [--broker E] [--config F] [overrides]`: one federated
 * client (actors/client_role.h) until the run ends or SIGINT/SIGTERM. The launcher's training-slot
 * pool comes from FEDPEP_SLOTS; [faults] apply. */
#include <stdio.h>
#include <stdlib.h>

#include "actors/client_role.h"
#include "cli/commands.h"
#include "cli/role_args.h"

int cmd_client(int argc, char **argv)
{
    static const char usage[] =
        "  one federated client K of the run: trains on its shard when the coordinator asks,\n"
        "  keeps its private prompt through the store, applies [faults].\n";
    role_args_t *a = calloc(1, sizeof *a);
    if (!a)
        return 1;
    int code = role_args_parse(argc, argv, "client", MSG_ROLE_CLIENT, true, usage, a);
    if (code >= 0) {
        free(a);
        return code;
    }
    fp_error err = {0};
    slots_t *slots = NULL;
    client_role_t *c = NULL;
    if (slots_from_env(&slots, &err) == FP_OK) {
        client_role_options_t o = {.cfg = &a->cfg, .index = (uint32_t)a->index,
                                   .fallback_vocab = a->vocab, .fallback_merges = a->merges,
                                   .slots = slots, .faults = true};
        c = client_role_new(&o, &err);
    }
    if (!c) {
        /* Its model, tokenizer or dataset: unusable input does not heal by a restart. */
        code = cli_error(a->actor.id, fp_exit_code_for_setup(err.status), "%s", err.msg);
        slots_destroy(&slots);
        free(a);
        return code;
    }
    fp_status st = actor_run(&a->actor, client_role_actor(), c, &code, &err);
    if (st)
        cli_error(a->actor.id, code, "%s", err.msg);
    client_role_destroy(&c);
    slots_destroy(&slots);
    free(a);
    return code;
}
