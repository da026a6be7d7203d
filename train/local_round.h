/* local_round.h — one client's local round (FEDPEPTAO.md §3):
 *   E[:, S] ← w_t (fl/prompt_rows), then local_epochs epochs over the client's shard in batches
 *   of batch_size, reshuffled every epoch from the stream rng_derive(seed, client, round) (which
 *   also seeds each step's dropout); every step: forward, backward into freshly overwritten
 *   gradients of the trained layers only, fl_client_step (FedProx gradient, clipping, SCAFFOLD
 *   correction, AdamW with linear decay); at most max_local_steps steps.
 * Returns the uploaded rows E[:, S], n_k, K_k, the mean loss and the compute time, and leaves
 * the client's state (prompt, head, AdamW, c_k) updated. No sockets, no database. */
#ifndef FEDPEP_TRAIN_LOCAL_ROUND_H
#define FEDPEP_TRAIN_LOCAL_ROUND_H

#include "common/config.h"
#include "common/progress.h"
#include "common/rng.h"
#include "fl/adamw.h"
#include "train/client_state.h"

typedef struct train_opts {
    fl_adamw_config adamw; /* total_steps is set per client by train_total_steps */
    int local_epochs, batch_size, max_local_steps, eval_batch;
    int length_buckets;            /* batches per length bucket after the shuffle; 0 = none */
    float dropout, prefix_dropout; /* in the model and on the prefix while training */
    uint64_t seed;
    double prox_mu;       /* FedProx μ; 0 = off */
    bool scaffold;        /* classic SCAFFOLD client correction */
    bool linear_schedule; /* linear lr decay (else constant) */
} train_opts;

/* The options of cfg's [client], [model] and [run] sections for a strategy with (prox,
 * scaffold) client extras. */
train_opts train_opts_from_config(const fedpep_config *cfg, bool prox, bool scaffold);

/* Local steps of one round for a shard of n examples. */
int64_t train_round_steps(const train_opts *o, int64_t n);

/* The AdamW decay horizon of a client with n examples over `rounds` rounds it may train in
 * (0 with the constant schedule). */
uint64_t train_total_steps(const train_opts *o, int64_t n, int rounds);

typedef struct train_round_in {
    int64_t round;
    const float *w_global; /* [n_rows] rows received (NULL: keep the client's own) */
    const float *c;        /* [n_rows] server control variate (scaffold), else NULL */
    const train_set_t *set;
    const int *idx; /* the shard: indices into set */
    int n;
    uint64_t total_steps; /* AdamW linear-decay horizon for this client */
    int64_t deadline_ms;  /* stop before a step that starts after this CLOCK_MONOTONIC time in
                             ms (train_now_ms); 0 = none (tune's time budget) */
    progress_t *progress; /* after every step, progress_work(examples done, of the round's);
                             NULL = none. Never changes what is computed. */
} train_round_in;

/* CLOCK_MONOTONIC in milliseconds. */
int64_t train_now_ms(void);
/* CPU time of this process in ms (every thread): what a local round costs, whatever else
 * shares the machine. */
int64_t train_cpu_ms(void);

/* Runs the round; rows[n_rows] receives E[:, S] (may be NULL). The client's last_round and
 * last are set. FP_EINVAL on an empty shard; model and optimizer failures propagate (the
 * client may then hold a partly trained state: callers drop it). */
fp_status train_local_round(train_worker_t *w, train_client_t *c, const train_opts *o,
                            const train_round_in *in, float *rows, train_round_result *res,
                            fp_error *err);

/* Sorts each run of `buckets` batches of a shuffled order (example indices of set) by token
 * count, then shuffles the run's full batches among themselves with r (the partial batch stays
 * last). buckets 0 (or n <= batch) leaves order as it is. FP_ENOMEM. */
fp_status train_bucket_by_length(int *order, int n, int batch, int buckets, const train_set_t *set,
                                 rng_t *r, fp_error *err);

#endif
