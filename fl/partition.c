/* partition.c — Dirichlet non-IID, IID and shards splits (see partition.h). */
#include "partition.h"

#include <math.h>
#include <stdlib.h>

#include "common/rng.h"

/* Stream tags: each split draws from its own derived stream of the seed. */
#define STREAM_DIRICHLET 0x44495249u /* "DIRI" */
#define STREAM_IID 0x49494400u       /* "IID" */
#define STREAM_SHARDS 0x53484152u    /* "SHAR" */

void fl_partition_destroy(fl_partition_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->offset);
    free((*self_p)->index);
    free((*self_p)->share);
    free((*self_p)->prior);
    free(*self_p);
    *self_p = NULL;
}

static fl_partition_t *partition_alloc(int n, int n_clients)
{
    fl_partition_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n_clients = n_clients;
    p->n_examples = n;
    p->offset = calloc((size_t)n_clients + 1, sizeof *p->offset);
    p->index = malloc(((size_t)n + 1) * sizeof *p->index);
    if (!p->offset || !p->index)
        fl_partition_destroy(&p);
    return p;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static void sort_each_client(fl_partition_t *p)
{
    for (int k = 0; k < p->n_clients; k++)
        qsort(p->index + p->offset[k], (size_t)fl_partition_size(p, k), sizeof(int), cmp_int);
}

static fp_status check_labels(const int *labels, int n, int n_classes, int n_clients, fp_error *err)
{
    if (n < 0 || n_clients < 1 || n_classes < 1)
        return fp_fail(err, FP_EINVAL, "partition: %d examples, %d classes, %d clients", n,
                       n_classes, n_clients);
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_classes)
            return fp_fail(err, FP_EINVAL, "partition: label %d of example %d not in [0, %d)",
                           labels[i], i, n_classes);
    return FP_OK;
}

/* Draws from the categorical distribution pi[n] (sums to 1 up to round-off). */
static int draw_class(rng_t *r, const double *pi, int n)
{
    double u = rng_uniform(r), acc = 0.0;
    for (int c = 0; c < n; c++) {
        acc += pi[c];
        if (u < acc)
            return c;
    }
    return n - 1; /* u beyond the rounded total: the last class */
}

/* The guard's draw: π restricted to the classes with examples left, renormalised — exactly
 * the distribution endless redrawing would converge to, without the endless part. If that
 * mass underflows to zero, a uniform choice among the remaining classes. Some class has
 * examples left whenever a client still has room, since the quotas sum to n. */
static int draw_remaining_class(rng_t *r, const double *pi, const int *left, int n)
{
    double mass = 0.0;
    int remaining = 0, last = -1;
    for (int c = 0; c < n; c++)
        if (left[c] > 0) {
            mass += pi[c];
            remaining++;
            last = c;
        }
    if (mass > 0) {
        double u = rng_uniform(r) * mass, acc = 0.0;
        for (int c = 0; c < n; c++)
            if (left[c] > 0 && pi[c] > 0) {
                acc += pi[c];
                if (u < acc)
                    return c;
            }
        return last;
    }
    int pick = (int)rng_below(r, (uint64_t)remaining);
    for (int c = 0; c < n; c++)
        if (left[c] > 0 && pick-- == 0)
            return c;
    return last;
}

/* n_k = round(q_k · n) for all but the last client, never past n; the last takes the rest. */
static void dirichlet_sizes(rng_t *r, int n, int n_clients, double size_alpha, double *q,
                            int *quota)
{
    rng_dirichlet(r, size_alpha, q, (size_t)n_clients);
    int used = 0;
    for (int k = 0; k < n_clients - 1; k++) {
        int want = (int)floor(q[k] * n + 0.5);
        quota[k] = want < n - used ? want : n - used;
        used += quota[k];
    }
    quota[n_clients - 1] = n - used;
}

fp_status fl_partition_dirichlet(const int *labels, int n, int n_classes, int n_clients,
                                 const fl_dirichlet_params *prm, fl_partition_t **out,
                                 fp_error *err)
{
    fp_status st = check_labels(labels, n, n_classes, n_clients, err);
    if (st)
        return st;
    if (!(prm->alpha > 0) || !(prm->size_alpha > 0))
        return fp_fail(err, FP_EINVAL, "partition: concentrations must be > 0 (%g, %g)", prm->alpha,
                       prm->size_alpha);
    fl_partition_t *p = partition_alloc(n, n_clients);
    double *q = malloc((size_t)n_clients * sizeof *q);
    double *pi = malloc((size_t)n_clients * n_classes * sizeof *pi);
    int *quota = malloc((size_t)n_clients * sizeof *quota);
    int *fill = calloc((size_t)n_clients, sizeof *fill);
    int *room = malloc((size_t)n_clients * sizeof *room); /* clients with room left */
    int *pool = malloc(((size_t)n + 1) * sizeof *pool);   /* example ids grouped by class */
    int *start = calloc((size_t)n_classes + 1, sizeof *start);
    int *left = calloc((size_t)n_classes, sizeof *left);
    if (!p || !q || !pi || !quota || !fill || !room || !pool || !start || !left) {
        st = fp_fail(err, FP_ENOMEM, "partition: out of memory for %d examples", n);
        goto done;
    }
    /* Shares and priors come from their own stream, a function of (seed, N, C) only, so the
     * evaluation split partitioned with the same seed gives every client the same share and
     * the same class prior as its training split (as the reference reuses them). */
    rng_t r;
    rng_derive(&r, prm->seed, STREAM_DIRICHLET, 0);
    dirichlet_sizes(&r, n, n_clients, prm->size_alpha, q, quota);
    for (int k = 0; k < n_clients; k++)
        rng_dirichlet(&r, prm->alpha, pi + (size_t)k * n_classes, (size_t)n_classes);
    rng_derive(&r, prm->seed, STREAM_DIRICHLET, 1); /* the fill's own stream */
    /* Each class's examples, shuffled, taken from the back. */
    for (int i = 0; i < n; i++)
        start[labels[i] + 1]++;
    for (int c = 0; c < n_classes; c++) {
        left[c] = start[c + 1];
        start[c + 1] += start[c];
    }
    for (int i = 0; i < n; i++) /* left[c] counts down while placing, then is restored */
        pool[start[labels[i]] + --left[labels[i]]] = i;
    for (int c = 0; c < n_classes; c++) {
        left[c] = start[c + 1] - start[c];
        rng_shuffle_int(&r, pool + start[c], (size_t)left[c]);
    }
    p->offset[0] = 0;
    for (int k = 0; k < n_clients; k++)
        p->offset[k + 1] = p->offset[k] + quota[k];
    int n_room = 0;
    for (int k = 0; k < n_clients; k++)
        if (quota[k] > 0)
            room[n_room++] = k;
    while (n_room > 0) {
        int slot = (int)rng_below(&r, (uint64_t)n_room), k = room[slot];
        const double *pk = pi + (size_t)k * n_classes;
        int c = draw_class(&r, pk, n_classes), redraws = 0;
        while (left[c] == 0 && redraws < FL_PARTITION_MAX_REDRAWS) {
            c = draw_class(&r, pk, n_classes);
            redraws++;
        }
        if (left[c] == 0) {
            c = draw_remaining_class(&r, pk, left, n_classes);
            p->fallbacks++;
        }
        left[c]--;
        p->index[p->offset[k] + fill[k]++] = pool[start[c] + left[c]];
        if (fill[k] == quota[k])
            room[slot] = room[--n_room];
    }
    sort_each_client(p);
    p->share = q;
    p->prior = pi;
    p->n_classes = n_classes;
    q = pi = NULL;
    *out = p;
    p = NULL;
done:
    fl_partition_destroy(&p);
    free(q);
    free(pi);
    free(quota);
    free(fill);
    free(room);
    free(pool);
    free(start);
    free(left);
    return st;
}

fp_status fl_partition_iid(int n, int n_clients, uint64_t seed, fl_partition_t **out, fp_error *err)
{
    if (n < 0 || n_clients < 1)
        return fp_fail(err, FP_EINVAL, "partition: %d examples, %d clients", n, n_clients);
    fl_partition_t *p = partition_alloc(n, n_clients);
    if (!p)
        return fp_fail(err, FP_ENOMEM, "partition: out of memory for %d examples", n);
    for (int i = 0; i < n; i++)
        p->index[i] = i;
    rng_t r;
    rng_derive(&r, seed, STREAM_IID, 0);
    rng_shuffle_int(&r, p->index, (size_t)n);
    for (int k = 0; k < n_clients; k++)
        p->offset[k + 1] = p->offset[k] + n / n_clients + (k < n % n_clients);
    sort_each_client(p);
    *out = p;
    return FP_OK;
}

fp_status fl_partition_shards(const int *labels, int n, int n_classes, int n_clients,
                              int shards_per_client, uint64_t seed, fl_partition_t **out,
                              fp_error *err)
{
    fp_status st = check_labels(labels, n, n_classes, n_clients, err);
    if (st)
        return st;
    if (shards_per_client < 1 || (int64_t)n_clients * shards_per_client > n)
        return fp_fail(err, FP_EINVAL,
                       "partition: %d shards per client for %d clients need "
                       "at least that many examples (have %d)",
                       shards_per_client, n_clients, n);
    int n_shards = n_clients * shards_per_client;
    fl_partition_t *p = partition_alloc(n, n_clients);
    int *sorted = malloc(((size_t)n + 1) * sizeof *sorted);
    int *order = malloc((size_t)n_shards * sizeof *order);
    int *count = calloc((size_t)n_classes + 1, sizeof *count);
    if (!p || !sorted || !order || !count) {
        st = fp_fail(err, FP_ENOMEM, "partition: out of memory for %d examples", n);
        goto done;
    }
    for (int i = 0; i < n; i++) /* counting sort by label: stable */
        count[labels[i] + 1]++;
    for (int c = 0; c < n_classes; c++)
        count[c + 1] += count[c];
    for (int i = 0; i < n; i++)
        sorted[count[labels[i]]++] = i;
    for (int s = 0; s < n_shards; s++)
        order[s] = s;
    rng_t r;
    rng_derive(&r, seed, STREAM_SHARDS, 0);
    rng_shuffle_int(&r, order, (size_t)n_shards);
    /* Shard s covers sorted[s·n/S .. (s+1)·n/S); client k gets order[k·spc .. (k+1)·spc). */
    int at = 0;
    for (int k = 0; k < n_clients; k++) {
        for (int j = 0; j < shards_per_client; j++) {
            int s = order[k * shards_per_client + j];
            int lo = (int)((int64_t)s * n / n_shards), hi = (int)((int64_t)(s + 1) * n / n_shards);
            for (int i = lo; i < hi; i++)
                p->index[at++] = sorted[i];
        }
        p->offset[k + 1] = at;
    }
    sort_each_client(p);
    *out = p;
    p = NULL;
done:
    fl_partition_destroy(&p);
    free(sorted);
    free(order);
    free(count);
    return st;
}
