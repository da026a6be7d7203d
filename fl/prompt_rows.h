/* prompt_rows.h — the rows E[:, S] of a deep prompt E[P][L][2][d] that travel each round, and
 * the personalised-evaluation bookkeeping of FedPepTAO §5 (pooled confusion counts, best and
 * last round). E[:, S] means, for every prompt position p, the key and value rows of every
 * layer l ∈ S; its flat layout is rows[P][K][2][d] with S ascending. Never allocates. */
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
fp_status fl_prompt_check_layers(const fl_prompt_shape *s, const int *layers, int k,
                                 fp_error *err);

/* Confusion counts pooled over every client's evaluation shard: counts[truth][pred]. */
#define FL_MAX_CLASSES 16
typedef struct fl_confusion {
    int n_classes;
    int64_t counts[FL_MAX_CLASSES][FL_MAX_CLASSES];
} fl_confusion;

void fl_confusion_init(fl_confusion *c, int n_classes);
/* FP_EINVAL (counts untouched) if truth or pred is outside [0, n_classes). */
fp_status fl_confusion_add(fl_confusion *c, int truth, int pred, fp_error *err);
/* c += other (same n_classes, else FP_EINVAL). */
fp_status fl_confusion_merge(fl_confusion *c, const fl_confusion *other, fp_error *err);
int64_t fl_confusion_total(const fl_confusion *c);
/* Correct / total; 0 when empty. */
double fl_confusion_accuracy(const fl_confusion *c);

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
