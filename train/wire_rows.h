/* wire_rows.h — the travelling rows as they go over the wire: each row at its own block's width.
 *
 * The server and the clients keep rows[n_rows] = E[:, S] at the stream width d (fl/prompt_rows'
 * layout: what aggregation, checkpoints and client states hold). Block 0 of a model whose
 * embeddings are narrower than its stream (USE-lite: d_embed 256 of d 512) reads only the first
 * d0 floats of each of its rows; the rest start as zeros and stay zeros (train_initial_prompt:
 * no gradient, momentum or weight decay ever reaches them). On the wire they are left out:
 *
 *   deep prompts: packed[P][Σ_k 2·w_k] — for each prompt position p, each travelling layer k in
 *                 ascending order, its key row then its value row, each w_k floats, where w_k is
 *                 block k's width (d0 for block 0, d for the others);
 *   input prompt: packed[P][d0].
 *
 * Unpacking writes the zeros back, so a round trip loses nothing and every number computed
 * from the rows is the same as with full-width rows. Pure functions over float buffers. */
#ifndef FEDPEP_TRAIN_WIRE_ROWS_H
#define FEDPEP_TRAIN_WIRE_ROWS_H

#include <stddef.h>

#include "train/client_state.h"

/* Row groups on the wire: one per travelling layer, or 1 for the input prompt. */
int train_wire_groups(const train_layout *lay);
/* Floats of each row of group g (0 <= g < train_wire_groups). */
int train_wire_width(const train_layout *lay, int g);
/* Floats per prompt position on the wire (Σ_k 2·w_k, or d0 for the input prompt). */
size_t train_wire_row_floats(const train_layout *lay);
/* All floats on the wire: P · train_wire_row_floats. */
size_t train_wire_floats(const train_layout *lay);
/* packed[train_wire_floats] ← rows[n_rows], dropping each row's floats beyond its block's width. */
void train_wire_pack(const train_layout *lay, const float *rows, float *packed);
/* rows[n_rows] ← packed, zeros beyond each block's width. */
void train_wire_unpack(const train_layout *lay, const float *packed, float *rows);

#endif
