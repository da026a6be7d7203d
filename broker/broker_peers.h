/* broker_peers.h — the broker's directory: registered actors by id and by connection, kept in
 * order of last activity so the next peer to expire is always the first (O(1) per frame).
 * Private to broker/. This module must never send anything: it only keeps the table. */
#ifndef FEDPEP_BROKER_BROKER_PEERS_H
#define FEDPEP_BROKER_BROKER_PEERS_H

#include <stdbool.h>
#include <stdint.h>

#include <czmq.h>

#include "messages/protocol.h"

typedef struct broker_peer {
    char id[MSG_ID_CAP];
    msg_role role;
    uint32_t index;
    zframe_t *route;     /* the ROUTER's routing id of its connection (owned) */
    int64_t last_heard;  /* monotonic ms of its last frame */
    int64_t last_sent;   /* monotonic ms of our last frame to it */
    uint32_t watch_mask; /* roles it asked about with DIRECTORY_REQUEST (bit 0 = any) */
    char route_key[2 * 255 + 1];
    void *order_handle;
} broker_peer_t;

typedef struct broker_peers broker_peers_t;

broker_peers_t *broker_peers_new(void);
void broker_peers_destroy(broker_peers_t **self_p);
size_t broker_peers_size(const broker_peers_t *self);

/* Registers id on connection route (copied), or moves a known id to this connection (a restarted
 * process: *replaced = true). A connection that carried another id forgets it. NULL: no memory. */
broker_peer_t *broker_peers_register(broker_peers_t *self, const char *id, msg_role role,
                                     uint32_t index, zframe_t *route, int64_t now, bool *replaced);
broker_peer_t *broker_peers_find(broker_peers_t *self, const char *id);
broker_peer_t *broker_peers_by_route(broker_peers_t *self, zframe_t *route);
/* The peer was heard from at now: it becomes the last to expire. */
void broker_peers_touch(broker_peers_t *self, broker_peer_t *p, int64_t now);
/* The peer heard from least recently, or NULL. */
broker_peer_t *broker_peers_oldest(broker_peers_t *self);
/* Frees p; p is invalid afterwards. Not during a first/next walk. */
void broker_peers_remove(broker_peers_t *self, broker_peer_t *p);
/* Walk over every peer (one walk at a time; do not register or remove meanwhile). */
broker_peer_t *broker_peers_first(broker_peers_t *self);
broker_peer_t *broker_peers_next(broker_peers_t *self);

/* Records that p wants PEER_STATE pushes about `role` (ANY = all roles). */
void broker_peer_watch(broker_peer_t *p, msg_role role);
/* Whether p is told about peers of `role`: coordinators always are. */
bool broker_peer_watches(const broker_peer_t *p, msg_role role);

#endif
