/* results_report.c — see results_report.h: the page and figures from results_model. Every
 * number on the page is computed here from the database; the prose around the tables says
 * only what each column is. */
#include "storage/results_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/results_beside.h"
#include "storage/results_model.h"
#include "storage/results_variants.h"
#include "storage/results_wins.h"
#include "storage/svg_plot.h"

typedef fp_status file_writer(FILE *out, void *ctx, fp_error *err);

/* Writes path through path.tmp renamed into place. */
static fp_status write_file(const char *path, file_writer *fn, void *ctx, fp_error *err)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return fp_fail(err, FP_EINVAL, "report: path too long: %s", path);
    FILE *out = fopen(tmp, "w");
    if (!out)
        return fp_fail(err, FP_EIO, "cannot write %s", tmp);
    fp_status st = fn(out, ctx, err);
    if (fclose(out) != 0 && !st)
        st = fp_fail(err, FP_EIO, "cannot write %s", tmp);
    if (!st && rename(tmp, path) != 0)
        st = fp_fail(err, FP_EIO, "cannot rename %s to %s", tmp, path);
    if (st)
        unlink(tmp);
    return st;
}

typedef struct page {
    const rm_model *m;
    const results_report_options *o;
    char stem[1024];  /* md_path without ".md": figures are STEM-TASK.svg */
    const char *base; /* the stem's last component, for links relative to the page */
    int task;         /* the figure being written */
    bool variants;    /* ... of the settings with a variant (else those without) */
} page;

static const char *strategy_of(const page *p, const rm_setting *s)
{
    return p->m->runs[s->runs[0]].run.strategy;
}

/* The reference of the task's "rounds to 95%" and "vs FedPrompt" columns. */
static rm_stat fedprompt_best(const page *p, int task)
{
    const rm_setting *ref = rm_main_setting(p->m, task, "fedprompt");
    return ref ? rm_setting_stat(p->m, ref, RM_BEST_GLOBAL) : (rm_stat){NAN, NAN, 0};
}

/* Rounds until 95% of FedPrompt's best global metric, over the seeds: "mean" or "not in N
 * (k of n seeds)". */
static const char *fmt_rounds_to(char *buf, size_t n, const page *p, const rm_setting *s)
{
    rm_stat ref = fedprompt_best(p, s->task);
    if (!ref.n) {
        snprintf(buf, n, "-");
        return buf;
    }
    double v[64];
    int reached = 0, k = 0;
    size_t most = 0;
    for (int j = 0; j < s->n_runs && k < 64; j++) {
        const rm_run *r = &p->m->runs[s->runs[j]];
        int t = rm_rounds_to(r, 0.95 * ref.mean);
        v[k++] = t < 0 ? NAN : t;
        reached += t >= 0;
        most = r->n_rounds > most ? r->n_rounds : most;
    }
    if (reached == k)
        return rm_format_stat(buf, n, rm_stat_of(v, k), 1, k > 1 ? 1 : 0);
    snprintf(buf, n, "not in %zu (%d of %d seeds)", most, reached, k);
    return buf;
}

/* Best global metric against FedPrompt's: "+1.2" points, "within noise" when both have seeds
 * and the gap is inside their spreads. */
static const char *fmt_vs_fedprompt(char *buf, size_t n, const page *p, const rm_setting *s)
{
    rm_stat ref = fedprompt_best(p, s->task), me = rm_setting_stat(p->m, s, RM_BEST_GLOBAL);
    if (!ref.n || !me.n) {
        snprintf(buf, n, "-");
        return buf;
    }
    rm_gap g = rm_compare(me, ref, NAN); /* judged only when both have seeds */
    snprintf(buf, n, "%+.1f%s", g.d * 100,
             g.v == RM_NOISE_UNKNOWN ? ""
             : g.v == RM_WITHIN      ? " (within noise)"
                                     : " (beyond noise)");
    return buf;
}

/* run.name and run.db say where a run was recorded, not how it ran: run.db is the path of the
 * database on the machine that made it, often not the committed copy the page is made from. */
static bool is_bookkeeping(const char *key)
{
    return !strcmp(key, "run.name") || !strcmp(key, "run.db");
}

static fp_status write_protocol(FILE *out, const page *p)
{
    const rm_model *m = p->m;
    const rm_run *first = &m->runs[0];
    fprintf(out, "## Protocol\n\nRead from the runs' stored configurations (`fedpep config` "
                 "names every option; `run.name` and `run.db`, where each run was recorded, are "
                 "left out). The same for every run:\n\n| option | value |\n| --- | --- |\n");
    for (size_t i = 0; i < first->n_kv; i++) {
        const char *key = first->kv[i].key, *v = first->kv[i].value;
        if (is_bookkeeping(key))
            continue;
        bool same = true;
        for (size_t r = 1; r < m->n_runs && same; r++) {
            const char *w = rm_value(&m->runs[r], key);
            same = w && !strcmp(v, w);
        }
        if (same)
            fprintf(out, "| `%s` | `%s` |\n", key, v);
    }
    fprintf(out, "\nDifferent between runs (values in the order the runs were made):\n\n"
                 "| option | values |\n| --- | --- |\n");
    for (size_t i = 0; i < first->n_kv; i++) {
        const char *key = first->kv[i].key;
        if (is_bookkeeping(key))
            continue;
        const char *seen[16];
        size_t n_seen = 0;
        bool more = false;
        for (size_t r = 0; r < m->n_runs; r++) {
            const char *w = rm_value(&m->runs[r], key);
            size_t j = 0;
            while (w && j < n_seen && strcmp(seen[j], w))
                j++;
            if (w && j == n_seen && n_seen < 16)
                seen[n_seen++] = w;
            else if (w && j == n_seen)
                more = true;
        }
        if (n_seen < 2)
            continue;
        fprintf(out, "| `%s` |", key);
        for (size_t j = 0; j < n_seen; j++)
            fprintf(out, " `%s`%s", seen[j], j + 1 < n_seen ? "," : "");
        fprintf(out, "%s |\n", more ? ", ..." : "");
    }
    fprintf(out, "\nMetrics:");
    for (size_t t = 0, shown = 0; t < m->n_tasks; t++) {
        const char *task = m->tasks[t].task;
        bool seen = false; /* a task on several models is named once */
        for (size_t u = 0; u < t && !seen; u++)
            seen = !strcmp(m->tasks[u].task, task);
        if (seen)
            continue;
        const char *name = p->o->metric_name ? p->o->metric_name(task) : NULL;
        fprintf(out, "%s %s %s", shown++ ? ";" : "", task, name ? name : "(unknown metric)");
    }
    fprintf(out, ".\n\n");
    return FP_OK;
}

static void write_task_table(FILE *out, const page *p, int task)
{
    const rm_model *m = p->m;
    fprintf(out,
            "## %s\n\n| strategy | variant | seeds | rounds | best global | last global | "
            "best pooled | last pooled | best global vs FedPrompt | rounds to 95%% of FedPrompt's "
            "best (global) | client CPU s / round | slowest client CPU s / round | kB down / "
            "round | kB up / round |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
            "| ---: | ---: | ---: | ---: | ---: |\n",
            m->tasks[task].label);
    static const rm_measure COLS[] = {RM_BEST_GLOBAL, RM_LAST_GLOBAL, RM_BEST_POOLED,
                                      RM_LAST_POOLED};
    for (size_t i = 0; i < m->n_settings; i++) {
        const rm_setting *s = &m->settings[i];
        if (s->task != task)
            continue;
        size_t rounds = 0;
        for (int j = 0; j < s->n_runs; j++)
            if (m->runs[s->runs[j]].n_rounds > rounds)
                rounds = m->runs[s->runs[j]].n_rounds;
        char buf[96];
        fprintf(out, "| %s | %s | %d | %zu |", strategy_of(p, s), s->variant[0] ? s->variant : "",
                s->n_runs, rounds);
        for (size_t c = 0; c < sizeof COLS / sizeof COLS[0]; c++)
            fprintf(out, " %s |",
                    rm_format_stat(buf, sizeof buf, rm_setting_stat(m, s, COLS[c]), 100, 1));
        fprintf(out, " %s |", fmt_vs_fedprompt(buf, sizeof buf, p, s));
        fprintf(out, " %s |", fmt_rounds_to(buf, sizeof buf, p, s));
        fprintf(out, " %s |",
                rm_format_stat(buf, sizeof buf, rm_setting_stat(m, s, RM_CPU_S), 1, 2));
        fprintf(out, " %s |",
                rm_format_stat(buf, sizeof buf, rm_setting_stat(m, s, RM_CPU_MAX_S), 1, 2));
        fprintf(out, " %s |",
                rm_format_stat(buf, sizeof buf, rm_setting_stat(m, s, RM_KB_DOWN), 1, 1));
        fprintf(out, " %s |\n",
                rm_format_stat(buf, sizeof buf, rm_setting_stat(m, s, RM_KB_UP), 1, 1));
    }
    fprintf(out, "\n![%s: metric per round](%s-%s.svg)\n", m->tasks[task].label, p->base,
            m->tasks[task].slug);
    for (size_t i = 0; i < m->n_settings; i++)
        if (m->settings[i].task == task && m->settings[i].variant[0]) {
            fprintf(out, "![%s variants: metric per round](%s-%s-variants.svg)\n",
                    m->tasks[task].label, p->base, m->tasks[task].slug);
            break;
        }
    fprintf(out, "\n");
}

/* Every run that does not send every layer: which it sends and the scores they were chosen by. */
static void write_layers(FILE *out, const page *p)
{
    const rm_model *m = p->m;
    fprintf(out, "## Layers sent\n\nRuns that send a subset of the layers (the rest stay on the "
                 "clients, private where the run personalises); scores as the layer-importance "
                 "evaluator combined them (`-` = not scored).\n\n| run | task | strategy | "
                 "seed | layers sent | scores |\n| --- | --- | --- | ---: | --- | --- |\n");
    for (size_t i = 0; i < m->n_runs; i++) {
        const rm_run *r = &m->runs[i];
        size_t sent = 0;
        for (size_t l = 0; l < r->n_layers; l++)
            sent += r->layers[l].selected;
        if (!r->n_layers || sent == r->n_layers)
            continue;
        fprintf(out, "| %s | %s | %s | %llu | ", r->run.name,
                m->tasks[m->settings[r->setting].task].label, r->run.strategy,
                (unsigned long long)r->run.seed);
        for (size_t l = 0, k = 0; l < r->n_layers; l++)
            if (r->layers[l].selected)
                fprintf(out, "%s%d", k++ ? ", " : "", r->layers[l].layer);
        fprintf(out, "%s |", sent ? "" : "none (input prompt)");
        for (size_t l = 0; l < r->n_layers; l++) {
            if (isnan(r->layers[l].score))
                fprintf(out, "%s-", l ? " " : " ");
            else
                fprintf(out, " %.3f", r->layers[l].score);
        }
        fprintf(out, " |\n");
    }
    fprintf(out, "\n");
}

static fp_status write_page(FILE *out, void *ctx, fp_error *err)
{
    const page *p = ctx;
    const rm_model *m = p->m;
    fprintf(out,
            "# Results\n\n<!-- generated by fedpep report: do not edit; regenerate with the "
            "command below -->\n\nGenerated from `%s` (%zu runs, %zu settings) by:\n\n"
            "```sh\nfedpep report %s --out %s\n```\n\n",
            p->o->db_label, m->n_runs, m->n_settings, p->o->db_label, p->o->md_path);
    fprintf(out,
            "Columns: a *setting* is the runs that differ only in seed (mean ± sample standard "
            "deviation over them when there are several); its *variant* names the options in "
            "which it departs from most runs of its task. *global*: the global model (the rows "
            "that travel, over the run's initial prompt) on the whole evaluation split, the "
            "like-with-like comparison of every strategy. *pooled*: every client's own prompt "
            "(its private layers where the strategy personalises) on its own evaluation shard, "
            "pooled — the paper's FedPepTAO number; the same model as *global* for a strategy "
            "that personalises nothing. Metrics ×100. *vs FedPrompt*: points of best global "
            "metric against the FedPrompt setting without variant; *within noise* when the gap "
            "is at most the sum of the two standard deviations. CPU: process CPU time of the "
            "aggregated clients' local rounds, averaged over the rounds. Bytes: payload of the "
            "prompt rows, averaged over the rounds.\n\n");
    write_protocol(out, p);
    for (size_t t = 0; t < m->n_tasks; t++)
        write_task_table(out, p, (int)t);
    results_write_beside(out, m);
    results_write_wins(out, m);
    results_write_variants(out, m);
    write_layers(out, p);
    return ferror(out) ? fp_fail(err, FP_EIO, "report: cannot write the page") : FP_OK;
}

/* A setting's metric per round, mean over its seeds (NaN where none evaluated). */
static double *curve(const page *p, const rm_setting *s, bool global, size_t *n)
{
    *n = 0;
    for (int j = 0; j < s->n_runs; j++) {
        const rm_run *r = &p->m->runs[s->runs[j]];
        if (r->n_rounds && (size_t)r->rounds[r->n_rounds - 1].round + 1 > *n)
            *n = (size_t)r->rounds[r->n_rounds - 1].round + 1;
    }
    double *y = malloc((*n ? *n : 1) * sizeof *y), v[64];
    for (size_t t = 0; y && t < *n; t++) {
        int k = 0;
        for (int j = 0; j < s->n_runs && k < 64; j++) {
            const rm_run *r = &p->m->runs[s->runs[j]];
            v[k++] = t < r->n_rounds
                         ? (global ? r->rounds[t].global_metric : r->rounds[t].eval_metric) * 100
                         : NAN;
        }
        y[t] = rm_stat_of(v, k).mean;
    }
    return y;
}

static fp_status write_figure(FILE *out, void *ctx, fp_error *err)
{
    const page *p = ctx;
    const rm_model *m = p->m;
    size_t cap = m->n_settings ? m->n_settings : 1, k = 0;
    svg_series *g = calloc(cap, sizeof *g), *q = calloc(cap, sizeof *q);
    char(*names)[600] = calloc(cap, sizeof *names);
    fp_status st = g && q && names ? FP_OK : fp_fail(err, FP_ENOMEM, "report: out of memory");
    for (size_t i = 0; !st && i < m->n_settings; i++) {
        const rm_setting *s = &m->settings[i];
        if (s->task != p->task || (s->variant[0] != 0) != p->variants)
            continue;
        snprintf(names[k], sizeof names[k], "%.80s%s%.500s", strategy_of(p, s),
                 s->variant[0] ? " " : "", s->variant);
        size_t n = 0, n2 = 0;
        double *yg = curve(p, s, true, &n), *yq = curve(p, s, false, &n2);
        g[k] = (svg_series){names[k], NULL, yg, n};
        q[k] = (svg_series){names[k], NULL, yq, n2};
        k++;
        if (!yg || !yq)
            st = fp_fail(err, FP_ENOMEM, "report: out of memory");
    }
    char title[sizeof m->tasks[0].label + 64];
    snprintf(title, sizeof title, "%s%s: metric x100 per round (mean over seeds)",
             m->tasks[p->task].label, p->variants ? " variants" : "");
    svg_panel panels[2] = {
        {"global model, whole evaluation split", "round", "metric x100", g, k, 1, 0},
        {"pooled, each client's own prompt", "round", "metric x100", q, k, 1, 0},
    };
    if (!st)
        st = svg_plot_write(out, title, panels, 2, err);
    for (size_t i = 0; i < k; i++) {
        free((void *)g[i].y);
        free((void *)q[i].y);
    }
    free(g);
    free(q);
    free(names);
    return st;
}

fp_status results_report_write(store_db_t *db, const results_report_options *o, fp_error *err)
{
    rm_model m;
    fp_status st = rm_load(db, &m, err);
    if (st)
        return st;
    if (!m.n_runs) {
        rm_free(&m);
        return fp_fail(err, FP_ENOTFOUND, "%s: no run with a committed round", o->db_label);
    }
    page p = {.m = &m, .o = o};
    size_t len = strlen(o->md_path);
    if (len > 3 && !strcmp(o->md_path + len - 3, ".md"))
        len -= 3;
    snprintf(p.stem, sizeof p.stem, "%.*s", (int)len, o->md_path);
    const char *slash = strrchr(p.stem, '/');
    p.base = slash ? slash + 1 : p.stem;
    st = write_file(o->md_path, write_page, &p, err);
    for (size_t t = 0; !st && t < m.n_tasks; t++) {
        for (int v = 0; v < 2 && !st; v++) {
            bool any = false;
            for (size_t i = 0; i < m.n_settings; i++)
                any |= m.settings[i].task == (int)t && (m.settings[i].variant[0] != 0) == v;
            if (!any)
                continue;
            char path[sizeof p.stem + sizeof m.tasks[0].slug + 16];
            snprintf(path, sizeof path, "%s-%s%s.svg", p.stem, m.tasks[t].slug,
                     v ? "-variants" : "");
            p.task = (int)t, p.variants = v;
            st = write_file(path, write_figure, &p, err);
        }
    }
    rm_free(&m);
    return st;
}
