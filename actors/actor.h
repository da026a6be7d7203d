/* actor.h — the common loop every fedpep role runs: connect to the broker, register, stay alive,
 * dispatch messages to the role's callbacks, reconnect when the broker restarts, stop cleanly.
 *
 * A role (coordinator, client, evaluator, store) is a table of callbacks plus its own state
 * (`self`). actor_run owns the process's conversation with the broker:
 *
 *   - a background agent thread holds the DEALER socket: it sends HELLO, waits for WELCOME,
 *     sends HEARTBEAT whenever the line has been idle for heartbeat_ms, and presumes the broker
 *     dead after liveness x heartbeat_ms of silence (Paranoid Pirate). It then reconnects with
 *     back-off 1 s, 2 s, 4 s ... 32 s and registers again. Because heartbeats live in their own
 *     thread, a role may compute for minutes inside a callback without being declared dead.
 *   - the calling thread runs the callbacks, one at a time, never concurrently: on_start after
 *     every (re-)registration, on_message for each decoded message, on_tick every tick_ms, on_peer
 *     when a watched peer joins or dies.
 *
 * Every message a role receives has been decoded and validated with the configured limits, its
 * `from` equals the sender id the broker vouches for, and its type is one the sender's role may
 * send (messages/permissions.h); anything else is logged (rate-limited), counted and dropped
 * (answered with ERROR when the sender is known). Actor ids: "coordinator", "evaluator", "store",
 * "client.K" (actor_client_id), "launcher"; "broker" is the broker itself (ENVELOPE_BROKER_ID,
 * messages/envelope.h).
 *
 * Callbacks run on the thread that called actor_run and may call every actor_* function below;
 * no actor_* function may be called from another thread. This module must never abort on
 * network input and never block the heartbeats on role work. */
#ifndef FEDPEP_ACTORS_ACTOR_H
#define FEDPEP_ACTORS_ACTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "common/config.h"
#include "common/status.h"
#include "messages/protocol.h"

typedef struct actor actor_t;

typedef struct actor_options {
    char endpoint[FP_CONFIG_STR_MAX + 1]; /* tcp://host:port or ipc:///path */
    char id[MSG_ID_CAP];                  /* this actor's id, e.g. "client.3" */
    msg_role role;                        /* not ANY, not BROKER */
    uint32_t index;                       /* client index K; 0 for other roles */
    char run[MSG_ID_CAP];                 /* run id put in every message sent; may be "" */
    int hwm;                              /* ZMQ_SNDHWM/RCVHWM of the socket, messages; 0 = none */
    msg_limits limits;                    /* what incoming messages may be */
    uint32_t tick_ms;                     /* on_tick period (default 100) */
    uint32_t reconnect_min_ms;            /* back-off start (default 1000) */
    uint32_t reconnect_max_ms;            /* back-off cap (default 32000) */
    /* Give up with FP_ENET when no broker has answered for this long (first connection or after
     * losing it); 0 = retry forever (the default: a broker may be restarted at any time). */
    uint32_t give_up_ms;
    /* Watching: on registration the loop asks the broker for the live actors of watch_role (ANY =
     * all), calls on_peer(alive = true) for each before on_start, then on_peer for every join
     * and death the broker pushes. Off by default; the coordinator turns it on. */
    bool watch_peers;
    msg_role watch_role;
    /* CurveZMQ key folder (messages/curve.h): the actor's key pair is curve_dir/ID.cert_secret,
     * the broker's public key curve_dir/broker.cert. "" = no CURVE. */
    char curve_dir[FP_CONFIG_STR_MAX + 1];
} actor_options_t;

/* The callbacks of a role. Any may be NULL. A callback returning anything but FP_OK stops the
 * actor: actor_run sends BYE and returns that status with the callback's err (exit code 1).
 * Recoverable trouble (a peer's bad request, a lost client) is the role's to handle: log it,
 * answer ERROR, and return FP_OK. */
typedef struct actor_role {
    const char *name; /* for logs, e.g. "coordinator" */
    /* After registration and after every re-registration (reconnected = true: the broker
     * restarted or was lost; messages sent meanwhile may be lost, so re-send what matters).
     * Between losing the broker and this call, actor_send returns FP_ENET. */
    fp_status (*on_start)(void *self, actor_t *actor, bool reconnected, fp_error *err);
    /* One decoded message from msg->from (already checked against the broker's envelope).
     * The loop owns msg and clears it afterwards; the role may move owned buffers out of it by
     * setting the pointers to NULL (e.g. steal msg->update.rows.data). bytes = encoded size.
     * Messages from the broker reach here too: ERROR (code ENOTFOUND + peer: that destination
     * is not registered; ENET: its queue is full) and DIRECTORY replies to the role's own
     * actor_request_directory. HEARTBEAT/WELCOME are handled by the loop and never delivered. */
    fp_status (*on_message)(void *self, actor_t *actor, msg_t *msg, size_t bytes, fp_error *err);
    /* Every tick_ms once on_start has run (also while the broker is lost: deadlines go on). */
    fp_status (*on_tick)(void *self, actor_t *actor, int64_t now_ms, fp_error *err);
    /* A peer joined (alive) or was declared dead / said BYE (!alive), as the broker pushes it:
     * to coordinators always, to others after watch_peers' directory request (filtered by
     * watch_role). A restarted peer re-registering is reported alive again. Never ourselves. */
    fp_status (*on_peer)(void *self, actor_t *actor, const msg_peer_t *peer, bool alive,
                         fp_error *err);
    /* Once, when the loop ends for any reason (stop, signal, failure), before BYE is sent. */
    void (*on_stop)(void *self, actor_t *actor);
} actor_role_t;

/* Defaults: tick 100 ms, back-off 1 s -> 32 s, hwm 1000, msg_limits_default, retry forever,
 * no watching, empty run. id/endpoint/role must still be set. */
void actor_options_defaults(actor_options_t *o);

/* Defaults, then [broker] endpoint, hwm, max_message_bytes and curve_dir from cfg, then
 * id/role/index.
 * FP_EINVAL for an id that is not a valid actor id. */
fp_status actor_options_from_config(actor_options_t *o, const fedpep_config *cfg, msg_role role,
                                    uint32_t index, const char *id, fp_error *err);

/* "client.K" into out (MSG_ID_CAP bytes). */
void actor_client_id(char out[MSG_ID_CAP], uint32_t index);

/* What actor_run checks before it starts: a role, a valid actor id that is not the broker's, a
 * role other than ANY and BROKER, an endpoint, tick, back-off, hwm and message limit that make
 * sense, and with a curve_dir the actor's keys in it. FP_EINVAL (or the key's error) with the
 * reason; nothing is opened for long (a probe socket for the keys). */
fp_status actor_options_check(const actor_options_t *o, const actor_role_t *role, fp_error *err);

/* Runs the loop until actor_stop, SIGINT/SIGTERM (zsys_interrupted; exit code 0), a failing
 * callback (its status, exit code 1) or give_up_ms without a broker (FP_ENET, exit code 1).
 * Sends BYE to the broker on the way out when connected. *exit_code (may be NULL) gets the
 * process exit code. FP_EINVAL for bad options. */
fp_status actor_run(const actor_options_t *options, const actor_role_t *role, void *self,
                    int *exit_code, fp_error *err);

/* How a spawned actor ended (actor_run's status, exit code and reason). */
typedef struct actor_result {
    fp_status status;
    int exit_code;
    fp_error err;
    uint64_t refused; /* messages refused because the sender's role may not send their type */
} actor_result_t;

/* Runs actor_run in a thread (a zactor), for tests and for several actors in one process. The
 * options are copied; role and self must outlive the thread. zactor_destroy stops it cleanly
 * (on_stop, BYE) and waits for it; *result (may be NULL) is filled when the loop ends, whether
 * the role stopped itself or was destroyed, and must outlive the zactor. NULL if the thread
 * cannot start. Signals (zsys_interrupted) stop every actor of the process. */
zactor_t *actor_spawn(const actor_options_t *options, const actor_role_t *role, void *self,
                      actor_result_t *result);

/* Sends msg to actor `to`. Fills the header: v, from = our id, run = options.run if msg->run is
 * empty, seq = the next sequence number (read it back from msg->seq to match the reply); `re`
 * and `round` are the caller's. Does not clear msg. FP_ENET when not registered with the broker
 * right now (reconnecting) or the local queue is full; encode errors as msg_encode. Delivery is
 * not guaranteed: an unknown destination comes back as ERROR ENOTFOUND from "broker". */
fp_status actor_send(actor_t *actor, const char *to, msg_t *msg, fp_error *err);

/* actor_send to request->from with re = request->seq and round = request->round. */
fp_status actor_reply(actor_t *actor, const msg_t *request, msg_t *reply, fp_error *err);

/* Answers request with ERROR {code, answers = request->type, text}; logs a failure to send. */
void actor_reply_error(actor_t *actor, const msg_t *request, fp_status code, const char *text);

/* Warnings about events a peer can cause at any rate (common/ratelog.h): logged at most once
 * per RATELOG_INTERVAL_MS per key, the first with its reason and then the count since the last
 * line, with one line of totals when the loop ends; a flood must not fill the log. */
typedef enum actor_warning {
    ACTOR_WARN_UNSENT,  /* a message we could not send (key: its destination), e.g. queue full */
    ACTOR_WARN_ERROR,   /* an ERROR we received (key: its sender and code, e.g. "broker ENET") */
    ACTOR_WARN_REFUSED, /* a message whose type the sender's role may not send (key: sender) */
    ACTOR_WARN_COUNT
} actor_warning;

/* Counts one event of `kind` about key with its reason, logging it as the rule above says. */
void actor_warn(actor_t *actor, actor_warning kind, const char *key, const char *reason);

/* Asks the broker for the live actors of `role` (ANY = all); the DIRECTORY arrives through
 * on_message from "broker". */
fp_status actor_request_directory(actor_t *actor, msg_role role, fp_error *err);

/* Ends the loop after the current callback returns; actor_run then reports exit_code. */
void actor_stop(actor_t *actor, int exit_code);

/* The watched peers the loop believes alive (empty unless options.watch_peers). Valid until the
 * next callback returns. */
const msg_peers_t *actor_peers(const actor_t *actor);
bool actor_peer_alive(const actor_t *actor, const char *id);

/* Encoded bytes exchanged with peer `id` since actor_run started (0 for an unknown peer); the
 * coordinator records a round's bytes down/up as differences of these. */
void actor_peer_bytes(const actor_t *actor, const char *id, uint64_t *sent, uint64_t *received);
/* Encoded size of the last message actor_send sent. */
size_t actor_last_sent_bytes(const actor_t *actor);

const char *actor_id(const actor_t *actor);
const actor_options_t *actor_options(const actor_t *actor);
/* Changes the run id put in messages from now on (the coordinator picks it at start). */
fp_status actor_set_run(actor_t *actor, const char *run, fp_error *err);
/* The broker's epoch from the last WELCOME (0 before the first). */
uint64_t actor_epoch(const actor_t *actor);
/* Monotonic milliseconds, the clock on_tick receives. */
int64_t actor_now_ms(void);

#endif
