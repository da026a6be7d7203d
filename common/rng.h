/* rng.h — the seeded random source every part of fedpep draws from.
 *
 * xoshiro256** seeded through splitmix64: fast, statistically strong, and its whole state is
 * four integers, so a checkpoint stores it and a resumed run continues the same stream on any
 * machine. Streams for independent purposes (client k's shuffles, round t's sample) are
 * derived with rng_derive so results do not depend on the order in which actors draw.
 * Never use rand() or time-based seeds in fedpep: reproducibility is a feature. */
#ifndef FEDPEP_COMMON_RNG_H
#define FEDPEP_COMMON_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct rng {
    uint64_t s[4];
} rng_t;

/* Seeds the generator; the same seed gives the same stream everywhere. */
void rng_seed(rng_t *rng, uint64_t seed);

/* A generator for a sub-purpose: a pure function of (seed, a, b), e.g. (run seed, round, 0). */
void rng_derive(rng_t *rng, uint64_t seed, uint64_t a, uint64_t b);

uint64_t rng_next(rng_t *rng);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(rng_t *rng);
/* Uniform integer in [0, n), unbiased (rejection); n must be > 0. */
uint64_t rng_below(rng_t *rng, uint64_t n);
/* Standard normal (Marsaglia polar method; no cached spare, so the state alone is the stream). */
double rng_normal(rng_t *rng);
/* Gamma(shape, 1) for shape > 0 (Marsaglia–Tsang, with the shape < 1 boost). */
double rng_gamma(rng_t *rng, double shape);
/* Fills out[0..k) with a Dirichlet(alpha, ..., alpha) draw; alpha > 0. */
void rng_dirichlet(rng_t *rng, double alpha, double *out, size_t k);
/* Fisher–Yates shuffle of n ints in place. */
void rng_shuffle_int(rng_t *rng, int *v, size_t n);
/* Chooses k distinct values of [0, n) uniformly without replacement into out (in draw order).
 * FP_EINVAL unless 0 <= k <= n; FP_ENOMEM if the scratch buffer cannot be had. */
fp_status rng_sample_without_replacement(rng_t *rng, int n, int k, int *out);

#endif
