/* wire_rows.c — see wire_rows.h. */
#include "train/wire_rows.h"

#include <string.h>

int train_wire_groups(const train_layout *lay)
{
    return lay->input_prompt ? 1 : lay->n_travel;
}

int train_wire_width(const train_layout *lay, int g)
{
    return lay->input_prompt || lay->travel[g] == 0 ? lay->d0 : lay->d;
}

size_t train_wire_row_floats(const train_layout *lay)
{
    if (lay->input_prompt)
        return (size_t)lay->d0;
    size_t n = 0;
    for (int g = 0; g < lay->n_travel; g++)
        n += 2 * (size_t)train_wire_width(lay, g);
    return n;
}

size_t train_wire_floats(const train_layout *lay)
{
    return (size_t)lay->P * train_wire_row_floats(lay);
}

/* Rows of d floats in the full layout, in wire order: P·groups·2 (P for the input prompt). */
static size_t full_rows(const train_layout *lay, int *per_position)
{
    *per_position = lay->input_prompt ? 1 : 2 * lay->n_travel;
    return (size_t)lay->P * (size_t)*per_position;
}

void train_wire_pack(const train_layout *lay, const float *rows, float *packed)
{
    int per;
    size_t n = full_rows(lay, &per);
    for (size_t r = 0; r < n; r++) {
        size_t w = (size_t)train_wire_width(lay, (int)(r % (size_t)per) / 2);
        memcpy(packed, rows + r * (size_t)lay->d, w * sizeof *packed);
        packed += w;
    }
}

void train_wire_unpack(const train_layout *lay, const float *packed, float *rows)
{
    int per;
    size_t n = full_rows(lay, &per);
    for (size_t r = 0; r < n; r++) {
        size_t w = (size_t)train_wire_width(lay, (int)(r % (size_t)per) / 2);
        float *dst = rows + r * (size_t)lay->d;
        memcpy(dst, packed, w * sizeof *packed);
        memset(dst + w, 0, ((size_t)lay->d - w) * sizeof *dst);
        packed += w;
    }
}
