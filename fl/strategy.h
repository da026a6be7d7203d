/* strategy.h — the ten strategies fedpep offers (FedPepTAO §6), each a small descriptor of
 * which pieces it uses, not a copy of the training loop:
 *   - which prompt rows travel: the scored selection, a random selection of the same size,
 *     every layer, or the input-only soft prompt (Lester et al.);
 *   - client-side extras: FedProx's proximal term, SCAFFOLD's correction;
 *   - the server optimizer (server.h);
 *   - whether non-travelling layers stay as private per-client prefixes (personalisation).
 * The coordinator, client and evaluator read the descriptor; nothing here runs a model. */
#ifndef FEDPEP_FL_STRATEGY_H
#define FEDPEP_FL_STRATEGY_H

#include <stdint.h>

#include "common/config.h"
#include "common/status.h"
#include "server.h"

typedef enum fl_travel {
    FL_TRAVEL_SELECTED = 0, /* the K best layers by the §2 score */
    FL_TRAVEL_RANDOM,       /* K random layers (ablation) */
    FL_TRAVEL_ALL,          /* every layer of the deep prompt */
    FL_TRAVEL_INPUT         /* no deep prompt: one [P][d] soft prompt at the input */
} fl_travel;

typedef struct fl_strategy_desc {
    fp_strategy id; /* its name is config_strategy_name(id), the one list of names */
    fl_travel travel;
    int needs_scores;    /* clients compute and send the §2 statistics */
    int prox;            /* FedProx proximal term on the client (μ from the config) */
    int scaffold_client; /* client applies g + c − c_k and uploads Δc_k */
    fl_server_opt server;
    int personalise; /* non-travelling deep-prompt layers stay private per client */
    const char *summary;
} fl_strategy_desc;

/* The descriptor of a strategy (the run configuration's [run] strategy); NULL if id is out of
 * range. */
const fl_strategy_desc *fl_strategy_get(fp_strategy id);
/* The same with a status: FP_EINVAL naming the value when it is out of range. */
fp_status fl_strategy_for(fp_strategy id, const fl_strategy_desc **out, fp_error *err);

/* The server config a strategy runs with: fl_server_config_defaults of its optimizer. */
fl_server_config fl_strategy_server_config(const fl_strategy_desc *d);

/* The deep-prompt layers that travel, ascending, into layers[] (room for L): the K best by
 * S[0..L−1) for FL_TRAVEL_SELECTED (S required), K random ones for FL_TRAVEL_RANDOM (seeded),
 * all L for FL_TRAVEL_ALL, none (k = 0) for FL_TRAVEL_INPUT. K = fl_layer_count(ρ, L). */
fp_status fl_strategy_layers(const fl_strategy_desc *d, int n_layers, const double *S, double rho,
                             uint64_t seed, int *layers, int *k, fp_error *err);

#endif
