/* config_options.c — the one table of run options: every section, key, type, default, range
 * and doc line. Adding an option = adding a field to config.h and a row here; parser, dump,
 * overrides and docs follow. This file holds data only, no logic. */
#include "config_table.h"

#include <assert.h>
#include <limits.h>

/* Enum fields are read and written as int through the table. */
static_assert(sizeof(fp_strategy) == sizeof(int), "enum fields must be int-sized");

static const char *const STRATEGIES[] = {
    "fedpeptao", "fedprompt", "fedavg-input", "fedprox",       "scaffold",           "fedavgm",
    "fedadam",   "fedyogi",   "fedadagrad",   "random-layers", "fedprompt-personal", NULL};
static_assert(sizeof STRATEGIES / sizeof *STRATEGIES == FP_STRATEGY_COUNT + 1, "strategies");

static const char *const TASKS[] = {"qnli", "sst-2", "cola", "mrpc", "rte",
                                    "mpqa", "subj",  "trec", "mr",   NULL};
static_assert(sizeof TASKS / sizeof *TASKS == FP_TASK_COUNT + 1, "tasks");

static const char *const HEADS[] = {"verbalizer", "linear", "descriptions", NULL};
static const char *const PRECISIONS[] = {"fp32", "bf16", NULL};
static const char *const PARTITIONS[] = {"dirichlet", "iid", "shards", NULL};
static const char *const SHORT_ROUNDS[] = {"retry", "fail", "skip", NULL};
static const char *const LAYER_SELECTIONS[] = {"score", "hessian", "random", "all", NULL};
static const char *const LR_SCHEDULES[] = {"linear", "constant", NULL};
static const char *const SERVER_STEPS[] = {"parallel", "sequential", NULL};
static const char *const DELAYS[] = {"fixed", "exponential", "uniform", NULL};
static const char *const RESTARTS[] = {"never", "on-failure", "always", NULL};
static_assert(sizeof HEADS / sizeof *HEADS == FP_HEAD_COUNT + 1, "heads");
static_assert(sizeof PRECISIONS / sizeof *PRECISIONS == FP_PRECISION_COUNT + 1, "precisions");
static_assert(sizeof PARTITIONS / sizeof *PARTITIONS == FP_PARTITION_COUNT + 1, "partitions");
static_assert(sizeof SHORT_ROUNDS / sizeof *SHORT_ROUNDS == FP_SHORT_ROUND_COUNT + 1, "short");
static_assert(sizeof LAYER_SELECTIONS / sizeof *LAYER_SELECTIONS == FP_LAYERS_COUNT + 1, "layers");
static_assert(sizeof LR_SCHEDULES / sizeof *LR_SCHEDULES == FP_LR_COUNT + 1, "schedules");
static_assert(sizeof SERVER_STEPS / sizeof *SERVER_STEPS == FP_SERVER_STEP_COUNT + 1, "steps");
static_assert(sizeof DELAYS / sizeof *DELAYS == FP_DELAY_COUNT + 1, "delays");
static_assert(sizeof RESTARTS / sizeof *RESTARTS == FP_RESTART_COUNT + 1, "restarts");

const char *const config_sections[] = {"run",    "model",  "data",   "federation",
                                       "client", "server", "faults", "broker",
                                       "launch", "eval",   NULL};

const char *config_strategy_name(fp_strategy s)
{
    return (unsigned)s < FP_STRATEGY_COUNT ? STRATEGIES[s] : "?";
}

const char *config_task_name(fp_task_id t)
{
    return (unsigned)t < FP_TASK_COUNT ? TASKS[t] : "?";
}

/* The key is the field name, so a row cannot point at the wrong field. */
#define FIELD(sec, key) offsetof(fedpep_config, sec.key), sizeof(((fedpep_config *)0)->sec.key)
#define INT(sec, key, def, lo, hi, doc)                                                            \
    {                                                                                              \
#sec, #key, CONFIG_INT, FIELD(sec, key), def, lo, hi, NULL, doc                            \
    }
#define I64(sec, key, def, lo, hi, doc)                                                            \
    {                                                                                              \
#sec, #key, CONFIG_I64, FIELD(sec, key), def, lo, hi, NULL, doc                            \
    }
#define DBL(sec, key, def, lo, hi, doc)                                                            \
    {                                                                                              \
#sec, #key, CONFIG_DOUBLE, FIELD(sec, key), def, lo, hi, NULL, doc                         \
    }
#define BOOL(sec, key, def, doc)                                                                   \
    {                                                                                              \
#sec, #key, CONFIG_BOOL, FIELD(sec, key), def, 0, 1, NULL, doc                             \
    }
#define STR(sec, key, def, minlen, doc)                                                            \
    {                                                                                              \
#sec, #key, CONFIG_STRING, FIELD(sec, key), def, minlen, FP_CONFIG_STR_MAX, NULL, doc      \
    }
#define ENUM(sec, key, def, names, doc)                                                            \
    {                                                                                              \
#sec, #key, CONFIG_ENUM, FIELD(sec, key), def, 0, 0, names, doc                            \
    }

const config_option config_options[] = {
    STR(run, name, "default", 1, "name of the run, recorded in the database"),
    I64(run, seed, "42", 0, 9007199254740991.0,
        "seed of every random choice (partition, sampling, init, faults)"),
    STR(run, db, "fedpep.db", 1, "SQLite database the store actor writes (created if missing)"),
    ENUM(run, strategy, "fedpeptao", STRATEGIES, "federated algorithm (FEDPEPTAO.md sections 2-6)"),
    INT(run, rounds, "100", 1, 1000000, "communication rounds"),

    STR(model, path, "models/default", 1,
        "checkpoint folder (config.json, model.safetensors, vocab.json, merges.txt)"),
    INT(model, prompt_length, "0", 0, 512,
        "prompt length P per layer; 0 = auto: 20 for encoders, 5 for decoders"),
    DBL(model, dropout, "0.1", 0, 0.9, "dropout in the frozen model while training"),
    DBL(model, prefix_dropout, "0.1", 0, 0.9, "dropout on the deep prompt while training"),
    INT(model, max_seq_len, "128", 8, 4096, "longest input in tokens (template included)"),
    ENUM(model, head, "verbalizer", HEADS,
         "output: masked-LM / generative verbalizer over label words, a linear classifier "
         "trained with the prompt, or a fixed head of label descriptions (only the prompt "
         "trains)"),
    ENUM(model, precision, "fp32", PRECISIONS,
         "frozen weights' products: fp32 (OpenBLAS), or bf16 operands with fp32 sums (oneDNN; "
         "fp32 with a log line on a CPU without bf16); prompt and optimizer stay fp32"),

    ENUM(data, task, "sst-2", TASKS, "task (docs/tasks.md)"),
    STR(data, dir, "", 0,
        "datasets folder; empty = $FEDPEP_SHARED/datasets, else ../shared/datasets"),
    INT(data, max_train_examples, "0", 0, INT_MAX,
        "seeded subset of the training split before partitioning; 0 = all"),
    INT(data, max_eval_examples, "0", 0, INT_MAX,
        "seeded subset of the evaluation split before partitioning; 0 = all"),
    ENUM(data, partition, "dirichlet", PARTITIONS,
         "how examples are split over clients (FEDPEPTAO.md section 5)"),
    DBL(data, size_alpha, "5", 0.001, 1e6, "Dirichlet concentration of client sizes"),
    DBL(data, label_alpha, "1", 0.001, 1e6, "Dirichlet concentration of each client's class prior"),
    INT(data, shards_per_client, "2", 1, 1000,
        "label-sorted shards per client (partition = shards)"),
    DBL(data, qnli_eval_fraction, "0.2", 0.05, 0.95,
        "share of QNLI dev held out for evaluation; the rest is the training split"),

    INT(federation, clients, "100", 1, 100000, "number of clients N"),
    INT(federation, clients_per_round, "10", 1, 100000, "clients sampled per round"),
    DBL(federation, overselect, "1", 1, 10,
        "sample ceil(overselect * clients_per_round) and keep the first that answer"),
    INT(federation, min_clients, "1", 1, 100000,
        "fewest updates by the deadline for a round to aggregate"),
    DBL(federation, round_deadline_s, "600", 0.1, 86400, "seconds a round waits for updates"),
    ENUM(federation, on_short_round, "retry", SHORT_ROUNDS,
         "what a round with fewer than min_clients updates does"),
    INT(federation, max_retries, "3", 0, 1000, "retries of a short round before it fails"),
    DBL(federation, layer_fraction, "0.5", 0.001, 1,
        "share rho of layers whose prompts are tuned and sent"),
    ENUM(federation, layer_selection, "score", LAYER_SELECTIONS,
         "score = client statistics (sec. 2), hessian = rho from the Hessian, random, all"),
    BOOL(federation, personalize, "true",
         "clients keep private prompts for the layers that are not sent"),
    INT(federation, score_batch, "8", 2, 64, "examples per client for the layer scores"),
    INT(federation, hessian_rounds, "10", 0, 100000,
        "plain FedAvg rounds before the Hessian estimate (layer_selection = hessian)"),
    INT(federation, lanczos_steps, "50", 1, 1000, "Lanczos steps of the Hessian estimate"),

    DBL(client, lr, "0.04", 0, 10, "AdamW learning rate"),
    ENUM(client, lr_schedule, "linear", LR_SCHEDULES,
         "linear decay to 0 over the client's total steps, or constant"),
    DBL(client, beta1, "0.9", 0, 0.999999, "AdamW beta1"),
    DBL(client, beta2, "0.999", 0, 0.999999, "AdamW beta2"),
    DBL(client, eps, "1e-8", 1e-12, 1, "AdamW epsilon (added to sqrt(v))"),
    DBL(client, weight_decay, "0.1", 0, 10, "decoupled weight decay"),
    DBL(client, clip_norm, "1", 0, 1e6, "global gradient-norm clip; 0 = off"),
    INT(client, local_epochs, "2", 1, 1000, "local epochs per round"),
    INT(client, batch_size, "8", 1, 4096, "local mini-batch size"),
    INT(client, max_local_steps, "0", 0, INT_MAX, "cap on local steps per round; 0 = none"),
    INT(client, length_buckets, "16", 0, 1000000,
        "after the shuffle, each run of this many batches is sorted by length (less padding); "
        "0 = plain shuffle"),
    DBL(client, fedprox_mu, "0.01", 0, 1000, "proximal weight mu (strategy = fedprox)"),

    ENUM(server, step, "parallel", SERVER_STEPS,
         "FedPepTAO server update: as written (parallel) or chained like the reference"),
    DBL(server, momentum, "0.9", 0, 0.999999, "FedPepTAO server momentum mu"),
    DBL(server, lr, "0.05", 0, 100, "FedPepTAO initial server learning rate eta_s"),
    DBL(server, lr_decay, "0.99", 0.001, 1, "per-round decay of eta_s"),
    DBL(server, lr_min, "1e-4", 0, 100, "floor of eta_s"),
    DBL(server, baseline_lr, "0", 0, 100,
        "server lr of fedavgm, fedadam, fedyogi, fedadagrad (eta_g of scaffold); "
        "0 = the strategy's default: 1 for fedavgm and scaffold, 0.01 for the adaptive ones"),
    DBL(server, beta1, "0.9", 0, 0.999999,
        "fedavgm momentum beta; fedadam/fedyogi/fedadagrad beta1"),
    DBL(server, beta2, "0.99", 0, 0.999999, "fedadam/fedyogi beta2"),
    DBL(server, tau, "1e-3", 1e-12, 10, "fedadam/fedyogi/fedadagrad adaptivity tau"),
    BOOL(server, control_variates, "true",
         "FedPepTAO: the momentum step corrects each client by c+ - c_k+; false = the ablation "
         "without control variates"),

    DBL(faults, dropout, "0", 0, 1, "probability a sampled client skips a round"),
    DBL(faults, crash, "0", 0, 1, "probability a client process crashes in a round (restarted)"),
    INT(faults, straggler_clients, "0", 0, 100000, "clients that are always slow (seeded choice)"),
    DBL(faults, straggler_prob, "0", 0, 1, "probability any other client is slow in a round"),
    DBL(faults, straggler_slowdown, "3", 1, 1000, "a slow client's compute time multiplier"),
    ENUM(faults, straggler_delay, "fixed", DELAYS,
         "distribution of a slow client's extra delay (mean straggler_delay_s)"),
    DBL(faults, straggler_delay_s, "0", 0, 86400, "mean extra delay of a slow client, seconds"),
    INT(faults, kill_coordinator_at_round, "-1", -1, 1000000,
        "kill the coordinator once during this round to test resume; -1 = never"),
    STR(faults, trace, "", 0,
        "availability trace CSV (client,round,available,speed); replaces the random model"),

    STR(broker, endpoint, FP_DEFAULT_BROKER_ENDPOINT, 1, "ZeroMQ endpoint of the broker"),
    INT(broker, heartbeat_ms, "1000", 10, 600000, "heartbeat interval"),
    INT(broker, liveness, "5", 1, 1000, "missed heartbeats before a peer is dead"),
    INT(broker, hwm, "1000", 0, 1000000, "ZeroMQ high-water mark, messages; 0 = none"),
    INT(broker, max_message_bytes, "67108864", 1024, 1073741824, "largest accepted message"),
    STR(broker, curve_dir, "", 0,
        "CurveZMQ key folder written by fedpep keygen (README, Security); empty = no CURVE"),

    INT(launch, train_slots, "0", 0, 1024, "clients training at once; 0 = number of cores"),
    ENUM(launch, restart, "on-failure", RESTARTS, "when the launcher restarts a dead process"),
    INT(launch, max_restarts, "3", 0, 1000, "restarts per process before the run fails"),
    INT(launch, restart_delay_ms, "500", 0, 600000, "wait before a restart"),

    INT(eval, every, "1", 1, 1000000, "evaluate every N rounds (and after the last)"),
    INT(eval, batch_size, "32", 1, 4096, "evaluation mini-batch size"),
};

const size_t config_option_count = sizeof config_options / sizeof config_options[0];
