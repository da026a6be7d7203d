/* round_rules.h — the decisions of a federated round that simulate and the coordinator take
 * alike, as pure functions of the run's seed: in which order a round asks the clients, which of
 * them each attempt asks, which of those the random fault model drops, and what a round does
 * once an attempt has closed. The coordinator (actors/coordinator_round.c) and simulate
 * (simulate/simulate.c) both call exactly these, so a run without late clients makes the same
 * choices in both, and a resumed run makes the same choices again.
 *
 * A round is tried at most 1 + max_retries times. Attempt 0 asks the first
 * ceil(overselect * K) clients of the round's order (exactly fl_server_sample's draw for the
 * round: runs without a retry are unchanged). A retry keeps the updates already in (the global
 * rows did not move, so they are still updates of this round) and asks ceil(overselect * (K -
 * updates)) more: clients never asked first, then those asked without an update (their fault
 * draws are new in every attempt); the last retry asks every client still without an update. A
 * round fails only if that last attempt, too, leaves fewer than min_clients updates.
 * Nothing here sleeps, trains, or talks. */
#ifndef FEDPEP_TRAIN_ROUND_RULES_H
#define FEDPEP_TRAIN_ROUND_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "fl/server.h"

/* What a client did in the attempts of the round so far (one byte per client). */
enum {
    TRAIN_ASK_NONE = 0, /* not asked yet in this round */
    TRAIN_ASK_FAILED,   /* asked; no update (dropped, late, refused) */
    TRAIN_ASK_OK,       /* its update is in */
};

/* Clients attempt 0 asks: ceil(overselect * clients_per_round), at least clients_per_round and
 * at most clients. */
int train_round_first_ask(const fedpep_config *cfg);

/* The order in which round `round` asks the server's N clients: a permutation of [0, N), a
 * pure function of (seed, round) whose first train_round_first_ask() entries are the clients
 * fl_server_sample draws for the round. order has N entries. */
fp_status train_round_order(const fl_server_t *server, uint32_t round, int *order, fp_error *err);

/* The clients attempt `attempt` asks, in order, into out (N entries); returns how many (0 only
 * when every client has its update). state[k] is TRAIN_ASK_* of client k; n_ok the updates in. */
int train_round_pick(const fedpep_config *cfg, const int *order, const unsigned char *state,
                     int attempt, int n_ok, int *out);

/* The uniform draw in [0, 1) of fault kind `what` (1 dropout, 2 crash, 3 straggler, 5 delay)
 * for client k in attempt `attempt` of round `round`: a pure function of (seed, what, round,
 * attempt, client); attempt 0 gives the draws fedpep made before rounds had attempts. */
double train_fault_uniform(const fedpep_config *cfg, uint32_t round, uint32_t attempt,
                           uint32_t client, unsigned what);

/* Whether the random fault model drops client k in that attempt ([faults] dropout). */
bool train_fault_drops(const fedpep_config *cfg, uint32_t round, uint32_t attempt, uint32_t client);

typedef enum train_round_next {
    TRAIN_ROUND_AGGREGATE = 0, /* at least min_clients updates: aggregate them */
    TRAIN_ROUND_RETRY,         /* short, on_short_round = retry, retries left: ask more */
    TRAIN_ROUND_SKIP,          /* short, on_short_round = skip: commit a failed round */
    TRAIN_ROUND_FAIL,          /* short, and no retry left (or on_short_round = fail) */
} train_round_next;

/* What the round does once attempt `attempt` closed with n_ok updates. */
train_round_next train_round_decide(const fedpep_config *cfg, int attempt, int n_ok);

/* Why a short round did what `next` says, one line for the log and the database, e.g.
 * "1 of 3 updates (min_clients 2) after 4 attempts, 7 of 10 clients asked". */
void train_round_reason(char *buf, size_t cap, const fedpep_config *cfg, int attempt, int n_ok,
                        int asked, train_round_next next);

#endif
