/* prompt_rows.h — the rows E[:, S] of a deep prompt E[P][L][2][d] that travel each round, and
 * the personalised-evaluation bookkeeping of FedPepTAO §5 (best and last round).
 * E[:, S] means, for every prompt position p, the key and value rows of every layer l ∈ S;
 * its flat layout is rows[P][K][2][d] with S ascending. Never allocates. */
#ifndef FEDPEP_FL_PROMPT_ROWS_H
#define FEDPEP_FL_PROMPT_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

typedef struct fl_prompt_shape {
    int P, L, d; /* prompt length, layers, width */
} fl_prompt_shape;

/* rows[P][K][2][d] ← E[:, layers]  (what a client uploads). */
void fl_prompt_gather(const fl_prompt_shape *s, const float *E, const int *layers, int k,
                      float *rows);
/* E[:, layers] ← rows[P][K][2][d]  (global rows written over a client's private prompt:
 * every other layer of E is left as it was). */
void fl_prompt_scatter(const fl_prompt_shape *s, float *E, const int *layers, int k,
                       const float *rows);
/* FP_EINVAL unless layers[0..k) are strictly ascending and inside [0, L). */
fp_status fl_prompt_check_layers(const fl_prompt_shape *s, const int *layers, int k, fp_error *err);

/* Pooled confusion counts live in data/metrics.h (fp_confusion: confusion_add per client,
 * confusion_merge to pool, metric_value for the task's metric); fl/ does not duplicate them. */

/* The best and the last value of a round metric. Best is the highest; the earliest round
 * keeps a tie. NaN never becomes best. */
typedef struct fl_round_track {
    int has_best, has_last;
    double best, last;
    int64_t best_round, last_round;
} fl_round_track;

void fl_round_track_init(fl_round_track *t);
void fl_round_track_update(fl_round_track *t, int64_t round, double metric);

#endif
