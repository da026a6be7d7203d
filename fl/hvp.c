/* hvp.c — central-difference Hessian-vector products (see hvp.h). */
#include "hvp.h"

/* Adds context to a gradient failure, keeping its status (fp_wrap needs an err). */
static fp_status wrap(fp_status st, fp_error *err)
{
    if (err)
        fp_wrap(err, "finite-difference hvp");
    return st;
}

fp_status fl_fd_hvp_apply(void *ctx, const float *v, float *hv, fp_error *err)
{
    const fl_fd_hvp *f = ctx;
    if (!(f->h > 0))
        return fp_fail(err, FP_EINVAL, "finite-difference hvp: step %g must be > 0", f->h);
    size_t n = f->n;
    float *xs = f->scratch, *gp = f->scratch + n, *gm = f->scratch + 2 * n;
    for (size_t i = 0; i < n; i++)
        xs[i] = (float)((double)f->x[i] + f->h * v[i]);
    fp_status st = f->grad(f->ctx, xs, gp, err);
    if (st)
        return wrap(st, err);
    for (size_t i = 0; i < n; i++)
        xs[i] = (float)((double)f->x[i] - f->h * v[i]);
    st = f->grad(f->ctx, xs, gm, err);
    if (st)
        return wrap(st, err);
    for (size_t i = 0; i < n; i++)
        hv[i] = (float)(((double)gp[i] - (double)gm[i]) / (2.0 * f->h));
    return FP_OK;
}
