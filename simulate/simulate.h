/* simulate.h — the whole federated run in one process, the reference the distributed actor
 * system is compared with: partition, layer scoring and selection, then rounds of
 * sample → local rounds (sequential) → server round → personalised evaluation → one atomic
 * commit to the run database. A killed run resumes from its last committed round with
 * identical results (clients' states are saved before the commit that uses them, and a client
 * that already trained the round being redone answers from its saved state).
 * A round is run by the same round engine as the actor system's coordinator (train/round.h,
 * train/round_rules.h) and recorded through the same SAVE-to-rows mapping as the store's
 * (actors/round_save.h), so the database holds the same rows whichever ran it: the
 * clients it asks and in which order, [faults] dropout drawn per (round, attempt, client),
 * over-selection (the first clients_per_round updates in asking order are kept, later ones are
 * late), min_clients and on_short_round (retry asks more clients; skip commits a failed round
 * with its reason; fail, or no retry left, fails the run and records why), and stragglers: one
 * whose delay alone passes the round deadline is late (faults_misses_deadline), the others
 * answer after the clients that are not slow. What depends on time alone is the actor
 * system's: crashes, a straggler's slowdown, the trace's speeds. */
#ifndef FEDPEP_SIMULATE_SIMULATE_H
#define FEDPEP_SIMULATE_SIMULATE_H

#include <stdio.h>

#include "common/config.h"
#include "common/progress.h"

typedef struct train_sim_options {
    const char *config_text; /* stored with the run (NULL: config_dump of cfg) */
    int stop_after_round;    /* >= 0: return after committing this round (tests a kill) */
    int stop_before_commit;  /* >= 0: fail with FP_ESTATE after this round's clients trained
                                and saved their states but before its commit (tests a kill
                                inside a round); -1 = never. Zero-initialised options must
                                set it to -1. */
    const char *fallback_vocab, *fallback_merges;
    int keep_checkpoints; /* > 0: after each commit keep only the newest N rounds' checkpoint
                             blobs (the server state holds every c_k: ~N·dim floats a round);
                             0 = keep all */
    progress_t *progress; /* rounds, clients and examples as they go (common/progress.h); NULL =
                             none. Only ever written to its own stream, never to the database */
} train_sim_options;

typedef struct train_sim_result {
    int first_round, rounds_done; /* the round this process started at; rounds committed now */
    bool resumed;
    int n_layers_sent;
    double best_metric, last_metric; /* over every committed round of the run */
} train_sim_result;

fp_status train_simulate(const fedpep_config *cfg, const train_sim_options *o, FILE *log,
                         train_sim_result *res, fp_error *err);

#endif
