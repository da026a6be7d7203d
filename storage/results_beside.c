/* results_beside.c — see results_beside.h. */
#include "storage/results_beside.h"

#include <string.h>

#define MAX_MODELS 8

/* The tables of task t's task on every model, t's first: how many. */
static size_t tables_of(const rm_model *m, size_t t, int *out)
{
    size_t n = 0;
    for (size_t u = t; u < m->n_tasks && n < MAX_MODELS; u++)
        if (!strcmp(m->tasks[u].task, m->tasks[t].task))
            out[n++] = (int)u;
    return n;
}

/* Whether an earlier table already holds t's task (its section was written there). */
static bool shown_before(const rm_model *m, size_t t)
{
    for (size_t u = 0; u < t; u++)
        if (!strcmp(m->tasks[u].task, m->tasks[t].task))
            return true;
    return false;
}

/* Whether the strategy of setting i was met before among the settings of these tables. */
static bool strategy_seen(const rm_model *m, size_t i, const int *tables, size_t n)
{
    const char *name = m->runs[m->settings[i].runs[0]].run.strategy;
    for (size_t j = 0; j < i; j++) {
        const rm_setting *s = &m->settings[j];
        for (size_t k = 0; k < n; k++)
            if (s->task == tables[k] && !s->variant[0] &&
                !strcmp(m->runs[s->runs[0]].run.strategy, name))
                return true;
    }
    return false;
}

static void write_cell(FILE *out, const rm_model *m, const rm_setting *s, rm_measure which,
                       double scale, int decimals)
{
    char buf[96];
    rm_stat st = s ? rm_setting_stat(m, s, which) : (rm_stat){0, 0, 0};
    fprintf(out, " %s |", rm_format_stat(buf, sizeof buf, st, scale, decimals));
}

static void write_task(FILE *out, const rm_model *m, const int *tables, size_t n)
{
    static const struct {
        rm_measure which;
        const char *name;
        double scale;
        int decimals;
    } COLS[] = {{RM_BEST_GLOBAL, "best global", 100, 1},
                {RM_BEST_POOLED, "best pooled", 100, 1},
                {RM_CPU_S, "client CPU s / round", 1, 2}};
    const size_t nc = sizeof COLS / sizeof COLS[0];
    fprintf(out, "### %s\n\n| strategy |", m->tasks[tables[0]].task);
    for (size_t c = 0; c < nc; c++)
        for (size_t k = 0; k < n; k++)
            fprintf(out, " %s: %s |", COLS[c].name, m->tasks[tables[k]].model);
    fprintf(out, "\n| --- |");
    for (size_t c = 0; c < nc * n; c++)
        fprintf(out, " ---: |");
    fprintf(out, "\n");
    for (size_t i = 0; i < m->n_settings; i++) {
        const rm_setting *s = &m->settings[i];
        bool mine = false;
        for (size_t k = 0; k < n; k++)
            mine |= s->task == tables[k];
        if (!mine || s->variant[0] || strategy_seen(m, i, tables, n))
            continue;
        const char *name = m->runs[s->runs[0]].run.strategy;
        const rm_setting *per_model[MAX_MODELS];
        for (size_t k = 0; k < n; k++)
            per_model[k] = rm_main_setting(m, tables[k], name);
        fprintf(out, "| %s |", name);
        for (size_t c = 0; c < nc; c++)
            for (size_t k = 0; k < n; k++)
                write_cell(out, m, per_model[k], COLS[c].which, COLS[c].scale, COLS[c].decimals);
        fprintf(out, "\n");
    }
    fprintf(out, "\n");
}

void results_write_beside(FILE *out, const rm_model *m)
{
    bool header = false;
    for (size_t t = 0; t < m->n_tasks; t++) {
        int tables[MAX_MODELS];
        size_t n = tables_of(m, t, tables);
        if (n < 2 || shown_before(m, t))
            continue;
        if (!header)
            fprintf(out, "## Models side by side\n\nThe tasks recorded on more than one model, "
                         "each strategy's settings without variant (their own tables above "
                         "give every column); metrics ×100, mean ± sd over the seeds.\n\n");
        header = true;
        write_task(out, m, tables, n);
    }
}
