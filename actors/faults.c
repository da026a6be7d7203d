/* faults.c — see faults.h. Each decision draws from its own derived stream
 * (train_fault_uniform), so enabling one kind of fault never changes which clients another
 * kind hits, and each attempt of a round draws anew. */
#include "actors/faults.h"

#include <math.h>
#include <stdlib.h>

#include "common/rng.h"
#include "train/round_rules.h"

/* The always-slow clients' stream: tag "FAUT", kind 4 (one choice for the whole run). */
#define FAULTS_TAG 0x46415554ULL

bool faults_always_slow(const fedpep_config *cfg, uint32_t client)
{
    int N = cfg->federation.clients, n = cfg->faults.straggler_clients;
    if (n <= 0 || (int)client >= N)
        return false;
    if (n >= N)
        return true;
    int *pick = malloc((size_t)n * sizeof *pick);
    if (!pick)
        return false;
    rng_t r;
    rng_derive(&r, (uint64_t)cfg->run.seed ^ (FAULTS_TAG << 8 | 4), 0, 0);
    bool slow = false;
    if (rng_sample_without_replacement(&r, N, n, pick) == FP_OK)
        for (int i = 0; i < n; i++)
            slow |= pick[i] == (int)client;
    free(pick);
    return slow;
}

/* The random model. */
static faults_round_t random_faults(const fedpep_config *cfg, uint32_t round, uint32_t attempt,
                                    uint32_t client)
{
    const fp_config_faults *f = &cfg->faults;
    faults_round_t out = {.slowdown = 1};
    out.drop = train_fault_drops(cfg, round, attempt, client);
    out.crash =
        !out.drop && f->crash > 0 && train_fault_uniform(cfg, round, attempt, client, 2) < f->crash;
    out.slow = faults_always_slow(cfg, client) ||
               (f->straggler_prob > 0 &&
                train_fault_uniform(cfg, round, attempt, client, 3) < f->straggler_prob);
    if (!out.slow)
        return out;
    out.slowdown = f->straggler_slowdown;
    double u = train_fault_uniform(cfg, round, attempt, client, 5), mean = f->straggler_delay_s;
    switch (f->straggler_delay) {
    case FP_DELAY_EXPONENTIAL: out.delay_s = -mean * log1p(-u); break;
    case FP_DELAY_UNIFORM: out.delay_s = 2 * mean * u; break;
    default: out.delay_s = mean; break;
    }
    return out;
}

faults_round_t faults_for_attempt(const fedpep_config *cfg, const fault_trace_t *trace,
                                  uint32_t round, uint32_t attempt, uint32_t client)
{
    faults_round_t out = random_faults(cfg, round, attempt, client);
    bool available;
    double speed;
    if (!fault_trace_lookup(trace, round, client, &available, &speed))
        return out;
    const fp_config_faults *f = &cfg->faults;
    out.drop = !available;
    out.crash =
        available && f->crash > 0 && train_fault_uniform(cfg, round, attempt, client, 2) < f->crash;
    out.slow = speed < 1;
    out.slowdown = out.slow ? 1 / speed : 1;
    out.delay_s = 0;
    return out;
}

faults_round_t faults_for(const fedpep_config *cfg, uint32_t round, uint32_t client)
{
    return faults_for_attempt(cfg, NULL, round, 0, client);
}

faults_round_t faults_for_trace(const fedpep_config *cfg, const fault_trace_t *trace,
                                uint32_t round, uint32_t client)
{
    return faults_for_attempt(cfg, trace, round, 0, client);
}

uint64_t faults_hold_ms(const faults_round_t *f, uint64_t compute_ms)
{
    double extra = (f->slowdown - 1) * (double)compute_ms + 1000 * f->delay_s;
    return extra > 0 ? (uint64_t)extra : 0;
}

bool faults_misses_deadline(const faults_round_t *f, double deadline_s)
{
    return f->slow && f->delay_s >= deadline_s;
}
