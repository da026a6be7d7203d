/* evaluator.h — the evaluator role (`fedpep evaluator`): the run's layer selection (FEDPEPTAO.md
 * §2) from the clients' statistics.
 *
 * Sequence: the coordinator sends SCORE_REQUEST to "evaluator" (meaning: give me the run's
 * selection); the evaluator sends SCORE_REQUEST {batch = score_batch, seed = run seed} to every
 * client.0 .. client.N-1, combines the SCORE_REPLYs by n_k (fl_layer_scores_combine), picks the
 * travelling layers per strategy (train_pick_layers: scored top-K, random, all), sends SELECTION
 * to the store and answers the coordinator with the same SELECTION. A client that is not
 * registered yet (ERROR ENOTFOUND from the broker) is asked again every second; one that has
 * not answered after [federation] round_deadline_s weighs 0, and so does one whose reply is
 * out of bounds (update_check.h: n other than its n_k, a statistic outside its range). Strategies that score nothing
 * answer at once. The selection is computed once per process and repeated to later requests.
 * layer_selection = hessian: evaluator_new loads the task data and partition like a client and
 * estimates ρ with train_hessian_rho, exactly as simulate does, then selects K = ρ·L layers by
 * the clients' combined scores as usual (so the selection equals simulate's). The personalised
 * evaluation is pooled by the coordinator; the global model's, on the whole evaluation split,
 * is done here when the coordinator sends an EVAL_REQUEST (evaluator_global.h).
 * This role must never abort on a message. */
#ifndef FEDPEP_ACTORS_EVALUATOR_H
#define FEDPEP_ACTORS_EVALUATOR_H

#include "actors/actor.h"
#include "common/config.h"

typedef struct evaluator evaluator_t;

typedef struct evaluator_options {
    const fedpep_config *cfg; /* copied */
    const char *fallback_vocab, *fallback_merges;
} evaluator_options_t;

evaluator_t *evaluator_new(const evaluator_options_t *o, fp_error *err);
void evaluator_destroy(evaluator_t **self_p);
const actor_role_t *evaluator_actor(void);

/* The selection from per-client statistics s[N][L-1] and weights n[N] (n_k = 0: not counted):
 * *k layers ascending into layers[], combined scores into S[L] (S[L-1] = NaN). Pure. */
fp_status evaluator_select(const fedpep_config *cfg, int L, const double *s, const int64_t *n,
                           int *layers, int *k, double *S, fp_error *err);

/* evaluator_select with travelling fraction rho instead of [federation] layer_fraction. */
fp_status evaluator_select_rho(const fedpep_config *cfg, int L, const double *s,
                               const int64_t *n, double rho, int *layers, int *k, double *S,
                               fp_error *err);

/* The fraction the evaluator selects with: layer_fraction, or its Hessian estimate. */
double evaluator_rho(const evaluator_t *self);

/* SCORE_REPLYs refused so far: outside what the client's shard gives (score_reply_check, a
 * message in the log for each); such a client weighs 0 in the selection. */
int evaluator_refused(const evaluator_t *self);

#endif
