/* launch.c — `fedpep launch`: run folder, effective config, the process topology, the
 * supervision loop with progress and injected faults, and the final summary (see launch.h).
 * Never writes the run database; every child is stopped before launch_run returns. */
#include "launch/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <ini.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "actors/slots.h"
#include "common/rng.h"
#include "launch/console.h"
#include "launch/supervisor.h"
#include "messages/curve.h"

/* The one piece of process-global state: a signal handler can only talk through statics. The
 * handler writes the signal number into a pipe the loop reads (self-pipe trick), which wakes
 * sup_poll on SIGCHLD and tells the loop about SIGINT/SIGTERM whichever thread got them. */
static volatile sig_atomic_t g_stop_signal;
static int g_wake_fd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    if (sig != SIGCHLD)
        g_stop_signal = sig;
    char c = (char)sig;
    if (g_wake_fd >= 0 && write(g_wake_fd, &c, 1) < 0) {
        /* pipe full: the loop is already awake */
    }
    errno = saved;
}

/* Stream ids of the launcher's seeded fault draws (rng_derive(seed, round, stream)). */
enum { STREAM_CLIENT_KILL = 0x6b696c6c, STREAM_CLIENT_KILL_TIME = 0x6b696c74 };

void launch_options_defaults(launch_options *o)
{
    memset(o, 0, sizeof *o);
    o->grace_ms = 5000;
    o->poll_ms = 100;
    o->kill_broker_at_round = -1;
    o->kill_store_at_round = -1;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static fp_status mkdir_p(const char *path, fp_error *err)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return fp_fail(err, FP_ELIMIT, "launch: path too long: %s", path);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(buf, 0755) && errno != EEXIST)
            return fp_fail(err, FP_EIO, "launch: mkdir %s: %s", buf, strerror(errno));
        *s = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST)
        return fp_fail(err, FP_EIO, "launch: mkdir %s: %s", buf, strerror(errno));
    return FP_OK;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Everything launch_run builds before it starts processes. */
typedef struct launch_plan {
    fedpep_config cfg;
    char dir[PATH_MAX / 4];
    char config_path[PATH_MAX];
    char logs[PATH_MAX];
    char endpoint[FP_CONFIG_STR_MAX + 1];
    char exe[PATH_MAX];
    char slots_env[PATH_MAX];
    int train_slots;
} launch_plan;

/* ini_parse callback: whether the file sets [broker] endpoint. */
static int find_endpoint_key(void *found, const char *section, const char *key, const char *value)
{
    (void)value;
    if (!strcmp(section, "broker") && !strcmp(key, "endpoint"))
        *(bool *)found = true;
    return 1;
}

/* Whether the configuration names a broker endpoint ([broker] endpoint in the file or an
 * override), as opposed to leaving the table default. The config keeps no record of which keys
 * were given, and the default value may be given on purpose, so look at the sources. */
static bool endpoint_configured(const launch_options *o)
{
    for (size_t i = 0; i < o->n_overrides; i++) {
        const char *a = o->overrides[i], *eq = strchr(a, '=');
        char key[64];
        size_t n = 0;
        for (const char *c = a; eq && c < eq && n + 1 < sizeof key; c++)
            if (*c != ' ' && *c != '\t')
                key[n++] = *c;
        key[n] = 0;
        if (!strcmp(key, "broker.endpoint"))
            return true;
    }
    bool found = false;
    if (o->config_path)
        ini_parse(o->config_path, find_endpoint_key, &found);
    return found;
}

/* Loads the config, makes the run folder and writes the effective config the children read.
 * *bad_config tells a failure of the configuration (exit 2) from one of this machine. */
static fp_status plan_run(const launch_options *o, launch_plan *plan, bool *bad_config,
                          fp_error *err)
{
    *bad_config = true;
    fp_status st = o->config_path
                       ? config_load(o->config_path, o->overrides, o->n_overrides, &plan->cfg, err)
                       : config_load_string(config_default_ini, strlen(config_default_ini),
                                            "default", o->overrides, o->n_overrides, &plan->cfg,
                                            err);
    if (st)
        return st;
    fedpep_config *cfg = &plan->cfg;
    if (snprintf(plan->dir, sizeof plan->dir, "%s", o->run_dir ? o->run_dir : "runs") >=
            (int)sizeof plan->dir ||
        (!o->run_dir && snprintf(plan->dir, sizeof plan->dir, "runs/%s", cfg->run.name) >=
                            (int)sizeof plan->dir))
        return fp_fail(err, FP_ELIMIT, "launch: run folder name too long");
    /* The database and the endpoint live in the run folder (paths relative to the working
     * directory every child shares; config strings hold at most FP_CONFIG_STR_MAX bytes). */
    const char *base = strrchr(cfg->run.db, '/');
    base = base ? base + 1 : cfg->run.db;
    char db[2 * PATH_MAX];
    snprintf(db, sizeof db, "%s/%s", plan->dir, *base ? base : "fedpep.db");
    /* The endpoint: --endpoint, else [broker] endpoint when the configuration names one, else
     * ipc:// in the run folder (so that runs side by side never share a port). */
    bool configured = endpoint_configured(o);
    if (o->endpoint && configured && strcmp(o->endpoint, cfg->broker.endpoint))
        return fp_fail(err, FP_EINVAL,
                       "launch: --endpoint %s and [broker] endpoint = %s disagree; give one",
                       o->endpoint, cfg->broker.endpoint);
    int n_ep =
        o->endpoint ? snprintf(plan->endpoint, sizeof plan->endpoint, "%s", o->endpoint)
        : configured
            ? snprintf(plan->endpoint, sizeof plan->endpoint, "%s", cfg->broker.endpoint)
            : snprintf(plan->endpoint, sizeof plan->endpoint, "ipc://%s/broker.ipc", plan->dir);
    if (n_ep >= (int)sizeof plan->endpoint ||
        snprintf(cfg->run.db, sizeof cfg->run.db, "%s", db) >= (int)sizeof cfg->run.db)
        return fp_fail(err, FP_ELIMIT, "launch: run folder '%s' too long for [run] db / "
                                       "[broker] endpoint (%d bytes)",
                       plan->dir, FP_CONFIG_STR_MAX);
    /* An ipc:// path must fit a Unix socket address (108 bytes with its NUL). */
    if (!strncmp(plan->endpoint, "ipc://", 6) && strlen(plan->endpoint + 6) > 100)
        return fp_fail(err, FP_ELIMIT,
                       "launch: %s: ipc path longer than a Unix socket allows (100 bytes); "
                       "use a shorter --dir or a tcp:// --endpoint",
                       plan->endpoint);
    snprintf(cfg->broker.endpoint, sizeof cfg->broker.endpoint, "%s", plan->endpoint);
    *bad_config = false; /* what fails from here on is this machine's (files, folders) */
    struct stat sb;
    if (o->fresh && !stat(plan->dir, &sb) &&
        nftw(plan->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS))
        return fp_fail(err, FP_EIO, "launch: cannot remove %s: %s", plan->dir, strerror(errno));
    snprintf(plan->logs, sizeof plan->logs, "%s/logs", plan->dir);
    if ((st = mkdir_p(plan->logs, err)))
        return st;
    /* CURVE on: the keys of this machine's topology, so that a CURVE run is still one command
     * (keys already in the folder are kept, as `fedpep keygen` keeps them). */
    if (cfg->broker.curve_dir[0] &&
        (st = curve_keygen(cfg->broker.curve_dir, (uint32_t)cfg->federation.clients, err)))
        return st;
    /* The datasets folder as this launcher resolves it, so every child reads the same one
     * whatever its environment (absolute when it exists and fits). */
    char data[PATH_MAX], data_abs[PATH_MAX];
    if (!config_data_dir(cfg, data, sizeof data, NULL) && realpath(data, data_abs) &&
        strlen(data_abs) <= FP_CONFIG_STR_MAX)
        snprintf(cfg->data.dir, sizeof cfg->data.dir, "%.*s", FP_CONFIG_STR_MAX, data_abs);
    snprintf(plan->config_path, sizeof plan->config_path, "%s/config.ini", plan->dir);
    FILE *f = fopen(plan->config_path, "w");
    if (!f)
        return fp_fail(err, FP_EIO, "launch: %s: %s", plan->config_path, strerror(errno));
    fprintf(f, "# Effective configuration of this run, written by `fedpep launch` (%s%s).\n",
            o->config_path ? o->config_path : "embedded default",
            o->n_overrides ? " with overrides" : "");
    st = config_dump(cfg, f);
    if (fclose(f) || st)
        return fp_fail(err, FP_EIO, "launch: cannot write %s", plan->config_path);
    /* The training-slot pool its clients share. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    plan->train_slots = cfg->launch.train_slots ? cfg->launch.train_slots
                                                : (int)(cores > 0 ? cores : 1);
    char slots[PATH_MAX / 2], abs_dir[PATH_MAX / 4];
    if (!realpath(plan->dir, abs_dir))
        return fp_fail(err, FP_EIO, "launch: realpath %s: %s", plan->dir, strerror(errno));
    snprintf(slots, sizeof slots, "%s/slots", abs_dir);
    if ((st = slots_create(slots, plan->train_slots, err)))
        return st;
    snprintf(plan->slots_env, sizeof plan->slots_env, "%s=%d:%s", SLOTS_ENV, plan->train_slots,
             slots);
    const char *exe = o->exe ? o->exe : "/proc/self/exe";
    if (!realpath(exe, plan->exe))
        return fp_fail(err, FP_ENOTFOUND, "launch: executable %s: %s", exe, strerror(errno));
    return FP_OK;
}

/* Stop stages: the coordinator first (it ends the round loop cleanly), then the other actors,
 * then the store (it may still be committing), then the broker that carries their BYEs. */
enum { STAGE_COORDINATOR, STAGE_ACTORS, STAGE_STORE, STAGE_BROKER };

typedef struct topology {
    int broker, store, evaluator, coordinator;
    int *clients;
    int n_clients;
} topology;

static int add_role(sup_t *sup, const launch_plan *plan, const char *role, const char *id,
                    const char *log_name, fp_restart restart, bool final_exit, int stage,
                    fp_error *err)
{
    char log[PATH_MAX + 64];
    snprintf(log, sizeof log, "%s/%s.log", plan->logs, log_name);
    const char *argv[9];
    int a = 0;
    argv[a++] = plan->exe;
    argv[a++] = role;
    argv[a++] = strcmp(role, "broker") ? "--broker" : "--endpoint";
    argv[a++] = plan->endpoint;
    argv[a++] = "--config";
    argv[a++] = plan->config_path;
    if (id) {
        argv[a++] = "--id";
        argv[a++] = id;
    }
    argv[a] = NULL;
    sup_spec spec = {.name = log_name, .argv = argv, .restart = restart,
                     .final_exit = final_exit, .stop_stage = stage, .log_path = log};
    return sup_add(sup, &spec, err);
}

static fp_status build_topology(sup_t *sup, const launch_plan *plan, topology *t, fp_error *err)
{
    const fedpep_config *cfg = &plan->cfg;
    fp_restart policy = cfg->launch.restart;
    t->n_clients = cfg->federation.clients;
    t->clients = calloc((size_t)t->n_clients, sizeof *t->clients);
    if (!t->clients)
        return fp_fail(err, FP_ENOMEM, "launch: out of memory");
    /* A broker that dies is always restarted: every actor reconnects to it. */
    if ((t->broker = add_role(sup, plan, "broker", NULL, "broker", FP_RESTART_ALWAYS, false,
                              STAGE_BROKER, err)) < 0 ||
        (t->store = add_role(sup, plan, "store", NULL, "store", policy, false, STAGE_STORE,
                             err)) < 0 ||
        (t->evaluator = add_role(sup, plan, "evaluator", NULL, "evaluator", policy, false,
                                 STAGE_ACTORS, err)) < 0)
        return err ? err->status : FP_ENOMEM;
    for (int k = 0; k < t->n_clients; k++) {
        char id[16], name[32];
        snprintf(id, sizeof id, "%d", k);
        snprintf(name, sizeof name, "client.%d", k);
        if ((t->clients[k] = add_role(sup, plan, "client", id, name, policy, false,
                                      STAGE_ACTORS, err)) < 0)
            return err ? err->status : FP_ENOMEM;
    }
    /* The coordinator's exit code is the run's answer; only a death by signal restarts it. */
    if ((t->coordinator = add_role(sup, plan, "coordinator", NULL, "coordinator",
                                   FP_RESTART_ON_FAILURE, true, STAGE_COORDINATOR, err)) < 0)
        return err ? err->status : FP_ENOMEM;
    return FP_OK;
}

/* A role the launcher SIGKILLs once, as soon as round `at_round` is seen in progress (rounds
 * can be shorter than a poll, so a round passed over still gets its kill, one round late). */
typedef struct role_kill {
    int proc;
    int at_round; /* -1 = never */
    bool done;
} role_kill;

enum { KILL_COORDINATOR, KILL_BROKER, KILL_STORE, KILL_ROLES };

/* Faults the launcher injects (see docs/launch.md). */
typedef struct fault_plan {
    int64_t *client_kill_at; /* monotonic ms, -1 = none; drawn when a round starts */
    role_kill roles[KILL_ROLES];
} fault_plan;

static void schedule_round(fault_plan *f, const launch_options *o, const fedpep_config *cfg,
                           const topology *t, int round, double mean_round_ms)
{
    int64_t now = mono_ms();
    for (int k = 0; k < t->n_clients && o->kill_clients > 0; k++) {
        rng_t r;
        rng_derive(&r, (uint64_t)cfg->run.seed, (uint64_t)round, STREAM_CLIENT_KILL + k);
        bool kill_it = rng_uniform(&r) < o->kill_clients;
        f->client_kill_at[k] = kill_it ? now + (int64_t)(rng_uniform(&r) * mean_round_ms) : -1;
    }
}

static void inject_due(fault_plan *f, sup_t *sup, const topology *t, int committed)
{
    int64_t now = mono_ms();
    for (int k = 0; k < t->n_clients; k++) {
        if (f->client_kill_at[k] >= 0 && f->client_kill_at[k] <= now) {
            f->client_kill_at[k] = -1;
            if (sup_state_of(sup, t->clients[k]) == SUP_RUNNING)
                sup_kill(sup, t->clients[k], SIGKILL, true, NULL);
        }
    }
    for (int i = 0; i < KILL_ROLES; i++) {
        role_kill *rk = &f->roles[i];
        if (!rk->done && rk->at_round >= 0 && committed >= rk->at_round &&
            sup_state_of(sup, rk->proc) == SUP_RUNNING) {
            rk->done = true;
            sup_kill(sup, rk->proc, SIGKILL, true, NULL);
        }
    }
}

/* How the run ended, for the summary. */
typedef struct run_end {
    int code;          /* the launch's exit code */
    char how[160];     /* "finished: coordinator exited with code 0", "failed: ..." */
    char cause[512];   /* the failing process's error line, "" when none */
    char log[64];      /* its log file name, "" when no single process is to blame */
    char db_note[320]; /* what the database says after a failure, "" when untouched */
} run_end;

/* After a failure the launcher itself stopped (a fatal exit, restarts used up, the coordinator
 * failing before it could say so), the run must not stay `running` in the database. Called
 * once every child has exited: no store runs any more, so this is never a second writer. A
 * database that does not open (missing, not SQLite) or holds no such run is left untouched. */
static void record_failure(const launch_plan *plan, char *note, size_t cap)
{
    store_db_t *db = NULL;
    store_run run = {0};
    fp_error err = {0};
    fp_status st = store_db_open(&db, plan->cfg.run.db, 0, &err);
    if (st == FP_ENOTFOUND)
        snprintf(note, cap, "not created");
    else if (!st && (st = store_db_run_find(db, plan->cfg.run.name, &run, &err)) == FP_ENOTFOUND)
        snprintf(note, cap, "no run '%s' in it", plan->cfg.run.name);
    else if (!st && run.status == STORE_RUN_RUNNING &&
             (st = store_db_run_set_status(db, run.id, STORE_RUN_FAILED, &err)) == FP_OK)
        snprintf(note, cap, "run status: %s", store_run_status_name(STORE_RUN_FAILED));
    else if (!st)
        snprintf(note, cap, "run status: %s", store_run_status_name(run.status));
    else
        snprintf(note, cap, "run status not recorded: %s", err.msg);
    store_run_clear(&run);
    store_db_close(&db);
}

static void print_summary(FILE *out, const launch_plan *plan, const run_end *end)
{
    const char *name = plan->cfg.run.name;
    fprintf(out, "\nrun '%s' %s\n", name, end->how);
    if (end->cause[0])
        fprintf(out, "cause:    %s\n", end->cause);
    fprintf(out, "database: %s%s%s%s\n", plan->cfg.run.db, end->db_note[0] ? " (" : "",
            end->db_note, end->db_note[0] ? ")" : "");
    fprintf(out, "logs:     %s/%s%s%s\n", plan->logs, end->log[0] ? " (" : "", end->log,
            end->log[0] ? ")" : "");
    fprintf(out, "query:    sqlite3 -readonly -box %s \"SELECT x.round, x.status, x.sampled, "
                 "x.completed, x.dropped, x.late, round(x.train_loss, 4) AS loss, "
                 "round(x.eval_metric, 4) AS metric, x.bytes_down + x.bytes_up AS bytes, "
                 "x.wall_ms FROM rounds AS x JOIN runs AS r ON r.id = x.run WHERE r.name = '",
            plan->cfg.run.db);
    for (const char *c = name; *c; c++)
        fputs(*c == '\'' ? "''" : *c == '"' ? "\\\"" : (char[2]){*c, 0}, out);
    fprintf(out, "' ORDER BY x.round;\"\n");
    fflush(out);
}

/* The supervision loop; returns the launch's exit code. */
static int supervise(const launch_options *o, const launch_plan *plan, sup_t *sup,
                     const topology *t, console_t *console, FILE *out)
{
    const fedpep_config *cfg = &plan->cfg;
    fault_plan faults = {.roles = {
                             [KILL_COORDINATOR] = {t->coordinator,
                                                   cfg->faults.kill_coordinator_at_round, false},
                             [KILL_BROKER] = {t->broker, o->kill_broker_at_round, false},
                             [KILL_STORE] = {t->store, o->kill_store_at_round, false},
                         }};
    faults.client_kill_at = malloc((size_t)t->n_clients * sizeof *faults.client_kill_at);
    if (!faults.client_kill_at) {
        fprintf(stderr, "fedpep launch: out of memory\n");
        return 1;
    }
    for (int k = 0; k < t->n_clients; k++)
        faults.client_kill_at[k] = -1;
    int last_round = -2, culprit = -1;
    run_end end = {.code = -1};
    int64_t next_read = 0;
    while (end.code < 0) {
        fp_error err = {0};
        if (sup_poll(sup, 50, NULL, &err))
            fprintf(stderr, "fedpep launch: %s\n", err.msg);
        if (g_stop_signal) {
            end.code = 128 + g_stop_signal;
            snprintf(end.how, sizeof end.how, "interrupted by %s: actors stopped cleanly",
                     strsignal(g_stop_signal));
            break;
        }
        if (mono_ms() >= next_read) {
            next_read = mono_ms() + o->poll_ms;
            int committed = console_poll(console);
            if (committed >= 0 && committed != last_round) {
                last_round = committed;
                schedule_round(&faults, o, cfg, t, committed, console_mean_round_ms(console, 1000));
            }
            inject_due(&faults, sup, t, committed);
        }
        /* A fatal exit (bad input: it would fail again on every start) ends the run at once,
         * whoever it is; its exit code becomes the launch's. */
        for (int i = 0; end.code < 0 && i < sup_count(sup); i++) {
            if (sup_state_of(sup, i) == SUP_FATAL) {
                culprit = i;
                end.code = sup_last_status(sup, i);
                snprintf(end.how, sizeof end.how,
                         "failed: %s exited with code %d, a fatal failure: not restarted",
                         sup_name(sup, i), end.code);
            }
        }
        if (end.code < 0 && sup_state_of(sup, t->coordinator) == SUP_EXITED) {
            console_poll(console); /* its last rounds before the exit lines */
            int status = sup_last_status(sup, t->coordinator);
            end.code = status >= 0 ? status : 1;
            snprintf(end.how, sizeof end.how, "%s: coordinator exited with code %d",
                     end.code == 0 ? "finished" : "failed", end.code);
            culprit = end.code ? t->coordinator : -1;
        }
        for (int i = 0; end.code < 0 && i < sup_count(sup); i++) {
            if (sup_state_of(sup, i) == SUP_GAVE_UP) {
                culprit = i;
                end.code = 1;
                int deaths = sup_restarts(sup, i) + 1;
                snprintf(end.how, sizeof end.how, "failed: %s died %d time%s (max_restarts = %d)",
                         sup_name(sup, i), deaths, deaths == 1 ? "" : "s",
                         cfg->launch.max_restarts);
            }
        }
    }
    /* Its cause before the shutdown appends the other processes' lines to their logs. */
    if (culprit >= 0) {
        char cause[sizeof end.cause - 80];
        bool error_line = sup_cause(sup, culprit, cause, sizeof cause);
        if (cause[0])
            snprintf(end.cause, sizeof end.cause, "%s%s %s", sup_name(sup, culprit),
                     error_line ? ":" : " (no error line; its last line):", cause);
        const char *log = sup_log_path(sup, culprit), *base = log ? strrchr(log, '/') : NULL;
        snprintf(end.log, sizeof end.log, "%s", base ? base + 1 : "");
    }
    sup_shutdown(sup);
    console_poll(console); /* the rounds committed while stopping, then the exit lines */
    free(faults.client_kill_at);
    if (end.code != 0 && !g_stop_signal)
        record_failure(plan, end.db_note, sizeof end.db_note);
    print_summary(out, plan, &end);
    return end.code;
}

fp_status launch_run(const launch_options *o, int *exit_code, fp_error *err)
{
    *exit_code = FP_EXIT_FAILURE;
    launch_plan *plan = calloc(1, sizeof *plan);
    if (!plan)
        return fp_fail(err, FP_ENOMEM, "launch: out of memory");
    bool bad_config = false;
    fp_status st = plan_run(o, plan, &bad_config, err);
    if (st) {
        if (bad_config)
            *exit_code = FP_EXIT_USAGE;
        free(plan);
        return st;
    }
    FILE *out = o->out ? o->out : stdout;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK)) {
        free(plan);
        return fp_fail(err, FP_EIO, "launch: pipe: %s", strerror(errno));
    }
    g_stop_signal = 0;
    g_wake_fd = pipefd[1];
    struct sigaction sa = {0}, old_int, old_term, old_chld;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGCHLD, &sa, &old_chld);

    const char *env[] = {plan->slots_env, NULL};
    /* A role that exits 2 (its configuration) or 78 (its model, dataset or database) would
     * fail the same way on every start: never restarted, and the run stops. */
    static const int fatal_exits[] = {FP_EXIT_USAGE, FP_EXIT_INPUT, 0};
    /* Round lines and a progress line on out; process events held until the rounds before. */
    console_t *console = console_new(plan->cfg.run.db, plan->cfg.run.name, plan->cfg.run.rounds,
                                     o->events ? o->events : stderr,
                                     &(progress_options){.out = out, .tty = PROGRESS_TTY_AUTO});
    sup_options so = {.max_restarts = plan->cfg.launch.max_restarts,
                      .restart_delay_ms = plan->cfg.launch.restart_delay_ms,
                      .grace_ms = o->grace_ms, .wake_fd = pipefd[0],
                      .events = console_events(console),
                      .env = env, .fatal_exits = fatal_exits};
    topology t = {0};
    sup_t *sup = console ? sup_new(&so, err) : NULL;
    if (!console)
        st = fp_fail(err, FP_ENOMEM, "launch: out of memory");
    else
        st = sup ? build_topology(sup, plan, &t, err) : FP_ENOMEM;
    fprintf(out, "fedpep launch: run '%s' in %s/ — %d clients, %d per round, %d rounds, "
                 "%d training slots, broker %s\n",
            plan->cfg.run.name, plan->dir, plan->cfg.federation.clients,
            plan->cfg.federation.clients_per_round, plan->cfg.run.rounds, plan->train_slots,
            plan->endpoint);
    fflush(out);
    /* Broker first so the actors find it (they would retry anyway), the coordinator last. */
    for (int i = 0; !st && i < sup_count(sup); i++) {
        st = sup_start(sup, i, err);
        if (i == t.broker) {
            struct timespec nap = {0, 200 * 1000 * 1000};
            nanosleep(&nap, NULL);
        }
    }
    if (!st)
        *exit_code = supervise(o, plan, sup, &t, console, out);
    sup_destroy(&sup);
    console_destroy(&console);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
    g_wake_fd = -1;
    close(pipefd[0]);
    close(pipefd[1]);
    free(t.clients);
    free(plan);
    return st;
}
