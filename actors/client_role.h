/* client_role.h — the client role (`fedpep client --id K`): one federated client as an actor.
 *
 * It opens the model folder (weights mapped read-only, so every client process on a machine
 * shares one copy in the page cache), loads the task and builds its shard from the seeded
 * partition exactly as `simulate` does, and restores its private state (prompt, head, AdamW,
 * SCAFFOLD variate) from the store with LOAD, so a restarted client continues. It answers
 *   SCORE_REQUEST -> SCORE_REPLY  the §2 statistics of its shard at the initial prompt;
 *   TRAIN         -> SAVE_CLIENT to the store, and once SAVED: UPDATE to the coordinator
 *                    (a TRAIN for a round it already trained is answered from its saved state);
 *   EVAL_REQUEST  -> EVAL_REPLY   personalised evaluation of the global rows on its eval shard.
 * Training waits for a slot of the launcher's pool (actors/slots.h, FEDPEP_SLOTS); the
 * reported compute_ms excludes that wait. [faults] are applied per (seed, round, client)
 * (actors/faults.h) when enabled. This role must never abort on a message and never train a
 * round twice in one process. */
#ifndef FEDPEP_ACTORS_CLIENT_ROLE_H
#define FEDPEP_ACTORS_CLIENT_ROLE_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/actor.h"
#include "common/config.h"
#include "actors/slots.h"

typedef struct client_role client_role_t;

typedef struct client_role_options {
    const fedpep_config *cfg;   /* copied */
    uint32_t index;             /* K, < federation.clients */
    const char *fallback_vocab; /* tokenizer for a model folder without one (may be NULL) */
    const char *fallback_merges;
    slots_t *slots; /* training-slot pool (borrowed; NULL = no limit) */
    bool faults;    /* apply [faults] (drop, crash, straggle) */
} client_role_options_t;

/* Loads model, task, partition. NULL with err on failure (bad index, model, data). */
client_role_t *client_role_new(const client_role_options_t *o, fp_error *err);
void client_role_destroy(client_role_t **self_p);

/* The callbacks for actor_run (self = the client_role_t). */
const actor_role_t *client_role_actor(void);

/* Rounds this process trained (not answered from saved state). */
int client_role_trained(const client_role_t *self);

#endif
