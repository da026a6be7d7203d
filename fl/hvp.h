/* hvp.h — a Hessian-vector product by central differences of a gradient, the callback SLQ
 * (slq.h) needs for the optional Hessian estimate of FedPepTAO §2.3:
 *     H v ≈ (∇L(x + h v) − ∇L(x − h v)) / (2h)
 * exact for quadratics, O(h²) otherwise; in float32 the round-off term grows like ε|∇L|/h,
 * so h ≈ 1e−3..1e−2 for a unit v. The caller supplies ∇L (the model's prompt gradient on a
 * fixed batch, dropout off). Two gradient evaluations per product; never touches x. */
#ifndef FEDPEP_FL_HVP_H
#define FEDPEP_FL_HVP_H

#include <stddef.h>

#include "common/status.h"

/* grad[n] = ∇L(x[n]). */
typedef fp_status (*fl_grad_fn)(void *ctx, const float *x, float *grad, fp_error *err);

typedef struct fl_fd_hvp {
    fl_grad_fn grad;
    void *ctx;
    size_t n;
    const float *x; /* [n] the point the Hessian is taken at */
    double h;       /* finite-difference step (> 0) */
    float *scratch; /* [3n], owned by the caller */
} fl_fd_hvp;

/* An fl_hvp_fn: ctx is an fl_fd_hvp. hv[n] = (∇L(x + h v) − ∇L(x − h v)) / (2h).
 * Gradient failures propagate; FP_EINVAL if h <= 0. */
fp_status fl_fd_hvp_apply(void *ctx, const float *v, float *hv, fp_error *err);

#endif
