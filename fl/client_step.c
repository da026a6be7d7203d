/* client_step.c — FedProx, clipping, SCAFFOLD correction and variate (see client_step.h). */
#include "client_step.h"

#include <math.h>

void fl_prox_gradient_add(float *g, const float *theta, const float *w, double mu, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = (float)(g[i] + mu * ((double)theta[i] - (double)w[i]));
}

double fl_clip_grad_norm(float *g, size_t n, double max_norm)
{
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        ss += (double)g[i] * g[i];
    double norm = sqrt(ss);
    if (max_norm > 0 && isfinite(norm)) {
        double coef = max_norm / (norm + 1e-6);
        if (coef < 1.0)
            for (size_t i = 0; i < n; i++)
                g[i] = (float)(g[i] * coef);
    }
    return norm;
}

void fl_scaffold_correct(float *g, const float *c, const float *c_k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = (float)((double)g[i] + (double)c[i] - (double)c_k[i]);
}

void fl_scaffold_variate(const float *c_k, const float *c, const float *w_t, const float *theta,
                         long steps, double lr, float *out, size_t n)
{
    double inv = 1.0 / ((double)steps * lr);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)((double)c_k[i] - (double)c[i] + ((double)w_t[i] - (double)theta[i]) * inv);
}

fp_status fl_client_step(fl_adamw_t *opt, const fl_adamw_config *cfg,
                         const fl_client_extras *extras, float *theta, float *g, fp_error *err)
{
    size_t n = opt->n;
    if (extras && extras->prox_mu != 0.0 && extras->w_global)
        fl_prox_gradient_add(g, theta, extras->w_global, extras->prox_mu, n);
    double norm = fl_clip_grad_norm(g, n, cfg->max_grad_norm);
    if (!isfinite(norm))
        return fp_fail(err, FP_ENUMERIC, "client step: gradient norm is %g", norm);
    if (extras && extras->c && extras->c_k)
        fl_scaffold_correct(g, extras->c, extras->c_k, n);
    return fl_adamw_step(opt, cfg, theta, g, err);
}
