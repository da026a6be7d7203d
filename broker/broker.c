/* broker.c — the ROUTER loop: registration, forwarding by actor id, liveness, watchers
 * (authentication: broker_auth.c; the broker in a thread: broker_thread.c).
 *
 * Liveness is constant-cost per frame (the zloop ticket idea): every peer has the same timeout,
 * so keeping peers in a list ordered by last activity — a frame moves its sender to the tail in
 * O(1) — puts the next to expire at the head. Heartbeats to idle peers are one pass over the
 * directory per heartbeat interval.
 * This file must never abort on network input, never block on a peer's full queue (sends are
 * ZMQ_DONTWAIT; the sender is told with ERROR ENET), and never decode payloads for others except
 * to describe a delivery failure. */
#include "broker/broker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/broker_auth.h"
#include "broker/broker_peers.h"
#include "common/ratelog.h"
#include "messages/envelope.h"
#include "messages/permissions.h"

struct broker {
    broker_options_t opt;
    zsock_t *router;
    broker_auth_t auth; /* zauth and the handshake monitor, with CURVE on */
    char endpoint[FP_CONFIG_STR_MAX + 1];
    broker_peers_t *peers;
    broker_stats_t stats;
    uint64_t seq;      /* our message counter */
    int64_t next_beat; /* when the next heartbeat pass is due */
    /* Malformed input per sender, and our replies that could not be sent: logged at most once
     * per RATELOG_INTERVAL_MS each, so a flood of garbage cannot fill the disk. */
    ratelog_t *bad_input;
    ratelog_t *undelivered;
    /* Registrations refused (an id that does not name the role, or one a live connection
     * holds): logged the same way, keyed by the id claimed. */
    ratelog_t *refused;
};

#define UNREGISTERED "an unregistered connection"

void broker_options_defaults(broker_options_t *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->endpoint, sizeof o->endpoint, "%s", FP_DEFAULT_BROKER_ENDPOINT);
    o->heartbeat_ms = 1000;
    o->liveness = 5;
    o->hwm = 1000;
    o->limits = msg_limits_default();
}

void broker_options_from_config(broker_options_t *o, const fedpep_config *cfg)
{
    broker_options_defaults(o);
    snprintf(o->endpoint, sizeof o->endpoint, "%s", cfg->broker.endpoint);
    o->heartbeat_ms = (uint32_t)cfg->broker.heartbeat_ms;
    o->liveness = (uint32_t)cfg->broker.liveness;
    o->hwm = cfg->broker.hwm;
    o->limits.max_message_bytes = (size_t)cfg->broker.max_message_bytes;
    snprintf(o->curve_dir, sizeof o->curve_dir, "%s", cfg->broker.curve_dir);
}

broker_t *broker_new(const broker_options_t *options, fp_error *err)
{
    if (!options || !options->heartbeat_ms || !options->liveness || options->hwm < 0 ||
        !options->endpoint[0] ||
        options->limits.max_message_bytes > INT32_MAX - ENVELOPE_FRAME_SLACK) {
        fp_fail(err, FP_EINVAL, "broker: bad options (heartbeat, liveness, hwm or endpoint)");
        return NULL;
    }
    broker_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "broker: out of memory");
        return NULL;
    }
    self->opt = *options;
    if (!self->opt.epoch) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        self->opt.epoch = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    }
    self->peers = broker_peers_new();
    self->router = zsock_new(ZMQ_ROUTER);
    self->bad_input = ratelog_new("malformed input", "from", RATELOG_INTERVAL_MS);
    self->undelivered = ratelog_new("messages not delivered", "to", RATELOG_INTERVAL_MS);
    self->refused = ratelog_new("registrations refused", "as", RATELOG_INTERVAL_MS);
    if (!self->peers || !self->router || !self->bad_input || !self->undelivered || !self->refused) {
        fp_fail(err, FP_ENOMEM, "broker: cannot create the socket");
        broker_destroy(&self);
        return NULL;
    }
    zsock_set_router_mandatory(self->router, 1);
    zsock_set_sndhwm(self->router, options->hwm);
    zsock_set_rcvhwm(self->router, options->hwm);
    /* A frame above the limit makes libzmq drop that connection before we see a byte of it. */
    zsock_set_maxmsgsize(self->router,
                         (int)options->limits.max_message_bytes + ENVELOPE_FRAME_SLACK);
    zsock_set_linger(self->router, 0);
    /* Authentication is in place before the socket can accept anyone. */
    if (broker_auth_setup(&self->auth, self->router, options, err)) {
        broker_destroy(&self);
        return NULL;
    }
    if (zsock_bind(self->router, "%s", options->endpoint) < 0) {
        fp_fail(err, FP_ENET, "broker: cannot bind %s: %s", options->endpoint,
                zmq_strerror(zmq_errno()));
        broker_destroy(&self);
        return NULL;
    }
    const char *bound = zsock_endpoint(self->router);
    snprintf(self->endpoint, sizeof self->endpoint, "%s", bound ? bound : options->endpoint);
    /* An ephemeral tcp port on a wildcard address resolves to 0.0.0.0: say 127.0.0.1 instead,
     * which a local actor can connect to. */
    if (!strncmp(self->endpoint, "tcp://0.0.0.0:", 14))
        snprintf(self->endpoint, sizeof self->endpoint, "tcp://127.0.0.1:%s",
                 (bound ? bound : options->endpoint) + 14);
    return self;
}

void broker_destroy(broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    zsock_destroy(&self->router);
    broker_auth_teardown(&self->auth);
    broker_peers_destroy(&self->peers);
    ratelog_destroy(&self->bad_input);
    ratelog_destroy(&self->undelivered);
    ratelog_destroy(&self->refused);
    free(self);
    *self_p = NULL;
}

const char *broker_endpoint(const broker_t *self)
{
    return self->endpoint;
}

broker_stats_t broker_stats(const broker_t *self)
{
    broker_stats_t s = self->stats;
    s.peers = (uint32_t)broker_peers_size(self->peers);
    return s;
}

/* ---- logging bad input ---- */

/* Counts one malformed frame set or message from `who` (a peer id, or UNREGISTERED) and logs it,
 * at most one line per peer per interval. */
static void malformed(broker_t *self, const char *who, const char *reason)
{
    self->stats.malformed++;
    char line[512];
    if (ratelog_event(self->bad_input, who, reason, zclock_mono(), line, sizeof line))
        zsys_warning("broker: %s", line);
}

/* ---- sending ---- */

/* Sends m from "broker" to a connection; a failure is logged (rate-limited) and dropped (the
 * peer is slow or gone, and liveness will settle it). */
static void send_to(broker_t *self, zframe_t *route, msg_t *m)
{
    fp_error e = {0};
    m->seq = ++self->seq;
    if (!envelope_send_msg(self->router, route, ENVELOPE_BROKER_ID, m, &self->opt.limits, NULL,
                           NULL, &e))
        return;
    const broker_peer_t *to = broker_peers_by_route(self->peers, route);
    char why[320], line[512];
    snprintf(why, sizeof why, "%s: %s", msg_type_name(m->type), e.msg);
    if (ratelog_event(self->undelivered, to ? to->id : UNREGISTERED, why, zclock_mono(), line,
                      sizeof line))
        zsys_debug("broker: %s", line);
}

/* Answers a refused frame set. refused (may be NULL) is what we could read of it. */
static void send_error(broker_t *self, zframe_t *route, const msg_t *refused, fp_status code,
                       const char *peer, const char *text)
{
    if (refused && refused->type == MSG_ERROR)
        return; /* never answer an ERROR with an ERROR: two confused peers would loop */
    msg_t m;
    if (msg_init(&m, MSG_ERROR, "", ENVELOPE_BROKER_ID, NULL))
        return;
    m.error.code = code;
    if (refused) {
        m.error.answers = refused->type;
        m.re = refused->seq;
        m.round = msg_type_has_round(refused->type) ? refused->round : 0;
        memcpy(m.run, refused->run, sizeof m.run);
    }
    if (peer)
        msg_set_id(m.error.peer, peer, NULL);
    msg_set_text(&m.error.text, text, NULL);
    send_to(self, route, &m);
    msg_clear(&m);
}

/* Tells every watcher of p's role (and every coordinator) that p joined or left. */
static void announce(broker_t *self, const broker_peer_t *p, bool alive)
{
    msg_t m;
    if (msg_init(&m, MSG_PEER_STATE, "", ENVELOPE_BROKER_ID, NULL))
        return;
    memcpy(m.peer_state.id, p->id, sizeof m.peer_state.id);
    m.peer_state.role = p->role;
    m.peer_state.index = p->index;
    m.peer_state.alive = alive;
    for (broker_peer_t *w = broker_peers_first(self->peers); w; w = broker_peers_next(self->peers))
        if (w != p && broker_peer_watches(w, p->role))
            send_to(self, w->route, &m);
    msg_clear(&m);
}

static void send_directory(broker_t *self, broker_peer_t *to, const msg_t *request, int64_t now)
{
    msg_role role = request->directory_request.role;
    msg_t m;
    if (msg_init(&m, MSG_DIRECTORY, "", ENVELOPE_BROKER_ID, NULL))
        return;
    m.re = request->seq;
    uint32_t n = 0;
    for (broker_peer_t *p = broker_peers_first(self->peers); p; p = broker_peers_next(self->peers))
        n += role == MSG_ROLE_ANY || p->role == role;
    if (msg_peers_alloc(&m.directory.peers, n, NULL) == FP_OK) {
        uint32_t i = 0;
        for (broker_peer_t *p = broker_peers_first(self->peers); p && i < n;
             p = broker_peers_next(self->peers)) {
            if (role != MSG_ROLE_ANY && p->role != role)
                continue;
            msg_peer_t *e = &m.directory.peers.v[i++];
            memcpy(e->id, p->id, sizeof e->id);
            e->role = p->role;
            e->index = p->index;
            e->idle_ms = (uint64_t)(now - p->last_heard);
        }
        send_to(self, to->route, &m);
    }
    msg_clear(&m);
}

/* ---- what is addressed to the broker ---- */

/* Whether the connection of p still exists: a probe HEARTBEAT (harmless to a live peer) is
 * refused with EHOSTUNREACH by the ROUTER (router_mandatory) once libzmq has seen that
 * connection close, which it does as soon as the peer's process dies or closes its socket. A
 * full queue (EAGAIN) is a live peer that is busy. */
static bool connection_alive(broker_t *self, broker_peer_t *p, int64_t now)
{
    msg_t m;
    if (msg_init(&m, MSG_HEARTBEAT, "", ENVELOPE_BROKER_ID, NULL))
        return true; /* cannot tell: keep the id with its owner */
    m.seq = ++self->seq;
    int eno = 0;
    bool alive = envelope_send_msg(self->router, p->route, ENVELOPE_BROKER_ID, &m,
                                   &self->opt.limits, NULL, &eno, NULL) == FP_OK ||
                 eno != EHOSTUNREACH;
    msg_clear(&m);
    if (alive)
        p->last_sent = now;
    return alive;
}

/* Refuses a HELLO: counted, logged once per claimed id per interval, answered. */
static void refuse_hello(broker_t *self, zframe_t *route, const msg_t *m, fp_status code,
                         const char *why)
{
    self->stats.refused++;
    char line[512];
    if (ratelog_event(self->refused, m->from, why, zclock_mono(), line, sizeof line))
        zsys_warning("broker: %s", line);
    send_error(self, route, m, code, NULL, why);
}

static void handle_hello(broker_t *self, zframe_t *route, zframe_t *payload, const msg_t *m,
                         int64_t now)
{
    if (!broker_auth_may_register(&self->opt, payload, m->from)) {
        refuse_hello(self, route, m, FP_EINVAL, "this key is not allowed to register this id");
        return;
    }
    if (!msg_hello_matches_id(m->from, m->hello.role, m->hello.index)) {
        char why[160];
        snprintf(why, sizeof why, "the id '%s' does not name role %s index %u", m->from,
                 msg_role_name(m->hello.role), m->hello.index);
        refuse_hello(self, route, m, FP_EINVAL, why);
        return;
    }
    /* No second HELLO takes a live id over: only a connection that is gone (a process that
     * died or reconnected) gives its id up before liveness expires it. */
    broker_peer_t *holder = broker_peers_find(self->peers, m->from);
    if (holder && !zframe_eq(holder->route, route) && connection_alive(self, holder, now)) {
        refuse_hello(self, route, m, FP_ESTATE, "the id is held by another live connection");
        return;
    }
    bool replaced = false;
    broker_peer_t *p = broker_peers_register(self->peers, m->from, m->hello.role, m->hello.index,
                                             route, now, &replaced);
    if (!p) {
        send_error(self, route, m, FP_ENOMEM, NULL, "broker out of memory");
        return;
    }
    self->stats.registered++;
    zsys_info("broker: %s %s (%s %u, pid %u)", replaced ? "re-registered" : "registered", p->id,
              msg_role_name(p->role), p->index, m->hello.pid);
    msg_t w;
    if (msg_init(&w, MSG_WELCOME, "", ENVELOPE_BROKER_ID, NULL))
        return;
    w.re = m->seq;
    w.welcome.heartbeat_ms = self->opt.heartbeat_ms;
    w.welcome.liveness = self->opt.liveness;
    w.welcome.epoch = self->opt.epoch;
    send_to(self, route, &w);
    p->last_sent = now;
    msg_clear(&w);
    announce(self, p, true);
}

static void forget(broker_t *self, broker_peer_t *p, bool expired)
{
    zsys_info("broker: %s %s", p->id, expired ? "is silent: declared dead" : "said BYE");
    if (expired)
        self->stats.expired++;
    else
        self->stats.departed++;
    broker_peer_t gone = *p;
    gone.route = NULL;
    broker_peers_remove(self->peers, p);
    announce(self, &gone, false);
}

static void handle_for_broker(broker_t *self, zframe_t *route, broker_peer_t *sender,
                              zframe_t *payload, int64_t now)
{
    msg_t m;
    fp_error e = {0};
    if (msg_decode(zframe_data(payload), zframe_size(payload), &self->opt.limits, &m, &e)) {
        char why[320];
        snprintf(why, sizeof why, "undecodable message: %s", e.msg);
        malformed(self, sender ? sender->id : UNREGISTERED, why);
        send_error(self, route, NULL, e.status, NULL, e.msg);
        return;
    }
    if (m.type == MSG_HELLO) {
        handle_hello(self, route, payload, &m, now);
    } else if (!sender) {
        /* A connection we do not know: typically an actor whose broker restarted. */
        send_error(self, route, &m, FP_ESTATE, NULL, "not registered: send HELLO first");
    } else if (strcmp(m.from, sender->id)) {
        malformed(self, sender->id, "'from' is not the id it registered");
        send_error(self, route, &m, FP_EINVAL, NULL, "'from' is not the id you registered");
    } else if (m.type == MSG_HEARTBEAT) {
        /* its arrival already refreshed the sender */
    } else if (m.type == MSG_BYE) {
        forget(self, sender, false);
    } else if (m.type == MSG_DIRECTORY_REQUEST) {
        broker_peer_watch(sender, m.directory_request.role);
        send_directory(self, sender, &m, now);
        sender->last_sent = now;
    } else {
        char text[96];
        snprintf(text, sizeof text, "the broker does not handle %s", msg_type_name(m.type));
        send_error(self, route, &m, FP_EINVAL, NULL, text);
    }
    msg_clear(&m);
}

/* ---- forwarding ---- */

/* Describes an undeliverable payload to its sender: decoded (bounded by the limits) only on this
 * failure path, so ERROR can carry the refused type, seq and round. */
static void refuse_forward(broker_t *self, zframe_t *route, zframe_t *payload, fp_status code,
                           const char *dest, const char *why)
{
    msg_t m;
    bool readable = msg_decode(zframe_data(payload), zframe_size(payload), &self->opt.limits, &m,
                               NULL) == FP_OK;
    char text[160];
    snprintf(text, sizeof text, "'%s': %s", dest, why);
    send_error(self, route, readable ? &m : NULL, code, dest, text);
    if (readable)
        msg_clear(&m);
}

/* Forwards *payload (moved, not copied, when it goes: *payload becomes NULL). */
static void forward(broker_t *self, zframe_t *route, broker_peer_t *sender, const char *dest,
                    zframe_t **payload, int64_t now)
{
    if (!sender) {
        refuse_forward(self, route, *payload, FP_ESTATE, dest, "not registered: send HELLO first");
        return;
    }
    broker_peer_t *to = broker_peers_find(self->peers, dest);
    if (!to) {
        self->stats.unroutable++;
        refuse_forward(self, route, *payload, FP_ENOTFOUND, dest, "no such actor");
        return;
    }
    int eno = 0;
    if (envelope_send_frame(self->router, to->route, sender->id, payload, &eno, NULL) == FP_OK) {
        self->stats.forwarded++;
        to->last_sent = now;
        return;
    }
    if (eno == EAGAIN) {
        self->stats.queue_full++;
        refuse_forward(self, route, *payload, FP_ENET, dest, "its queue is full");
    } else {
        /* The connection went away before liveness noticed. */
        self->stats.unroutable++;
        refuse_forward(self, route, *payload, FP_ENOTFOUND, dest, "its connection is gone");
    }
}

/* One frame set from the ROUTER: [routing id][destination][payload]. */
static void handle_router(broker_t *self, int64_t now)
{
    zmsg_t *msg = zmsg_recv(self->router);
    if (!msg)
        return; /* interrupted */
    zframe_t *route = zmsg_pop(msg);
    broker_peer_t *sender = route ? broker_peers_by_route(self->peers, route) : NULL;
    if (sender)
        broker_peers_touch(self->peers, sender, now);
    zframe_t *dest_frame = zmsg_pop(msg);
    zframe_t *payload = zmsg_pop(msg);
    char dest[MSG_ID_CAP];
    if (!route || !payload || zmsg_size(msg) != 0 || !envelope_frame_id(dest_frame, dest)) {
        char why[96];
        snprintf(why, sizeof why, "bad frame set (%zu frames, or a bad destination)",
                 (size_t)(route != NULL) + (dest_frame != NULL) + (payload != NULL) +
                     zmsg_size(msg));
        malformed(self, sender ? sender->id : UNREGISTERED, why);
        if (route)
            send_error(self, route, NULL, FP_EFORMAT, NULL,
                       "expected 2 frames: [destination id][one MessagePack message]");
    } else if (!strcmp(dest, ENVELOPE_BROKER_ID)) {
        handle_for_broker(self, route, sender, payload, now);
    } else {
        forward(self, route, sender, dest, &payload, now);
    }
    zframe_destroy(&route);
    zframe_destroy(&dest_frame);
    zframe_destroy(&payload);
    zmsg_destroy(&msg);
}

/* Declares dead every peer silent for liveness x heartbeat; sends HEARTBEAT to those we have not
 * written to for an interval. Returns ms until something is due. */
static int64_t keep_time(broker_t *self, int64_t now)
{
    int64_t timeout = (int64_t)self->opt.heartbeat_ms * self->opt.liveness;
    broker_peer_t *p;
    while ((p = broker_peers_oldest(self->peers)) && now - p->last_heard >= timeout)
        forget(self, p, true);
    if (now >= self->next_beat) {
        msg_t m;
        if (msg_init(&m, MSG_HEARTBEAT, "", ENVELOPE_BROKER_ID, NULL) == FP_OK) {
            for (p = broker_peers_first(self->peers); p; p = broker_peers_next(self->peers))
                if (now - p->last_sent >= (int64_t)self->opt.heartbeat_ms) {
                    send_to(self, p->route, &m);
                    p->last_sent = now;
                }
            msg_clear(&m);
        }
        self->next_beat = now + self->opt.heartbeat_ms;
    }
    char line[512];
    while (ratelog_flush(self->bad_input, now, line, sizeof line))
        zsys_warning("broker: %s", line);
    while (ratelog_flush(self->undelivered, now, line, sizeof line))
        zsys_debug("broker: %s", line);
    while (ratelog_flush(self->refused, now, line, sizeof line))
        zsys_warning("broker: %s", line);
    int64_t due = self->next_beat - now;
    p = broker_peers_oldest(self->peers);
    if (p && p->last_heard + timeout - now < due)
        due = p->last_heard + timeout - now;
    return due < 1 ? 1 : due;
}

/* A connection failed the CURVE handshake (no key, or one zauth did not find in the
 * allow-list): counted, logged at most once per interval. */
static void handle_monitor(broker_t *self)
{
    const char *why = NULL;
    if (!broker_auth_refused(&self->auth, &why))
        return;
    self->stats.unauthenticated++;
    char line[512];
    if (ratelog_event(self->refused, "an unauthenticated connection", why, zclock_mono(), line,
                      sizeof line))
        zsys_warning("broker: %s", line);
}

static bool handle_pipe(broker_t *self, zsock_t *pipe)
{
    char *cmd = zstr_recv(pipe);
    if (!cmd)
        return !zsys_interrupted;
    bool go_on = true;
    if (!strcmp(cmd, "$TERM")) {
        go_on = false;
    } else if (!strcmp(cmd, "STATS")) {
        broker_stats_t s = broker_stats(self);
        zframe_t *f = zframe_new(&s, sizeof s);
        zframe_send(&f, pipe, 0);
    }
    zstr_free(&cmd);
    return go_on;
}

fp_status broker_run(broker_t *self, zsock_t *pipe, fp_error *err)
{
    zpoller_t *poller = zpoller_new(self->router, pipe, NULL);
    if (!poller || (self->auth.monitor && zpoller_add(poller, self->auth.monitor))) {
        zpoller_destroy(&poller);
        return fp_fail(err, FP_ENOMEM, "broker: cannot create a poller");
    }
    zsys_info("broker: routing on %s (epoch %" PRIu64 ", heartbeat %u ms x %u; %s%s)",
              self->endpoint, self->opt.epoch, self->opt.heartbeat_ms, self->opt.liveness,
              self->opt.curve_dir[0] ? "CURVE on, keys in " : "CURVE off",
              self->opt.curve_dir[0] ? self->opt.curve_dir : "");
    self->next_beat = zclock_mono() + self->opt.heartbeat_ms;
    bool running = true;
    while (running && !zsys_interrupted) {
        int64_t due = keep_time(self, zclock_mono());
        void *which = zpoller_wait(poller, (int)due);
        if (which == self->router)
            handle_router(self, zclock_mono());
        else if (which && which == pipe)
            running = handle_pipe(self, pipe);
        else if (which && which == self->auth.monitor)
            handle_monitor(self);
    }
    zpoller_destroy(&poller);
    broker_stats_t s = broker_stats(self);
    zsys_info("broker: stopping; %" PRIu64 " registrations, %" PRIu64 " forwarded, %" PRIu64
              " unroutable, %" PRIu64 " queue-full, %" PRIu64 " malformed, %" PRIu64
              " expired, %" PRIu64 " refused, %" PRIu64 " unauthenticated",
              s.registered, s.forwarded, s.unroutable, s.queue_full, s.malformed, s.expired,
              s.refused, s.unauthenticated);
    char line[1024];
    if (ratelog_summary(self->bad_input, line, sizeof line))
        zsys_info("broker: %s", line);
    if (ratelog_summary(self->undelivered, line, sizeof line))
        zsys_info("broker: %s", line);
    if (ratelog_summary(self->refused, line, sizeof line))
        zsys_info("broker: %s", line);
    return FP_OK;
}
