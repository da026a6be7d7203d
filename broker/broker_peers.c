/* broker_peers.c — see broker_peers.h. Three views of one set of peers: a hash by actor id (owns
 * them), a hash by routing id, and a list ordered by last activity. */
#include "broker/broker_peers.h"

#include <stdlib.h>
#include <string.h>

struct broker_peers {
    zhashx_t *by_id;    /* id -> broker_peer_t (owner) */
    zhashx_t *by_route; /* hex routing id -> broker_peer_t */
    zlistx_t *order;    /* least recently heard first */
};

static void peer_free(void **item)
{
    broker_peer_t *p = *item;
    if (!p)
        return;
    zframe_destroy(&p->route);
    free(p);
    *item = NULL;
}

broker_peers_t *broker_peers_new(void)
{
    broker_peers_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->by_id = zhashx_new();
    self->by_route = zhashx_new();
    self->order = zlistx_new();
    if (!self->by_id || !self->by_route || !self->order) {
        broker_peers_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->by_id, peer_free);
    return self;
}

void broker_peers_destroy(broker_peers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_peers_t *self = *self_p;
    zlistx_destroy(&self->order);
    zhashx_destroy(&self->by_route);
    zhashx_destroy(&self->by_id);
    free(self);
    *self_p = NULL;
}

size_t broker_peers_size(const broker_peers_t *self)
{
    return zhashx_size(self->by_id);
}

static void route_key(zframe_t *route, char *out)
{
    static const char HEX[] = "0123456789abcdef";
    size_t n = zframe_size(route);
    const unsigned char *d = zframe_data(route);
    if (n > 255)
        n = 255; /* libzmq routing ids are at most 255 bytes */
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[d[i] >> 4];
        out[2 * i + 1] = HEX[d[i] & 15];
    }
    out[2 * n] = 0;
}

broker_peer_t *broker_peers_find(broker_peers_t *self, const char *id)
{
    return zhashx_lookup(self->by_id, id);
}

broker_peer_t *broker_peers_by_route(broker_peers_t *self, zframe_t *route)
{
    char key[2 * 255 + 1];
    route_key(route, key);
    return zhashx_lookup(self->by_route, key);
}

void broker_peers_remove(broker_peers_t *self, broker_peer_t *p)
{
    zlistx_delete(self->order, p->order_handle);
    zhashx_delete(self->by_route, p->route_key);
    zhashx_delete(self->by_id, p->id); /* frees p */
}

broker_peer_t *broker_peers_register(broker_peers_t *self, const char *id, msg_role role,
                                     uint32_t index, zframe_t *route, int64_t now, bool *replaced)
{
    broker_peer_t *other = broker_peers_by_route(self, route);
    if (other && strcmp(other->id, id))
        broker_peers_remove(self, other);
    broker_peer_t *p = broker_peers_find(self, id);
    *replaced = p != NULL;
    if (p) {
        zhashx_delete(self->by_route, p->route_key);
        zframe_destroy(&p->route);
    } else {
        p = calloc(1, sizeof *p);
        if (!p)
            return NULL;
        snprintf(p->id, sizeof p->id, "%s", id);
        p->order_handle = zlistx_add_end(self->order, p);
        if (!p->order_handle || zhashx_insert(self->by_id, p->id, p)) {
            if (p->order_handle)
                zlistx_delete(self->order, p->order_handle);
            free(p);
            return NULL;
        }
    }
    p->role = role;
    p->index = index;
    p->route = zframe_dup(route);
    route_key(route, p->route_key);
    p->last_sent = now;
    zhashx_update(self->by_route, p->route_key, p);
    broker_peers_touch(self, p, now);
    return p;
}

void broker_peers_touch(broker_peers_t *self, broker_peer_t *p, int64_t now)
{
    p->last_heard = now;
    zlistx_move_end(self->order, p->order_handle);
}

broker_peer_t *broker_peers_oldest(broker_peers_t *self)
{
    return zlistx_first(self->order);
}

broker_peer_t *broker_peers_first(broker_peers_t *self)
{
    return zhashx_first(self->by_id);
}

broker_peer_t *broker_peers_next(broker_peers_t *self)
{
    return zhashx_next(self->by_id);
}

void broker_peer_watch(broker_peer_t *p, msg_role role)
{
    p->watch_mask |= 1u << role;
}

bool broker_peer_watches(const broker_peer_t *p, msg_role role)
{
    return p->role == MSG_ROLE_COORDINATOR || (p->watch_mask & 1u) ||
           (p->watch_mask & (1u << role));
}
