/* results_variants.c — see results_variants.h. */
#include "storage/results_variants.h"

#include <stdint.h>
#include <string.h>

enum { RESULTS_MAX_SEEDS = 64 };

/* The setting a variant is measured against: its strategy without variant, same table. */
static const rm_setting *base_of(const rm_model *m, const rm_setting *s)
{
    if (!s->variant[0])
        return NULL;
    return rm_main_setting(m, s->task, m->runs[s->runs[0]].run.strategy);
}

static bool has_seed(const rm_model *m, const rm_setting *s, uint64_t seed)
{
    for (int j = 0; j < s->n_runs; j++)
        if (m->runs[s->runs[j]].run.seed == seed)
            return true;
    return false;
}

/* The strategy's measure at the variant's seeds when it ran them all — an ablation at seed 42
 * against FedPepTAO at seed 42, not against the mean of seeds 42..44, so a variant that changes
 * nothing shows 0 — else over all its seeds. */
static rm_stat base_stat(const rm_model *m, const rm_setting *b, const rm_setting *s,
                         rm_measure which, int *n_used)
{
    double v[RESULTS_MAX_SEEDS];
    int n = 0;
    for (int j = 0; j < b->n_runs && n < RESULTS_MAX_SEEDS; j++) {
        const rm_run *r = &m->runs[b->runs[j]];
        if (has_seed(m, s, r->run.seed))
            v[n++] = rm_run_measure(r, which);
    }
    if (n == s->n_runs) {
        *n_used = n;
        return rm_stat_of(v, n);
    }
    *n_used = b->n_runs;
    return rm_setting_stat(m, b, which);
}

/* A count per round over the seeds: the mean alone (its spread says nothing here). */
static double mean_of(const rm_model *m, const rm_setting *s, rm_measure which)
{
    return rm_setting_stat(m, s, which).mean;
}

static double base_mean_of(const rm_model *m, const rm_setting *b, const rm_setting *s,
                           rm_measure which)
{
    int n;
    return base_stat(m, b, s, which, &n).mean;
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
            "same task and model, at equal rounds and equal seeds: Δ = the variant's metric minus "
            "the strategy's, in points (×100, mean over the seeds), where the strategy's runs "
            "are those at the variant's seeds when it ran them all (*seeds*: the variant's, "
            "the strategy's used), judged as in *Wins and losses* "
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
        int n_base = 0;
        base_stat(m, b, s, RM_BEST_GLOBAL, &n_base);
        fprintf(out, "| %s | %s | %s | %d, %d |", m->tasks[s->task].label,
                m->runs[s->runs[0]].run.strategy, s->variant, s->n_runs, n_base);
        for (size_t j = 0; j < N_JUDGED; j++) {
            char buf[64];
            rm_gap g = rm_compare(rm_setting_stat(m, s, JUDGED[j]),
                                  base_stat(m, b, s, JUDGED[j], &n_base), typical[j]);
            fprintf(out, " %s |", rm_format_gap(buf, sizeof buf, g));
        }
        fprintf(out, " %.1f / %.1f, %.1f / %.1f | %.1f, %.1f | %.1f, %.1f |\n",
                mean_of(m, s, RM_COMPLETED), mean_of(m, s, RM_SAMPLED),
                base_mean_of(m, b, s, RM_COMPLETED), base_mean_of(m, b, s, RM_SAMPLED),
                mean_of(m, s, RM_DROPPED), base_mean_of(m, b, s, RM_DROPPED),
                mean_of(m, s, RM_LATE), base_mean_of(m, b, s, RM_LATE));
    }
    fprintf(out, "\n");
}
