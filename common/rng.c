/* rng.c — xoshiro256** with splitmix64 seeding, and the distributions fedpep needs. */
#include "rng.h"

#include <math.h>
#include <stdlib.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void rng_seed(rng_t *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&x);
}

void rng_derive(rng_t *rng, uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t x = seed;
    uint64_t h = splitmix64(&x);
    x = h ^ (a * 0xd6e8feb86659fd93ULL);
    h = splitmix64(&x);
    x = h ^ (b * 0xa0761d6478bd642fULL);
    rng_seed(rng, splitmix64(&x));
}

uint64_t rng_next(rng_t *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(rng_t *rng) { return (double)(rng_next(rng) >> 11) * 0x1.0p-53; }

uint64_t rng_below(rng_t *rng, uint64_t n)
{
    /* Reject the top sliver so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n);
    uint64_t x;
    do
        x = rng_next(rng);
    while (x >= limit);
    return x % n;
}

double rng_normal(rng_t *rng)
{
    double u, v, s;
    do {
        u = 2.0 * rng_uniform(rng) - 1.0;
        v = 2.0 * rng_uniform(rng) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * log(s) / s);
}

double rng_gamma(rng_t *rng, double shape)
{
    if (shape < 1.0) {
        /* Gamma(a) = Gamma(a + 1) * U^(1/a). */
        double u;
        do
            u = rng_uniform(rng);
        while (u == 0.0);
        return rng_gamma(rng, shape + 1.0) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = rng_normal(rng);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = rng_uniform(rng);
        if (u < 1.0 - 0.0331 * x * x * x * x)
            return d * v;
        if (u > 0.0 && log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
            return d * v;
    }
}

void rng_dirichlet(rng_t *rng, double alpha, double *out, size_t k)
{
    double sum = 0.0;
    for (size_t i = 0; i < k; i++) {
        out[i] = rng_gamma(rng, alpha);
        sum += out[i];
    }
    if (sum <= 0.0) { /* every draw underflowed (tiny alpha): fall back to uniform */
        for (size_t i = 0; i < k; i++)
            out[i] = 1.0 / (double)k;
        return;
    }
    for (size_t i = 0; i < k; i++)
        out[i] /= sum;
}

void rng_shuffle_int(rng_t *rng, int *v, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(rng, i);
        int t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

fp_status rng_sample_without_replacement(rng_t *rng, int n, int k, int *out)
{
    if (n < 0 || k < 0 || k > n)
        return FP_EINVAL;
    if (k == 0)
        return FP_OK;
    /* A partial Fisher–Yates: O(n) scratch, but n (clients) is small and draw order is kept. */
    int *pool = malloc((size_t)n * sizeof *pool);
    if (!pool)
        return FP_ENOMEM;
    for (int i = 0; i < n; i++)
        pool[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + (int)rng_below(rng, (uint64_t)(n - i));
        int t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
        out[i] = pool[i];
    }
    free(pool);
    return FP_OK;
}
