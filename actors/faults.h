/* faults.h — the client-side fault injection of [faults], as a pure function of
 * (run seed, round, attempt, client): whether a sampled client drops this round (answers TRAIN with
 * an ERROR instead of training), crashes mid-round (exits non-zero after training, before answering
 * UPDATE; the launcher restarts it), or straggles (its answer is held back by (slowdown − 1) × its
 * compute time plus a delay drawn from straggler_delay). The same inputs always give the same
 * faults, so a faulty run is reproducible; the coordinator never needs to know them (it sees an
 * ERROR, a death, or a late UPDATE). This module must never sleep, exit or touch anything: it only
 * decides. */
#ifndef FEDPEP_ACTORS_FAULTS_H
#define FEDPEP_ACTORS_FAULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "actors/trace.h"
#include "common/config.h"

typedef struct faults_round {
    bool drop;       /* skip this round: answer TRAIN with ERROR ESTATE */
    bool crash;      /* exit non-zero after training and saving, before UPDATE */
    bool slow;       /* a straggler this round */
    double slowdown; /* compute-time multiplier when slow (1 otherwise) */
    double delay_s;  /* extra delay before answering when slow (0 otherwise) */
} faults_round_t;

/* The faults of client k in attempt `attempt` of round r, and with an availability trace
 * (NULL: none). Every draw comes from train_fault_uniform (train/round_rules.h), the dropout
 * one through train_fault_drops, the very function simulate calls; attempt 0 gives the draws of
 * before attempts existed. Drop wins over crash. A client crashes only in a process that
 * trained the round: its state is saved first, so the restarted client answers the round from
 * that state and does not crash again.
 * A (client, round) the trace lists takes its availability and speed from the trace instead of
 * the random model, in every attempt: drop = !available; slow = speed < 1 with slowdown 1/speed
 * and no extra delay (dropout, straggler_prob, straggler_clients and straggler_delay do not
 * apply to it). crash still comes from the random model (a trace describes availability, not
 * crashes), only when available. Pairs the trace does not list use the random model. */
faults_round_t faults_for_attempt(const fedpep_config *cfg, const fault_trace_t *trace,
                                  uint32_t round, uint32_t attempt, uint32_t client);

/* faults_for_attempt of attempt 0 without a trace. */
faults_round_t faults_for(const fedpep_config *cfg, uint32_t round, uint32_t client);

/* faults_for_attempt of attempt 0. */
faults_round_t faults_for_trace(const fedpep_config *cfg, const fault_trace_t *trace,
                                uint32_t round, uint32_t client);

/* Whether client k is one of the straggler_clients always-slow clients (a seeded choice). */
bool faults_always_slow(const fedpep_config *cfg, uint32_t client);

/* Milliseconds to hold back an answer whose training took compute_ms. */
uint64_t faults_hold_ms(const faults_round_t *f, uint64_t compute_ms);

/* Whether an answer held back by f misses a round deadline of deadline_s seconds whatever the
 * client's compute time: its delay alone reaches the deadline (a straggler's hold is
 * (slowdown - 1) x compute + delay, and the TRAIN went out before the deadline started). The
 * actor system decides lateness by its clock; simulate, which has none, by this — the same
 * outcome unless deadline_s - delay is within the client's slowdown x compute time plus
 * transport (docs/report.md, "Stragglers"). */
bool faults_misses_deadline(const faults_round_t *f, double deadline_s);

#endif
