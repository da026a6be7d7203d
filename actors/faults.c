/* faults.c — see faults.h. Each decision draws from its own derived stream, so enabling one
 * kind of fault never changes which clients another kind hits. */
#include "actors/faults.h"

#include <math.h>
#include <stdlib.h>

#include "common/rng.h"

/* Stream tags: distinct from the (round, client) pairs the training streams use. */
#define FAULTS_TAG 0x46415554ULL /* "FAUT" */

static double draw(const fedpep_config *cfg, uint32_t round, uint32_t client, uint64_t what)
{
    rng_t r;
    rng_derive(&r, (uint64_t)cfg->run.seed ^ (FAULTS_TAG << 8 | what), round, client);
    return rng_uniform(&r);
}

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

faults_round_t faults_for(const fedpep_config *cfg, uint32_t round, uint32_t client)
{
    const fp_config_faults *f = &cfg->faults;
    faults_round_t out = {.slowdown = 1};
    out.drop = f->dropout > 0 && draw(cfg, round, client, 1) < f->dropout;
    out.crash = !out.drop && f->crash > 0 && draw(cfg, round, client, 2) < f->crash;
    out.slow = faults_always_slow(cfg, client) ||
               (f->straggler_prob > 0 && draw(cfg, round, client, 3) < f->straggler_prob);
    if (!out.slow)
        return out;
    out.slowdown = f->straggler_slowdown;
    double u = draw(cfg, round, client, 5), mean = f->straggler_delay_s;
    switch (f->straggler_delay) {
    case FP_DELAY_EXPONENTIAL: out.delay_s = -mean * log1p(-u); break;
    case FP_DELAY_UNIFORM: out.delay_s = 2 * mean * u; break;
    default: out.delay_s = mean; break;
    }
    return out;
}

faults_round_t faults_for_trace(const fedpep_config *cfg, const fault_trace_t *trace,
                                uint32_t round, uint32_t client)
{
    faults_round_t out = faults_for(cfg, round, client);
    bool available;
    double speed;
    if (!fault_trace_lookup(trace, round, client, &available, &speed))
        return out;
    const fp_config_faults *f = &cfg->faults;
    out.drop = !available;
    out.crash = available && f->crash > 0 && draw(cfg, round, client, 2) < f->crash;
    out.slow = speed < 1;
    out.slowdown = out.slow ? 1 / speed : 1;
    out.delay_s = 0;
    return out;
}

uint64_t faults_hold_ms(const faults_round_t *f, uint64_t compute_ms)
{
    double extra = (f->slowdown - 1) * (double)compute_ms + 1000 * f->delay_s;
    return extra > 0 ? (uint64_t)extra : 0;
}
