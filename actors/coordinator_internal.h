/* coordinator_internal.h — private to actors/coordinator*.c: the coordinator's state (struct
 * coordinator, its phases and per-client slots) and the functions its files share.
 * coordinator.c: construction and the actor callbacks; coordinator_round.c: the round and its
 * evaluation; coordinator_save.c: the requests it waits for (RUN, LOAD, SCORE_REQUEST, SAVE),
 * resume and commit. Must never be included anywhere else: the public API is coordinator.h. */
#ifndef FEDPEP_ACTORS_COORDINATOR_INTERNAL_H
#define FEDPEP_ACTORS_COORDINATOR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "actors/coordinator.h"
#include "actors/update_check.h"
#include "data/metrics.h"
#include "data/task.h"
#include "fl/server.h"
#include "fl/strategy.h"
#include "model/model_config.h"
#include "train/client_state.h"
#include "train/round.h"

#define RESEND_MS 3000
/* How long the final RUN may stay unacknowledged before the coordinator exits anyway. */
#define END_WAIT_MS 20000
#define REASON_CAP 512

typedef enum phase {
    PH_RUN,     /* RUN sent, waiting for SAVED */
    PH_LOAD,    /* LOAD sent, waiting for STATE */
    PH_SELECT,  /* SCORE_REQUEST sent to the evaluator, waiting for SELECTION */
    PH_CLIENTS, /* waiting for the clients to register */
    PH_TRAIN,   /* a round's TRAINs are out */
    PH_EVAL,    /* EVAL_REQUESTs are out */
    PH_SAVE,    /* SAVE sent, waiting for SAVED */
    PH_END,     /* final RUN sent, waiting for SAVED */
    PH_STOPPED
} phase_t;

/* The messaging side of the round engine's slot i (train/round.h holds what it did). */
typedef struct peer_slot {
    char id[MSG_ID_CAP];
    bool gone; /* dropped as dead or unknown: asked again if it registers during the attempt */
    uint64_t seq;
    int64_t sent;
} peer_slot_t;

typedef struct eval_slot {
    bool pending;
    bool gone; /* dead or unknown: asked again if it registers during the evaluation */
    uint64_t seq;
    double loss_sum; /* its accepted reply's loss x n (0 without one): pooled in client order */
} eval_slot_t;

struct coordinator {
    fedpep_config cfg;
    char *config_text;
    FILE *log;
    const fl_strategy_desc *strat;
    fl_server_config scfg;
    const fp_task *task;
    model_config mc;
    bool decoder;
    int N, K, P, head;
    train_layout lay;
    msg_u32s_t layers; /* the run's selection (as TRAIN carries it) */
    fl_server_t *server;
    phase_t phase;
    msg_t out; /* the request being waited for (RUN, LOAD, SCORE_REQUEST, SAVE) */
    const char *out_to;
    int64_t out_sent;
    uint64_t out_first_seq, out_last_seq; /* every send of `out` so far (0: none yet) */
    int64_t phase_started;
    /* the round */
    uint32_t round, first_round;
    int rounds_done;
    train_round_t *rnd;   /* the round engine: who is asked, what they did, the decisions */
    peer_slot_t *peers;   /* [N] the messaging side of each engine slot */
    shard_sizes_t shards; /* each client's shards in the seeded partition (update_check.h) */
    int *ask;             /* [N] scratch: the slots an attempt asks */
    int64_t round_started, deadline;
    /* When the round's phases ended (actor_now_ms; 0 = not reached): the last attempt closed,
     * the aggregate was done, the evaluation began and ended, the SAVE went out. */
    int64_t t_closed, t_aggregated, t_eval_start, t_eval_end, t_save_sent;
    uint64_t bytes_down, bytes_up;
    /* evaluation */
    eval_slot_t *evals; /* [N] */
    int evals_pending;
    fp_confusion cm;
    bool evaluated;
    double metric;
    /* the global model on the whole evaluation split, asked of the evaluator (EVAL_REQUEST to
     * "evaluator", evaluator_global.h): sent again every RESEND_MS while pending; given up for
     * the round when the evaluator refuses or is unknown (global_* then stay NULL) */
    bool global_pending, global_evaluated;
    uint64_t global_first_seq, global_seq; /* the sends of this round's request */
    int64_t global_sent;
    fp_confusion global_cm;
    double global_loss_sum;
    msg_run_status final_status;
    char fail_reason[REASON_CAP]; /* why the run failed ("" while it has not) */
    int64_t end_deadline;         /* PH_END: exit even without SAVED after this */
    int stop_before_save;
};

/* ---- coordinator_round.c ---- */

int coordinator_count_clients(const actor_t *actor);
/* The next round, or RUN {done} after the last; before this process's first round it waits
 * (PH_CLIENTS) for all N clients to register. */
fp_status coordinator_next_round_or_end(coordinator_t *self, actor_t *actor, fp_error *err);
/* TRAIN to every pending slot, or only to client `only`. */
fp_status coordinator_send_train(coordinator_t *self, actor_t *actor, const char *only,
                                 fp_error *err);
fp_status coordinator_start_round(coordinator_t *self, actor_t *actor, fp_error *err);
/* The round's TRAIN phase is over: aggregate, or handle a short round. */
fp_status coordinator_close_round(coordinator_t *self, actor_t *actor, fp_error *err);
fp_status coordinator_on_update(coordinator_t *self, const msg_t *m, size_t bytes, msg_t *owned);
/* A client registered (first time, or a restarted process): one the current attempt or the
 * evaluation is waiting for, or lost, is asked again (it answers from its saved state if it
 * had trained the round). */
fp_status coordinator_client_back(coordinator_t *self, actor_t *actor, const char *id,
                                  fp_error *err);
/* A sampled client that refused (ERROR), is unknown to the broker (gone), or died (gone). */
void coordinator_drop_client(coordinator_t *self, const char *id, msg_client_status status,
                             bool gone);
/* EVAL_REQUEST {layers, w_{t+1}} to client k; pending on success. */
fp_status coordinator_send_eval(coordinator_t *self, actor_t *actor, int k, fp_error *err);
fp_status coordinator_on_eval_reply(coordinator_t *self, actor_t *actor, const msg_t *m,
                                    fp_error *err);
/* EVAL_REQUEST {layers, w_{t+1}} to the evaluator for the global model (again). */
void coordinator_send_global_eval(coordinator_t *self, actor_t *actor);
/* The evaluator refused the global evaluation, or the broker does not know it (re = the
 * refused message's seq): the round goes without it. */
void coordinator_global_refused(coordinator_t *self, uint64_t re);
/* Whether the evaluation phase still waits for a client's or the evaluator's answer. */
bool coordinator_eval_waiting(const coordinator_t *self);

/* ---- coordinator_save.c ---- */

/* Sends `out` (again); a failed send clears its seq and the tick sends it again. */
void coordinator_send_out(coordinator_t *self, actor_t *actor);
/* Whether re answers one of the sends of `out`: the store answers every copy of a request it
 * was sent again (a busy database may hold each one seconds), and any of its answers is the
 * answer to the request. */
bool coordinator_answers_out(const coordinator_t *self, uint64_t re);
fp_status coordinator_send_run(coordinator_t *self, actor_t *actor, msg_run_status status,
                               phase_t phase, fp_error *err);
fp_status coordinator_stop_run(coordinator_t *self, actor_t *actor, msg_run_status status,
                               fp_error *err);
/* The run failed for `reason`: RUN {failed, reason} to the store, then exit 1. Called again
 * while that RUN is out (the store cannot record it): exits 1 at once, saying so. */
fp_status coordinator_fail_run(coordinator_t *self, actor_t *actor, const char *reason,
                               fp_error *err);
/* Stops the actor (exit 1 for a failed run), printing the failure's one "error:" line. */
void coordinator_finish(coordinator_t *self, actor_t *actor, const char *unrecorded);
/* The rows tensor's shape: [P][K][2][d] for deep prompts, [P][d] for the input prompt. */
uint32_t coordinator_rows_shape(const coordinator_t *self, uint32_t shape[4]);
fp_status coordinator_send_save(coordinator_t *self, actor_t *actor, fp_error *err);
fp_status coordinator_on_saved(coordinator_t *self, actor_t *actor, const msg_t *m, fp_error *err);
fp_status coordinator_on_state(coordinator_t *self, actor_t *actor, msg_t *m, fp_error *err);
fp_status coordinator_on_selection(coordinator_t *self, actor_t *actor, const msg_t *m,
                                   fp_error *err);

#endif
