/* msg_sample.h — valid example messages of every type, for tests, fuzz seeds and docs.
 * Never a source of real protocol traffic. */
#ifndef FEDPEP_TESTS_SUPPORT_MSG_SAMPLE_H
#define FEDPEP_TESTS_SUPPORT_MSG_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>

#include "messages/protocol.h"

/* Fills m (which must not own anything) with a valid message of the given type whose values
 * derive from seed. full: every optional field present (tensors, blobs, texts, control
 * variates); otherwise the minimal form with optional fields absent and run empty. The
 * result passes msg_validate. On failure m is left cleared. */
fp_status msg_sample(msg_t *m, msg_type type, uint64_t seed, bool full, fp_error *err);

#endif
