/* prompt_rows.c — E[:, S] gather/scatter, pooled confusion counts, best/last tracking. */
#include "prompt_rows.h"

#include <math.h>
#include <string.h>

/* Offset of E[p][l][0][0] in E[P][L][2][d]. */
static size_t e_offset(const fl_prompt_shape *s, int p, int l)
{
    return ((size_t)p * s->L + (size_t)l) * 2 * (size_t)s->d;
}

void fl_prompt_gather(const fl_prompt_shape *s, const float *E, const int *layers, int k,
                      float *rows)
{
    size_t row = 2 * (size_t)s->d;
    for (int p = 0; p < s->P; p++)
        for (int j = 0; j < k; j++)
            memcpy(rows + ((size_t)p * k + j) * row, E + e_offset(s, p, layers[j]),
                   row * sizeof *rows);
}

void fl_prompt_scatter(const fl_prompt_shape *s, float *E, const int *layers, int k,
                       const float *rows)
{
    size_t row = 2 * (size_t)s->d;
    for (int p = 0; p < s->P; p++)
        for (int j = 0; j < k; j++)
            memcpy(E + e_offset(s, p, layers[j]), rows + ((size_t)p * k + j) * row,
                   row * sizeof *rows);
}

fp_status fl_prompt_check_layers(const fl_prompt_shape *s, const int *layers, int k,
                                 fp_error *err)
{
    for (int j = 0; j < k; j++)
        if (layers[j] < 0 || layers[j] >= s->L || (j > 0 && layers[j] <= layers[j - 1]))
            return fp_fail(err, FP_EINVAL, "prompt layers: entry %d (%d) not ascending in "
                           "[0, %d)", j, layers[j], s->L);
    return FP_OK;
}

void fl_confusion_init(fl_confusion *c, int n_classes)
{
    memset(c, 0, sizeof *c);
    c->n_classes = n_classes;
}

fp_status fl_confusion_add(fl_confusion *c, int truth, int pred, fp_error *err)
{
    if (truth < 0 || truth >= c->n_classes || pred < 0 || pred >= c->n_classes)
        return fp_fail(err, FP_EINVAL, "confusion: (truth %d, pred %d) outside %d classes",
                       truth, pred, c->n_classes);
    c->counts[truth][pred]++;
    return FP_OK;
}

fp_status fl_confusion_merge(fl_confusion *c, const fl_confusion *other, fp_error *err)
{
    if (c->n_classes != other->n_classes)
        return fp_fail(err, FP_EINVAL, "confusion: merging %d classes into %d",
                       other->n_classes, c->n_classes);
    for (int i = 0; i < c->n_classes; i++)
        for (int j = 0; j < c->n_classes; j++)
            c->counts[i][j] += other->counts[i][j];
    return FP_OK;
}

int64_t fl_confusion_total(const fl_confusion *c)
{
    int64_t t = 0;
    for (int i = 0; i < c->n_classes; i++)
        for (int j = 0; j < c->n_classes; j++)
            t += c->counts[i][j];
    return t;
}

double fl_confusion_accuracy(const fl_confusion *c)
{
    int64_t total = fl_confusion_total(c), right = 0;
    for (int i = 0; i < c->n_classes; i++)
        right += c->counts[i][i];
    return total ? (double)right / (double)total : 0.0;
}

void fl_round_track_init(fl_round_track *t) { memset(t, 0, sizeof *t); }

void fl_round_track_update(fl_round_track *t, int64_t round, double metric)
{
    t->has_last = 1;
    t->last = metric;
    t->last_round = round;
    if (!isnan(metric) && (!t->has_best || metric > t->best)) {
        t->has_best = 1;
        t->best = metric;
        t->best_round = round;
    }
}
