/* server.h — the coordinator's optimizer state and one complete server round (FedPepTAO §4 and
 * the server sides of the §6 baselines), over flat float rows w[dim] (dim = P·K·2·d).
 *
 * A round takes the uploads (θ_k, n_k, K_k) of the clients that made it and, with
 * p_k = n_k / Σ n_j over those uploads:
 *   w̄ = Σ p_k θ_k ;  Δ_t = w_t − w̄ (the pseudo-gradient) ; then one of the optimizers below.
 * FL_SERVER_MOMENTUM_CV is FedPepTAO's (control variates, round-0 rule, momentum with the η_s
 * schedule, `parallel` or `sequential`); see docs/fl.md for every equation.
 * State (w, m, c, every c_k, Δ_prev, η_s, round, RNG, v) saves and restores byte-exactly; a
 * round either completes or leaves the state untouched (uploads are validated first).
 * Nothing here knows about sockets or files. */
#ifndef FEDPEP_FL_SERVER_H
#define FEDPEP_FL_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/rng.h"
#include "common/status.h"

typedef enum fl_server_opt {
    FL_SERVER_FEDAVG = 0,  /* w ← w̄ */
    FL_SERVER_MOMENTUM_CV, /* FedPepTAO §4 */
    FL_SERVER_AVGM,        /* FedAvgM (Hsu et al. 2019): m ← β m + Δ_t ; w ← w − η m */
    FL_SERVER_ADAM,        /* Reddi et al. 2021, Algorithm 2, with τ */
    FL_SERVER_YOGI,
    FL_SERVER_ADAGRAD,
    FL_SERVER_SCAFFOLD, /* SCAFFOLD server: w ← w + η_g (w̄ − w); c ← c + (|S|/N) Σ p_k Δc_k */
    FL_SERVER_OPT_COUNT
} fl_server_opt;

/* How FedPepTAO's momentum step runs over the sampled clients (§4 step 5). */
typedef enum fl_server_step_variant {
    FL_STEP_PARALLEL = 0, /* every M_k starts from the same m (as the paper writes it) */
    FL_STEP_SEQUENTIAL    /* M_k starts from M_{k−1}, in upload order (as the reference runs) */
} fl_server_step_variant;

typedef struct fl_server_config {
    fl_server_opt opt;
    fl_server_step_variant variant;
    /* FedPepTAO */
    double mu;          /* momentum μ = 0.9 */
    double eta_s0;      /* initial server lr 0.05 */
    double eta_s_decay; /* 0.99 per momentum step */
    double eta_s_min;   /* 1e-4 */
    double client_lr;   /* η_l, the base client lr the control variates divide by (0.04) */
    int no_control_variates; /* ablation: M_k = μ m + (1 − μ) g, without c⁺ − c_k⁺ (the variates
                                are still kept, so the state has one shape); 0 = as written */
    /* baselines */
    double server_lr; /* η: FedAvgM, FedAdam/Yogi/Adagrad; η_g for SCAFFOLD */
    double beta1;     /* FedAvgM momentum β, or the adaptive optimizers' β1 */
    double beta2;     /* adaptive β2 */
    double tau;       /* adaptive τ (also v's initial value is τ²) */
} fl_server_config;

/* Defaults for one optimizer: FedPepTAO's constants above; FedAvgM η = 1, β = 0.9;
 * FedAdam/Yogi/Adagrad η = 0.01, β1 = 0.9, β2 = 0.99, τ = 1e-3; SCAFFOLD η_g = 1. */
fl_server_config fl_server_config_defaults(fl_server_opt opt);

typedef struct fl_server {
    fl_server_opt opt;
    size_t dim;        /* floats per row set */
    int n_clients;     /* N, every client of the run */
    uint64_t seed;     /* run seed: client sampling is a pure function of (seed, round) */
    uint64_t round;    /* completed rounds */
    double eta_s;      /* current FedPepTAO server lr */
    int has_prev;      /* Δ_prev holds a value (the round-0 rule has run) */
    rng_t rng;         /* a persisted general-purpose stream for the coordinator */
    float *w;          /* [dim] global rows */
    float *m;          /* [dim] momentum (FedPepTAO, FedAvgM) or first moment (adaptive) */
    float *c;          /* [dim] global control variate */
    float *delta_prev; /* [dim] Δ_prev */
    float *v;          /* [dim] second moment of the adaptive optimizers (τ² initially) */
    float *c_k; /* [n_clients][dim] per-client variates, FL_SERVER_MOMENTUM_CV only, else NULL */
} fl_server_t;

/* A server at round 0 with w = w0[dim], zero m, c, c_k, Δ_prev and v = τ². NULL on
 * out-of-memory or a bad argument (dim = 0, n_clients < 1, opt out of range). */
fl_server_t *fl_server_new(const fl_server_config *cfg, size_t dim, int n_clients, uint64_t seed,
                           const float *w0);
void fl_server_destroy(fl_server_t **self_p);

/* One client's upload: the rows it trained, how many examples it holds, its local steps and,
 * for classic SCAFFOLD only, Δc_k = c_k⁺ − c_k (else NULL). */
typedef struct fl_upload {
    int client;
    int64_t n_samples;
    int64_t steps;
    const float *theta;   /* [dim] */
    const float *delta_c; /* [dim] or NULL */
} fl_upload;

/* Runs one complete server round on the n uploads (the order matters only for the
 * `sequential` variant: pass them in sampling order). On any error — an unknown or repeated
 * client, n_samples <= 0, steps <= 0 where the optimizer divides by it, a non-finite value,
 * a missing delta_c for SCAFFOLD, cfg->opt != self->opt — the state is left unchanged. */
fp_status fl_server_round(fl_server_t *self, const fl_server_config *cfg, const fl_upload *up,
                          int n, fp_error *err);

/* The clients of a round: k distinct ids of [0, N) drawn from a stream derived from
 * (seed, round), so a resumed run samples the same ones. */
fp_status fl_server_sample(const fl_server_t *self, uint64_t round, int k, int *out, fp_error *err);

/* Blob "FPSV" v1 (little-endian): u32 opt, u64 dim, u32 n_clients, u64 seed, u64 round,
 * f64 eta_s, u32 has_prev, u64 rng[4], u32 has_c_k, f32 w, m, c, delta_prev, v [dim each],
 * then c_k [n_clients·dim] when has_c_k. */
size_t fl_server_blob_size(const fl_server_t *self);
fp_status fl_server_save(const fl_server_t *self, uint8_t **blob, size_t *len, fp_error *err);
fp_status fl_server_load(const uint8_t *blob, size_t len, fl_server_t **out, fp_error *err);

#endif
