/* broker_auth.h — the broker's authentication, apart from its routing: CURVE (zauth on the
 * allow-list, messages/curve.h) made ready before the ROUTER binds, and the socket monitor that
 * reports the handshakes it refused, which never reach the ROUTER as messages. Without a key
 * folder it only warns when a non-loopback tcp:// endpoint is left open to any peer. */
#ifndef FEDPEP_BROKER_BROKER_AUTH_H
#define FEDPEP_BROKER_BROKER_AUTH_H

#include <stdbool.h>

#include <czmq.h>

#include "broker/broker.h"
#include "common/status.h"

typedef struct broker_auth {
    zactor_t *zauth;  /* with CURVE on */
    zsock_t *monitor; /* the router's failed handshakes, with CURVE on; poll it */
} broker_auth_t;

/* Before router binds o->endpoint: with o->curve_dir, zauth and the monitor (auth filled);
 * without, the warning. On failure err says why and auth holds nothing. */
fp_status broker_auth_setup(broker_auth_t *auth, zsock_t *router, const broker_options_t *o,
                            fp_error *err);
void broker_auth_teardown(broker_auth_t *auth);

/* Whether the connection that sent payload may register id: always without CURVE; with it,
 * only when its key's allow-list certificate names that id. */
bool broker_auth_may_register(const broker_options_t *o, zframe_t *payload, const char *id);

/* Reads one event of auth->monitor: true with *why (a static text) when it is a refused
 * handshake, false for anything else. */
bool broker_auth_refused(broker_auth_t *auth, const char **why);

#endif
