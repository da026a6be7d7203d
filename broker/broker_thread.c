/* broker_thread.c — a broker in a thread (broker_start, broker_actor_stats; see broker.h). */
#include "broker/broker.h"

#include <string.h>

typedef struct start_args {
    const broker_options_t *opt;
    fp_error *err;
} start_args_t;

/* The zactor body: binds, reports the endpoint ("" on failure) instead of a bare signal, runs. */
static void broker_actor_fn(zsock_t *pipe, void *arg)
{
    start_args_t *a = arg;
    broker_t *self = broker_new(a->opt, a->err);
    zsock_signal(pipe, 0); /* zactor_new waits for this */
    zstr_send(pipe, self ? broker_endpoint(self) : "");
    if (!self)
        return;
    broker_run(self, pipe, NULL);
    broker_destroy(&self);
}

zactor_t *broker_start(const broker_options_t *options, char *endpoint_out, size_t n, fp_error *err)
{
    start_args_t a = {options, err};
    zactor_t *actor = zactor_new(broker_actor_fn, &a);
    if (!actor) {
        fp_fail(err, FP_ENOMEM, "broker: cannot start its thread");
        return NULL;
    }
    char *ep = zstr_recv(actor);
    bool ok = ep && ep[0];
    if (ok && endpoint_out)
        snprintf(endpoint_out, n, "%s", ep);
    zstr_free(&ep);
    if (!ok) {
        zactor_destroy(&actor);
        return NULL;
    }
    return actor;
}

broker_stats_t broker_actor_stats(zactor_t *broker)
{
    broker_stats_t s = {0};
    zstr_send(broker, "STATS");
    zframe_t *f = zframe_recv(broker);
    if (f && zframe_size(f) == sizeof s)
        memcpy(&s, zframe_data(f), sizeof s);
    zframe_destroy(&f);
    return s;
}
