/* results_wins.c — see results_wins.h. */
#include "storage/results_wins.h"

#include <math.h>
#include <string.h>

#define REFERENCE "fedpeptao"

/* The strategies FedPepTAO is compared with: every other one with a setting without variant,
 * in the order of the settings (by task, then first run). */
static size_t baselines(const rm_model *m, const char **out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_settings; i++) {
        const rm_setting *s = &m->settings[i];
        const char *name = m->runs[s->runs[0]].run.strategy;
        if (s->variant[0] || !strcmp(name, REFERENCE))
            continue;
        size_t j = 0;
        while (j < n && strcmp(out[j], name))
            j++;
        if (j == n && n < cap)
            out[n++] = name;
    }
    return n;
}

/* The first table on this model (tables are grouped by model, the main one first). */
static size_t first_task_of_model(const rm_model *m, const char *model)
{
    size_t t = 0;
    while (t < m->n_tasks && strcmp(m->tasks[t].model, model))
        t++;
    return t;
}

/* Per baseline and metric: wins, losses, within noise, noise unknown; the gaps' sum. */
typedef struct tally {
    int count[5];
    int n;
    double sum;
} tally;

static void tally_add(tally *t, rm_gap g)
{
    if (g.v == RM_UNMEASURED)
        return;
    t->count[g.v]++;
    t->n++;
    t->sum += g.d;
}

static void tally_print(FILE *out, const tally *t)
{
    if (!t->n) {
        fprintf(out, " - | - |");
        return;
    }
    fprintf(out, " %d / %d / %d", t->count[RM_HIGHER], t->count[RM_LOWER], t->count[RM_WITHIN]);
    if (t->count[RM_NOISE_UNKNOWN])
        fprintf(out, " (+%d unjudged)", t->count[RM_NOISE_UNKNOWN]);
    fprintf(out, " | %+.1f |", 100 * t->sum / t->n);
}

static void write_rule(FILE *out, double sd_global, double sd_pooled)
{
    fprintf(out,
            "## Wins and losses\n\nFedPepTAO (its setting without variant) against every other "
            "strategy without variant, on each task both ran: Δ = FedPepTAO's best metric minus "
            "the baseline's, in points (×100, mean over the seeds). *global* compares the two "
            "global models on the whole evaluation split — like with like for every strategy, "
            "and the column every claim of a win in accuracy uses. *pooled* compares each "
            "client's own prompt on its own shard — FedPepTAO's personalised number, like with "
            "like only against a strategy that personalises too (fedprompt-personal, "
            "random-layers); against the others it adds personalisation to the comparison. A "
            "gap is *within noise* when both settings have several seeds and it is at most the "
            "sum of their standard deviations; when a side has one seed it is judged against "
            "twice the typical standard deviation instead — the mean over the settings with "
            "several seeds: ");
    if (isnan(sd_global))
        fprintf(out, "none here, so such gaps are unjudged");
    else
        fprintf(out, "%.1f points global, %.1f pooled", 100 * sd_global, 100 * sd_pooled);
    fprintf(out, " — and marked *(1 seed)*. A *win* or *loss* is a gap beyond noise.\n\n");
}

void results_write_wins(FILE *out, const rm_model *m)
{
    const char *names[64];
    size_t nb = baselines(m, names, 64);
    bool any = false;
    for (size_t t = 0; t < m->n_tasks; t++)
        any |= rm_main_setting(m, (int)t, REFERENCE) != NULL;
    if (!any || !nb)
        return;
    double sd_g = rm_typical_sd(m, RM_BEST_GLOBAL), sd_p = rm_typical_sd(m, RM_BEST_POOLED);
    write_rule(out, sd_g, sd_p);
    /* One row per baseline and model: the models can disagree (a deeper model is where layer
     * selection has layers to choose from), and one sum over both would hide it. */
    fprintf(out, "| baseline | model | tasks | global: wins / losses / within noise | mean global "
                 "Δ | pooled: wins / losses / within noise | mean pooled Δ |\n| --- | --- | ---: "
                 "| ---: | ---: | ---: | ---: |\n");
    for (size_t b = 0; b < nb; b++)
        for (size_t mt = 0; mt < m->n_tasks; mt++) {
            const char *model = m->tasks[mt].model;
            if (first_task_of_model(m, model) != mt)
                continue;
            tally g = {0}, q = {0};
            int tasks = 0;
            for (size_t t = 0; t < m->n_tasks; t++) {
                const rm_setting *ref = rm_main_setting(m, (int)t, REFERENCE);
                const rm_setting *base = rm_main_setting(m, (int)t, names[b]);
                if (!ref || !base || strcmp(m->tasks[t].model, model))
                    continue;
                tasks++;
                tally_add(&g, rm_compare(rm_setting_stat(m, ref, RM_BEST_GLOBAL),
                                         rm_setting_stat(m, base, RM_BEST_GLOBAL), sd_g));
                tally_add(&q, rm_compare(rm_setting_stat(m, ref, RM_BEST_POOLED),
                                         rm_setting_stat(m, base, RM_BEST_POOLED), sd_p));
            }
            if (!tasks)
                continue;
            fprintf(out, "| %s | %s | %d |", names[b], model, tasks);
            tally_print(out, &g);
            tally_print(out, &q);
            fprintf(out, "\n");
        }
    fprintf(out, "\nTask by task (seeds: FedPepTAO's, the baseline's):\n\n| baseline | task | "
                 "seeds | global Δ | global | pooled Δ | pooled |\n| --- | --- | ---: | ---: | "
                 "--- | ---: | --- |\n");
    for (size_t b = 0; b < nb; b++)
        for (size_t t = 0; t < m->n_tasks; t++) {
            const rm_setting *ref = rm_main_setting(m, (int)t, REFERENCE);
            const rm_setting *base = rm_main_setting(m, (int)t, names[b]);
            if (!ref || !base)
                continue;
            rm_gap g = rm_compare(rm_setting_stat(m, ref, RM_BEST_GLOBAL),
                                  rm_setting_stat(m, base, RM_BEST_GLOBAL), sd_g);
            rm_gap q = rm_compare(rm_setting_stat(m, ref, RM_BEST_POOLED),
                                  rm_setting_stat(m, base, RM_BEST_POOLED), sd_p);
            char gbuf[64], qbuf[64];
            fprintf(out, "| %s | %s | %d, %d | %s | %s |\n", names[b], m->tasks[t].label,
                    ref->n_runs, base->n_runs, rm_format_gap(gbuf, sizeof gbuf, g),
                    rm_format_gap(qbuf, sizeof qbuf, q));
        }
    fprintf(out, "\n");
}
