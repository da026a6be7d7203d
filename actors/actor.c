/* actor.c — the role side of the actor loop (see actor.h): decodes what the agent thread
 * receives, keeps the table of watched peers and the byte counters, and calls the role's
 * callbacks one at a time.
 * This file must never touch the broker socket (the agent owns it) and never let bad input from
 * the network reach a callback. */
#include "actors/actor.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "actors/actor_agent.h"
#include "common/ratelog.h"
#include "messages/permissions.h"
#include "messages/envelope.h"

typedef struct peer_bytes {
    uint64_t sent;
    uint64_t received;
} peer_bytes_t;

struct actor {
    actor_options_t opt;
    const actor_role_t *role;
    void *self;
    zactor_t *agent;
    bool registered;
    bool started;       /* on_start has run at least once */
    bool start_pending; /* registered, waiting for the watch DIRECTORY before on_start */
    bool stopping;
    int exit_code;
    uint64_t epoch;
    uint64_t seq;
    uint64_t watch_seq; /* seq of our watch DIRECTORY_REQUEST */
    msg_peers_t peers;  /* watched peers believed alive */
    uint32_t peers_cap;
    zhashx_t *bytes; /* peer id -> peer_bytes_t */
    size_t last_sent_bytes;
    /* Bad messages per sender, and the actor_warning kinds (messages we could not send, ERRORs
     * we received): logged at most once per RATELOG_INTERVAL_MS per key each (a flood of
     * garbage, or a peer whose queue stays full, must not fill the disk). */
    ratelog_t *bad_input;
    ratelog_t *warn[ACTOR_WARN_COUNT];
};

/* What each actor_warning kind is called in its lines ("<what> <prep> <key>: <reason>"). */
static const struct {
    const char *what, *prep;
} WARN_NAMES[ACTOR_WARN_COUNT] = {
    [ACTOR_WARN_UNSENT] = {"messages not sent", "to"},
    [ACTOR_WARN_ERROR] = {"ERRORs received", "from"},
    [ACTOR_WARN_REFUSED] = {"messages refused", "from"},
};

/* Counts and logs (rate-limited) one bad message from `source`. */
static void bad_input(actor_t *actor, const char *source, const char *reason)
{
    char line[512];
    if (ratelog_event(actor->bad_input, source, reason, zclock_mono(), line, sizeof line))
        zsys_warning("%s: %s", actor->opt.id, line);
}

void actor_warn(actor_t *actor, actor_warning kind, const char *key, const char *reason)
{
    char line[512];
    if ((unsigned)kind < ACTOR_WARN_COUNT &&
        ratelog_event(actor->warn[kind], key, reason, zclock_mono(), line, sizeof line))
        zsys_warning("%s: %s", actor->opt.id, line);
}

int64_t actor_now_ms(void)
{
    return zclock_mono();
}

const char *actor_id(const actor_t *actor)
{
    return actor->opt.id;
}

const actor_options_t *actor_options(const actor_t *actor)
{
    return &actor->opt;
}

uint64_t actor_epoch(const actor_t *actor)
{
    return actor->epoch;
}

fp_status actor_set_run(actor_t *actor, const char *run, fp_error *err)
{
    return msg_set_id(actor->opt.run, run, err);
}

void actor_stop(actor_t *actor, int exit_code)
{
    actor->stopping = true;
    actor->exit_code = exit_code;
}

/* ---- byte counters ---- */

static peer_bytes_t *bytes_of(actor_t *actor, const char *id)
{
    peer_bytes_t *b = zhashx_lookup(actor->bytes, id);
    if (!b && (b = calloc(1, sizeof *b)) && zhashx_insert(actor->bytes, id, b)) {
        free(b);
        b = NULL;
    }
    return b;
}

void actor_peer_bytes(const actor_t *actor, const char *id, uint64_t *sent, uint64_t *received)
{
    const peer_bytes_t *b = zhashx_lookup(actor->bytes, id);
    if (sent)
        *sent = b ? b->sent : 0;
    if (received)
        *received = b ? b->received : 0;
}

size_t actor_last_sent_bytes(const actor_t *actor)
{
    return actor->last_sent_bytes;
}

/* ---- sending ---- */

fp_status actor_send(actor_t *actor, const char *to, msg_t *msg, fp_error *err)
{
    if (!actor->registered)
        return fp_fail(err, FP_ENET,
                       "%s: not registered with the broker (reconnecting); %s to %s "
                       "not sent",
                       actor->opt.id, msg_type_name(msg->type), to);
    char dest[MSG_ID_CAP];
    fp_status st = msg_set_id(dest, to, err);
    if (st)
        return st;
    if (!dest[0])
        return fp_fail(err, FP_EINVAL, "actor_send: empty destination");
    memcpy(msg->from, actor->opt.id, sizeof msg->from);
    if (!msg->run[0])
        memcpy(msg->run, actor->opt.run, sizeof msg->run);
    msg->seq = ++actor->seq;
    uint8_t *buf = NULL;
    size_t len = 0;
    st = msg_encode(msg, &actor->opt.limits, &buf, &len, err);
    if (!st)
        st = envelope_send(zactor_sock(actor->agent), NULL, dest, buf, len, NULL, err);
    free(buf);
    if (st)
        return st;
    actor->last_sent_bytes = len;
    peer_bytes_t *b = bytes_of(actor, dest);
    if (b)
        b->sent += len;
    return FP_OK;
}

fp_status actor_reply(actor_t *actor, const msg_t *request, msg_t *reply, fp_error *err)
{
    reply->re = request->seq;
    if (msg_type_has_round(reply->type))
        reply->round = request->round;
    if (!reply->run[0])
        memcpy(reply->run, request->run, sizeof reply->run);
    return actor_send(actor, request->from, reply, err);
}

static void send_error_to(actor_t *actor, const char *to, const msg_t *request, fp_status code,
                          const char *text)
{
    msg_t m;
    if (msg_init(&m, MSG_ERROR, "", actor->opt.id, NULL))
        return;
    m.error.code = code == FP_OK ? FP_EINVAL : code;
    if (request) {
        m.error.answers = request->type;
        m.re = request->seq;
        m.round = request->round;
        memcpy(m.run, request->run, sizeof m.run);
    }
    if (text)
        msg_set_text(&m.error.text, text, NULL);
    fp_error e = {0};
    if (actor_send(actor, to, &m, &e)) {
        char why[sizeof e.msg + 16];
        snprintf(why, sizeof why, "ERROR: %s", e.msg);
        actor_warn(actor, ACTOR_WARN_UNSENT, to, why);
    }
    msg_clear(&m);
}

void actor_reply_error(actor_t *actor, const msg_t *request, fp_status code, const char *text)
{
    send_error_to(actor, request->from, request, code, text);
}

fp_status actor_request_directory(actor_t *actor, msg_role role, fp_error *err)
{
    msg_t m;
    fp_status st = msg_init(&m, MSG_DIRECTORY_REQUEST, "", actor->opt.id, err);
    if (st)
        return st;
    m.directory_request.role = role;
    st = actor_send(actor, ENVELOPE_BROKER_ID, &m, err);
    msg_clear(&m);
    return st;
}

/* ---- watched peers ---- */

const msg_peers_t *actor_peers(const actor_t *actor)
{
    return &actor->peers;
}

static int peer_find(const actor_t *actor, const char *id)
{
    for (uint32_t i = 0; i < actor->peers.n; i++)
        if (!strcmp(actor->peers.v[i].id, id))
            return (int)i;
    return -1;
}

bool actor_peer_alive(const actor_t *actor, const char *id)
{
    return peer_find(actor, id) >= 0;
}

/* Records a change and tells the role. A known peer announced alive again (a restarted process
 * re-registering) is reported again. */
static fp_status peer_changed(actor_t *actor, const msg_peer_t *p, bool alive, fp_error *err)
{
    int i = peer_find(actor, p->id);
    if (alive && i < 0) {
        if (actor->peers.n == actor->peers_cap) {
            uint32_t cap = actor->peers_cap ? 2 * actor->peers_cap : 16;
            msg_peer_t *v = realloc(actor->peers.v, cap * sizeof *v);
            if (!v)
                return fp_fail(err, FP_ENOMEM, "%s: out of memory for peers", actor->opt.id);
            actor->peers.v = v;
            actor->peers_cap = cap;
        }
        actor->peers.v[actor->peers.n++] = *p;
    } else if (alive) {
        actor->peers.v[i] = *p;
    } else if (i >= 0) {
        actor->peers.v[i] = actor->peers.v[--actor->peers.n];
    } else {
        return FP_OK; /* a death we never saw born */
    }
    if (!actor->role->on_peer)
        return FP_OK;
    return actor->role->on_peer(actor->self, actor, p, alive, err);
}

/* Whether peer (id, role) belongs in the table: never ourselves; when watching, only watch_role. */
static bool watched(const actor_t *actor, const char *id, msg_role role)
{
    if (!strcmp(id, actor->opt.id))
        return false;
    return !actor->opt.watch_peers || actor->opt.watch_role == MSG_ROLE_ANY ||
           actor->opt.watch_role == role;
}

/* Brings the table to the broker's snapshot: the missing died, the new joined. */
static fp_status apply_directory(actor_t *actor, const msg_directory_t *d, fp_error *err)
{
    fp_status st = FP_OK;
    for (uint32_t i = actor->peers.n; !st && i-- > 0;) {
        bool listed = false;
        for (uint32_t j = 0; j < d->peers.n && !listed; j++)
            listed = !strcmp(d->peers.v[j].id, actor->peers.v[i].id);
        if (!listed) {
            msg_peer_t gone = actor->peers.v[i];
            st = peer_changed(actor, &gone, false, err);
        }
    }
    for (uint32_t j = 0; !st && j < d->peers.n; j++)
        if (watched(actor, d->peers.v[j].id, d->peers.v[j].role) &&
            !actor_peer_alive(actor, d->peers.v[j].id))
            st = peer_changed(actor, &d->peers.v[j], true, err);
    return st;
}

/* ---- dispatch ---- */

static fp_status start_role(actor_t *actor, fp_error *err)
{
    bool reconnected = actor->started;
    actor->started = true;
    actor->start_pending = false;
    zsys_info("%s: %s (broker epoch %" PRIu64 ")", actor->opt.id,
              reconnected ? "registered again" : "registered", actor->epoch);
    return actor->role->on_start ? actor->role->on_start(actor->self, actor, reconnected, err)
                                 : FP_OK;
}

static fp_status on_up(actor_t *actor, const char *epoch, fp_error *err)
{
    actor->registered = true;
    actor->epoch = strtoull(epoch ? epoch : "0", NULL, 10);
    if (!actor->opt.watch_peers)
        return start_role(actor, err);
    fp_status st = actor_request_directory(actor, actor->opt.watch_role, err);
    actor->watch_seq = actor->seq;
    actor->start_pending = st == FP_OK;
    if (st) /* the broker vanished again; the next $UP retries */
        zsys_warning("%s: %s", actor->opt.id, err ? err->msg : "directory request not sent");
    return FP_OK;
}

static fp_status from_broker(actor_t *actor, msg_t *m, size_t len, fp_error *err)
{
    if (m->type == MSG_PEER_STATE) {
        if (!watched(actor, m->peer_state.id, m->peer_state.role))
            return FP_OK;
        msg_peer_t p = {.role = m->peer_state.role, .index = m->peer_state.index};
        memcpy(p.id, m->peer_state.id, sizeof p.id);
        return peer_changed(actor, &p, m->peer_state.alive, err);
    }
    if (m->type == MSG_DIRECTORY && actor->opt.watch_peers && m->re == actor->watch_seq) {
        fp_status st = apply_directory(actor, &m->directory, err);
        if (!st && actor->start_pending)
            st = start_role(actor, err);
        return st;
    }
    return actor->role->on_message ? actor->role->on_message(actor->self, actor, m, len, err)
                                   : FP_OK;
}

static fp_status on_payload(actor_t *actor, const char *source, zframe_t *payload, fp_error *err)
{
    size_t len = zframe_size(payload);
    peer_bytes_t *b = bytes_of(actor, source);
    if (b)
        b->received += len;
    bool broker = !strcmp(source, ENVELOPE_BROKER_ID);
    msg_t m;
    fp_error e = {0};
    if (msg_decode(zframe_data(payload), len, &actor->opt.limits, &m, &e)) {
        bad_input(actor, source, e.msg);
        if (!broker)
            send_error_to(actor, source, NULL, e.status, e.msg);
        return FP_OK;
    }
    fp_status st = FP_OK;
    if (strcmp(m.from, source)) {
        char why[160];
        snprintf(why, sizeof why, "claims to be from %s; dropped", m.from);
        bad_input(actor, source, why);
        if (!broker)
            send_error_to(actor, source, &m, FP_EINVAL, "'from' differs from the sender's id");
    } else if (broker) {
        st = from_broker(actor, &m, len, err);
    } else if (!msg_role_may_send(msg_id_role(source, NULL), m.type)) {
        /* The broker registers an id only for the role it names, so the id tells the role; a
         * type outside that role's part of the protocol never reaches the role's code. */
        char why[160];
        snprintf(why, sizeof why, "%s: a %s may not send it", msg_type_name(m.type),
                 msg_role_name(msg_id_role(source, NULL)));
        actor_warn(actor, ACTOR_WARN_REFUSED, source, why);
        send_error_to(actor, source, &m, FP_EINVAL, why);
    } else if (actor->role->on_message) {
        st = actor->role->on_message(actor->self, actor, &m, len, err);
    }
    msg_clear(&m);
    return st;
}

static fp_status handle_agent(actor_t *actor, fp_error *err)
{
    zmsg_t *msg = zmsg_recv(actor->agent);
    if (!msg)
        return FP_OK; /* interrupted */
    char *first = zmsg_popstr(msg);
    fp_status st = FP_OK;
    if (!first) {
        /* nothing */
    } else if (!strcmp(first, "$UP")) {
        char *epoch = zmsg_popstr(msg);
        st = on_up(actor, epoch, err);
        zstr_free(&epoch);
    } else if (!strcmp(first, "$DOWN")) {
        actor->registered = false;
        actor->start_pending = false;
    } else if (!strcmp(first, "$GIVEUP")) {
        actor->registered = false;
        st = fp_fail(err, FP_ENET, "%s: no broker answered at %s for %u ms", actor->opt.id,
                     actor->opt.endpoint, actor->opt.give_up_ms);
    } else {
        zframe_t *payload = zmsg_pop(msg);
        if (payload)
            st = on_payload(actor, first, payload, err);
        zframe_destroy(&payload);
    }
    zstr_free(&first);
    zmsg_destroy(&msg);
    return st;
}

static void peer_bytes_free(void **item)
{
    free(*item);
    *item = NULL;
}

/* The rate-limited summaries that are due. */
static void flush_logs(actor_t *actor, int64_t now)
{
    char line[512];
    while (ratelog_flush(actor->bad_input, now, line, sizeof line))
        zsys_warning("%s: %s", actor->opt.id, line);
    for (int k = 0; k < ACTOR_WARN_COUNT; k++)
        while (ratelog_flush(actor->warn[k], now, line, sizeof line))
            zsys_warning("%s: %s", actor->opt.id, line);
}

/* actor_run, also ending (exit code 0) when `control` (may be NULL) becomes readable. */
static fp_status run_loop(const actor_options_t *options, const actor_role_t *role, void *self,
                          zsock_t *control, int *exit_code, uint64_t *refused, fp_error *err)
{
    fp_error local = {0};
    if (!err)
        err = &local;
    if (exit_code)
        *exit_code = 1;
    fp_status st = actor_options_check(options, role, err);
    if (st)
        return st;
    /* CZMQ's SIGINT/SIGTERM handler sets zsys_interrupted, which ends the loop below. */
    zsys_init();
    actor_t actor = {.opt = *options, .role = role, .self = self};
    actor.bytes = zhashx_new();
    if (actor.bytes)
        zhashx_set_destructor(actor.bytes, peer_bytes_free);
    actor.bad_input = ratelog_new("bad messages", "from", RATELOG_INTERVAL_MS);
    bool logs = actor.bad_input != NULL;
    for (int k = 0; k < ACTOR_WARN_COUNT; k++) {
        actor.warn[k] = ratelog_new(WARN_NAMES[k].what, WARN_NAMES[k].prep, RATELOG_INTERVAL_MS);
        logs = logs && actor.warn[k];
    }
    actor.agent = actor.bytes && logs ? zactor_new(actor_agent, &actor.opt) : NULL;
    if (!actor.agent) {
        zhashx_destroy(&actor.bytes);
        ratelog_destroy(&actor.bad_input);
        for (int k = 0; k < ACTOR_WARN_COUNT; k++)
            ratelog_destroy(&actor.warn[k]);
        return fp_fail(err, FP_ENOMEM, "%s: cannot start the broker agent", options->id);
    }
    zpoller_t *poller = zpoller_new(actor.agent, control, NULL);
    int64_t next_tick = zclock_mono() + actor.opt.tick_ms;
    while (poller && !actor.stopping && !st) {
        if (zsys_interrupted) {
            zsys_info("%s: interrupted; stopping", actor.opt.id);
            actor_stop(&actor, 0);
            break;
        }
        int64_t wait = next_tick - zclock_mono();
        void *which = zpoller_wait(poller, wait < 0 ? 0 : (int)wait);
        if (which == actor.agent) {
            st = handle_agent(&actor, err);
        } else if (which && which == control) {
            zsys_info("%s: told to stop", actor.opt.id);
            actor_stop(&actor, 0);
            break;
        }
        int64_t now = zclock_mono();
        if (!st && !actor.stopping && now >= next_tick) {
            next_tick = now + actor.opt.tick_ms;
            flush_logs(&actor, now);
            if (actor.started && role->on_tick)
                st = role->on_tick(self, &actor, now, err);
        }
    }
    if (!poller)
        st = fp_fail(err, FP_ENOMEM, "%s: cannot create a poller", options->id);
    if (st)
        zsys_error("%s: stopping: %s", actor.opt.id, err->msg);
    if (role->on_stop)
        role->on_stop(self, &actor);
    if (actor.registered) {
        zsock_send(zactor_sock(actor.agent), "ss", "$BYE", st ? "failed" : "done");
        while (zsock_wait(actor.agent) < 0 && zmq_errno() == EINTR) {
            /* a second signal: the agent still answers */
        }
    }
    zpoller_destroy(&poller);
    zactor_destroy(&actor.agent);
    char line[1024];
    if (ratelog_summary(actor.bad_input, line, sizeof line))
        zsys_info("%s: %s", actor.opt.id, line);
    if (refused)
        *refused = ratelog_total(actor.warn[ACTOR_WARN_REFUSED]);
    for (int k = 0; k < ACTOR_WARN_COUNT; k++) {
        if (ratelog_summary(actor.warn[k], line, sizeof line))
            zsys_info("%s: %s", actor.opt.id, line);
        ratelog_destroy(&actor.warn[k]);
    }
    ratelog_destroy(&actor.bad_input);
    zhashx_destroy(&actor.bytes);
    free(actor.peers.v);
    if (exit_code)
        *exit_code = st ? 1 : actor.exit_code;
    return st;
}

fp_status actor_run(const actor_options_t *options, const actor_role_t *role, void *self,
                    int *exit_code, fp_error *err)
{
    return run_loop(options, role, self, NULL, exit_code, NULL, err);
}

/* ---- in a thread ---- */

typedef struct spawn_args {
    actor_options_t opt;
    const actor_role_t *role;
    void *self;
    actor_result_t *result;
} spawn_args_t;

static void spawned(zsock_t *pipe, void *arg)
{
    spawn_args_t a = *(spawn_args_t *)arg;
    zsock_signal(pipe, 0);
    actor_result_t r = {0};
    r.status = run_loop(&a.opt, a.role, a.self, pipe, &r.exit_code, &r.refused, &r.err);
    if (a.result)
        *a.result = r;
    /* The control word that stopped us ($TERM) was consumed by the loop, or the role stopped
     * itself: either way zactor_destroy gets the end-of-thread signal. */
}

zactor_t *actor_spawn(const actor_options_t *options, const actor_role_t *role, void *self,
                      actor_result_t *result)
{
    spawn_args_t a = {.opt = *options, .role = role, .self = self, .result = result};
    if (result)
        memset(result, 0, sizeof *result);
    return zactor_new(spawned, &a);
}
