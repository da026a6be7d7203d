/* update_check.h — what a client's UPDATE must be before the coordinator lets it near the
 * aggregate: the rows (and SCAFFOLD's control delta) in the exact shape TRAIN sent, every value
 * finite, and n (the weight of its rows in the average) equal to the client's shard size in the
 * run's seeded partition, which the coordinator computes at start exactly as the clients do.
 * A client that fails is recorded `error` for the round; its rows are never aggregated.
 * This cannot catch a client that lies within bounds (docs/protocol.md, "Authorisation";
 * README, "Security": the threat model). */
#ifndef FEDPEP_ACTORS_UPDATE_CHECK_H
#define FEDPEP_ACTORS_UPDATE_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "common/status.h"
#include "messages/protocol.h"
#include "train/model_bundle.h"

/* What the coordinator assigned a client this round. */
typedef struct update_expect {
    uint32_t ndim;
    uint32_t shape[MSG_TENSOR_MAX_DIMS]; /* the TRAIN rows' shape */
    bool control;                        /* a control delta of the same shape is due (SCAFFOLD) */
    uint64_t n;                          /* the client's training examples, n_k */
} update_expect_t;

/* FP_OK when u is what `want` says; else FP_EINVAL with the first thing wrong in err (for the
 * coordinator's log). Reads u only. */
fp_status update_check(const msg_update_t *u, const update_expect_t *want, fp_error *err);

/* n_k of every client (n[cfg->federation.clients]): the shard sizes of the run's training
 * split under the seeded partition, loaded for model m and prompt length P as a client loads
 * them (train_task_data_load, train_partition_make). err names the data on failure. */
fp_status update_shard_sizes(const fedpep_config *cfg, train_model_t *m, int P, uint64_t *n,
                             fp_error *err);

#endif
