/* partition.h — how a task's examples are dealt out to the N clients (FedPepTAO §5).
 *
 * Three splits, each a pure function of (labels, parameters, seed): the same seed gives the
 * same split on every machine and in every process, so clients, evaluator and coordinator
 * agree without sending index lists around.
 *   - dirichlet: sizes q ~ Dir(size_alpha = 5), n_k = round(q_k · N) (the last client takes
 *     the rounding; a running total never passes N); class priors π_k ~ Dir(alpha); quotas
 *     are filled by drawing a client with room left (uniformly) and a class from its π_k,
 *     redrawing the class while it is exhausted. The guard: after FL_PARTITION_MAX_REDRAWS
 *     consecutive redraws for one placement, the class is drawn once from π_k restricted to
 *     the classes that still have examples, renormalised — the very distribution the
 *     redraws would reach, so the guard changes speed, not statistics — or uniformly among
 *     them if that restricted mass is 0 (the prior underflowed). Each such placement counts
 *     in `fallbacks`. It always terminates: the quotas sum to the number of examples, so
 *     while a client has room some class has examples left.
 *     q and π_k depend only on (seed, N, C): partitioning the evaluation split with the same
 *     seed gives each client the same share and class prior as its training split.
 *   - iid: a seeded shuffle cut into N near-equal parts (the first N mod n get one more).
 *   - shards (McMahan et al. 2017): indices sorted by label (stable), cut into
 *     N · shards_per_client contiguous near-equal shards, dealt shards_per_client at random
 *     to each client.
 * Each client's index list is sorted ascending. Never touches the data, only labels. */
#ifndef FEDPEP_FL_PARTITION_H
#define FEDPEP_FL_PARTITION_H

#include <stdint.h>

#include "common/status.h"

#define FL_PARTITION_MAX_REDRAWS 100

typedef struct fl_partition {
    int n_clients;
    int n_examples;
    int *offset;   /* [n_clients + 1]: client k holds index[offset[k] .. offset[k+1]) */
    int *index;    /* [n_examples]: example ids, every one exactly once */
    int fallbacks; /* dirichlet only: placements the redraw guard decided */
    int n_classes; /* dirichlet only (else 0) */
    double *share; /* dirichlet only (else NULL): [n_clients] q_k */
    double *prior; /* dirichlet only (else NULL): [n_clients][n_classes] π_k */
} fl_partition_t;

typedef struct fl_dirichlet_params {
    double alpha;      /* class-prior concentration α (1.0 in FedPepTAO) */
    double size_alpha; /* client-size concentration (5) */
    uint64_t seed;
} fl_dirichlet_params;

/* labels[n] in [0, n_classes). Every constructor fails with FP_EINVAL on labels out of range,
 * n_clients < 1 or non-positive concentrations, and FP_ENOMEM when memory runs out;
 * *out is set only on success. */
fp_status fl_partition_dirichlet(const int *labels, int n, int n_classes, int n_clients,
                                 const fl_dirichlet_params *p, fl_partition_t **out, fp_error *err);
fp_status fl_partition_iid(int n, int n_clients, uint64_t seed, fl_partition_t **out,
                           fp_error *err);
fp_status fl_partition_shards(const int *labels, int n, int n_classes, int n_clients,
                              int shards_per_client, uint64_t seed, fl_partition_t **out,
                              fp_error *err);
void fl_partition_destroy(fl_partition_t **self_p);

/* Number of examples of client k. */
static inline int fl_partition_size(const fl_partition_t *p, int k)
{
    return p->offset[k + 1] - p->offset[k];
}

#endif
