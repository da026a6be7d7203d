/* wire_tensor.h — the travelling rows as message tensors, each row at its own block's width
 * (train/wire_rows.h: the layout), and the model-aware check of rows that arrive. TRAIN and
 * EVAL_REQUEST carry `widths` (one per travelling layer, or one for the input prompt) beside
 * the packed `rows` [P][Σ_k 2·w_k]; UPDATE's rows have the shape its TRAIN sent. A receiver
 * checks both against its own model before it touches the floats, and refuses a message whose
 * widths or shape differ with an error that names the block. */
#ifndef FEDPEP_ACTORS_WIRE_TENSOR_H
#define FEDPEP_ACTORS_WIRE_TENSOR_H

#include <stdint.h>

#include "common/status.h"
#include "messages/protocol.h"
#include "train/client_state.h"

/* The packed tensor's shape: [P][train_wire_row_floats]. Returns its ndim (2). */
uint32_t wire_tensor_shape(const train_layout *lay, uint32_t shape[MSG_TENSOR_MAX_DIMS]);

/* t ← rows[n_rows] packed (t is freed first); widths, unless NULL, ← each group's width. */
fp_status wire_tensor_pack(const train_layout *lay, const float *rows, msg_tensor_t *t,
                           msg_u32s_t *widths, fp_error *err);

/* FP_OK when widths (NULL: the message carries none, as UPDATE) gives each group the width
 * its block has in the model, and t has exactly the packed shape. FP_EINVAL otherwise, err
 * naming `what` (e.g. "TRAIN") and the first difference. */
fp_status wire_tensor_check(const train_layout *lay, const char *what, const msg_u32s_t *widths,
                            const msg_tensor_t *t, fp_error *err);

#endif
