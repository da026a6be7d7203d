/* store.h — the store role: the one process that opens the run database read-write.
 *
 * The logic is a pure request handler: store_handle turns one decoded request (RUN, SAVE,
 * SAVE_CLIENT, SELECTION, LOAD) into its answer (SAVED, STATE or ERROR) through storage/'s API,
 * with no sockets involved, so it is tested directly; store_role_actor() wires it to the actor loop
 * (actors/actor.h) for `fedpep store`.
 *
 * Contract (docs/history.md, "The store role"):
 *  - every request is answered: SAVED / STATE on success, ERROR {code, answers, text, final}
 *    otherwise; a bad request never crashes the store and never leaves a partial write (a SAVE
 *    is one storage transaction);
 *  - a database failure says whether asking again can help: a busy database (another
 *    connection holds the lock) is ERROR EDB, retryable, until it has been busy for
 *    busy_limit_ms; then, and for a read-only file, a full disk, an I/O error or damaged
 *    bytes, the ERROR is final (final = true), so the run ends instead of asking forever;
 *  - a repeated identical SAVE (after a lost SAVED) is acknowledged again; a different SAVE of a
 *    committed round is refused with ESTATE;
 *  - after each newly committed round, checkpoints older than the newest keep_checkpoints of that
 *    run are pruned, so a long run's file stays bounded.
 * Mapping of messages to rows: the run is found by the header's `run` (its name in the database);
 * a client's index K is the number ending its actor id ("client.K"); a SAVE's checkpoint prompt
 * is the rows tensor with its shape (store_role_rows_blob), its rng the 4 words little-endian.
 * This module must never write anything but through storage/, and never abort on a request. */
#ifndef FEDPEP_ACTORS_STORE_ROLE_H
#define FEDPEP_ACTORS_STORE_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/actor.h"
#include "common/status.h"
#include "messages/protocol.h"

typedef struct store_role store_role_t;

#define STORE_KEEP_CHECKPOINTS_DEFAULT 3

typedef struct store_options {
    const char *db_path;  /* created (with its parent folder) if missing */
    const char *id;       /* our actor id, the `from` of replies; NULL = "store" */
    int keep_checkpoints; /* >= 1: checkpoints kept per run; 0 = STORE_KEEP_CHECKPOINTS_DEFAULT */
    const msg_limits *limits; /* what a request may be (the actor loop's); NULL = default */
    int busy_limit_ms; /* > 0: how long writes may keep finding the database locked before the
                          store answers final; 0 = $FEDPEP_STORE_BUSY_LIMIT_MS if set, else
                          STORE_BUSY_LIMIT_MS_DEFAULT. Each try waits at most
                          min(1000, busy_limit_ms / 2) ms for the lock. */
} store_role_options_t;

#define STORE_BUSY_LIMIT_MS_DEFAULT 30000
#define STORE_BUSY_LIMIT_ENV "FEDPEP_STORE_BUSY_LIMIT_MS"

/* Opens (creating if needed) the database read-write. NULL with err filled on failure (a
 * foreign or corrupt file, an unwritable folder). */
store_role_t *store_role_new(const store_role_options_t *options, fp_error *err);
void store_role_destroy(store_role_t **self_p);

/* Answers one request. reply is overwritten (cleared first) with SAVED, STATE or ERROR whose
 * header is run = request's run, from = our id, re = request->seq, round = the request's (for
 * STATE: the round the state follows); the caller sends it to request->from and clears it.
 * reply->type == MSG_NONE means no answer is due (an ERROR or notice sent to us: answering it
 * could loop). Returns FP_OK whatever the request held; only a failure to build the reply
 * itself (FP_ENOMEM) is returned, with err filled. */
fp_status store_role_handle(store_role_t *self, const msg_t *request, msg_t *reply, fp_error *err);

/* Whether the store serves request to its sender (request->from, vouched for by the broker):
 * a LOAD of a client's private state only to that client, a LOAD of the run's checkpoint only to
 * the coordinator. Every other request is the actor loop's to authorise (messages/permissions.h).
 * False with the reason in why (n bytes). */
bool store_role_may_serve(const msg_t *request, char *why, size_t n);

/* The role table for actor_run (self = a store_role_t): a request store_role_may_serve refuses
 * is answered ERROR EINVAL and logged (rate-limited per sender, counted as refused); every
 * other request is answered through store_role_handle and actor_send; an answer that cannot be sent
 * (broker gone) is logged and dropped, since the requester re-sends what is unacknowledged. Run it
 * with the id STORE_ACTOR_ID and role MSG_ROLE_STORE. */
#define STORE_ACTOR_ID "store"
const actor_role_t *store_role_actor(void);

/* Whether an ERROR answered by the store means asking again cannot succeed: it says final, or
 * it refused the request itself (any code but the transient EDB, EIO, ENOMEM, ETIMEOUT, ENET).
 * The coordinator, the clients and the evaluator decide with it. */
bool store_role_error_is_final(const msg_error_t *e);

/* The client index ending an actor id ("client.12" -> 12, "client-3" -> 3), or -1 if the id
 * does not end in .K or -K with K <= INT32_MAX. */
int32_t store_role_client_index(const char *actor_id);

/* The checkpoint prompt blob of a rows tensor: uint32 ndim, ndim uint32 dims, then the floats,
 * all little-endian. store_role_rows_blob allocates *blob (free()); store_role_rows_parse fills a
 * fresh tensor and fails with FP_EFORMAT on a blob that is not exactly that. */
fp_status store_role_rows_blob(const msg_tensor_t *rows, uint8_t **blob, size_t *size,
                               fp_error *err);
fp_status store_role_rows_parse(const void *blob, size_t size, msg_tensor_t *rows, fp_error *err);

#endif
