/* cmd_store.c — `fedpep store --broker E --config F [--db PATH] [--keep-checkpoints N]
 * [section.key=value ...]`: the store actor, the only process that opens the run database
 * read-write, until SIGINT/SIGTERM. The database is [run] db of the config unless --db is given;
 * its folder is created if missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actors/actor.h"
#include "actors/store_role.h"
#include "cli/commands.h"
#include "common/config.h"

static int usage(FILE *out, int code)
{
    fprintf(out,
            "usage: fedpep store [--broker E] [--config F] [--db PATH] [--keep-checkpoints N]\n"
            "                    [section.key=value ...]\n"
            "  commits runs, rounds, layer selections and client state sent through the broker\n"
            "  at E (default [broker] endpoint) into the SQLite file PATH (default [run] db),\n"
            "  keeping the newest N checkpoints per run (default %d).\n",
            STORE_KEEP_CHECKPOINTS_DEFAULT);
    return code;
}

int cmd_store(int argc, char **argv)
{
    const char *endpoint = NULL, *config = NULL, *db = NULL;
    int keep = 0;
    const char **over = calloc((size_t)argc + 1, sizeof *over);
    size_t n_over = 0;
    if (!over)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            free(over);
            return usage(stdout, 0);
        } else if (!strcmp(a, "--broker") && i + 1 < argc) {
            endpoint = argv[++i];
        } else if (!strcmp(a, "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(a, "--db") && i + 1 < argc) {
            db = argv[++i];
        } else if (!strcmp(a, "--keep-checkpoints") && i + 1 < argc) {
            char *end = NULL;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000000) {
                fprintf(stderr, "fedpep store: --keep-checkpoints wants 1..1000000\n");
                free(over);
                return 2;
            }
            keep = (int)v;
        } else if (!strncmp(a, "--", 2) || !strchr(a, '=')) {
            fprintf(stderr, "fedpep store: unknown argument '%s'\n", a);
            free(over);
            return usage(stderr, 2);
        } else {
            over[n_over++] = a;
        }
    }
    fedpep_config cfg;
    fp_error err = {0};
    fp_status st = config_load(config, over, n_over, &cfg, &err);
    free(over);
    if (st)
        return cli_error("store", FP_EXIT_USAGE, "%s", err.msg);
    actor_options_t o;
    if (actor_options_from_config(&o, &cfg, MSG_ROLE_STORE, 0, STORE_ACTOR_ID, &err) ||
        (endpoint &&
         snprintf(o.endpoint, sizeof o.endpoint, "%s", endpoint) >= (int)sizeof o.endpoint))
        return cli_error("store", FP_EXIT_USAGE, "bad options: %s",
                         endpoint ? "endpoint too long" : err.msg);
    store_role_options_t so = {.db_path = db ? db : cfg.run.db, .id = STORE_ACTOR_ID,
                          .keep_checkpoints = keep, .limits = &o.limits};
    store_role_t *store = store_role_new(&so, &err);
    if (!store) /* not SQLite, a newer schema, unwritable: exit 78, not restarted; busy: 1 */
        return cli_error("store", fp_exit_code_for_setup(err.status), "%s", err.msg);
    fprintf(stderr, "fedpep store: database %s, broker %s\n", so.db_path, o.endpoint);
    int code = 1;
    st = actor_run(&o, store_role_actor(), store, &code, &err);
    store_role_destroy(&store);
    if (st)
        cli_error("store", code, "%s", err.msg);
    return code;
}
