/* coordinator.h — the coordinator role (`fedpep coordinator`): the round loop of FEDPEPTAO.md
 * §4–5 as an actor, producing the same checkpoints as `simulate` when nothing fails.
 *
 * Start: RUN {running, config} to the store → SAVED; LOAD → STATE: a checkpoint resumes at the
 * round after it with the stored server state (rows, momentum, variates, η_s, RNG) and
 * selection; else SCORE_REQUEST to the evaluator → SELECTION. Then it waits (at most
 * round_deadline_s) for all N clients to register, and runs rounds t:
 *   ask ceil(overselect·K) clients, the first of the round's order (train/round_rules.h: a
 *   pure function of (seed, t) over all N, whose head is fl_server_sample's draw); TRAIN
 *   {attempt} to each live one (dead / unknown = dropped); the attempt closes when K updates
 *   are in, nobody is pending, or round_deadline_s has passed (pending = late; an UPDATE after
 *   the close, or answering an earlier TRAIN, is ignored and logged). With ≥ min_clients
 *   updates: fl_server_round on them in the order the clients were asked. Fewer:
 *   [federation] on_short_round — retry (the updates in are kept and more clients are asked,
 *   up to max_retries times, the last time every client without an update: the decision and
 *   the pick are train_round_decide / train_round_pick, as in simulate), skip (a FAILED round
 *   row with its reason, the rows do not move) or fail.
 *   A failed run (no retry left, on_short_round = fail, or a final refusal of the store: a
 *   database that is read-only, full, damaged or locked past the store's bound) sends RUN
 *   {failed, reason}, prints "coordinator: error: run NAME failed: REASON" and exits 1; if
 *   the store cannot record it either (or does not answer within END_WAIT_MS), it says so and
 *   exits 1 anyway: a failed run always ends.
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
