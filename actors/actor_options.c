/* actor_options.c — an actor's options (see actor.h): the defaults, the ones a configuration
 * file gives, and the checks actor_run makes before it opens anything, so that a bad id, role or
 * missing CURVE key stops an actor at once rather than at every reconnection. */
#include "actors/actor.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <czmq.h>

#include "messages/curve.h"
#include "messages/envelope.h"

void actor_options_defaults(actor_options_t *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->endpoint, sizeof o->endpoint, "%s", FP_DEFAULT_BROKER_ENDPOINT);
    o->hwm = 1000;
    o->limits = msg_limits_default();
    o->tick_ms = 100;
    o->reconnect_min_ms = 1000;
    o->reconnect_max_ms = 32000;
    o->watch_role = MSG_ROLE_ANY;
}

fp_status actor_options_from_config(actor_options_t *o, const fedpep_config *cfg, msg_role role,
                                    uint32_t index, const char *id, fp_error *err)
{
    actor_options_defaults(o);
    snprintf(o->endpoint, sizeof o->endpoint, "%s", cfg->broker.endpoint);
    o->hwm = cfg->broker.hwm;
    o->limits.max_message_bytes = (size_t)cfg->broker.max_message_bytes;
    snprintf(o->curve_dir, sizeof o->curve_dir, "%s", cfg->broker.curve_dir);
    o->role = role;
    o->index = index;
    return msg_set_id(o->id, id, err);
}

void actor_client_id(char out[MSG_ID_CAP], uint32_t index)
{
    snprintf(out, MSG_ID_CAP, "client.%" PRIu32, index);
}

fp_status actor_options_check(const actor_options_t *o, const actor_role_t *role, fp_error *err)
{
    if (!role)
        return fp_fail(err, FP_EINVAL, "actor_run: no role");
    if (!o->id[0] || msg_set_id((char[MSG_ID_CAP]){0}, o->id, NULL) || strchr(o->id, '$') ||
        !strcmp(o->id, ENVELOPE_BROKER_ID))
        return fp_fail(err, FP_EINVAL, "actor_run: '%s' is not a valid actor id", o->id);
    if (o->role == MSG_ROLE_ANY || o->role == MSG_ROLE_BROKER || o->role >= MSG_ROLE_COUNT)
        return fp_fail(err, FP_EINVAL, "actor_run: %s: bad role", o->id);
    if (!o->endpoint[0] || !o->tick_ms || !o->reconnect_min_ms ||
        o->reconnect_max_ms < o->reconnect_min_ms || o->hwm < 0 ||
        o->limits.max_message_bytes > INT32_MAX - ENVELOPE_FRAME_SLACK)
        return fp_fail(err, FP_EINVAL, "actor_run: %s: bad endpoint, tick, back-off or hwm", o->id);
    if (o->curve_dir[0]) { /* missing keys stop the actor now, not at every reconnection */
        zsock_t *probe = zsock_new(ZMQ_DEALER);
        fp_status st = probe ? curve_client_setup(probe, o->curve_dir, o->id, err)
                             : fp_fail(err, FP_ENOMEM, "actor_run: no socket");
        zsock_destroy(&probe);
        return st;
    }
    return FP_OK;
}
