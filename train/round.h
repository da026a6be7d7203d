/* round.h — the round engine: one federated round from sampling to the record of what happened,
 * driven alike by the coordinator (actors/coordinator_round.c, which adds the messages) and by
 * simulate (simulate/simulate.c, which trains the clients in-process). Every decision of a round
 * lives here or in round_rules.h: who each attempt asks, which answers are in time (the first K
 * updates; any later one is late), when an attempt is short and what follows (retry, skip,
 * fail), the aggregation over the updates in the order the clients were first asked, and what
 * the round records (counts, the n_k-weighted training loss, the slowest client, the client
 * rows with only what happened). A driver only reports what each asked client did.
 *
 * Lifecycle of one round: train_round_begin; then per attempt train_round_ask (the slots to
 * ask), train_round_answer / train_round_no_answer for each, train_round_close (the decision:
 * on RETRY call train_round_ask again); then train_round_aggregate when the decision was
 * AGGREGATE, and train_round_record. Nothing here sleeps, talks, reads a clock or stores. */
#ifndef FEDPEP_TRAIN_ROUND_H
#define FEDPEP_TRAIN_ROUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "data/metrics.h"
#include "fl/server.h"
#include "train/round_rules.h"

#define TRAIN_ROUND_REASON_CAP 512

/* What an asked client did in the round. */
typedef enum train_slot_status {
    TRAIN_SLOT_PENDING = 0, /* asked in the open attempt, no answer yet */
    TRAIN_SLOT_OK,          /* its update is in (one of the first K) */
    TRAIN_SLOT_DROPPED,     /* did not take part: refused, unreachable, died, no data */
    TRAIN_SLOT_LATE,        /* answered after the attempt closed or after K updates were in */
    TRAIN_SLOT_ERROR,       /* answered with something unusable */
} train_slot_status;

/* One client asked in the round (in any attempt; a client asked again keeps its slot). */
typedef struct train_round_slot {
    int client;
    int attempt; /* the attempt that last asked it */
    train_slot_status status;
    float *rows, *delta_c; /* the update (owned) when OK */
    int64_t n_k, steps;
    double loss;
    int64_t ms;         /* what the driver measured for the answer (wall or compute) */
    int64_t compute_ms; /* the client's own compute time */
    int64_t cpu_ms;     /* CPU time of its local round; -1 = not measured */
} train_round_slot;

/* A client row as recorded: -1 / NaN where nothing happened (only an OK row has values). */
typedef struct train_round_client {
    int client;
    train_slot_status status;
    int64_t n_k, steps, ms;
    double loss;
} train_round_client;

/* The scores of one evaluation; NaN = not measured. */
typedef struct train_round_scores {
    double metric, loss, accuracy, f1, mcc;
} train_round_scores;

/* What a round records (the rounds row). NaN = did not happen (no update, no evaluation). */
typedef struct train_round_record {
    uint32_t round;
    bool ok;                               /* aggregated; false = failed (skipped) */
    int sampled, completed, dropped, late; /* sampled = every client asked, all attempts */
    int retries;                           /* attempts before the last */
    double train_loss;                     /* n_k-weighted mean over the updates */
    bool evaluated;                        /* the eval_* fields mean something */
    double eval_metric, eval_loss, eval_accuracy, eval_f1, eval_mcc;
    int64_t bytes_down, bytes_up, wall_ms, slowest_ms;
    /* The updates' CPU time, summed and largest: -1 unless every update's was measured. */
    int64_t cpu_ms, cpu_max_ms;
    /* The global model (the rows over the initial prompt) on the whole evaluation split, beside
     * eval_*, which pool every client's own prompt on its own shard (FEDPEPTAO.md §5). */
    bool global_evaluated;
    train_round_scores global;
    char reason[TRAIN_ROUND_REASON_CAP]; /* why a short round was skipped or failed; "" */
    const train_round_client *clients;   /* [sampled], borrowed from the engine */
} train_round_record;

typedef struct train_round train_round_t;

/* An engine for the rounds of one run over server's N clients (server and cfg borrowed; rows of
 * server->dim floats, SCAFFOLD control deltas when scaffold). NULL with err on failure. */
train_round_t *train_round_new(const fedpep_config *cfg, fl_server_t *server, bool scaffold,
                               fp_error *err);
void train_round_destroy(train_round_t **self_p);

/* Starts round `round`: its order of asking, no slot, attempt 0. */
fp_status train_round_begin(train_round_t *self, uint32_t round, fp_error *err);

/* The slots the open attempt asks, into slots[] (room for N): new slots for clients not asked
 * yet, the same slot for one asked again, each PENDING. Returns how many. */
int train_round_ask(train_round_t *self, int *slots);

/* Slot i answered with an update (rows and delta_c: taken, *rows_p and *delta_p set to NULL;
 * delta_c only with scaffold). It is OK when it answers the open attempt and fewer than K
 * updates are in, else LATE (and freed). Returns the status given. */
train_slot_status train_round_answer(train_round_t *self, int i, float **rows_p, float **delta_p,
                                     int64_t n_k, int64_t steps, double loss, int64_t ms,
                                     int64_t compute_ms);

/* The CPU time slot i's client spent on its local round (after its answer was OK; -1 = not
 * measured, e.g. its state was restored rather than trained here). */
void train_round_set_cpu(train_round_t *self, int i, int64_t cpu_ms);

/* Slot i will not answer this attempt: DROPPED or ERROR (a pending slot only). */
void train_round_no_answer(train_round_t *self, int i, train_slot_status status);

/* Slot i, dropped in the open attempt (its client was gone), is asked again: PENDING. Returns
 * whether it was reopened (not for a slot of an earlier attempt or one that answered). */
bool train_round_reopen(train_round_t *self, int i);

/* Whether every slot of the open attempt has answered, or K updates are in. */
bool train_round_attempt_done(const train_round_t *self);

/* Closes the open attempt (PENDING slots become LATE) and decides: AGGREGATE, RETRY (the next
 * attempt is open: call train_round_ask), SKIP or FAIL (why in train_round_reason_text). */
train_round_next train_round_close(train_round_t *self);

/* fl_server_round over the OK updates, in the order their clients were first asked. */
fp_status train_round_aggregate(train_round_t *self, const fl_server_config *scfg, fp_error *err);

/* The record of the closed round. bytes, wall and evaluation are the driver's to fill in:
 * train_round_record_eval sets the evaluation fields from the pooled confusion matrix. */
void train_round_record_make(const train_round_t *self, train_round_record *rec);
void train_round_record_eval(train_round_record *rec, fp_metric metric, const fp_confusion *cm,
                             double loss_sum);
/* The same for the global model's evaluation on the whole split (the global_* fields). */
void train_round_record_global(train_round_record *rec, fp_metric metric, const fp_confusion *cm,
                               double loss_sum);

/* Reading the engine. */
uint32_t train_round_number(const train_round_t *self);
int train_round_attempt(const train_round_t *self);
int train_round_slot_count(const train_round_t *self);
int train_round_updates(const train_round_t *self);
const train_round_slot *train_round_slot_at(const train_round_t *self, int i);
/* The slot of client k this round, -1 if not asked. */
int train_round_slot_of(const train_round_t *self, int k);
/* Why the last close did not aggregate ("" when it did). */
const char *train_round_reason_text(const train_round_t *self);

#endif
