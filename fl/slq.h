/* slq.h — the optional Hessian estimate of FedPepTAO §2.3: stochastic Lanczos quadrature (SLQ)
 * of the loss Hessian with respect to the prompt, and the threshold search that turns its
 * eigenvalue density into the layer fraction ρ.
 *
 * SLQ (Ubaru, Chen & Saad 2017; PyHessian): for each probe, a Rademacher vector v (±1,
 * normalised) starts m Lanczos steps with full reorthogonalisation on the caller's
 * Hessian-vector product; the m×m tridiagonal T = Q Θ Qᵀ gives nodes θ_j and weights
 * τ_j = Q_{0j}², so that vᵀ f(H) v ≈ Σ_j τ_j f(θ_j). The density is the probe average of
 * Σ_j τ_j N(t; θ_j, σ²). Memory: m·n floats for the Lanczos basis.
 * Nothing here computes gradients: the caller's callback does (central differences of dL/dE). */
#ifndef FEDPEP_FL_SLQ_H
#define FEDPEP_FL_SLQ_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/* hv[n] = H · v[n]. Returns FP_OK or a failure that SLQ passes on. */
typedef fp_status (*fl_hvp_fn)(void *ctx, const float *v, float *hv, fp_error *err);

typedef struct fl_slq_result {
    int probes, steps;
    double *nodes;   /* [probes][steps]; a probe that broke down early pads with weight 0 */
    double *weights; /* [probes][steps]; each probe's weights sum to 1 */
} fl_slq_result;

/* Runs `probes` SLQ probes of `steps` Lanczos steps (the reference: 1 probe, 50 steps).
 * A probe stops early when the next Lanczos residual is below 1e-5 relative to |T| (an
 * invariant subspace: the spectrum seen from v is exhausted). FP_EINVAL on n = 0, steps < 1,
 * probes < 1; FP_ENOMEM; any failure of hvp; FP_ENUMERIC on a non-finite product. */
fp_status fl_slq_run(fl_hvp_fn hvp, void *ctx, size_t n, int steps, int probes, uint64_t seed,
                     fl_slq_result *out, fp_error *err);
void fl_slq_result_free(fl_slq_result *r);

/* Probe average of Σ_j τ_j θ_j^power: power 1 estimates tr(H)/n, power 2 tr(H²)/n. */
double fl_slq_moment(const fl_slq_result *r, int power);

/* The reference's density (get_ratio.py): grid[bins] from (mean over probes of the smallest
 * node) − overhead to (mean of the largest) + overhead; variance σ² = sigma2 · max(1, range);
 * density[bins] normalised so Σ density · Δgrid = 1. bins >= 2. */
fp_status fl_slq_density(const fl_slq_result *r, int bins, double sigma2, double overhead,
                         double *grid, double *density, fp_error *err);

/* The threshold search of §2.3 ("the share of spectral mass above the threshold where the
 * tail levels off"), as the reference does it:
 *   mass(t) = 1 − Σ_{i: grid[i+1] <= t} density[i] Δ   (spectral mass above t)
 *   walk t = t0, t0 + inc, t0 + 2 inc, ...:
 *     - if mass(t) < mass(t0) / 2 the walk went past the tail into the bulk without seeing
 *       it level off: halve inc and walk again from t0;
 *     - if the last four values differ pairwise-consecutively by < plateau_tol, the tail has
 *       levelled off: ρ = the last value.
 * Guard: at most FL_SLQ_MAX_HALVINGS halvings and FL_SLQ_MAX_EVALS evaluations of mass(t),
 * else FP_ENUMERIC (no plateau: the caller keeps the configured ρ). */
typedef struct fl_ratio_config {
    double t0;          /* 0.0 */
    double inc;         /* 0.1 */
    double plateau_tol; /* 0.005 (0 never levels off: only the guard can end the search) */
    int bins;           /* 10000 */
    double sigma2;      /* 1e-5 */
    double overhead;    /* 0.01 */
} fl_ratio_config;
#define FL_SLQ_MAX_HALVINGS 40
#define FL_SLQ_MAX_EVALS 1000000

fl_ratio_config fl_ratio_defaults(void);
fp_status fl_slq_ratio(const fl_slq_result *r, const fl_ratio_config *cfg, double *rho,
                       fp_error *err);

#endif
