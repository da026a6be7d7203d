/* adamw.h — the client optimizer of FedPepTAO §3: AdamW as the reference's HF AdamW computes it,
 * with state (m, v, step) that persists across the rounds a client takes part in and that
 * saves and restores byte-exactly.
 *
 * One step, with t = step + 1 and g already clipped (see client_step.h):
 *   lr_t = lr · max(0, T − (t − 1)) / T          (linear decay over T total steps, no warm-up;
 *                                                   T = 0 means a constant lr)
 *   m ← β1 m + (1 − β1) g ;  v ← β2 v + (1 − β2) g²
 *   θ ← θ − lr_t · √(1 − β2^t) / (1 − β1^t) · m / (√v + ε)   (ε before bias correction,
 *                                                               correction folded into the step)
 *   θ ← θ − lr_t · λ · θ                           (decoupled weight decay, after the step)
 * This file never clips, never allocates during a step, and never touches anything but the
 * buffers it is given. */
#ifndef FEDPEP_FL_ADAMW_H
#define FEDPEP_FL_ADAMW_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef struct fl_adamw_config {
    double lr;            /* base learning rate η_l (0.04) */
    double beta1, beta2;  /* 0.9, 0.999 */
    double eps;           /* 1e-8, added to √v */
    double weight_decay;  /* λ = 0.1, decoupled */
    double max_grad_norm; /* global-norm clip (1.0); <= 0 disables */
    uint64_t total_steps; /* T of the linear decay; 0 = no decay */
} fl_adamw_config;

/* The FedPepTAO defaults above, with total_steps = 0 (the caller sets the run's T). */
fl_adamw_config fl_adamw_defaults(void);

typedef struct fl_adamw {
    size_t n;      /* number of parameters */
    uint64_t step; /* steps taken so far */
    float *m, *v;  /* [n] each, one allocation */
} fl_adamw_t;

/* A zeroed state for n parameters; NULL if out of memory. */
fl_adamw_t *fl_adamw_new(size_t n);
void fl_adamw_destroy(fl_adamw_t **self_p);

/* The learning rate the step numbered t (1-based) uses. */
double fl_adamw_lr_at(const fl_adamw_config *cfg, uint64_t t);

/* One AdamW step on theta[n] with gradient g[n] (not modified). FP_ENUMERIC (state untouched)
 * if g holds a NaN or Inf. */
fp_status fl_adamw_step(fl_adamw_t *self, const fl_adamw_config *cfg, float *theta, const float *g,
                        fp_error *err);

/* Blob: "FPAW", u32 version 1, u64 n, u64 step, f32 m[n], f32 v[n] (all little-endian).
 * save allocates *blob (caller frees); load validates the header and every length and
 * returns a fresh state in *out, leaving *out untouched on failure. */
size_t fl_adamw_blob_size(size_t n);
fp_status fl_adamw_save(const fl_adamw_t *self, uint8_t **blob, size_t *len, fp_error *err);
fp_status fl_adamw_load(const uint8_t *blob, size_t len, fl_adamw_t **out, fp_error *err);

#endif
