/* layer_score.h — which prompt layers FedPepTAO tunes and sends (§2).
 *
 * Client side: for one batch of b examples and one layer l = 0..L−2, the hidden states z_i
 * (flattened output of block l) give the cosine-similarity matrix C (b×b), its eigenvalues λ_j
 * (Jacobi) and the statistic
 *     s_l = Σ_j [ ln(λ_j + 1e−5) + 1/(λ_j + 1e−5) ].
 * Each term is ≥ ~1 with its minimum at λ = 1, so s_l is ≈ b when the examples are
 * orthogonal (C = I) and grows as they become collinear (eigenvalues → b and 0).
 * Evaluator side: S_l = Σ_k (n_k / Σ n) s_{k,l}; rank highest first; keep K = ρ·L layers.
 * The last layer (L−1) is never scored, so never selected. Only scalars cross the network. */
#ifndef FEDPEP_FL_LAYER_SCORE_H
#define FEDPEP_FL_LAYER_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/* The shift inside the statistic (§2.1). */
#define FL_LAYER_SCORE_EPS 1e-5

/* C[b][b] with C_ij = z_i·z_j / (|z_i| |z_j|) for z[b][dim] (row i = example i).
 * FP_ENUMERIC if some z_i is zero or not finite (the cosine is undefined). */
fp_status fl_cosine_similarity(const float *z, int b, size_t dim, double *c, fp_error *err);

/* s_l from eigenvalues λ[b] (negative round-off below 0 is clamped to 0: C is PSD). */
double fl_layer_statistic_from_eigen(const double *lambda, int b);

/* The range every s_l of a batch of b examples lies in, [*lo, *hi] = b·[1, ln ε + 1/ε] widened
 * by 1e−9 for round-off: each term ln x + 1/x (x = λ + ε in [ε, b + ε]) is at least 1 (its
 * minimum, at x = 1) and at most its value at x = ε (for b <= FL_LAYER_SCORE_MAX_BATCH). The
 * evaluator refuses a client's statistic outside it (actors/update_check.h). */
void fl_layer_statistic_range(int b, double *lo, double *hi);

/* s_l for one layer's hidden states z[b][dim], 1 <= b <= FL_LAYER_SCORE_MAX_BATCH. */
#define FL_LAYER_SCORE_MAX_BATCH 64
fp_status fl_layer_statistic(const float *z, int b, size_t dim, double *s, fp_error *err);

/* What a client reports: s[l] for l = 0..n_scored−1 (n_scored = L − 1) from the hidden states
 * hidden[n_scored][b][dim] of one batch (layer-major; row i of a layer = example i's
 * flattened block output). Fails like fl_layer_statistic, naming the layer. */
fp_status fl_layer_statistics(const float *hidden, int n_scored, int b, size_t dim, double *s,
                              fp_error *err);

/* S[l] = Σ_k (n_k / Σ n) s[k][l] for n_clients rows of n_scored statistics each.
 * FP_EINVAL if some n_k < 0 or Σ n = 0. */
fp_status fl_layer_scores_combine(const double *s, const int64_t *n, int n_clients, int n_scored,
                                  double *S, fp_error *err);

/* order[0..n) = layer ids sorted by S descending; ties go to the lower layer id; NaN last. */
void fl_layer_rank(const double *S, int n, int *order);

/* K for ρ and L: K = floor(ρ·L + 0.5) (round half up), then clamped to [1, L − 1] because the
 * last layer can never be selected (so ρ = 0, e.g. from a flat Hessian tail, still keeps one
 * layer). FP_EINVAL unless 0 <= ρ <= 1 and L >= 2. */
fp_status fl_layer_count(double rho, int n_layers, int *k, fp_error *err);

/* The K = fl_layer_count(ρ, L) best layers by S[0..L−1) (scores of layers 0..L−2), written to
 * layers[K] in ascending order (the row order of E[:, S]). */
fp_status fl_layer_select(const double *S, int n_layers, double rho, int *layers, int *k,
                          fp_error *err);

/* The random-layers ablation: k distinct layers of 0..L−2 from a stream derived from seed,
 * ascending. FP_EINVAL unless 1 <= k <= L − 1. */
fp_status fl_layer_select_random(uint64_t seed, int n_layers, int k, int *layers, fp_error *err);

#endif
