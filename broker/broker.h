/* broker.h — fedpep's message router: one ZeroMQ ROUTER socket, a directory of registered actors
 * keyed by actor id, per-peer liveness, and forwarding by id.
 *
 * Envelope (docs/protocol.md, "Routing"): an actor's DEALER sends [destination id][payload]; the
 * broker forwards it to the destination's connection as [source id][payload], where the source
 * id is the one the sender registered with HELLO (the broker vouches for it). Payloads for other
 * actors are forwarded opaquely; only what is addressed to "broker" is decoded. A peer silent for
 * liveness x heartbeat_ms is dead: it leaves the directory and the watchers (the coordinator, and
 * any actor that sent DIRECTORY_REQUEST) receive PEER_STATE.
 * The broker must never abort or grow without bound on network input: bad frames are logged,
 * answered with ERROR when the sender is known, and dropped; queues are bounded by hwm. */
#ifndef FEDPEP_BROKER_BROKER_H
#define FEDPEP_BROKER_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "common/config.h"
#include "common/status.h"
#include "messages/protocol.h"

typedef struct broker broker_t;

typedef struct broker_options {
    /* where to bind: tcp://0.0.0.0:5570, tcp://127.0.0.1:* (any free port), ipc:///path */
    char endpoint[FP_CONFIG_STR_MAX + 1];
    uint32_t heartbeat_ms; /* told to actors in WELCOME; our heartbeat period */
    uint32_t liveness;     /* intervals of silence before a peer is dead */
    int hwm;               /* ZMQ_SNDHWM/RCVHWM, messages; 0 = none */
    msg_limits limits;     /* for what is addressed to the broker, and frame size */
    uint64_t epoch;        /* 0 = derived from the wall clock at start */
    /* CurveZMQ key folder (messages/curve.h); "" = no CURVE. With it, only the keys of
     * curve_dir/allow connect, and each may register only the id its certificate names. */
    char curve_dir[FP_CONFIG_STR_MAX + 1];
} broker_options_t;

/* Counters since start, for tests, logs and `fedpep broker` on exit. */
typedef struct broker_stats {
    uint64_t registered;      /* HELLOs accepted (re-registrations included) */
    uint64_t forwarded;       /* messages delivered to another actor */
    uint64_t unroutable;      /* destination unknown: answered ERROR ENOTFOUND */
    uint64_t queue_full;      /* destination's queue at hwm: dropped, answered ERROR ENET */
    uint64_t malformed;       /* bad frame sets or undecodable broker messages */
    uint64_t expired;         /* peers declared dead by silence */
    uint64_t departed;        /* peers that said BYE */
    uint64_t refused;         /* HELLOs refused: id not naming the role, or held by a live peer */
    uint64_t unauthenticated; /* with CURVE: connections refused in the handshake (no key, or
                                 a key not in the allow-list) */
    uint32_t peers;           /* registered now */
} broker_stats_t;

/* heartbeat 1000 ms, liveness 5, hwm 1000, msg_limits_default, FP_DEFAULT_BROKER_ENDPOINT. */
void broker_options_defaults(broker_options_t *o);
/* Defaults, then [broker] endpoint, heartbeat_ms, liveness, hwm, max_message_bytes, curve_dir
 * of cfg. */
void broker_options_from_config(broker_options_t *o, const fedpep_config *cfg);

/* Creates the ROUTER socket and binds it. NULL with err filled (FP_ENET: cannot bind, FP_EINVAL:
 * bad options). */
broker_t *broker_new(const broker_options_t *options, fp_error *err);
void broker_destroy(broker_t **self_p);

/* The endpoint actually bound (a tcp port given as * resolved), e.g. "tcp://127.0.0.1:40123". */
const char *broker_endpoint(const broker_t *self);
broker_stats_t broker_stats(const broker_t *self);

/* Routes until zsys_interrupted, or until `pipe` (may be NULL) receives "$TERM". On the pipe,
 * "STATS" is answered with one frame holding a broker_stats_t. FP_OK on a normal end. */
fp_status broker_run(broker_t *self, zsock_t *pipe, fp_error *err);

/* A broker in a thread (a zactor), for tests and single-process tools: binds, then runs until
 * zactor_destroy. endpoint_out (n bytes) gets the bound endpoint. NULL with err on failure. */
zactor_t *broker_start(const broker_options_t *options, char *endpoint_out, size_t n,
                       fp_error *err);
/* Asks a broker started with broker_start for its counters (zeroes on failure). */
broker_stats_t broker_actor_stats(zactor_t *broker);

#endif
