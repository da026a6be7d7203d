/* protocol.h — fedpep's wire contract: every message type, its fields, and the codec.
 *
 * Each message is ONE MessagePack map: the header keys `v` (MSG_PROTOCOL_VERSION), `type`
 * (the name from msg_type_name), `run`, `from`, `seq`, `re` and, for the types that carry
 * one, `round`, followed by the body keys listed beside each struct below. Keys are exactly these:
 * a map with a missing, duplicate or unknown key is rejected. Tensors travel as a map
 * {"shape": [d0, d1, ...], "data": bin of little-endian float32}. Enums travel as their names.
 * docs/protocol.md is the reference for other implementations.
 *
 * This layer turns bytes into validated structs and back; it must never touch sockets (actors
 * wrap the bytes into ZeroMQ frames), never trust a length it has not checked against the
 * input and msg_limits, and never abort on input. */
#ifndef FEDPEP_MESSAGES_PROTOCOL_H
#define FEDPEP_MESSAGES_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/status.h"

/* Bumped on any change of keys, types or meaning; a peer with another version is refused. */
#define MSG_PROTOCOL_VERSION 1

/* Actor ids, run ids, model/task/strategy names: 1..63 bytes of [A-Za-z0-9._:-]. Fixed-size
 * so headers need no allocation. */
#define MSG_ID_MAX 63
#define MSG_ID_CAP (MSG_ID_MAX + 1)

/* Tensors have 1..MSG_TENSOR_MAX_DIMS dimensions, each >= 1. */
#define MSG_TENSOR_MAX_DIMS 8

/* Nesting of maps and arrays allowed on the wire (a message needs 3: map, tensor, shape). */
#define MSG_MAX_DEPTH 8

/* Largest TRAIN.attempt and SAVE.retries: a round is tried at most 1 + [federation]
 * max_retries (<= 1000) times. */
#define MSG_MAX_ATTEMPT 1000

typedef enum msg_type {
    MSG_NONE = 0,          /* not a message; ERROR.answers when the bad input had no type */
    MSG_HELLO,             /* actor -> broker: register with role and id */
    MSG_WELCOME,           /* broker -> actor: heartbeat interval and liveness */
    MSG_HEARTBEAT,         /* both ways: I am alive */
    MSG_BYE,               /* actor -> broker (or broker -> actor): leaving, forget me */
    MSG_DIRECTORY_REQUEST, /* actor -> broker: which actors are alive? */
    MSG_DIRECTORY,         /* broker -> actor: the live actors */
    MSG_SCORE_REQUEST,     /* evaluator -> client: compute layer statistics (FEDPEPTAO.md §2) */
    MSG_SCORE_REPLY,       /* client -> evaluator: s_l for l = 0..L-2 and n_k */
    MSG_SELECTION,         /* evaluator -> coordinator (and store): the chosen layers */
    MSG_TRAIN,             /* coordinator -> client: one local round */
    MSG_UPDATE,            /* client -> coordinator: the trained rows and statistics */
    MSG_EVAL_REQUEST,      /* coordinator/evaluator -> client: evaluate the global rows */
    MSG_EVAL_REPLY,        /* client -> requester: loss and confusion matrix on its shard */
    MSG_RUN,               /* coordinator -> store: create or update the run row */
    MSG_SAVE,              /* coordinator -> store: one completed round, as one transaction */
    MSG_SAVE_CLIENT,       /* client -> store: its private state (prompt, Adam) */
    MSG_SAVED,             /* store -> sender: the RUN/SAVE/SAVE_CLIENT/SELECTION is committed */
    MSG_LOAD,              /* coordinator or client -> store: give me my latest state */
    MSG_STATE,             /* store -> requester: that state, or found = false */
    MSG_ERROR,             /* anyone -> sender of a bad or failed request */
    MSG_PEER_STATE,        /* broker -> watchers: an actor registered, left or was declared dead */
    MSG_TYPE_COUNT
} msg_type;

typedef enum msg_role {
    MSG_ROLE_ANY = 0, /* only as a DIRECTORY_REQUEST filter */
    MSG_ROLE_BROKER,
    MSG_ROLE_COORDINATOR,
    MSG_ROLE_CLIENT,
    MSG_ROLE_EVALUATOR,
    MSG_ROLE_STORE,
    MSG_ROLE_LAUNCHER,
    MSG_ROLE_COUNT
} msg_role;

/* Outcome of one sampled client in one round (storage's client_rounds.status). */
typedef enum msg_client_status {
    MSG_CLIENT_OK = 0,
    MSG_CLIENT_DROPPED,
    MSG_CLIENT_LATE,
    MSG_CLIENT_ERROR,
    MSG_CLIENT_STATUS_COUNT
} msg_client_status;

typedef enum msg_round_status {
    MSG_ROUND_OK = 0, /* aggregated with at least min_clients updates */
    MSG_ROUND_FAILED, /* too few updates; the global rows did not move */
    MSG_ROUND_STATUS_COUNT
} msg_round_status;

typedef enum msg_run_status {
    MSG_RUN_RUNNING = 0,
    MSG_RUN_DONE,
    MSG_RUN_FAILED,
    MSG_RUN_STATUS_COUNT
} msg_run_status;

/* Owned buffers. Everything a decoded message points to belongs to it and is freed by
 * msg_clear; a sender that fills a field with memory it owns must set the pointer back to NULL
 * before calling msg_clear. n == 0 (ndim == 0 for a tensor) means empty/absent. */
typedef struct msg_tensor {
    uint32_t ndim;                       /* 0 = absent */
    uint32_t shape[MSG_TENSOR_MAX_DIMS]; /* each >= 1 */
    float *data;                         /* product(shape) floats, 64-byte aligned */
} msg_tensor_t;

typedef struct msg_u32s {
    uint32_t *v;
    uint32_t n;
} msg_u32s_t;

typedef struct msg_u64s {
    uint64_t *v;
    uint32_t n;
} msg_u64s_t;

typedef struct msg_f64s {
    double *v;
    uint32_t n;
} msg_f64s_t;

typedef struct msg_blob {
    uint8_t *data;
    size_t n;
} msg_blob_t;

/* A DIRECTORY entry. Wire: {"id", "role", "index", "idle_ms"}. */
typedef struct msg_peer {
    char id[MSG_ID_CAP];
    msg_role role;
    uint32_t index;   /* client index K (0 for other roles) */
    uint64_t idle_ms; /* since the broker last heard from it */
} msg_peer_t;

typedef struct msg_peers {
    msg_peer_t *v;
    uint32_t n;
} msg_peers_t;

/* A SAVE per-client row (storage client_rounds). Wire: {"client", "status", "n", "steps",
 * "loss", "ms"}. */
typedef struct msg_client_row {
    uint32_t client; /* client index K */
    msg_client_status status;
    uint64_t n;     /* n_k, examples held by the client */
    uint32_t steps; /* local steps K_k (0 unless ok or late) */
    double loss;    /* mean local training loss (0 unless ok or late) */
    uint64_t ms;    /* wall time from TRAIN sent to UPDATE received */
} msg_client_row_t;

typedef struct msg_client_rows {
    msg_client_row_t *v;
    uint32_t n;
} msg_client_rows_t;

/* ---- bodies: one struct per type; keys in quotes. "opt" fields may be absent (= empty). ---- */

typedef struct msg_hello {
    msg_role role;             /* "role": not ANY */
    uint32_t index;            /* "index": client index K; 0 for other roles */
    uint32_t pid;              /* "pid": process id, for the launcher and the logs */
    char software[MSG_ID_CAP]; /* "software": FEDPEP_VERSION of the sender */
} msg_hello_t;

typedef struct msg_welcome {
    uint32_t heartbeat_ms; /* "heartbeat_ms" > 0: send HEARTBEAT this often when idle */
    uint32_t liveness;     /* "liveness" > 0: heartbeats missed before a peer is dead */
    uint64_t epoch;        /* "epoch": changes when the broker restarts, so actors re-register */
} msg_welcome_t;

typedef struct msg_bye {
    char *reason; /* "reason" opt: free text */
} msg_bye_t;

typedef struct msg_directory_request {
    msg_role role; /* "role": ANY for all */
} msg_directory_request_t;

typedef struct msg_directory {
    msg_peers_t peers; /* "peers": possibly empty */
} msg_directory_t;

/* Pushed by the broker to the coordinator and to every actor that sent DIRECTORY_REQUEST (for
 * peers of the role it asked about) when an actor registers (alive) or leaves (BYE, or silent for
 * liveness x heartbeat_ms: !alive). */
typedef struct msg_peer_state {
    char id[MSG_ID_CAP]; /* "id": non-empty */
    msg_role role;       /* "role": not ANY */
    uint32_t index;      /* "index": client index K (0 for other roles) */
    bool alive;          /* "alive" */
} msg_peer_state_t;

typedef struct msg_score_request {
    uint32_t batch; /* "batch" >= 1: examples in the scoring mini-batch (b <= 8 in the paper) */
    uint64_t seed;  /* "seed": which mini-batch to draw */
} msg_score_request_t;

typedef struct msg_score_reply {
    msg_f64s_t scores; /* "scores": s_l for l = 0..L-2, non-empty */
    uint64_t n;        /* "n": n_k, the client's training examples (weights S_l) */
    uint32_t batch;    /* "batch" >= 1: examples actually used */
} msg_score_reply_t;

typedef struct msg_selection {
    uint32_t num_layers; /* "num_layers" L >= 1 */
    msg_u32s_t layers;   /* "layers": strictly increasing, each < L, non-empty */
    msg_f64s_t scores;   /* "scores" opt: combined S_l per layer (at most L) */
} msg_selection_t;

typedef struct msg_train {
    msg_u32s_t layers;    /* "layers": the selected set S, strictly increasing, non-empty */
    msg_u32s_t widths;    /* "widths" opt: floats of each row of each layer of S (one entry per
                             layer; one for an input prompt), each >= 1; then rows is 2-D */
    msg_tensor_t rows;    /* "rows": w_t = E[:, S]; with widths [P][Σ_k 2·widths[k]], each row
                             cut to its block's width (docs/protocol.md, "Rows on the wire") */
    msg_tensor_t control; /* "control" opt: server control variate c (scaffold), rows' shape */
    uint32_t deadline_ms; /* "deadline_ms" > 0: time budget after receipt (clocks differ) */
    uint32_t epochs;      /* "epochs": local epochs */
    uint32_t max_steps;   /* "max_steps": cap on local steps, 0 = none; epochs or cap > 0 */
    uint32_t batch;       /* "batch" >= 1 */
    double lr;            /* "lr" >= 0: base client learning rate */
    uint64_t lr_step;     /* "lr_step": position in the linear decay schedule */
    uint64_t lr_total;    /* "lr_total": its length (0 = constant lr); lr_step <= lr_total */
    double prox_mu;       /* "prox_mu" >= 0: FedProx coefficient, 0 = off */
    uint64_t seed;        /* "seed": this client's shuffle/dropout stream for this round */
    uint32_t attempt;     /* "attempt" opt: which try of the round, 0 = the first (absent = 0,
                             so a first try encodes as before); <= MSG_MAX_ATTEMPT. The client's
                             fault draws depend on it; a retry asks other clients. */
} msg_train_t;

typedef struct msg_update {
    msg_tensor_t rows;          /* "rows": theta_k, the shape TRAIN sent */
    msg_tensor_t control_delta; /* "control_delta" opt: c_k+ - c_k (scaffold), rows' shape */
    uint64_t n;                 /* "n" >= 1: n_k */
    uint32_t steps;             /* "steps": local steps K_k */
    double loss;                /* "loss": mean training loss over the local steps */
    uint64_t compute_ms;        /* "compute_ms": time spent training */
    uint64_t wall_ms;           /* "wall_ms": TRAIN received to UPDATE sent (incl. delays) */
    bool cpu_measured;          /* "cpu_measured" opt: whether cpu_ms means anything (the
                                   client trained the round in this process; absent = no) */
    uint64_t cpu_ms;            /* "cpu_ms" opt: the process CPU time of the local round */
} msg_update_t;

typedef struct msg_eval_request {
    msg_u32s_t layers; /* "layers": strictly increasing, non-empty */
    msg_u32s_t widths; /* "widths" opt: as TRAIN's */
    msg_tensor_t rows; /* "rows": global rows written over the client's own prompt (as TRAIN's) */
} msg_eval_request_t;

typedef struct msg_eval_reply {
    uint64_t n;           /* "n": examples evaluated */
    double loss;          /* "loss": mean loss */
    uint32_t classes;     /* "classes" >= 1 */
    msg_u64s_t confusion; /* "confusion": classes x classes, row = truth, column = prediction;
                             its sum is n. Pooled by the evaluator for accuracy, MCC, F1. */
    uint64_t wall_ms;     /* "wall_ms" */
} msg_eval_reply_t;

typedef struct msg_run {
    msg_run_status status;     /* "status" */
    char *config;              /* "config" opt: the full configuration text */
    char model[MSG_ID_CAP];    /* "model" */
    char task[MSG_ID_CAP];     /* "task" */
    char strategy[MSG_ID_CAP]; /* "strategy" */
    uint64_t seed;             /* "seed" */
    uint32_t clients;          /* "clients": N */
    uint32_t rounds;           /* "rounds": planned */
    char *reason;              /* "reason" opt: why the run failed (status failed) */
} msg_run_t;

/* One completed round: the rounds row, its client_rounds rows and the checkpoint. */
typedef struct msg_save {
    msg_round_status status;   /* "status" */
    uint32_t sampled;          /* "sampled" */
    uint32_t completed;        /* "completed"; completed + dropped + late <= sampled */
    uint32_t dropped;          /* "dropped" */
    uint32_t late;             /* "late" */
    double train_loss;         /* "train_loss": n_k-weighted mean of the updates' losses */
    bool evaluated;            /* "evaluated": whether the eval_* fields mean anything */
    double eval_metric;        /* "eval_metric": the task's metric */
    double eval_loss;          /* "eval_loss": pooled mean evaluation loss */
    double eval_accuracy;      /* "eval_accuracy" */
    double eval_f1;            /* "eval_f1" */
    double eval_mcc;           /* "eval_mcc" */
    uint64_t bytes_down;       /* "bytes_down": TRAIN bytes sent this round */
    uint64_t bytes_up;         /* "bytes_up": UPDATE bytes received */
    uint64_t wall_ms;          /* "wall_ms": round wall time */
    uint64_t slowest_ms;       /* "slowest_ms": slowest completed client */
    msg_client_rows_t clients; /* "clients": one row per sampled client */
    msg_tensor_t rows;         /* "rows": w_{t+1}, the global rows after this round */
    msg_blob_t server_state;   /* "server_state" opt: opaque (momentum, control variates...) */
    uint64_t rng[4];           /* "rng": the coordinator's rng_t state after this round */
    uint32_t retries;          /* "retries" opt: attempts before the committed one (absent = 0),
                                  <= MSG_MAX_ATTEMPT */
    char *reason;              /* "reason" opt: why a failed round failed */
    bool cpu_measured;         /* "cpu_measured" opt: whether cpu_ms, cpu_max_ms mean anything
                                  (every update's CPU time was measured) */
    uint64_t cpu_ms;           /* "client_cpu_ms" opt: the updates' training CPU time, summed */
    uint64_t cpu_max_ms;       /* "client_cpu_max_ms" opt: the largest, <= cpu_ms */
    bool global_evaluated;     /* "global_evaluated" opt: whether the global_* fields mean
                                  anything */
    double global_metric;      /* "global_metric" opt: the global model on the whole
                                  evaluation split (eval_* pool the personalised clients) */
    double global_loss;        /* "global_loss" opt */
    double global_accuracy;    /* "global_accuracy" opt */
    double global_f1;          /* "global_f1" opt */
    double global_mcc;         /* "global_mcc" opt */
} msg_save_t;

typedef struct msg_save_client {
    msg_blob_t state; /* "state": opaque private prompt and optimizer state, non-empty */
} msg_save_client_t;

typedef struct msg_saved {
    msg_type answers; /* "answers": RUN, SAVE, SAVE_CLIENT or SELECTION */
} msg_saved_t;

typedef struct msg_load {
    char client[MSG_ID_CAP]; /* "client": empty = the run's checkpoint, else that client's state */
} msg_load_t;

/* round (header) is the last committed round. found = false: nothing stored yet, and every
 * optional field is absent. */
typedef struct msg_state {
    bool found;              /* "found" */
    msg_u32s_t layers;       /* "layers" opt: the selected set S */
    msg_tensor_t rows;       /* "rows" opt: global rows */
    msg_blob_t server_state; /* "server_state" opt */
    msg_blob_t client_state; /* "client_state" opt: for a client's LOAD */
    uint64_t rng[4];         /* "rng": all zero when not found */
} msg_state_t;

typedef struct msg_error {
    fp_status code;        /* "code": the status name, e.g. "EFORMAT"; never OK */
    msg_type answers;      /* "answers": type of the message refused, NONE if unknown */
    char peer[MSG_ID_CAP]; /* "peer" opt: the actor concerned (e.g. an unreachable client) */
    char *text;            /* "text" opt: the readable reason */
    bool final;            /* "final" opt: asking again cannot succeed (a database that is
                              read-only, full, damaged, or locked past the store's bound);
                              absent = false: the code alone says whether to ask again */
} msg_error_t;

/* A message: header and the body of its type. round is on the wire only for the types where
 * msg_type_has_round() is true. */
typedef struct msg {
    msg_type type;
    char run[MSG_ID_CAP];  /* may be empty for messages outside a run (broker traffic) */
    char from[MSG_ID_CAP]; /* the sender's actor id, non-empty */
    uint64_t seq;          /* sender's message counter, so replies and retries can be matched */
    uint64_t re;           /* seq of the message this one answers; 0 = not a reply */
    uint32_t round;
    union {
        msg_hello_t hello;
        msg_welcome_t welcome;
        msg_bye_t bye;
        msg_directory_request_t directory_request;
        msg_directory_t directory;
        msg_score_request_t score_request;
        msg_score_reply_t score_reply;
        msg_selection_t selection;
        msg_train_t train;
        msg_update_t update;
        msg_eval_request_t eval_request;
        msg_eval_reply_t eval_reply;
        msg_run_t run_row;
        msg_save_t save;
        msg_save_client_t save_client;
        msg_saved_t saved;
        msg_load_t load;
        msg_state_t state;
        msg_error_t error;
        msg_peer_state_t peer_state;
    };
} msg_t;

/* What a decoder accepts. A hostile peer can make us allocate at most about
 * max_message_bytes + 24 * max_objects bytes per message. */
typedef struct msg_limits {
    size_t max_message_bytes;   /* whole encoded message */
    size_t max_tensor_elements; /* per tensor */
    size_t max_string;          /* bytes of a free-text field (config, reason) */
    size_t max_array;           /* items of one array or map */
    size_t max_objects;         /* MessagePack objects in one message, all levels */
} msg_limits;

/* 256 MiB, 16 Mi floats, 1 MiB text, 65536 items, 1 Mi objects. */
msg_limits msg_limits_default(void);

/* "HELLO", "TRAIN"...; "NONE" for MSG_NONE; "?" outside the enum. Never NULL. */
const char *msg_type_name(msg_type type);
/* The type named s, or MSG_NONE. */
msg_type msg_type_from_name(const char *s);
bool msg_type_has_round(msg_type type);
const char *msg_role_name(msg_role role);
const char *msg_client_status_name(msg_client_status status);
const char *msg_round_status_name(msg_round_status status);
const char *msg_run_status_name(msg_run_status status);

/* Zeroes m and sets its header. FP_EINVAL if type is not a message or run/from are not valid
 * ids (from must be non-empty). */
fp_status msg_init(msg_t *m, msg_type type, const char *run, const char *from, fp_error *err);

/* Frees everything m owns and zeroes it (type becomes MSG_NONE). Safe on a zeroed msg_t and
 * after a failed decode. */
void msg_clear(msg_t *m);

/* Heap variants in the CLASS style: msg_new returns a zeroed message or NULL. */
msg_t *msg_new(void);
void msg_destroy(msg_t **self_p);

/* Allocates t->data for the given shape (zero-filled, 64-byte aligned), freeing what t held.
 * FP_EINVAL for ndim outside 1..MSG_TENSOR_MAX_DIMS or a zero dim, FP_ENOMEM. */
fp_status msg_tensor_alloc(msg_tensor_t *t, uint32_t ndim, const uint32_t *shape, fp_error *err);
/* Same, then copies count floats from src (count must equal the product of shape). */
fp_status msg_tensor_copy(msg_tensor_t *t, uint32_t ndim, const uint32_t *shape, const float *src,
                          fp_error *err);
/* Elements of t (0 if absent). */
size_t msg_tensor_count(const msg_tensor_t *t);
void msg_tensor_free(msg_tensor_t *t);

/* Copies text into a freshly allocated string for a free-text field, freeing the old one. */
fp_status msg_set_text(char **field, const char *text, fp_error *err);
/* Copies an id into a fixed id field; FP_EINVAL when it is not a valid id. */
fp_status msg_set_id(char *field, const char *id, fp_error *err);
/* Allocates an array field of n zeroed items (n may be 0), freeing the old one. */
fp_status msg_u32s_alloc(msg_u32s_t *a, uint32_t n, fp_error *err);
fp_status msg_u64s_alloc(msg_u64s_t *a, uint32_t n, fp_error *err);
fp_status msg_f64s_alloc(msg_f64s_t *a, uint32_t n, fp_error *err);
fp_status msg_blob_copy(msg_blob_t *b, const void *data, size_t n, fp_error *err);
fp_status msg_peers_alloc(msg_peers_t *a, uint32_t n, fp_error *err);
fp_status msg_client_rows_alloc(msg_client_rows_t *a, uint32_t n, fp_error *err);

/* Checks every rule the decoder checks on a message in memory (ids, text, lengths, shapes,
 * finiteness, cross-field rules). FP_EFORMAT / FP_ELIMIT / FP_ENUMERIC with the field named. */
fp_status msg_validate(const msg_t *m, const msg_limits *limits, fp_error *err);

/* Encodes m (after msg_validate) into a malloc'ed buffer the caller frees with free().
 * limits NULL = msg_limits_default(). FP_ELIMIT if the result exceeds max_message_bytes. */
fp_status msg_encode(const msg_t *m, const msg_limits *limits, uint8_t **out, size_t *out_len,
                     fp_error *err);

/* Decodes exactly one message from buf[0..len) into out (which is cleared first and left
 * cleared on failure). Every length is checked against the input and limits before it is
 * used; nothing in out points into buf. FP_ELIMIT (too big), FP_EVERSION (v missing or not
 * ours), FP_EFORMAT (anything else malformed), FP_ENUMERIC (NaN/Inf), FP_ENOMEM. */
fp_status msg_decode(const uint8_t *buf, size_t len, const msg_limits *limits, msg_t *out,
                     fp_error *err);

/* Starts reply (zeroed first) as a message of `type` answering request: run = request's run,
 * from = the replier's id, re = request->seq, round = request->round (on the wire only if the
 * reply type carries a round). FP_EINVAL if type is not a message or from is not an id. */
fp_status msg_reply_init(msg_t *reply, msg_type type, const msg_t *request, const char *from,
                         fp_error *err);

/* Builds in reply an ERROR answering bytes that msg_decode refused with `why`: code =
 * why->status (EFORMAT if it is OK), text = why->msg, and answers / re / round / run taken from
 * the refused message's header as far as it can be read safely (else NONE / 0 / 0 / ""), so
 * the sender can tell which of its requests failed. */
fp_status msg_error_for_bytes(msg_t *reply, const char *from, const uint8_t *bad, size_t bad_len,
                              const fp_error *why, const msg_limits *limits, fp_error *err);

/* Deep equality of two messages (tensors and doubles compared bit for bit). */
bool msg_equal(const msg_t *a, const msg_t *b);

#endif
