/* results_variants.c — see results_variants.h. */
#include "storage/results_variants.h"

#include <string.h>

/* The setting a variant is measured against: its strategy without variant, same table. */
static const rm_setting *base_of(const rm_model *m, const rm_setting *s)
{
    if (!s->variant[0])
        return NULL;
    return rm_main_setting(m, s->task, m->runs[s->runs[0]].run.strategy);
}

/* A count per round over the seeds: the mean alone (its spread says nothing here). */
static double mean_of(const rm_model *m, const rm_setting *s, rm_measure which)
{
    return rm_setting_stat(m, s, which).mean;
}

void results_write_variants(FILE *out, const rm_model *m)
{
    bool any = false;
    for (size_t i = 0; i < m->n_settings && !any; i++)
        any = base_of(m, &m->settings[i]) != NULL;
    if (!any)
        return;
    static const rm_measure JUDGED[] = {RM_BEST_GLOBAL, RM_LAST_GLOBAL, RM_BEST_POOLED};
    enum { N_JUDGED = sizeof JUDGED / sizeof JUDGED[0] };
    double typical[N_JUDGED];
    for (size_t j = 0; j < N_JUDGED; j++)
        typical[j] = rm_typical_sd(m, JUDGED[j]);
    fprintf(out,
            "## Variants against their strategy\n\nEvery setting with a variant (an ablation, "
            "faults, an availability trace) against the same strategy without variant on the "
            "same task and model, at equal rounds: Δ = the variant's metric minus the "
            "strategy's, in points (×100, mean over the seeds), judged as in *Wins and losses* "
            "(a gap beyond the seeds' spread is *win* or *loss* for the variant). *last*: after "
            "the last round. Clients per round, averaged over the rounds: aggregated of "
            "sampled, and those that dropped out or came after the deadline (trained, not "
            "aggregated), the variant's then the strategy's.\n\n| table | strategy | variant | "
            "seeds | best global Δ | | last global Δ | | best pooled Δ | | aggregated / sampled | "
            "dropped | late |\n| --- | --- | --- | ---: | ---: | --- | ---: | --- | ---: | --- | "
            "---: | ---: | ---: |\n");
    for (size_t i = 0; i < m->n_settings; i++) {
        const rm_setting *s = &m->settings[i], *b = base_of(m, s);
        if (!b)
            continue;
        fprintf(out, "| %s | %s | %s | %d, %d |", m->tasks[s->task].label,
                m->runs[s->runs[0]].run.strategy, s->variant, s->n_runs, b->n_runs);
        for (size_t j = 0; j < N_JUDGED; j++) {
            char buf[64];
            rm_gap g = rm_compare(rm_setting_stat(m, s, JUDGED[j]),
                                  rm_setting_stat(m, b, JUDGED[j]), typical[j]);
            fprintf(out, " %s |", rm_format_gap(buf, sizeof buf, g));
        }
        fprintf(out, " %.1f / %.1f, %.1f / %.1f | %.1f, %.1f | %.1f, %.1f |\n",
                mean_of(m, s, RM_COMPLETED), mean_of(m, s, RM_SAMPLED), mean_of(m, b, RM_COMPLETED),
                mean_of(m, b, RM_SAMPLED), mean_of(m, s, RM_DROPPED), mean_of(m, b, RM_DROPPED),
                mean_of(m, s, RM_LATE), mean_of(m, b, RM_LATE));
    }
    fprintf(out, "\n");
}
