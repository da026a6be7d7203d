/* prompt_rows.c — E[:, S] gather/scatter and best/last round tracking. */
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

fp_status fl_prompt_check_layers(const fl_prompt_shape *s, const int *layers, int k, fp_error *err)
{
    for (int j = 0; j < k; j++)
        if (layers[j] < 0 || layers[j] >= s->L || (j > 0 && layers[j] <= layers[j - 1]))
            return fp_fail(err, FP_EINVAL, "prompt layers: entry %d (%d) not ascending in [0, %d)",
                           j, layers[j], s->L);
    return FP_OK;
}

void fl_round_track_init(fl_round_track *t)
{
    memset(t, 0, sizeof *t);
}

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
