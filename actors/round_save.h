/* round_save.h — a round's record (train/round.h) as the SAVE message carries it and as the
 * store commits it: the one mapping between the engine's record, the wire and the database.
 * The coordinator fills its SAVE with round_save_fill; the store turns a SAVE into rows with
 * round_save_rows; simulate does both in one process, so a round is stored the same way
 * whichever driver ran it. Must never decide anything about the round itself. */
#ifndef FEDPEP_ACTORS_ROUND_SAVE_H
#define FEDPEP_ACTORS_ROUND_SAVE_H

#include "messages/protocol.h"
#include "storage/store_db.h"
#include "train/round.h"

/* The round fields of s from rec: counts, losses, evaluation (absent on the wire when rec has
 * none), bytes, times, retries, status, the reason of a failed round and one client row per
 * asked client. rows, server_state and rng are the caller's. */
fp_status round_save_fill(msg_save_t *s, const train_round_record *rec, fp_error *err);

/* The rounds row and the client_rounds rows (*clients: malloc'd, s->clients.n of them) of the
 * SAVE message m (round number in m->round). */
fp_status round_save_rows(const msg_t *m, store_round *round, store_client_round **clients,
                          fp_error *err);

#endif
