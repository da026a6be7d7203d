/* client_step.h — one local optimisation step of a client, with the strategy's extras:
 * FedProx's proximal gradient and SCAFFOLD's gradient correction, around the AdamW of adamw.h.
 *
 * Order inside fl_client_step (documented because it changes results):
 *   1. g ← g + μ (θ − w_t)        FedProx: the gradient of μ/2 |θ − w_t|², part of the loss,
 *                                 so it is clipped with the loss gradient;
 *   2. g ← g · min(1, C / (|g|₂ + 1e−6))   global-norm clipping (torch clip_grad_norm_);
 *   3. g ← g + c − c_k            SCAFFOLD correction, after clipping: it is not a loss term;
 *   4. AdamW step.
 * Also here: the classic SCAFFOLD client variate update (option II), which the server's
 * control-variate step of FedPepTAO §4 reuses. Never allocates. */
#ifndef FEDPEP_FL_CLIENT_STEP_H
#define FEDPEP_FL_CLIENT_STEP_H

#include <stddef.h>

#include "adamw.h"

/* What a strategy adds on the client; zero / NULL fields switch a piece off. */
typedef struct fl_client_extras {
    double prox_mu;        /* FedProx μ; 0 = off */
    const float *w_global; /* [n] w_t, the rows received this round (needed when prox_mu > 0) */
    const float *c;        /* [n] server control variate (SCAFFOLD), NULL = off */
    const float *c_k;      /* [n] this client's control variate (SCAFFOLD) */
} fl_client_extras;

/* g[n] += μ (θ − w). */
void fl_prox_gradient_add(float *g, const float *theta, const float *w, double mu, size_t n);

/* Scales g[n] so its 2-norm is at most max_norm (torch semantics, 1e−6 guard); returns the
 * norm before clipping (NaN if g holds a NaN). max_norm <= 0: no clipping. */
double fl_clip_grad_norm(float *g, size_t n, double max_norm);

/* g[n] += c − c_k. */
void fl_scaffold_correct(float *g, const float *c, const float *c_k, size_t n);

/* SCAFFOLD option II: c_k⁺ = c_k − c + (w_t − θ_k) / (K_k η_l), into out[n] (may alias c_k).
 * K_k >= 1 and η_l > 0 are the caller's contract. */
void fl_scaffold_variate(const float *c_k, const float *c, const float *w_t, const float *theta,
                         long steps, double lr, float *out, size_t n);

/* Steps 1–4 above on theta[n]; g[n] is used as scratch and holds the final gradient after.
 * FP_ENUMERIC if the gradient is not finite (theta and the state untouched). */
fp_status fl_client_step(fl_adamw_t *opt, const fl_adamw_config *cfg,
                         const fl_client_extras *extras, float *theta, float *g, fp_error *err);

#endif
