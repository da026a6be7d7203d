/* console.c — the launcher's output while a run goes (see console.h). Opens the database
 * read-only and reads inside one snapshot per poll, so a round shows whole or not at all. */
#include "launch/console.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "launch/launch.h"
#include "storage/store_db.h"

struct console {
    char *db_path, *run_name;
    int total;
    store_db_t *db;
    progress_t *progress; /* round lines (notes) and the "running" line */
    bool begun;           /* the run was found: progress measured from there */
    int first;            /* rounds committed when it was found (by an earlier launch) */
    int printed;          /* rounds already printed */
    int labelled;         /* the round the progress label names; -1 = none */
    double sum_wall_ms;   /* over printed rounds */
    bool finished;
    FILE *events; /* where held events go */
    FILE *held;   /* memory stream the supervisor writes its events into */
    char *held_buf;
    size_t held_len;
};

console_t *console_new(const char *db_path, const char *run_name, int total_rounds, FILE *events,
                       const progress_options *po)
{
    console_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    progress_options def = {.out = stdout, .tty = PROGRESS_TTY_AUTO};
    c->db_path = strdup(db_path);
    c->run_name = strdup(run_name);
    c->progress = progress_new(po ? po : &def);
    c->held = open_memstream(&c->held_buf, &c->held_len);
    if (!c->db_path || !c->run_name || !c->progress || !c->held) {
        console_destroy(&c);
        return NULL;
    }
    c->total = total_rounds;
    c->labelled = -1;
    c->events = events ? events : stderr;
    return c;
}

/* The held events, after whatever the console printed before them. */
static void release_events(console_t *c)
{
    if (!c->held || fflush(c->held) || c->held_len == 0)
        return;
    progress_clear(c->progress);
    fwrite(c->held_buf, 1, c->held_len, c->events);
    fflush(c->events);
    fseek(c->held, 0, SEEK_SET); /* empty again: the size follows the position */
    fflush(c->held);
}

void console_destroy(console_t **c_p)
{
    if (!c_p || !*c_p)
        return;
    console_t *c = *c_p;
    release_events(c);
    if (c->held)
        fclose(c->held);
    free(c->held_buf);
    progress_destroy(&c->progress);
    store_db_close(&c->db);
    free(c->db_path);
    free(c->run_name);
    free(c);
    *c_p = NULL;
}

FILE *console_events(console_t *c)
{
    return !c ? NULL : c->held ? c->held : c->events;
}

static void human_bytes(char *buf, size_t cap, double b)
{
    if (b >= 1e9)
        snprintf(buf, cap, "%.2f GB", b / 1e9);
    else if (b >= 1e6)
        snprintf(buf, cap, "%.2f MB", b / 1e6);
    else if (b >= 1e3)
        snprintf(buf, cap, "%.1f kB", b / 1e3);
    else
        snprintf(buf, cap, "%.0f B", b);
}

void launch_format_round(char *buf, size_t cap, const store_round *r, int total, double eta_s)
{
    char loss[32] = "-", metric[32] = "-", bytes[32], eta[64] = "";
    if (!isnan(r->train_loss))
        snprintf(loss, sizeof loss, "%.4f", r->train_loss);
    if (!isnan(r->eval_metric))
        snprintf(metric, sizeof metric, "%.4f", r->eval_metric);
    human_bytes(bytes, sizeof bytes, (double)r->bytes_down + (double)r->bytes_up);
    if (eta_s >= 0) {
        char d[48];
        progress_format_duration(d, sizeof d, eta_s);
        snprintf(eta, sizeof eta, "  ETA %s", d);
    }
    snprintf(buf, cap,
             "round %d (%d of %d)%s  sampled %d ok %d dropped %d late %d  loss %s  metric %s  %s  "
             "%.1f s%s",
             r->round, r->round + 1, total, r->status == STORE_ROUND_FAILED ? " FAILED" : "",
             r->sampled, r->completed, r->dropped, r->late, loss, metric, bytes,
             (double)r->wall_ms / 1e3, eta);
}

/* Reads the run's rounds in one snapshot; -1 while the run is not there. */
static int read_rounds(console_t *c, store_round **rounds, size_t *n)
{
    fp_error err = {0};
    *rounds = NULL;
    *n = 0;
    if (!c->db && store_db_open(&c->db, c->db_path, STORE_DB_READONLY, &err))
        return -1; /* not created yet (or the store is creating it) */
    if (store_db_read_begin(c->db, &err))
        return -1;
    store_run run = {0};
    int committed = -1;
    if (!store_db_run_find(c->db, c->run_name, &run, &err) &&
        !store_db_rounds_list(c->db, run.id, rounds, n, &err)) {
        committed = (int)*n;
        c->finished = run.status == STORE_RUN_FINISHED;
    }
    store_db_read_end(c->db, &err);
    store_run_clear(&run);
    return committed;
}

int console_poll(console_t *c)
{
    store_round *rounds = NULL;
    size_t n = 0;
    int committed = read_rounds(c, &rounds, &n);
    if (committed >= 0 && !c->begun) {
        /* Measured from here: rounds an earlier launch committed are not this one's pace. */
        progress_begin(c->progress, committed, c->total);
        c->begun = true;
        c->first = committed;
    }
    for (size_t i = (size_t)c->printed; committed >= 0 && i < n; i++) {
        c->sum_wall_ms += (double)rounds[i].wall_ms;
        bool ours = (int)i >= c->first; /* committed while this launch watched */
        if (ours)
            progress_set(c->progress, (double)i + 1);
        int left = c->total - rounds[i].round - 1;
        char line[256];
        launch_format_round(line, sizeof line, &rounds[i], c->total,
                            ours && left > 0 ? progress_eta_s(c->progress) : -1);
        progress_note(c->progress, "%s", line);
        c->printed = (int)i + 1;
    }
    free(rounds);
    release_events(c);
    if (committed >= 0 && committed < c->total && committed != c->labelled) {
        progress_label(c->progress, "round %d (%d of %d) running", committed, committed + 1,
                       c->total);
        c->labelled = committed;
    } else if (committed >= c->total) {
        progress_clear(c->progress); /* nothing is running any more */
    } else {
        progress_tick(c->progress);
    }
    return committed >= 0 ? committed : c->printed > 0 ? c->printed : -1;
}

double console_mean_round_ms(const console_t *c, double fallback)
{
    return c->printed ? c->sum_wall_ms / c->printed : fallback;
}

bool console_finished(const console_t *c)
{
    return c->finished;
}
