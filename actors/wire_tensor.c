/* wire_tensor.c — see wire_tensor.h. */
#include "actors/wire_tensor.h"

#include "train/wire_rows.h"

uint32_t wire_tensor_shape(const train_layout *lay, uint32_t shape[MSG_TENSOR_MAX_DIMS])
{
    shape[0] = (uint32_t)lay->P;
    shape[1] = (uint32_t)train_wire_row_floats(lay);
    return 2;
}

fp_status wire_tensor_pack(const train_layout *lay, const float *rows, msg_tensor_t *t,
                           msg_u32s_t *widths, fp_error *err)
{
    uint32_t shape[MSG_TENSOR_MAX_DIMS], nd = wire_tensor_shape(lay, shape);
    fp_status st = msg_tensor_alloc(t, nd, shape, err);
    if (!st && widths)
        st = msg_u32s_alloc(widths, (uint32_t)train_wire_groups(lay), err);
    if (st)
        return st;
    for (int g = 0; widths && g < train_wire_groups(lay); g++)
        widths->v[g] = (uint32_t)train_wire_width(lay, g);
    train_wire_pack(lay, rows, t->data);
    return FP_OK;
}

fp_status wire_tensor_check(const train_layout *lay, const char *what, const msg_u32s_t *widths,
                            const msg_tensor_t *t, fp_error *err)
{
    int groups = train_wire_groups(lay);
    if (widths) {
        if (widths->n != (uint32_t)groups)
            return fp_fail(err, FP_EINVAL, "%s.widths: %u widths for %d travelling %s", what,
                           widths->n, groups, lay->input_prompt ? "prompt" : "layers");
        for (int g = 0; g < groups; g++) {
            uint32_t want = (uint32_t)train_wire_width(lay, g);
            if (widths->v[g] != want && lay->input_prompt)
                return fp_fail(err, FP_EINVAL,
                               "%s.widths[0] = %u: the model's input prompt is %u floats wide",
                               what, widths->v[g], want);
            if (widths->v[g] != want)
                return fp_fail(err, FP_EINVAL,
                               "%s.widths[%d] = %u: block %d of the model is %u floats wide", what,
                               g, widths->v[g], lay->travel[g], want);
        }
    }
    uint32_t shape[MSG_TENSOR_MAX_DIMS], nd = wire_tensor_shape(lay, shape);
    if (t->ndim != nd || t->shape[0] != shape[0] || t->shape[1] != shape[1])
        return fp_fail(err, FP_EINVAL,
                       "%s.rows: %u dimensions [%u][%u...], the model needs [%u][%u] (%u prompt "
                       "positions of %u floats: each row at its block's width)",
                       what, t->ndim, t->ndim ? t->shape[0] : 0, t->ndim > 1 ? t->shape[1] : 0,
                       shape[0], shape[1], shape[0], shape[1]);
    return FP_OK;
}
