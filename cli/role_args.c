/* role_args.c — see role_args.h. */
#include "cli/role_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

static int usage(FILE *out, const char *name, const char *text, int code)
{
    fprintf(out, "usage: fedpep %s [--broker E] [--config F]%s [section.key=value ...]\n%s", name,
            strcmp(name, "client") ? "" : " --id K", text);
    return code;
}

int role_args_parse(int argc, char **argv, const char *name, msg_role role, bool need_id,
                    const char *usage_text, role_args_t *a)
{
    const char *broker = NULL, *config = NULL;
    const char **over = calloc((size_t)argc + 1, sizeof *over);
    size_t n_over = 0;
    if (!over)
        return 1;
    a->index = -1;
    int code = -1;
    for (int i = 1; i < argc && code < 0; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            code = usage(stdout, name, usage_text, 0);
        } else if (!strcmp(argv[i], "--broker") && i + 1 < argc) {
            broker = argv[++i];
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (need_id && !strcmp(argv[i], "--id") && i + 1 < argc) {
            char *end;
            a->index = strtol(argv[++i], &end, 10);
            if (*end || a->index < 0 || a->index > 1000000) {
                fprintf(stderr, "fedpep %s: bad --id '%s'\n", name, argv[i]);
                code = usage(stderr, name, usage_text, 2);
            }
        } else if (!strncmp(argv[i], "--", 2) || !strchr(argv[i], '=')) {
            fprintf(stderr, "fedpep %s: unknown argument '%s'\n", name, argv[i]);
            code = usage(stderr, name, usage_text, 2);
        } else {
            over[n_over++] = argv[i];
        }
    }
    if (code < 0 && need_id && a->index < 0) {
        fprintf(stderr, "fedpep %s: --id K is required\n", name);
        code = usage(stderr, name, usage_text, 2);
    }
    fp_error err = {0};
    if (code < 0 && config_load(config, over, n_over, &a->cfg, &err))
        code = cli_error(name, FP_EXIT_USAGE, "%s", err.msg);
    free(over);
    if (code >= 0)
        return code;
    char id[MSG_ID_CAP];
    if (need_id)
        actor_client_id(id, (uint32_t)a->index);
    else
        snprintf(id, sizeof id, "%s", name);
    if (actor_options_from_config(&a->actor, &a->cfg, role, need_id ? (uint32_t)a->index : 0, id,
                                  &err) ||
        msg_set_id(a->actor.run, a->cfg.run.name, &err))
        return cli_error(name, FP_EXIT_USAGE, "%s", err.msg);
    if (broker && snprintf(a->actor.endpoint, sizeof a->actor.endpoint, "%s", broker) >=
                      (int)sizeof a->actor.endpoint)
        return cli_error(name, FP_EXIT_USAGE, "broker endpoint too long");
    cli_fallback_tokenizer(a->vocab, a->merges, sizeof a->vocab);
    return -1;
}
