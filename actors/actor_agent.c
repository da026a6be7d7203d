/* actor_agent.c — the broker connection of one actor, in its own thread (see actor_agent.h).
 *
 * Paranoid Pirate, with one socket at a time: a fresh DEALER sends HELLO and waits `backoff` for
 * WELCOME (1 s, then 2, 4 ... 32 s on each failure); once registered, every frame from the broker
 * proves it alive, we send HEARTBEAT when we have been quiet for heartbeat_ms, and silence for
 * liveness x heartbeat_ms means the broker is gone: close the socket (dropping its queue) and
 * start again. An ERROR "not registered" from the broker (it restarted and met our reconnected
 * socket before we noticed) re-registers at once.
 * This thread must never call role code and never block: sends are ZMQ_DONTWAIT. */
#include "actors/actor_agent.h"

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "messages/curve.h"
#include "messages/envelope.h"
#include "common/ratelog.h"
#include "common/version.h"

typedef struct agent {
    const actor_options_t *opt;
    zsock_t *pipe;
    zsock_t *dealer; /* NULL between attempts */
    bool welcomed;   /* registered with the current socket */
    bool gave_up;
    uint32_t heartbeat_ms;
    uint32_t liveness;
    uint32_t backoff_ms; /* how long the current attempt waits for WELCOME */
    int64_t attempt_end; /* when it gives up */
    int64_t last_heard;
    int64_t last_sent;
    int64_t lost_since; /* start of the current period without a broker */
    uint64_t seq;
    /* Bad frames from the broker, messages main could not take (its pipe full during a long
     * callback), and messages from main we could not send (not registered, or our queue to the
     * broker full while it is busy): logged at most once per RATELOG_INTERVAL_MS per peer each.
     * NULL = not logged. */
    ratelog_t *bad_input;
    ratelog_t *dropped;
    ratelog_t *unsent;
} agent_t;

/* Logs (rate-limited) one event of log `rl` about `key`. */
static void log_limited(agent_t *self, ratelog_t *rl, const char *key, const char *reason)
{
    char line[512];
    if (ratelog_event(rl, key, reason, zclock_mono(), line, sizeof line))
        zsys_warning("%s: %s", self->opt->id, line);
}

static void say(agent_t *self, msg_type type, const char *text)
{
    msg_t m;
    if (msg_init(&m, type, "", self->opt->id, NULL))
        return;
    m.seq = ++self->seq;
    if (type == MSG_HELLO) {
        m.hello.role = self->opt->role;
        m.hello.index = self->opt->index;
        m.hello.pid = (uint32_t)getpid();
        msg_set_id(m.hello.software, FEDPEP_VERSION, NULL);
    } else if (type == MSG_BYE && text) {
        msg_set_text(&m.bye.reason, text, NULL);
    }
    fp_error e = {0};
    if (envelope_send_msg(self->dealer, NULL, ENVELOPE_BROKER_ID, &m, NULL, NULL, NULL, &e))
        zsys_debug("%s: %s not sent: %s", self->opt->id, msg_type_name(type), e.msg);
    else
        self->last_sent = zclock_mono();
    msg_clear(&m);
}

static void close_socket(agent_t *self)
{
    zsock_destroy(&self->dealer);
    self->welcomed = false;
}

/* A new socket, HELLO, and `backoff_ms` to be welcomed. */
static void attempt(agent_t *self, int64_t now)
{
    close_socket(self);
    self->dealer = zsock_new(ZMQ_DEALER);
    if (!self->dealer) {
        self->attempt_end = now + self->backoff_ms;
        return;
    }
    zsock_set_sndhwm(self->dealer, self->opt->hwm);
    zsock_set_rcvhwm(self->dealer, self->opt->hwm);
    zsock_set_maxmsgsize(self->dealer,
                         (int)self->opt->limits.max_message_bytes + ENVELOPE_FRAME_SLACK);
    zsock_set_linger(self->dealer, 0);
    fp_error e = {0};
    if (self->opt->curve_dir[0] &&
        curve_client_setup(self->dealer, self->opt->curve_dir, self->opt->id, &e)) {
        zsys_error("%s: %s", self->opt->id, e.msg);
        close_socket(self);
    } else if (zsock_connect(self->dealer, "%s", self->opt->endpoint) < 0) {
        zsys_error("%s: cannot connect to %s", self->opt->id, self->opt->endpoint);
        close_socket(self);
    } else {
        say(self, MSG_HELLO, NULL);
    }
    self->attempt_end = now + self->backoff_ms;
}

static void lost(agent_t *self, int64_t now, const char *why)
{
    zsys_warning("%s: %s; reconnecting to %s", self->opt->id, why, self->opt->endpoint);
    zsock_send(self->pipe, "ss", "$DOWN", why);
    self->lost_since = now;
    self->backoff_ms = self->opt->reconnect_min_ms;
}

/* What the broker itself says: registration, heartbeats, refusals of our registration. Anything
 * else (DIRECTORY, PEER_STATE, routing ERRORs) is for main. Returns whether main should get it. */
static bool from_broker(agent_t *self, zframe_t *payload, int64_t now)
{
    msg_t m;
    fp_error e = {0};
    if (msg_decode(zframe_data(payload), zframe_size(payload), &self->opt->limits, &m, &e)) {
        log_limited(self, self->bad_input, ENVELOPE_BROKER_ID, e.msg);
        return false;
    }
    bool for_main = false;
    if (m.type == MSG_WELCOME) {
        self->welcomed = true;
        self->heartbeat_ms = m.welcome.heartbeat_ms;
        self->liveness = m.welcome.liveness;
        self->backoff_ms = self->opt->reconnect_min_ms;
        self->last_sent = now;
        char epoch[24];
        snprintf(epoch, sizeof epoch, "%" PRIu64, m.welcome.epoch);
        zsock_send(self->pipe, "ss", "$UP", epoch);
    } else if (m.type == MSG_ERROR && m.error.code == FP_ESTATE && self->welcomed) {
        /* The broker does not know us any more: it restarted behind our reconnected socket. */
        lost(self, now, "the broker forgot us (restarted)");
        self->welcomed = false;
        say(self, MSG_HELLO, NULL);
        self->attempt_end = now + self->backoff_ms;
    } else if (m.type == MSG_ERROR && m.error.answers == MSG_HELLO) {
        zsys_error("%s: the broker refused our HELLO: %s", self->opt->id,
                   m.error.text ? m.error.text : fp_status_name(m.error.code));
    } else {
        for_main = m.type != MSG_HEARTBEAT;
    }
    msg_clear(&m);
    return for_main;
}

static void handle_dealer(agent_t *self, int64_t now)
{
    zmsg_t *msg = zmsg_recv(self->dealer);
    if (!msg)
        return;
    self->last_heard = now;
    size_t frames = zmsg_size(msg);
    zframe_t *source = zmsg_pop(msg);
    zframe_t *payload = zmsg_pop(msg);
    char id[MSG_ID_CAP];
    if (frames != 2 || !envelope_frame_id(source, id)) {
        char why[64];
        snprintf(why, sizeof why, "bad frame set (%zu frames)", frames);
        log_limited(self, self->bad_input, ENVELOPE_BROKER_ID, why);
    } else if (strcmp(id, ENVELOPE_BROKER_ID) || from_broker(self, payload, now)) {
        fp_error e = {0};
        if (envelope_send_frame(self->pipe, NULL, id, &payload, NULL, &e))
            log_limited(self, self->dropped, id, e.msg);
    }
    zframe_destroy(&source);
    zframe_destroy(&payload);
    zmsg_destroy(&msg);
}

/* Returns false on $TERM. */
static bool handle_pipe(agent_t *self)
{
    zmsg_t *msg = zmsg_recv(self->pipe);
    if (!msg)
        return true; /* interrupted: main decides when to stop */
    char *first = zmsg_popstr(msg);
    bool go_on = true;
    if (!first) {
        /* empty message: ignore */
    } else if (!strcmp(first, "$TERM")) {
        go_on = false;
    } else if (!strcmp(first, "$BYE")) {
        char *reason = zmsg_popstr(msg);
        if (self->dealer && self->welcomed) {
            zsock_set_linger(self->dealer, 500); /* let BYE leave before the socket closes */
            say(self, MSG_BYE, reason);
        }
        zstr_free(&reason);
        zsock_signal(self->pipe, 0);
    } else {
        zframe_t *payload = zmsg_pop(msg);
        fp_error e = {0};
        if (!payload || !self->dealer || !self->welcomed)
            log_limited(self, self->unsent, first, "not registered with the broker");
        else if (envelope_send_frame(self->dealer, NULL, first, &payload, NULL, &e))
            log_limited(self, self->unsent, first, e.msg);
        else
            self->last_sent = zclock_mono();
        zframe_destroy(&payload);
    }
    zstr_free(&first);
    zmsg_destroy(&msg);
    return go_on;
}

/* Timers: WELCOME wait, broker silence, our heartbeat, giving up. Returns ms until the next. */
static int64_t keep_time(agent_t *self, int64_t now)
{
    if (!self->welcomed && now >= self->attempt_end && !self->gave_up) {
        if (self->opt->give_up_ms && now - self->lost_since >= self->opt->give_up_ms) {
            self->gave_up = true;
            close_socket(self);
            zsock_send(self->pipe, "ss", "$GIVEUP", "no broker answered");
            return 1000;
        }
        if (self->dealer)
            self->backoff_ms = self->backoff_ms * 2 > self->opt->reconnect_max_ms
                                   ? self->opt->reconnect_max_ms
                                   : self->backoff_ms * 2;
        attempt(self, now);
    }
    char line[512];
    while (ratelog_flush(self->bad_input, now, line, sizeof line) ||
           ratelog_flush(self->dropped, now, line, sizeof line) ||
           ratelog_flush(self->unsent, now, line, sizeof line))
        zsys_warning("%s: %s", self->opt->id, line);
    int64_t due = self->attempt_end - now;
    if (self->welcomed) {
        int64_t silence = (int64_t)self->heartbeat_ms * self->liveness;
        if (now - self->last_heard >= silence) {
            lost(self, now, "the broker is silent");
            attempt(self, now);
            return self->backoff_ms;
        }
        if (now - self->last_sent >= self->heartbeat_ms)
            say(self, MSG_HEARTBEAT, NULL);
        due = self->last_sent + self->heartbeat_ms - now;
        if (self->last_heard + silence - now < due)
            due = self->last_heard + silence - now;
    }
    return due < 1 ? 1 : due;
}

void actor_agent(zsock_t *pipe, void *arg)
{
    agent_t self = {.opt = arg, .pipe = pipe};
    self.bad_input = ratelog_new("malformed input", "from", RATELOG_INTERVAL_MS);
    self.dropped =
        ratelog_new("messages not passed to the role (it is busy)", "from", RATELOG_INTERVAL_MS);
    self.unsent =
        ratelog_new("messages dropped on the way to the broker", "to", RATELOG_INTERVAL_MS);
    int64_t now = zclock_mono();
    self.backoff_ms = self.opt->reconnect_min_ms;
    self.lost_since = now;
    zsock_signal(pipe, 0);
    attempt(&self, now);
    bool running = true;
    while (running) {
        int64_t due = keep_time(&self, zclock_mono());
        zmq_pollitem_t items[2] = {
            {zsock_resolve(pipe), 0, ZMQ_POLLIN, 0},
            {self.dealer ? zsock_resolve(self.dealer) : NULL, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, self.dealer ? 2 : 1, (long)due);
        if (rc <= 0)
            continue; /* timeout, or a signal (main decides when to stop) */
        if (items[0].revents & ZMQ_POLLIN)
            running = handle_pipe(&self);
        if (running && self.dealer && (items[1].revents & ZMQ_POLLIN))
            handle_dealer(&self, zclock_mono());
    }
    close_socket(&self);
    char line[1024];
    if (ratelog_summary(self.bad_input, line, sizeof line))
        zsys_info("%s: %s", self.opt->id, line);
    if (ratelog_summary(self.dropped, line, sizeof line))
        zsys_info("%s: %s", self.opt->id, line);
    if (ratelog_summary(self.unsent, line, sizeof line))
        zsys_info("%s: %s", self.opt->id, line);
    ratelog_destroy(&self.bad_input);
    ratelog_destroy(&self.dropped);
    ratelog_destroy(&self.unsent);
}
