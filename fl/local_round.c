/* local_round.c — local step counts and seeded epoch orders (see local_round.h). */
#include "local_round.h"

#include "common/rng.h"

#define STREAM_EPOCH 0x45504f43u /* "EPOC" */

int64_t fl_local_steps(int64_t n_k, int batch, int epochs)
{
    return (int64_t)epochs * ((n_k + batch - 1) / batch);
}

fp_status fl_epoch_order(uint64_t seed, int client, int64_t round, int epoch, int n, int *order,
                         fp_error *err)
{
    if (n < 0)
        return fp_fail(err, FP_EINVAL, "epoch order: %d examples", n);
    /* One stream per (client, round, epoch): client and epoch share the second word so the
     * derivation stays a pure function of all four numbers. */
    rng_t r;
    rng_derive(&r, seed ^ STREAM_EPOCH, (uint64_t)round,
               ((uint64_t)(uint32_t)client << 32) | (uint32_t)epoch);
    for (int i = 0; i < n; i++)
        order[i] = i;
    rng_shuffle_int(&r, order, (size_t)n);
    return FP_OK;
}
