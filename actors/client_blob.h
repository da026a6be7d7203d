/* client_blob.h — the one blob in which a client's private state travels to the store
 * (SAVE_CLIENT) and back (STATE): its two parts from train_client_save, the state and the AdamW
 * moments, behind a small header. The client role packs and unpacks it; the store keeps it as
 * opaque bytes. */
#ifndef FEDPEP_ACTORS_CLIENT_BLOB_H
#define FEDPEP_ACTORS_CLIENT_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/* Packs a client's two state blobs (train_client_save) into the one SAVE_CLIENT carries:
 * "FPCB" u32 version 1, u64 state length, state, adam (little-endian lengths). *out malloc'ed. */
fp_status client_blob_pack(const uint8_t *state, size_t state_len, const uint8_t *adam,
                           size_t adam_len, uint8_t **out, size_t *out_len, fp_error *err);
/* The two parts of a packed blob, pointing into blob. FP_EFORMAT if it is not one. */
fp_status client_blob_unpack(const uint8_t *blob, size_t len, const uint8_t **state,
                             size_t *state_len, const uint8_t **adam, size_t *adam_len,
                             fp_error *err);

#endif
