/* role_args.h — the command line every actor command shares:
 *   fedpep ROLE [--broker E] [--config F] [--id K] [section.key=value ...]
 * parsed into a loaded config and actor options (id, role, endpoint, run = run.name). */
#ifndef FEDPEP_CLI_ROLE_ARGS_H
#define FEDPEP_CLI_ROLE_ARGS_H

#include <stdbool.h>

#include "actors/actor.h"
#include "common/config.h"

typedef struct role_args {
    fedpep_config cfg;
    actor_options_t actor;
    long index;          /* --id K, -1 when absent */
    char vocab[512], merges[512]; /* fallback tokenizer */
} role_args_t;

/* Returns -1 on success, else the exit code to return (usage printed; FP_EXIT_USAGE for a bad
 * command line or configuration). need_id: --id required. */
int role_args_parse(int argc, char **argv, const char *name, msg_role role, bool need_id,
                    const char *usage_text, role_args_t *out);

#endif
