/* broker_auth.c — see broker_auth.h. */
#include "broker/broker_auth.h"

#include <string.h>

#include "messages/curve.h"

fp_status broker_auth_setup(broker_auth_t *auth, zsock_t *router, const broker_options_t *o,
                            fp_error *err)
{
    memset(auth, 0, sizeof *auth);
    if (!o->curve_dir[0]) {
        if (!strncmp(o->endpoint, "tcp://", 6) && strncmp(o->endpoint, "tcp://127.0.0.1:", 16))
            zsys_warning("broker: %s without CURVE: any peer that reaches it may register an id "
                         "nobody holds ([broker] curve_dir; README, Security)",
                         o->endpoint);
        return FP_OK;
    }
    fp_status st = curve_server_setup(router, o->curve_dir, &auth->zauth, err);
    if (st)
        return st;
    /* Refused handshakes never reach the ROUTER as messages: a monitor reports them. */
    char mon[64];
    snprintf(mon, sizeof mon, "inproc://broker-handshakes-%p", (void *)router);
    if (zmq_socket_monitor(zsock_resolve(router), mon,
                           ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) ||
        !(auth->monitor = zsock_new_pair(mon)) || zsock_connect(auth->monitor, "%s", mon)) {
        broker_auth_teardown(auth);
        return fp_fail(err, FP_ENOMEM, "broker: cannot monitor handshakes");
    }
    return FP_OK;
}

void broker_auth_teardown(broker_auth_t *auth)
{
    zsock_destroy(&auth->monitor);
    zactor_destroy(&auth->zauth);
}

bool broker_auth_may_register(const broker_options_t *o, zframe_t *payload, const char *id)
{
    if (!o->curve_dir[0])
        return true;
    /* zauth copied the id bound to the connection's key from its allow-list certificate onto
     * every frame: the key speaks only for that id. */
    const char *bound = zframe_meta(payload, CURVE_META_ID);
    return bound && !strcmp(bound, id);
}

bool broker_auth_refused(broker_auth_t *auth, const char **why)
{
    zmsg_t *event = zmsg_recv(auth->monitor);
    zframe_t *head = event ? zmsg_first(event) : NULL;
    bool refused = head && zframe_size(head) >= 2;
    if (refused) {
        uint16_t code;
        memcpy(&code, zframe_data(head), sizeof code);
        *why = code == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                   ? "its key is not in the allow-list"
                   : "no CURVE handshake (no key, or not a fedpep peer)";
    }
    zmsg_destroy(&event);
    return refused;
}
