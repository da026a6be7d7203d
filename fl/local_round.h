/* local_round.h — the bookkeeping of one client's local round (FedPepTAO §3) that does not
 * need the model: how many local steps K_k a round takes (uploaded with the rows, and the
 * divisor of the control variates) and the seeded order of the examples in each epoch.
 * The order is a pure function of (seed, client, round, epoch), so a restarted client replays
 * exactly the batches it would have seen. Nothing here trains. */
#ifndef FEDPEP_FL_LOCAL_ROUND_H
#define FEDPEP_FL_LOCAL_ROUND_H

#include <stdint.h>

#include "common/status.h"

/* K_k = epochs · ⌈n_k / batch⌉ (the last batch of an epoch may be short, as a DataLoader's).
 * 0 when n_k = 0. n_k >= 0, batch >= 1, epochs >= 0 are the caller's contract. */
int64_t fl_local_steps(int64_t n_k, int batch, int epochs);

/* order[n] = a permutation of 0..n−1 for (client, round, epoch) from a stream derived from seed.
 * Batch j of the epoch is order[j·batch .. min(n, (j+1)·batch)). FP_EINVAL if n < 0. */
fp_status fl_epoch_order(uint64_t seed, int client, int64_t round, int epoch, int n, int *order,
                         fp_error *err);

#endif
