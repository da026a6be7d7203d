/* supervisor.c — fork+exec, reaping, restart rules and ordered shutdown of child processes (see
 * supervisor.h). Between fork and exec the child calls only async-signal-safe functions: every
 * string and array it needs is built before fork. */
#include "launch/supervisor.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct sup_proc {
    char *name;
    char **argv;
    char *log_path;
    fp_restart restart;
    bool final_exit;
    int stop_stage;
    sup_state state;
    pid_t pid;
    int restarts, starts;
    int last_status;
    bool injected; /* the running instance was killed on purpose by the caller */
    int64_t restart_at_ms;
    off_t log_start; /* size of the log when the latest instance started: where its output is */
} sup_proc;

struct sup {
    sup_options o;
    int fatal[16]; /* o.fatal_exits, copied (0-ended) */
    sup_proc *procs;
    int n, cap;
    char **envp; /* environ + o.env, built once at sup_new */
    bool stopping;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void event(const sup_t *sup, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void event(const sup_t *sup, const char *fmt, ...)
{
    if (!sup->o.events)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("launch: ", sup->o.events);
    vfprintf(sup->o.events, fmt, ap);
    fputc('\n', sup->o.events);
    fflush(sup->o.events);
    va_end(ap);
}

sup_t *sup_new(const sup_options *options, fp_error *err)
{
    if (!options || options->max_restarts < 0 || options->restart_delay_ms < 0 ||
        options->grace_ms < 0) {
        fp_fail(err, FP_EINVAL, "supervisor: negative limits");
        return NULL;
    }
    sup_t *sup = calloc(1, sizeof *sup);
    if (!sup) {
        fp_fail(err, FP_ENOMEM, "supervisor: out of memory");
        return NULL;
    }
    sup->o = *options;
    for (size_t i = 0; options->fatal_exits && options->fatal_exits[i]; i++) {
        if (i + 1 == sizeof sup->fatal / sizeof sup->fatal[0] || options->fatal_exits[i] < 0 ||
            options->fatal_exits[i] > 255) {
            free(sup);
            fp_fail(err, FP_EINVAL, "supervisor: fatal_exits: at most 15 codes of 1..255");
            return NULL;
        }
        sup->fatal[i] = options->fatal_exits[i];
    }
    sup->o.fatal_exits = NULL; /* the copy above is what counts */
    size_t n_env = 0, n_extra = 0;
    while (environ && environ[n_env])
        n_env++;
    while (options->env && options->env[n_extra])
        n_extra++;
    sup->envp = calloc(n_env + n_extra + 1, sizeof *sup->envp);
    if (!sup->envp) {
        free(sup);
        fp_fail(err, FP_ENOMEM, "supervisor: out of memory");
        return NULL;
    }
    /* Extra variables replace inherited ones of the same name. */
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t len = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
        bool replaced = false;
        for (size_t j = 0; j < n_extra; j++)
            replaced |= !strncmp(options->env[j], environ[i], len);
        if (!replaced)
            sup->envp[k++] = environ[i];
    }
    for (size_t j = 0; j < n_extra; j++)
        sup->envp[k++] = (char *)options->env[j];
    return sup;
}

int sup_add(sup_t *sup, const sup_spec *spec, fp_error *err)
{
    if (!spec || !spec->name || !spec->argv || !spec->argv[0]) {
        fp_fail(err, FP_EINVAL, "supervisor: a child needs a name and argv[0]");
        return -1;
    }
    if (sup->n == sup->cap) {
        int cap = sup->cap ? 2 * sup->cap : 16;
        sup_proc *p = realloc(sup->procs, (size_t)cap * sizeof *p);
        if (!p) {
            fp_fail(err, FP_ENOMEM, "supervisor: out of memory");
            return -1;
        }
        sup->procs = p;
        sup->cap = cap;
    }
    sup_proc *p = &sup->procs[sup->n];
    memset(p, 0, sizeof *p);
    size_t argc = 0;
    while (spec->argv[argc])
        argc++;
    p->argv = calloc(argc + 1, sizeof *p->argv);
    p->name = strdup(spec->name);
    p->log_path = dup_or_null(spec->log_path);
    bool ok = p->argv && p->name && (!spec->log_path || p->log_path);
    for (size_t i = 0; ok && i < argc; i++)
        ok = (p->argv[i] = strdup(spec->argv[i])) != NULL;
    if (!ok) {
        for (size_t i = 0; p->argv && i < argc; i++)
            free(p->argv[i]);
        free(p->argv);
        free(p->name);
        free(p->log_path);
        fp_fail(err, FP_ENOMEM, "supervisor: out of memory");
        return -1;
    }
    p->restart = spec->restart;
    p->final_exit = spec->final_exit;
    p->stop_stage = spec->stop_stage;
    p->state = SUP_IDLE;
    p->last_status = INT32_MIN;
    return sup->n++;
}

/* The child side of fork: own group, die with the parent, log file, default signals, exec. */
static void child_exec(const sup_t *sup, const sup_proc *p, pid_t parent)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the parent died before prctl took effect */
        _exit(127);
    int in = open("/dev/null", O_RDONLY);
    if (in >= 0) {
        dup2(in, 0);
        if (in > 2)
            close(in);
    }
    if (p->log_path) {
        int fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0)
            _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    execve(p->argv[0], p->argv, sup->envp);
    _exit(127);
}

fp_status sup_start(sup_t *sup, int index, fp_error *err)
{
    if (index < 0 || index >= sup->n)
        return fp_fail(err, FP_EINVAL, "supervisor: no child %d", index);
    sup_proc *p = &sup->procs[index];
    if (p->state == SUP_RUNNING)
        return fp_fail(err, FP_ESTATE, "supervisor: %s is already running", p->name);
    if (sup->stopping)
        return fp_fail(err, FP_ESTATE, "supervisor: shutting down");
    fflush(NULL); /* no buffered output duplicated into the child */
    struct stat sb;
    p->log_start = p->log_path && !stat(p->log_path, &sb) ? sb.st_size : 0;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return fp_fail(err, FP_EIO, "supervisor: fork for %s: %s", p->name, strerror(errno));
    if (pid == 0)
        child_exec(sup, p, parent);
    setpgid(pid, pid); /* also here, so a kill right after start reaches the group */
    p->pid = pid;
    p->state = SUP_RUNNING;
    p->injected = false;
    p->starts++;
    event(sup, "%s started (pid %d)", p->name, (int)pid);
    return FP_OK;
}

static void describe(char *out, size_t cap, int status)
{
    if (status >= 0)
        snprintf(out, cap, "exited with code %d", status);
    else
        snprintf(out, cap, "killed by signal %d (%s)", -status, strsignal(-status));
}

static bool is_fatal(const sup_t *sup, int status)
{
    for (size_t i = 0; status > 0 && sup->fatal[i]; i++)
        if (sup->fatal[i] == status)
            return true;
    return false;
}

/* A second event line with the cause of a failed exit, when its log says one. */
static void cause_event(const sup_t *sup, const sup_proc *p, int status)
{
    char cause[512];
    int i = (int)(p - sup->procs);
    if (status > 0 && sup_cause(sup, i, cause, sizeof cause))
        event(sup, "%s: %s", p->name, cause);
}

/* The restart rules for a child that just ended with `status`. */
static void on_death(sup_t *sup, sup_proc *p, int status)
{
    char how[96];
    describe(how, sizeof how, status);
    p->pid = 0;
    p->last_status = status;
    if (!sup->stopping && !p->injected && is_fatal(sup, status)) {
        p->state = SUP_FATAL;
        event(sup, "%s %s: not restarted (a fatal failure: it would recur on every start)", p->name,
              how);
        cause_event(sup, p, status);
        return;
    }
    bool by_signal = status < 0;
    bool wanted = p->injected ||
                  (p->final_exit ? by_signal
                                 : p->restart == FP_RESTART_ALWAYS ||
                                       (p->restart == FP_RESTART_ON_FAILURE && status != 0));
    if (p->final_exit && !by_signal)
        wanted = false;
    if (sup->stopping || !wanted) {
        p->state = SUP_EXITED;
        event(sup, "%s %s", p->name, how);
        if (!sup->stopping)
            cause_event(sup, p, status);
        return;
    }
    if (!p->injected && p->restarts >= sup->o.max_restarts) {
        p->state = SUP_GAVE_UP;
        event(sup, "%s %s; no restart left (max_restarts = %d)", p->name, how,
              sup->o.max_restarts);
        cause_event(sup, p, status);
        return;
    }
    if (!p->injected)
        p->restarts++;
    p->state = SUP_RESTARTING;
    p->restart_at_ms = mono_ms() + sup->o.restart_delay_ms;
    event(sup, "%s %s%s; restart %d/%d in %d ms", p->name, how,
          p->injected ? " (injected fault)" : "", p->restarts, sup->o.max_restarts,
          sup->o.restart_delay_ms);
    if (!p->injected)
        cause_event(sup, p, status);
}

static int reap(sup_t *sup)
{
    int deaths = 0;
    for (;;) {
        int ws = 0;
        pid_t pid = waitpid(-1, &ws, WNOHANG);
        if (pid <= 0)
            break;
        for (int i = 0; i < sup->n; i++) {
            sup_proc *p = &sup->procs[i];
            if (p->state == SUP_RUNNING && p->pid == pid) {
                on_death(sup, p, WIFEXITED(ws) ? WEXITSTATUS(ws) : -WTERMSIG(ws));
                deaths++;
                break;
            }
        }
    }
    return deaths;
}

static void drain(int fd)
{
    char buf[64];
    while (fd >= 0 && read(fd, buf, sizeof buf) > 0) {
    }
}

fp_status sup_poll(sup_t *sup, int timeout_ms, int *deaths, fp_error *err)
{
    int64_t end = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int died = 0;
    fp_status st = FP_OK;
    for (;;) {
        died += reap(sup);
        int64_t now = mono_ms(), next = end;
        for (int i = 0; i < sup->n; i++) {
            sup_proc *p = &sup->procs[i];
            if (p->state != SUP_RESTARTING)
                continue;
            if (p->restart_at_ms <= now) {
                fp_error e = {0};
                if (sup_start(sup, i, &e)) {
                    p->state = SUP_GAVE_UP;
                    st = fp_fail(err, FP_EIO, "%s", e.msg);
                }
            } else if (p->restart_at_ms < next) {
                next = p->restart_at_ms;
            }
        }
        now = mono_ms();
        if (died || st || now >= end)
            break;
        int wait = (int)(next - now);
        if (sup->o.wake_fd < 0 && wait > 10)
            wait = 10;
        struct pollfd pfd = {.fd = sup->o.wake_fd, .events = POLLIN};
        if (sup->o.wake_fd >= 0) {
            if (poll(&pfd, 1, wait) > 0)
                drain(sup->o.wake_fd);
        } else {
            struct timespec nap = {wait / 1000, (long)(wait % 1000) * 1000000L};
            nanosleep(&nap, NULL);
        }
    }
    if (deaths)
        *deaths = died;
    return st;
}

static void signal_group(const sup_proc *p, int sig)
{
    if (p->pid > 0 && kill(-p->pid, sig) && errno == ESRCH)
        kill(p->pid, sig);
}

fp_status sup_kill(sup_t *sup, int index, int sig, bool injected, fp_error *err)
{
    if (index < 0 || index >= sup->n)
        return fp_fail(err, FP_EINVAL, "supervisor: no child %d", index);
    sup_proc *p = &sup->procs[index];
    if (p->state != SUP_RUNNING)
        return fp_fail(err, FP_ESTATE, "supervisor: %s is not running", p->name);
    p->injected = injected;
    if (injected)
        event(sup, "%s: injected signal %d (pid %d)", p->name, sig, (int)p->pid);
    signal_group(p, sig);
    return FP_OK;
}

static bool stage_alive(const sup_t *sup, int stage)
{
    for (int i = 0; i < sup->n; i++)
        if (sup->procs[i].stop_stage == stage && sup->procs[i].state == SUP_RUNNING)
            return true;
    return false;
}

void sup_shutdown(sup_t *sup)
{
    if (!sup)
        return;
    sup->stopping = true;
    for (int i = 0; i < sup->n; i++)
        if (sup->procs[i].state == SUP_RESTARTING)
            sup->procs[i].state = SUP_EXITED;
    for (;;) {
        int stage = INT_MAX;
        for (int i = 0; i < sup->n; i++)
            if (sup->procs[i].state == SUP_RUNNING && sup->procs[i].stop_stage < stage)
                stage = sup->procs[i].stop_stage;
        if (stage == INT_MAX)
            break;
        for (int i = 0; i < sup->n; i++)
            if (sup->procs[i].stop_stage == stage && sup->procs[i].state == SUP_RUNNING)
                signal_group(&sup->procs[i], SIGTERM);
        int64_t end = mono_ms() + sup->o.grace_ms;
        while (stage_alive(sup, stage) && mono_ms() < end)
            sup_poll(sup, 10, NULL, NULL);
        for (int i = 0; i < sup->n; i++) {
            sup_proc *p = &sup->procs[i];
            if (p->stop_stage == stage && p->state == SUP_RUNNING) {
                event(sup, "%s ignored SIGTERM for %d ms: SIGKILL", p->name, sup->o.grace_ms);
                signal_group(p, SIGKILL);
                int ws = 0;
                if (waitpid(p->pid, &ws, 0) == p->pid)
                    on_death(sup, p, WIFEXITED(ws) ? WEXITSTATUS(ws) : -WTERMSIG(ws));
                else
                    p->state = SUP_EXITED;
            }
        }
    }
}

void sup_destroy(sup_t **sup_p)
{
    if (!sup_p || !*sup_p)
        return;
    sup_t *sup = *sup_p;
    sup_shutdown(sup);
    for (int i = 0; i < sup->n; i++) {
        sup_proc *p = &sup->procs[i];
        for (size_t k = 0; p->argv[k]; k++)
            free(p->argv[k]);
        free(p->argv);
        free(p->name);
        free(p->log_path);
    }
    free(sup->procs);
    free(sup->envp);
    free(sup);
    *sup_p = NULL;
}

static const sup_proc *proc_at(const sup_t *sup, int index)
{
    return index >= 0 && index < sup->n ? &sup->procs[index] : NULL;
}

int sup_count(const sup_t *sup) { return sup->n; }
sup_state sup_state_of(const sup_t *sup, int i) { return proc_at(sup, i) ? sup->procs[i].state : SUP_IDLE; }
pid_t sup_pid(const sup_t *sup, int i) { return proc_at(sup, i) ? sup->procs[i].pid : 0; }
int sup_restarts(const sup_t *sup, int i) { return proc_at(sup, i) ? sup->procs[i].restarts : 0; }
int sup_starts(const sup_t *sup, int i) { return proc_at(sup, i) ? sup->procs[i].starts : 0; }
int sup_last_status(const sup_t *sup, int i)
{
    return proc_at(sup, i) ? sup->procs[i].last_status : INT32_MIN;
}
const char *sup_name(const sup_t *sup, int i) { return proc_at(sup, i) ? sup->procs[i].name : "?"; }
const char *sup_log_path(const sup_t *sup, int i)
{
    return proc_at(sup, i) ? sup->procs[i].log_path : NULL;
}

/* Copies the line [s, e) into out, cut to cap - 1 bytes. */
static void copy_line(char *out, size_t cap, const char *s, const char *e)
{
    size_t n = (size_t)(e - s);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = 0;
}

bool sup_cause(const sup_t *sup, int i, char *out, size_t cap)
{
    if (!cap)
        return false;
    out[0] = 0;
    const sup_proc *p = proc_at(sup, i);
    int fd = p && p->log_path ? open(p->log_path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        return false;
    struct stat sb;
    char *buf = NULL;
    ssize_t got = -1;
    if (!fstat(fd, &sb) && sb.st_size > p->log_start) {
        off_t from = sb.st_size - p->log_start > SUP_CAUSE_WINDOW ? sb.st_size - SUP_CAUSE_WINDOW
                                                                  : p->log_start;
        size_t len = (size_t)(sb.st_size - from);
        if ((buf = malloc(len + 1)))
            got = pread(fd, buf, len, from);
    }
    close(fd);
    bool found = false;
    if (got > 0) {
        buf[got] = 0;
        const char *last = NULL, *last_end = NULL;
        for (const char *s = buf, *e; *s && !found; s = *e ? e + 1 : e) {
            e = strchr(s, '\n');
            if (!e)
                e = s + strlen(s);
            const char *colon = memmem(s, (size_t)(e - s), ": error: ", 9);
            const char *mark = !strncmp(s, "error: ", 7) ? s : colon ? colon + 2 : NULL;
            if (mark) {
                copy_line(out, cap, mark, e);
                found = true;
            } else if (e > s) {
                last = s;
                last_end = e;
            }
        }
        if (!found && last)
            copy_line(out, cap, last, last_end);
    }
    free(buf);
    return found;
}
