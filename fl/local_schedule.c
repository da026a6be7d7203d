/* local_round.c — local step counts, the round's stream and epoch orders (see local_round.h). */
#include "fl/local_schedule.h"

#include <string.h>

int64_t fl_local_steps(int64_t n_k, int batch, int epochs, int64_t max_steps)
{
    int64_t k = (int64_t)epochs * ((n_k + batch - 1) / batch);
    return max_steps > 0 && k > max_steps ? max_steps : k;
}

void fl_local_stream(rng_t *r, uint64_t seed, int client, int64_t round)
{
    rng_derive(r, seed, (uint64_t)client, (uint64_t)round);
}

void fl_epoch_order(rng_t *r, const int *idx, int n, int *order)
{
    if (n <= 0)
        return;
    memcpy(order, idx, (size_t)n * sizeof *order);
    rng_shuffle_int(r, order, (size_t)n);
}
