/* progress.c — round lines from the run database (see progress.h). Opens the file read-only and
 * reads inside one snapshot per poll, so a round shows whole or not at all. */
#include "launch/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "launch/launch.h"

struct progress {
    char *db_path, *run_name;
    int total;
    FILE *out;
    store_db_t *db;
    int printed;        /* rounds already printed */
    double sum_wall_ms; /* over printed rounds */
    bool finished;
};

progress_t *progress_new(const char *db_path, const char *run_name, int total_rounds, FILE *out)
{
    progress_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->db_path = strdup(db_path);
    p->run_name = strdup(run_name);
    if (!p->db_path || !p->run_name) {
        progress_destroy(&p);
        return NULL;
    }
    p->total = total_rounds;
    p->out = out;
    return p;
}

void progress_destroy(progress_t **p_p)
{
    if (!p_p || !*p_p)
        return;
    progress_t *p = *p_p;
    store_db_close(&p->db);
    free(p->db_path);
    free(p->run_name);
    free(p);
    *p_p = NULL;
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
    char loss[32] = "-", metric[32] = "-", bytes[32], eta[48] = "";
    if (!isnan(r->train_loss))
        snprintf(loss, sizeof loss, "%.4f", r->train_loss);
    if (!isnan(r->eval_metric))
        snprintf(metric, sizeof metric, "%.4f", r->eval_metric);
    human_bytes(bytes, sizeof bytes, (double)r->bytes_down + (double)r->bytes_up);
    if (eta_s >= 0)
        snprintf(eta, sizeof eta, "  ETA %.0f s", eta_s);
    snprintf(buf, cap,
             "round %d/%d%s  sampled %d ok %d dropped %d late %d  loss %s  metric %s  %s  "
             "%.1f s%s",
             r->round + 1, total, r->status == STORE_ROUND_FAILED ? " FAILED" : "", r->sampled,
             r->completed, r->dropped, r->late, loss, metric, bytes, (double)r->wall_ms / 1e3,
             eta);
}

int progress_poll(progress_t *p)
{
    fp_error err = {0};
    if (!p->db && store_db_open(&p->db, p->db_path, STORE_DB_READONLY, &err))
        return -1; /* not created yet (or the store is creating it) */
    if (store_db_read_begin(p->db, &err))
        return p->printed > 0 ? p->printed : -1;
    store_run run = {0};
    store_round *rounds = NULL;
    size_t n = 0;
    int committed = -1;
    if (!store_db_run_find(p->db, p->run_name, &run, &err) &&
        !store_db_rounds_list(p->db, run.id, &rounds, &n, &err)) {
        committed = (int)n;
        p->finished = run.status == STORE_RUN_FINISHED;
    }
    store_db_read_end(p->db, &err);
    for (size_t i = (size_t)p->printed; committed >= 0 && i < n; i++) {
        p->sum_wall_ms += (double)rounds[i].wall_ms;
        double mean_s = p->sum_wall_ms / (double)(i + 1) / 1e3;
        int left = p->total - rounds[i].round - 1;
        char line[256];
        launch_format_round(line, sizeof line, &rounds[i], p->total,
                            left > 0 ? mean_s * left : -1);
        fprintf(p->out, "%s\n", line);
        p->printed = (int)i + 1;
    }
    fflush(p->out);
    free(rounds);
    store_run_clear(&run);
    return committed;
}

double progress_mean_round_ms(const progress_t *p, double fallback)
{
    return p->printed ? p->sum_wall_ms / p->printed : fallback;
}

bool progress_finished(const progress_t *p)
{
    return p->finished;
}
