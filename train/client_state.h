/* client.h — what one client of a run holds, and the scratch a thread trains with.
 *
 * train_layout says which deep-prompt layers a run trains and in what order its flat trainable
 * vector θ lays them out: θ = [ travelling rows E[:, S] (P·K·2·d, the layout of fl/prompt_rows)
 * | private rows of the personalised layers | linear head W [C][d], b [C] ]. Only θ has AdamW
 * state, so layers that are not trained never see weight decay.
 * train_client_t is a client's private state: its full prompt E [P][L][2][d], head, SCAFFOLD
 * variate c_k, AdamW over θ, and the result of the last round it trained (so a retried round is
 * answered from the saved state). It saves to and loads from two blobs (store_db client state).
 * train_worker_t is one thread's scratch (activation arena, batch, gradient buffers), reused by
 * every client that thread runs. Nothing here knows about sockets or the database. */
#ifndef FEDPEP_TRAIN_CLIENT_STATE_H
#define FEDPEP_TRAIN_CLIENT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "fl/adamw.h"
#include "model/transformer.h"
#include "train/batch.h"
#include "train/model_bundle.h"

#define TRAIN_MAX_LAYERS 256

typedef struct train_layout {
    int P, L, d;
    int d0;            /* floats of a block-0 (or input-prompt) row the model reads: d_embed */
    bool input_prompt; /* fedavg-input: one input soft prompt I [P][d] (stored where E would be)
                          is the only prompt and travels whole; no deep prefixes */
    int n_travel, travel[TRAIN_MAX_LAYERS]; /* ascending: the rows that go up and down */
    int n_private, priv[TRAIN_MAX_LAYERS];  /* ascending: trained, never sent */
    bool present[TRAIN_MAX_LAYERS];         /* layer sees its prefix */
    bool trainable[TRAIN_MAX_LAYERS];
    int head_classes;        /* 0: no linear head */
    const float *fixed_head; /* borrowed: the head every client starts from and keeps, never
                                trained (not part of θ); NULL: the head trains */
    size_t n_rows;           /* P·n_travel·2·d */
    size_t n_private_rows;   /* P·n_private·2·d */
    size_t n_theta;          /* n_rows + n_private_rows + head */
    size_t n_prompt;         /* P·L·2·d */
} train_layout;

/* travel[0..k) ascending; personalise: every other layer is trained privately, else masked
 * out. head_classes > 0 adds a linear head. FP_EINVAL on bad layers or sizes. */
fp_status train_layout_init(train_layout *lay, const model_config *cfg, int P, const int *travel,
                            int k, bool personalise, int head_classes, fp_error *err);
/* Fixes the head to head ([C][d] then [C], borrowed for the layout's lifetime) and takes it
 * out of θ: it is still applied, but only the prompt trains (model.head = descriptions).
 * FP_EINVAL without a head, or if nothing would be left to train. */
fp_status train_layout_fix_head(train_layout *lay, const float *head, fp_error *err);
/* The input-soft-prompt layout (Lester et al.; strategy fedavg-input): θ = [ I [P][d] | head ],
 * and all of I travels (n_rows = P·d). */
fp_status train_layout_init_input(train_layout *lay, const model_config *cfg, int P,
                                  int head_classes, fp_error *err);
/* The lowest trained layer (L if none; 0 for an input prompt): what the arena must keep
 * activations from. */
int train_layout_lowest(const train_layout *lay);

/* The prompt of a forward pass over E (deep prefixes, or the input prompt); dE NULL for
 * inference. */
tf_prompt train_layout_prompt(const train_layout *lay, const float *E, float *dE);

/* rows[n_rows] ← the travelling part of E, and back (E[:, S], or all of I). */
void train_layout_rows_gather(const train_layout *lay, const float *E, float *rows);
void train_layout_rows_scatter(const train_layout *lay, float *E, const float *rows);

/* θ ← (E, head) and back. */
void train_layout_gather(const train_layout *lay, const float *E, const float *head, float *theta);
void train_layout_scatter(const train_layout *lay, const float *theta, float *E, float *head);

/* The result of one local round (train_local_round). */
typedef struct train_round_result {
    int64_t n_k;    /* examples the client holds */
    int64_t steps;  /* local steps K_k */
    double loss;    /* mean training loss over the steps */
    int64_t ms;     /* compute time */
    int64_t cpu_ms; /* this process's CPU time over the round (OpenBLAS threads included); -1 =
                       not measured here (the state was restored from a save) */
} train_round_result;

typedef struct train_client {
    int id;
    const train_layout *lay;
    float *E;           /* [P][L][2][d] */
    float *head;        /* [C][d] then [C]; NULL without a head */
    float *c_k;         /* [n_rows] SCAFFOLD client variate, NULL unless scaffold */
    float *delta_c;     /* [n_rows] Δc_k of the last round (scaffold) */
    fl_adamw_t *opt;    /* over θ [n_theta] */
    int64_t last_round; /* -1: never trained */
    train_round_result last;
} train_client_t;

/* A client with the run's initial prompt: E ~ N(0, 0.02²) and head W ~ N(0, 0.02²), b = 0 (or
 * the layout's fixed head), drawn from a stream of seed alone, so every client starts from the
 * same prompt. */
train_client_t *train_client_new(const train_layout *lay, int id, uint64_t seed, bool scaffold,
                                 fp_error *err);
void train_client_destroy(train_client_t **self_p);

/* The run's initial prompt E0 [n_prompt] and head (may be NULL) for seed. */
void train_initial_prompt(const train_layout *lay, uint64_t seed, float *E, float *head);

/* State blob "FPCS" v1: i64 last_round, i64 n_k, steps, ms, f64 loss, f32 E, head, c_k,
 * delta_c; the AdamW blob is fl_adamw_save's. Load checks sizes against the layout. */
fp_status train_client_save(const train_client_t *c, uint8_t **state, size_t *state_len,
                            uint8_t **adam, size_t *adam_len, fp_error *err);
fp_status train_client_load(train_client_t *c, const uint8_t *state, size_t state_len,
                            const uint8_t *adam, size_t adam_len, fp_error *err);

typedef struct train_worker {
    const train_model_t *model;
    const train_layout *lay;
    tf_acts_t *acts;      /* training: B rows, activations kept from the lowest trained layer */
    tf_acts_t *eval_acts; /* evaluation: B_eval rows, nothing kept for backward */
    train_batch_t *batch; /* max(B, B_eval) rows */
    int B, B_eval, T;
    float *dE;                        /* [n_prompt] */
    float *theta, *g;                 /* [n_theta] */
    float *w_full, *c_full, *ck_full; /* [n_theta] extras for fl_client_step */
    float *E_eval;                    /* [n_prompt] personalised evaluation prompt */
    float *head_grad;                 /* [C][d] + [C] */
} train_worker_t;

/* Scratch for training batches of up to B rows and evaluation batches of up to B_eval rows of
 * T tokens of sets shaped like set (its label tokens size the target rows). Two arenas, so a
 * large evaluation batch never multiplies the memory that backward keeps. */
train_worker_t *train_worker_new(const train_model_t *model, const train_layout *lay,
                                 const train_set_t *set, int B, int B_eval, int T, fp_error *err);
void train_worker_destroy(train_worker_t **self_p);

#endif
