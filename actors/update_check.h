/* update_check.h — what a client's UPDATE must be before the coordinator lets it near the
 * aggregate: the rows (and SCAFFOLD's control delta) in the exact shape TRAIN sent, every value
 * finite, and n (the weight of its rows in the average) equal to the client's shard size in the
 * run's seeded partition, which the coordinator computes at start exactly as the clients do.
 * A client that fails is recorded `error` for the round; its rows are never aggregated.
 * Its EVAL_REPLY is bounded the same way: its confusion rows must count its evaluation shard;
 * and the evaluator bounds its SCORE_REPLY: n_k again, and each statistic finite and inside the
 * range the statistic can take (fl_layer_statistic_range).
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

/* What the run's seeded partition gives each client, computed as the clients compute it. */
typedef struct shard_sizes {
    int clients, classes;
    uint64_t *train; /* [clients]: n_k, training examples */
    uint64_t *eval;  /* [clients][classes]: evaluation examples of each true class */
} shard_sizes_t;

/* Loads the task data for model m and prompt length P (train_task_data_load) and partitions
 * both splits (train_partition_make) to fill s. err names the data on failure; s is then empty. */
fp_status shard_sizes_load(shard_sizes_t *s, const fedpep_config *cfg, train_model_t *m, int P,
                           fp_error *err);
void shard_sizes_free(shard_sizes_t *s);

/* FP_OK when an EVAL_REPLY counts exactly the client's evaluation shard: `classes` classes and,
 * for each true class t, rows[t] examples in confusion row t (so n is the shard's size and the
 * client's weight in the pooled metric is its share). Predictions cannot be checked. */
fp_status eval_reply_check(const msg_eval_reply_t *e, const uint64_t *rows, int classes,
                           fp_error *err);

/* FP_OK when a SCORE_REPLY is what a client holding n_k training examples sends: n_scored
 * statistics, the run's score_batch, n = n_k (0 for a shard of fewer than 2 examples, which
 * scores nothing), each statistic finite and, when n > 0, inside fl_layer_statistic_range for
 * its batch min(n_k, score_batch). Else FP_EINVAL naming the first thing wrong. */
fp_status score_reply_check(const msg_score_reply_t *r, int n_scored, uint64_t n_k,
                            uint32_t score_batch, fp_error *err);

#endif
