/* client_blob.c — see client_blob.h. A blob comes back from the store's file, so unpacking
 * checks the header and every length against the bytes present before pointing into them. */
#include "actors/client_blob.h"

#include <stdlib.h>
#include <string.h>

#include "common/little_endian.h"

#define BLOB_MAGIC "FPCB"
#define BLOB_HEADER 16 /* magic, u32 version, u64 state length */

fp_status client_blob_pack(const uint8_t *state, size_t state_len, const uint8_t *adam,
                           size_t adam_len, uint8_t **out, size_t *out_len, fp_error *err)
{
    *out_len = BLOB_HEADER + state_len + adam_len;
    *out = malloc(*out_len);
    if (!*out)
        return fp_fail(err, FP_ENOMEM, "client state: out of memory");
    memcpy(*out, BLOB_MAGIC, 4);
    (*out)[4] = 1, (*out)[5] = (*out)[6] = (*out)[7] = 0;
    le_put_u64(*out + 8, state_len);
    memcpy(*out + BLOB_HEADER, state, state_len);
    if (adam_len)
        memcpy(*out + BLOB_HEADER + state_len, adam, adam_len);
    return FP_OK;
}

fp_status client_blob_unpack(const uint8_t *blob, size_t len, const uint8_t **state,
                             size_t *state_len, const uint8_t **adam, size_t *adam_len,
                             fp_error *err)
{
    if (len < BLOB_HEADER || memcmp(blob, BLOB_MAGIC, 4) || blob[4] != 1 || blob[5] || blob[6] ||
        blob[7])
        return fp_fail(err, FP_EFORMAT, "client state: not an FPCB v1 blob");
    uint64_t n = le_get_u64(blob + 8);
    if (n > len - BLOB_HEADER)
        return fp_fail(err, FP_EFORMAT, "client state: state length %llu beyond the blob",
                       (unsigned long long)n);
    *state = blob + BLOB_HEADER;
    *state_len = (size_t)n;
    *adam = blob + BLOB_HEADER + n;
    *adam_len = len - BLOB_HEADER - (size_t)n;
    return FP_OK;
}
