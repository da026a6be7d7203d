/* local_round.h — the bookkeeping of one client's local round (FedPepTAO §3) that does not
 * need the model: how many local steps K_k a round takes (uploaded with the rows, and the
 * divisor of the control variates), the random stream of the round and the order of the
 * examples in each epoch. train/local_round.c trains with exactly these, so the order is a pure
 * function of (seed, client, round) and what the round drew before: a restarted client replays
 * exactly the batches it would have seen. Nothing here trains. */
#ifndef FEDPEP_FL_LOCAL_SCHEDULE_H
#define FEDPEP_FL_LOCAL_SCHEDULE_H

#include <stdint.h>

#include "common/rng.h"

/* K_k = epochs · ⌈n_k / batch⌉ (the last batch of an epoch may be short, as a DataLoader's),
 * capped at max_steps when max_steps > 0. 0 when n_k = 0. n_k >= 0, batch >= 1, epochs >= 0 are
 * the caller's contract. */
int64_t fl_local_steps(int64_t n_k, int batch, int epochs, int64_t max_steps);

/* The one stream of client `client`'s local round `round`: every epoch order and every
 * per-step seed (dropout) of the round is drawn from it, in order. */
void fl_local_stream(rng_t *r, uint64_t seed, int client, int64_t round);

/* order[0..n) = idx[0..n) shuffled with r: one epoch's order of the client's examples; batch j
 * of the epoch is order[j·batch .. min(n, (j+1)·batch)). n >= 0. */
void fl_epoch_order(rng_t *r, const int *idx, int n, int *order);

#endif
