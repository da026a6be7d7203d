/* run_setup.c — see run_setup.h. Moved out of simulate.c unchanged so that the actor roles
 * reuse it: any change here changes simulate and the distributed run together. */
#include "train/run_setup.h"

#include <stdlib.h>

#include "fl/hvp.h"
#include "fl/slq.h"
#include "train/layer_stats.h"

fp_status train_partition_make(const fedpep_config *cfg, const int *labels, int n, int n_classes,
                               fl_partition_t **out, fp_error *err)
{
    int N = cfg->federation.clients;
    uint64_t seed = (uint64_t)cfg->run.seed;
    switch (cfg->data.partition) {
    case FP_PARTITION_IID:
        return fl_partition_iid(n, N, seed, out, err);
    case FP_PARTITION_SHARDS:
        return fl_partition_shards(labels, n, n_classes, N, cfg->data.shards_per_client, seed, out,
                                   err);
    default: {
        fl_dirichlet_params p = {cfg->data.label_alpha, cfg->data.size_alpha, seed};
        return fl_partition_dirichlet(labels, n, n_classes, N, &p, out, err);
    }
    }
}

fl_server_config train_server_config(const fedpep_config *cfg, const fl_strategy_desc *d)
{
    fl_server_config c = fl_strategy_server_config(d);
    c.mu = cfg->server.momentum;
    c.eta_s0 = cfg->server.lr;
    c.eta_s_decay = cfg->server.lr_decay;
    c.eta_s_min = cfg->server.lr_min;
    c.client_lr = cfg->client.lr;
    c.variant = (fl_server_step_variant)cfg->server.step;
    c.beta1 = cfg->server.beta1;
    c.beta2 = cfg->server.beta2;
    c.tau = cfg->server.tau;
    c.no_control_variates = !cfg->server.control_variates;
    if (cfg->server.baseline_lr > 0)
        c.server_lr = cfg->server.baseline_lr;
    return c;
}

fl_strategy_desc train_travel_desc(const fedpep_config *cfg, const fl_strategy_desc *d)
{
    fl_strategy_desc desc = *d;
    if (desc.travel == FL_TRAVEL_SELECTED && cfg->federation.layer_selection == FP_LAYERS_RANDOM)
        desc.travel = FL_TRAVEL_RANDOM;
    if (desc.travel == FL_TRAVEL_SELECTED && cfg->federation.layer_selection == FP_LAYERS_ALL)
        desc.travel = FL_TRAVEL_ALL;
    return desc;
}

bool train_needs_scores(const fedpep_config *cfg, const fl_strategy_desc *d)
{
    fl_strategy_desc desc = train_travel_desc(cfg, d);
    return desc.travel == FL_TRAVEL_SELECTED || desc.needs_scores;
}

fp_status train_pick_layers(const fedpep_config *cfg, const fl_strategy_desc *d, int L,
                            const double *S, double rho, int *layers, int *k, bool *personalise,
                            bool *input, fp_error *err)
{
    fl_strategy_desc desc = train_travel_desc(cfg, d);
    *personalise = desc.personalise && cfg->federation.personalize;
    *input = desc.travel == FL_TRAVEL_INPUT;
    if (*input) {
        *k = 0;
        *personalise = false;
        return FP_OK;
    }
    return fl_strategy_layers(&desc, L, S, rho, (uint64_t)cfg->run.seed, layers, k, err);
}

fp_status train_run_layout(train_layout *lay, const fedpep_config *cfg, const model_config *mc,
                           int P, const int *layers, int k, bool personalise, bool input,
                           int head_classes, const float *fixed_head, fp_error *err)
{
    (void)cfg;
    fp_status st = input ? train_layout_init_input(lay, mc, P, head_classes, err)
                         : train_layout_init(lay, mc, P, layers, k, personalise, head_classes, err);
    if (!st && fixed_head && head_classes)
        st = train_layout_fix_head(lay, fixed_head, err);
    return st;
}

fp_status train_selection_layout(train_layout *lay, const fedpep_config *cfg,
                                 const fl_strategy_desc *d, const model_config *mc, int P,
                                 const uint32_t *layers, int n, int head_classes,
                                 const float *fixed_head, fp_error *err)
{
    int L = mc->n_layers, travel[TRAIN_MAX_LAYERS];
    if (n < 1 || n > L || L > TRAIN_MAX_LAYERS)
        return fp_fail(err, FP_EINVAL, "a selection of %d layers for a model of %d", n, L);
    for (int i = 0; i < n; i++) {
        if (layers[i] >= (uint32_t)L)
            return fp_fail(err, FP_EINVAL, "selected layer %u: the model has %d", layers[i], L);
        travel[i] = (int)layers[i];
    }
    fl_strategy_desc desc = train_travel_desc(cfg, d);
    bool input = desc.travel == FL_TRAVEL_INPUT;
    bool personalise = !input && desc.personalise && cfg->federation.personalize;
    return train_run_layout(lay, cfg, mc, P, travel, input ? 0 : n, personalise, input,
                            head_classes, fixed_head, err);
}

fp_status train_scoring_prompt(const fedpep_config *cfg, const model_config *mc, int P,
                               train_layout *lay, float **E0, fp_error *err)
{
    *E0 = NULL;
    int all[TRAIN_MAX_LAYERS];
    for (int l = 0; l < mc->n_layers && l < TRAIN_MAX_LAYERS; l++)
        all[l] = l;
    fp_status st = train_layout_init(lay, mc, P, all, mc->n_layers, false, 0, err);
    if (st)
        return st;
    *E0 = malloc(lay->n_prompt * sizeof(float));
    if (!*E0)
        return fp_fail(err, FP_ENOMEM, "scoring prompt: out of memory");
    train_initial_prompt(lay, (uint64_t)cfg->run.seed, *E0, NULL);
    return FP_OK;
}

/* fedpep estimates ρ at the initial prompt rather than after hessian_rounds FedAvg rounds
 * (documented in docs/train.md); a search without plateau keeps the caller's ρ. */
fp_status train_hessian_rho(const fedpep_config *cfg, const train_model_t *m,
                            const train_layout *lay, const train_set_t *train,
                            const fl_partition_t *ptrain, const float *E0, const float *fixed_head,
                            double *rho, fp_error *err)
{
    int n = fl_partition_size(ptrain, 0);
    n = n > cfg->federation.score_batch ? cfg->federation.score_batch : n;
    size_t np = lay->n_prompt;
    /* The run's initial linear head (same stream as every client's), if there is one. */
    train_layout with_head = *lay;
    with_head.head_classes = train->linear_head ? train->n_classes : 0;
    with_head.fixed_head = with_head.head_classes ? fixed_head : NULL;
    float *scratch = malloc(3 * np * sizeof(float));
    float *head = malloc(((size_t)with_head.head_classes * (lay->d + 1) + 1) * sizeof(float));
    if (!scratch || !head) {
        free(scratch);
        free(head);
        return fp_fail(err, FP_ENOMEM, "hessian: out of memory");
    }
    train_initial_prompt(&with_head, (uint64_t)cfg->run.seed, scratch, head);
    train_grad_t *g =
        train_grad_new(m, lay->P, train, ptrain->index + ptrain->offset[0], n, head, err);
    if (!g) {
        free(scratch);
        free(head);
        return err ? err->status : FP_ENOMEM;
    }
    fl_fd_hvp hvp = {train_grad_fn, g, np, E0, 1e-3, scratch};
    fl_slq_result r = {0};
    fp_status st = fl_slq_run(fl_fd_hvp_apply, &hvp, np, cfg->federation.lanczos_steps, 1,
                              (uint64_t)cfg->run.seed, &r, err);
    if (!st) {
        fl_ratio_config rc = fl_ratio_defaults();
        double got;
        if (fl_slq_ratio(&r, &rc, &got, NULL) == FP_OK)
            *rho = got;
    }
    fl_slq_result_free(&r);
    free(scratch);
    free(head);
    train_grad_destroy(&g);
    return st;
}
