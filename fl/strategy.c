/* strategy.c — the strategy table and the layer set each strategy sends (see strategy.h). */
#include "strategy.h"

#include <stddef.h>
#include <string.h>

#include "layer_score.h"

static const fl_strategy_desc STRATEGIES[FP_STRATEGY_COUNT] = {
    [FP_STRATEGY_FEDPEPTAO] = {FP_STRATEGY_FEDPEPTAO, FL_TRAVEL_SELECTED, 1, 0, 0,
                               FL_SERVER_MOMENTUM_CV, 1,
                               "scored layers, private rest, control-variate momentum server step"},
    [FP_STRATEGY_FEDPROMPT] = {FP_STRATEGY_FEDPROMPT, FL_TRAVEL_ALL, 0, 0, 0, FL_SERVER_FEDAVG, 0,
                               "FedAvg of the full deep prompt"},
    [FP_STRATEGY_FEDAVG_INPUT] = {FP_STRATEGY_FEDAVG_INPUT, FL_TRAVEL_INPUT, 0, 0, 0,
                                  FL_SERVER_FEDAVG, 0, "FedAvg of an input-only soft prompt"},
    [FP_STRATEGY_FEDPROX] = {FP_STRATEGY_FEDPROX, FL_TRAVEL_ALL, 0, 1, 0, FL_SERVER_FEDAVG, 0,
                             "FedAvg with the proximal term mu/2 |theta - w|^2 on clients"},
    [FP_STRATEGY_SCAFFOLD] = {FP_STRATEGY_SCAFFOLD, FL_TRAVEL_ALL, 0, 0, 1, FL_SERVER_SCAFFOLD, 0,
                              "classic SCAFFOLD: client correction, both variates travel"},
    [FP_STRATEGY_FEDAVGM] = {FP_STRATEGY_FEDAVGM, FL_TRAVEL_ALL, 0, 0, 0, FL_SERVER_AVGM, 0,
                             "server momentum"},
    [FP_STRATEGY_FEDADAM] = {FP_STRATEGY_FEDADAM, FL_TRAVEL_ALL, 0, 0, 0, FL_SERVER_ADAM, 0,
                             "adaptive server optimizer (Adam)"},
    [FP_STRATEGY_FEDYOGI] = {FP_STRATEGY_FEDYOGI, FL_TRAVEL_ALL, 0, 0, 0, FL_SERVER_YOGI, 0,
                             "adaptive server optimizer (Yogi)"},
    [FP_STRATEGY_FEDADAGRAD] = {FP_STRATEGY_FEDADAGRAD, FL_TRAVEL_ALL, 0, 0, 0, FL_SERVER_ADAGRAD,
                                0, "adaptive server optimizer (Adagrad)"},
    [FP_STRATEGY_RANDOM_LAYERS] = {FP_STRATEGY_RANDOM_LAYERS, FL_TRAVEL_RANDOM, 0, 0, 0,
                                   FL_SERVER_MOMENTUM_CV, 1,
                                   "FedPepTAO with a random layer set of the same size (ablation)"},
    /* The personalised FedPrompt baseline: FedPepTAO's travelling layers and private rest, its
     * pooled personalised evaluation, but FedPrompt's plain FedAvg server step. Against it,
     * FedPepTAO's pooled metric differs only by its adaptive optimisation (docs/report.md). */
    [FP_STRATEGY_FEDPROMPT_PERSONAL] = {FP_STRATEGY_FEDPROMPT_PERSONAL, FL_TRAVEL_SELECTED, 1, 0, 0,
                                        FL_SERVER_FEDAVG, 1,
                                        "FedAvg of FedPepTAO's scored layers, the rest private "
                                        "(personalised FedPrompt)"},
};

const fl_strategy_desc *fl_strategy_get(fp_strategy id)
{
    if ((unsigned)id >= FP_STRATEGY_COUNT)
        return NULL;
    return &STRATEGIES[id];
}

fp_status fl_strategy_for(fp_strategy id, const fl_strategy_desc **out, fp_error *err)
{
    *out = fl_strategy_get(id);
    return *out ? FP_OK : fp_fail(err, FP_EINVAL, "strategy %d out of range", (int)id);
}

fl_server_config fl_strategy_server_config(const fl_strategy_desc *d)
{
    return fl_server_config_defaults(d->server);
}

fp_status fl_strategy_layers(const fl_strategy_desc *d, int n_layers, const double *S, double rho,
                             uint64_t seed, int *layers, int *k, fp_error *err)
{
    switch (d->travel) {
    case FL_TRAVEL_SELECTED:
        if (!S)
            return fp_fail(err, FP_EINVAL, "%s: layer scores are required",
                           config_strategy_name(d->id));
        return fl_layer_select(S, n_layers, rho, layers, k, err);
    case FL_TRAVEL_RANDOM: {
        int kk = 0;
        fp_status st = fl_layer_count(rho, n_layers, &kk, err);
        if (!st)
            st = fl_layer_select_random(seed, n_layers, kk, layers, err);
        if (!st)
            *k = kk;
        return st;
    }
    case FL_TRAVEL_ALL:
        for (int l = 0; l < n_layers; l++)
            layers[l] = l;
        *k = n_layers;
        return FP_OK;
    case FL_TRAVEL_INPUT:
        *k = 0;
        return FP_OK;
    }
    return fp_fail(err, FP_EINVAL, "strategy %s: unknown travel mode", config_strategy_name(d->id));
}
