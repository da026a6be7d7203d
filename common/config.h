/* config.h — the run configuration: one struct, one table of options, INI files in and out.
 *
 * Every option lives in exactly one row of the table in config_options.c (section, key, type,
 * where it sits in fedpep_config, default, range, one-line doc). Parsing (libinih), command-line
 * overrides (`section.key=value`), defaults, the INI dump and the Markdown reference all walk that
 * table, so they cannot drift apart. Bad input never aborts: every failure is an fp_status with a
 * reason `file:line: [section] key: why`.
 * This module must never read the environment or the disk except the one file it is asked to
 * load: resolving defaults that depend on the environment is config_data_dir's job. */
#ifndef FEDPEP_COMMON_CONFIG_H
#define FEDPEP_COMMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdbool.h>

#include "status.h"

/* Longest string value (bytes, without the terminating NUL). inih reads lines of at most 196
 * bytes, so a `key = value` line must fit in that; 159 leaves room for the longest key. */
#define FP_CONFIG_STR_MAX 159

/* The order of every enum below is the order of its names in the option table (config_options.c)
 * and is part of the contract: other modules index tables by these values. */
typedef enum fp_strategy {
    FP_STRATEGY_FEDPEPTAO,
    FP_STRATEGY_FEDPROMPT,
    FP_STRATEGY_FEDAVG_INPUT,
    FP_STRATEGY_FEDPROX,
    FP_STRATEGY_SCAFFOLD,
    FP_STRATEGY_FEDAVGM,
    FP_STRATEGY_FEDADAM,
    FP_STRATEGY_FEDYOGI,
    FP_STRATEGY_FEDADAGRAD,
    FP_STRATEGY_RANDOM_LAYERS,
    FP_STRATEGY_FEDPROMPT_PERSONAL,
    FP_STRATEGY_COUNT
} fp_strategy;

typedef enum fp_task_id {
    FP_TASK_QNLI,
    FP_TASK_SST2,
    FP_TASK_COLA,
    FP_TASK_MRPC,
    FP_TASK_RTE,
    FP_TASK_MPQA,
    FP_TASK_SUBJ,
    FP_TASK_TREC,
    FP_TASK_MR,
    FP_TASK_COUNT
} fp_task_id;

/* descriptions: a linear head whose rows are the label descriptions' embeddings, kept fixed
 * (train/describe.h), so only the prompt trains: the verbalizer of an encoder without LM head. */
typedef enum fp_head {
    FP_HEAD_VERBALIZER,
    FP_HEAD_LINEAR,
    FP_HEAD_DESCRIPTIONS,
    FP_HEAD_COUNT
} fp_head;
/* Arithmetic of the frozen weights' products (model/matmul_bf16.h): fp32 through OpenBLAS, or
 * bf16 operands with fp32 accumulation through oneDNN where the CPU has bf16 instructions (fp32
 * with one log line where it has not). The prompt, its gradient and the optimizer stay fp32. */
typedef enum fp_precision { FP_PRECISION_FP32, FP_PRECISION_BF16, FP_PRECISION_COUNT } fp_precision;
typedef enum fp_partition {
    FP_PARTITION_DIRICHLET,
    FP_PARTITION_IID,
    FP_PARTITION_SHARDS,
    FP_PARTITION_COUNT
} fp_partition;
typedef enum fp_short_round {
    FP_SHORT_ROUND_RETRY,
    FP_SHORT_ROUND_FAIL,
    FP_SHORT_ROUND_SKIP,
    FP_SHORT_ROUND_COUNT
} fp_short_round;
typedef enum fp_layer_selection {
    FP_LAYERS_SCORE,
    FP_LAYERS_HESSIAN,
    FP_LAYERS_RANDOM,
    FP_LAYERS_ALL,
    FP_LAYERS_COUNT
} fp_layer_selection;
typedef enum fp_lr_schedule { FP_LR_LINEAR, FP_LR_CONSTANT, FP_LR_COUNT } fp_lr_schedule;
typedef enum fp_server_step {
    FP_SERVER_STEP_PARALLEL,
    FP_SERVER_STEP_SEQUENTIAL,
    FP_SERVER_STEP_COUNT
} fp_server_step;
typedef enum fp_delay_dist {
    FP_DELAY_FIXED,
    FP_DELAY_EXPONENTIAL,
    FP_DELAY_UNIFORM,
    FP_DELAY_COUNT
} fp_delay_dist;
typedef enum fp_restart {
    FP_RESTART_NEVER,
    FP_RESTART_ON_FAILURE,
    FP_RESTART_ALWAYS,
    FP_RESTART_COUNT
} fp_restart;

/* One struct per INI section; field names are the INI keys. Strings are NUL-terminated. */
typedef struct fp_config_run {
    char name[FP_CONFIG_STR_MAX + 1];
    int64_t seed;
    char db[FP_CONFIG_STR_MAX + 1];
    fp_strategy strategy;
    int rounds;
} fp_config_run;

typedef struct fp_config_model {
    char path[FP_CONFIG_STR_MAX + 1];
    int prompt_length;     /* 0 = auto: 20 for encoders, 5 for decoders */
    double dropout;        /* in the frozen model */
    double prefix_dropout; /* on the deep prompt */
    int max_seq_len;
    fp_head head;
    fp_precision precision;
} fp_config_model;

typedef struct fp_config_data {
    fp_task_id task;
    char dir[FP_CONFIG_STR_MAX + 1]; /* "" = auto, see config_data_dir */
    int max_train_examples;          /* 0 = all */
    int max_eval_examples;           /* 0 = all */
    fp_partition partition;
    double size_alpha;
    double label_alpha;
    int shards_per_client;
    double qnli_eval_fraction;
} fp_config_data;

typedef struct fp_config_federation {
    int clients;
    int clients_per_round;
    double overselect;
    int min_clients;
    double round_deadline_s;
    fp_short_round on_short_round;
    int max_retries;
    double layer_fraction;
    fp_layer_selection layer_selection;
    bool personalize;
    int score_batch;
    int hessian_rounds;
    int lanczos_steps;
} fp_config_federation;

typedef struct fp_config_client {
    double lr;
    fp_lr_schedule lr_schedule;
    double beta1;
    double beta2;
    double eps;
    double weight_decay;
    double clip_norm;
    int local_epochs;
    int batch_size;
    int max_local_steps; /* 0 = no cap */
    int length_buckets;  /* batches per length bucket; 0 = plain shuffle */
    double fedprox_mu;
} fp_config_client;

typedef struct fp_config_server {
    fp_server_step step;
    double momentum;
    double lr;
    double lr_decay;
    double lr_min;
    double baseline_lr; /* 0 = the strategy's own default (see the option table) */
    double beta1;
    double beta2;
    double tau;
    bool control_variates; /* false: FedPepTAO's ablation without them */
} fp_config_server;

typedef struct fp_config_faults {
    double dropout;
    double crash;
    int straggler_clients;
    double straggler_prob;
    double straggler_slowdown;
    fp_delay_dist straggler_delay;
    double straggler_delay_s;
    int kill_coordinator_at_round; /* -1 = never */
    char trace[FP_CONFIG_STR_MAX + 1];
} fp_config_faults;

/* The broker endpoint when none is given: [broker] endpoint's default, and that of the actor and
 * broker options before a configuration is applied. */
#define FP_DEFAULT_BROKER_ENDPOINT "tcp://127.0.0.1:5570"

typedef struct fp_config_broker {
    char endpoint[FP_CONFIG_STR_MAX + 1];
    int heartbeat_ms;
    int liveness;
    int hwm;
    int max_message_bytes;
    char curve_dir[FP_CONFIG_STR_MAX + 1]; /* CurveZMQ keys (fedpep keygen); "" = off */
} fp_config_broker;

typedef struct fp_config_launch {
    int train_slots; /* 0 = number of cores */
    fp_restart restart;
    int max_restarts;
    int restart_delay_ms;
} fp_config_launch;

typedef struct fp_config_eval {
    int every;
    int batch_size;
} fp_config_eval;

typedef struct fedpep_config {
    fp_config_run run;
    fp_config_model model;
    fp_config_data data;
    fp_config_federation federation;
    fp_config_client client;
    fp_config_server server;
    fp_config_faults faults;
    fp_config_broker broker;
    fp_config_launch launch;
    fp_config_eval eval;
} fedpep_config;

/* The embedded default run: the exact bytes of configs/default.ini (a test keeps them equal). */
extern const char config_default_ini[];

/* Fills cfg with every option's table default (the paper's protocol: 100 clients, 100 rounds). */
void config_defaults(fedpep_config *cfg);

/* Loads defaults, then the INI file at path (NULL = none), then the overrides
 * ("section.key=value", applied in order), then checks the options against each other.
 * FP_ENOTFOUND/FP_EIO if the file cannot be read; FP_EFORMAT for INI syntax, unknown sections
 * or keys, a key given twice, unparsable values; FP_ELIMIT for a value out of its range.
 * On failure cfg holds defaults overwritten by whatever parsed before the error: do not use it. */
fp_status config_load(const char *path, const char *const *overrides, size_t n_overrides,
                      fedpep_config *cfg, fp_error *err);

/* Same as config_load, over INI text in memory; name is what messages call it ("file:line"). */
fp_status config_load_string(const char *text, size_t len, const char *name,
                             const char *const *overrides, size_t n_overrides, fedpep_config *cfg,
                             fp_error *err);

/* Applies one "section.key=value" override to cfg (no cross-option check). */
fp_status config_override(fedpep_config *cfg, const char *assignment, fp_error *err);

/* Checks the options against each other (clients_per_round <= clients, ...). */
fp_status config_check(const fedpep_config *cfg, fp_error *err);

/* Writes a complete INI (every option, in table order) that config_load reads back into an equal
 * config. FP_EIO if the stream fails. */
fp_status config_dump(const fedpep_config *cfg, FILE *out);

/* Writes the Markdown reference of every option (one table per section). FP_EIO on failure. */
fp_status config_doc_markdown(FILE *out);

/* Field-by-field equality of two configs (strings compared as strings, doubles exactly). */
bool config_equal(const fedpep_config *a, const fedpep_config *b);

/* The INI name of an enum value, e.g. config_strategy_name(FP_STRATEGY_FEDPROX) = "fedprox";
 * "?" for a value out of range. */
const char *config_strategy_name(fp_strategy s);
const char *config_task_name(fp_task_id t);

/* The datasets folder: cfg->data.dir if set, else $FEDPEP_SHARED/datasets, else
 * ../shared/datasets. FP_ELIMIT if it does not fit in n bytes. */
fp_status config_data_dir(const fedpep_config *cfg, char *out, size_t n, fp_error *err);

/* The prompt length to use: cfg->model.prompt_length, or 20 (encoder) / 5 (decoder) when 0. */
int config_prompt_length(const fedpep_config *cfg, bool decoder);
/* A linear head over the mean pool (trained, or fixed label descriptions), not a verbalizer. */
bool config_linear_head(const fedpep_config *cfg);

#endif
