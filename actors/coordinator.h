/* coordinator.h — the coordinator role (`fedpep coordinator`): the round loop of FEDPEPTAO.md
 * §4–5 as an actor, producing the same checkpoints as `simulate` when nothing fails.
 *
 * Start: RUN {running, config} to the store → SAVED; LOAD → STATE: a checkpoint resumes at the
 * round after it with the stored server state (rows, momentum, variates, η_s, RNG) and
 * selection; else SCORE_REQUEST to the evaluator → SELECTION. Then it waits (at most
 * round_deadline_s) for all N clients to register, and runs rounds t:
 *   sample ceil(overselect·K) clients by fl_server_sample (a pure function of (seed, t) over
 *   all N); TRAIN to each live one (dead / unknown = dropped); the round closes when K updates
 *   are in, nobody is pending, or round_deadline_s has passed (pending = late; an UPDATE after
 *   the close is ignored and logged). With ≥ min_clients updates: fl_server_round on them in
 *   sampling order. Fewer: [federation] on_short_round — retry (the same sample again, up to
 *   max_retries; clients that trained answer from their saved state), skip (a FAILED round
 *   row, the rows do not move) or fail (RUN failed, exit 1).
 *   Every eval.every rounds and after the last: EVAL_REQUEST to every client, the confusion
 *   matrices pooled into the task's metric (a client gone or silent past the deadline is left
 *   out).
 *   SAVE (round row, one client row per sampled client, checkpoint) → SAVED before the next
 *   round; resent on reconnect and every few seconds (the store's SAVE is idempotent).
 * End: RUN {done} → SAVED, exit 0. docs/roles.md draws the sequence.
 * This role must never abort on a message, and never start round t+1 before t is committed. */
#ifndef FEDPEP_ACTORS_COORDINATOR_H
#define FEDPEP_ACTORS_COORDINATOR_H

#include "actors/actor.h"
#include "common/config.h"

typedef struct coordinator coordinator_t;

typedef struct coordinator_options {
    const fedpep_config *cfg;    /* copied */
    const char *config_text;     /* stored with the run (NULL: config_dump of cfg) */
    const char *fallback_vocab, *fallback_merges;
    FILE *log;                   /* one line per committed round; NULL = silent */
    /* Test hook (a kill inside a round): >= 0 stops the actor (exit code 1) once this round's
     * updates are in, before its SAVE; -1 = never. Zero-initialised options must set it. */
    int stop_before_save;
} coordinator_options_t;

coordinator_t *coordinator_new(const coordinator_options_t *o, fp_error *err);
void coordinator_destroy(coordinator_t **self_p);

/* The callbacks for actor_run (watch_peers must be on with watch_role CLIENT). */
const actor_role_t *coordinator_actor(void);

/* Sets the watch options the coordinator needs on o. */
void coordinator_actor_options(actor_options_t *o);

/* Rounds committed by this process, and the first round it ran. */
int coordinator_rounds_done(const coordinator_t *self);
int coordinator_first_round(const coordinator_t *self);

#endif
