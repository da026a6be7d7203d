/* cmd_broker.c — `fedpep broker [--endpoint E] [--config F] [section.key=value ...]`: runs the
 * message router until SIGINT/SIGTERM. The endpoint is where it binds: tcp://0.0.0.0:5570 to
 * accept actors from other machines, tcp://127.0.0.1:5570 or ipc:///path on one machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "cli/commands.h"
#include "common/config.h"

static int usage(FILE *out, int code)
{
    fprintf(out, "usage: fedpep broker [--endpoint E] [--config F] [section.key=value ...]\n"
                 "  (--broker E is the same as --endpoint E, as for the other actors)\n"
                 "  routes messages between fedpep actors until SIGINT/SIGTERM. E is where to\n"
                 "  bind (default [broker] endpoint): tcp://0.0.0.0:5570 accepts actors from\n"
                 "  other machines; heartbeat, liveness, hwm and message size come from\n"
                 "  [broker] of the config.\n");
    return code;
}

int cmd_broker(int argc, char **argv)
{
    const char *endpoint = NULL, *config = NULL;
    const char **over = calloc((size_t)argc + 1, sizeof *over);
    size_t n_over = 0;
    if (!over)
        return 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            free(over);
            return usage(stdout, 0);
        } else if ((!strcmp(argv[i], "--endpoint") || !strcmp(argv[i], "--broker")) &&
                   i + 1 < argc) {
            endpoint = argv[++i];
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config = argv[++i];
        } else if (!strncmp(argv[i], "--", 2) || !strchr(argv[i], '=')) {
            fprintf(stderr, "fedpep broker: unknown argument '%s'\n", argv[i]);
            free(over);
            return usage(stderr, 2);
        } else {
            over[n_over++] = argv[i];
        }
    }
    fedpep_config cfg;
    fp_error err = {0};
    fp_status st = config_load(config, over, n_over, &cfg, &err);
    free(over);
    if (st)
        return cli_error("broker", FP_EXIT_USAGE, "%s", err.msg);
    broker_options_t o;
    broker_options_from_config(&o, &cfg);
    if (endpoint &&
        snprintf(o.endpoint, sizeof o.endpoint, "%s", endpoint) >= (int)sizeof o.endpoint)
        return cli_error("broker", FP_EXIT_USAGE, "endpoint too long");
    broker_t *broker = broker_new(&o, &err);
    if (!broker) /* cannot bind: the address may be free again in a moment, so 1 (restarted) */
        return cli_error("broker", FP_EXIT_FAILURE, "%s", err.msg);
    /* The bound endpoint on stdout (one line), so a launcher can read a resolved port. */
    printf("%s\n", broker_endpoint(broker));
    fflush(stdout);
    st = broker_run(broker, NULL, &err);
    broker_destroy(&broker);
    if (st)
        return cli_error("broker", FP_EXIT_FAILURE, "%s", err.msg);
    return 0;
}
