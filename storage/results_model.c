/* results_model.c — see results_model.h. */
#include "storage/results_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/config_table.h"

/* What identifies a run but not its setting: seeds of one setting differ only there. */
static bool per_run_key(const char *key)
{
    return !strcmp(key, "run.name") || !strcmp(key, "run.seed") || !strcmp(key, "run.db");
}

/* Keys that name a setting's row already (its task and strategy columns). */
static bool labelled_key(const char *key)
{
    return per_run_key(key) || !strcmp(key, "run.strategy") || !strcmp(key, "data.task");
}

static void trim(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    while (s[i] == ' ' || s[i] == '\t')
        i++;
    memmove(s, s + i, n - i + 1);
}

/* The "[section]" / "key = value" lines of an INI text (comments and blank lines skipped;
 * a line too long for rm_kv is cut, which only shortens what the page shows). */
static fp_status parse_config(const char *text, rm_kv **kv, size_t *n, fp_error *err)
{
    size_t cap = 16;
    *n = 0;
    *kv = malloc(cap * sizeof **kv);
    char section[64] = "";
    for (const char *p = text; *kv && p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[256];
        snprintf(line, sizeof line, "%.*s", (int)(len < 255 ? len : 255), p);
        p = eol ? eol + 1 : NULL;
        trim(line);
        char *eq = strchr(line, '=');
        if (line[0] == '[' && strchr(line, ']')) {
            *strchr(line, ']') = '\0';
            snprintf(section, sizeof section, "%.63s", line + 1);
        } else if (line[0] && line[0] != '#' && line[0] != ';' && eq) {
            if (*n == cap) {
                rm_kv *grown = realloc(*kv, 2 * cap * sizeof **kv);
                if (!grown) {
                    free(*kv), *kv = NULL;
                    break;
                }
                *kv = grown, cap *= 2;
            }
            *eq = '\0';
            char *value = eq + 1;
            trim(line);
            trim(value);
            rm_kv *e = &(*kv)[(*n)++];
            snprintf(e->key, sizeof e->key, "%.30s.%.32s", section, line);
            snprintf(e->value, sizeof e->value, "%s", value);
        }
    }
    if (!*kv)
        return fp_fail(err, FP_ENOMEM, "report: no memory for a run's configuration");
    return FP_OK;
}

/* Options the run's binary did not have yet (added to fedpep since) read as their default: the
 * behaviour from before the option existed, and what a newer run dumps when it leaves them. So
 * runs of one setting made by binaries of different ages are still one setting. */
static fp_status add_missing_defaults(rm_kv **kv, size_t *n, fp_error *err)
{
    if (!*n)
        return FP_OK;
    fedpep_config d;
    config_defaults(&d);
    for (size_t o = 0; o < config_option_count; o++) {
        const config_option *opt = &config_options[o];
        char key[64];
        snprintf(key, sizeof key, "%.30s.%.32s", opt->section, opt->key);
        size_t i = 0;
        while (i < *n && strcmp((*kv)[i].key, key))
            i++;
        if (i < *n)
            continue;
        rm_kv *grown = realloc(*kv, (*n + 1) * sizeof **kv);
        if (!grown)
            return fp_fail(err, FP_ENOMEM, "report: no memory for a run's configuration");
        *kv = grown;
        rm_kv *e = &(*kv)[(*n)++];
        snprintf(e->key, sizeof e->key, "%s", key);
        config_format_value(&d, opt, e->value, sizeof e->value);
    }
    return FP_OK;
}

const char *rm_value(const rm_run *r, const char *key)
{
    for (size_t i = 0; i < r->n_kv; i++)
        if (!strcmp(r->kv[i].key, key))
            return r->kv[i].value;
    return NULL;
}

/* Whether two runs are seeds of one setting: the same value for every key but the per-run
 * ones, and the same model, task and strategy. */
static bool same_setting(const rm_run *a, const rm_run *b)
{
    if (strcmp(a->run.task, b->run.task) || strcmp(a->run.strategy, b->run.strategy) ||
        strcmp(a->run.model, b->run.model))
        return false;
    for (int pass = 0; pass < 2; pass++) {
        const rm_run *x = pass ? b : a, *y = pass ? a : b;
        for (size_t i = 0; i < x->n_kv; i++) {
            if (per_run_key(x->kv[i].key))
                continue;
            const char *v = rm_value(y, x->kv[i].key);
            if (!v || strcmp(v, x->kv[i].value))
                return false;
        }
    }
    return true;
}

/* Whether two runs belong to one table: the same task on the same model. */
static bool same_table(const rm_run *a, const rm_run *b)
{
    return !strcmp(a->run.task, b->run.task) && !strcmp(a->run.model, b->run.model);
}

/* The value of key most runs of r's table hold (the first such in run order on a tie). */
static const char *common_value(const rm_model *m, const rm_run *r, const char *key)
{
    const char *best = NULL;
    int best_count = 0;
    for (size_t i = 0; i < m->n_runs; i++) {
        if (!same_table(&m->runs[i], r))
            continue;
        const char *v = rm_value(&m->runs[i], key);
        int count = 0;
        for (size_t j = 0; v && j < m->n_runs; j++) {
            const char *w = same_table(&m->runs[j], r) ? rm_value(&m->runs[j], key) : NULL;
            count += w && !strcmp(v, w);
        }
        if (count > best_count)
            best = v, best_count = count;
    }
    return best;
}

static void describe_variant(const rm_model *m, rm_setting *s)
{
    const rm_run *r = &m->runs[s->runs[0]];
    size_t at = 0;
    s->variant[0] = '\0';
    for (size_t i = 0; i < r->n_kv; i++) {
        if (labelled_key(r->kv[i].key))
            continue;
        const char *common = common_value(m, r, r->kv[i].key);
        if (common && !strcmp(common, r->kv[i].value))
            continue;
        if (at + 1 < sizeof s->variant)
            at += (size_t)snprintf(s->variant + at, sizeof s->variant - at, "%s%s=%s",
                                   at ? ", " : "", r->kv[i].key, r->kv[i].value);
    }
    if (at >= sizeof s->variant)
        memcpy(s->variant + sizeof s->variant - 4, "...", 4);
}

/* The model most runs used: tables on it are named by their task alone. */
static const char *main_model_of(const rm_model *m)
{
    const char *best = NULL;
    size_t best_count = 0;
    for (size_t i = 0; i < m->n_runs; i++) {
        size_t count = 0;
        for (size_t j = 0; j < m->n_runs; j++)
            count += !strcmp(m->runs[i].run.model, m->runs[j].run.model);
        if (count > best_count)
            best = m->runs[i].run.model, best_count = count;
    }
    return best ? best : "";
}

/* "sst-2-deep" for sst-2 on models/deep: the model's last path component, and only the
 * characters a file name may safely hold. */
static void make_slug(char *out, size_t n, const char *task, const char *model, bool main)
{
    const char *base = strrchr(model, '/');
    base = base && base[1] ? base + 1 : model;
    snprintf(out, n, "%s%s%s", task, main ? "" : "-", main ? "" : base);
    for (char *c = out; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.'))
            *c = '_';
}

static int task_index(rm_model *m, const rm_run *r)
{
    for (size_t i = 0; i < m->n_tasks; i++)
        if (!strcmp(m->tasks[i].task, r->run.task) && !strcmp(m->tasks[i].model, r->run.model))
            return (int)i;
    rm_task *t = &m->tasks[m->n_tasks];
    t->task = r->run.task;
    t->model = r->run.model;
    bool main = !strcmp(r->run.model, m->main_model);
    snprintf(t->label, sizeof t->label, "%s%s%s", r->run.task, main ? "" : " on ",
             main ? "" : r->run.model);
    make_slug(t->slug, sizeof t->slug, r->run.task, r->run.model, main);
    return (int)m->n_tasks++;
}

/* Whether table a goes before b: the main model's first, then by model, then by task — an
 * order that does not depend on which runs were recorded (or rerun) first. */
static bool task_before(const rm_model *m, const rm_task *a, const rm_task *b)
{
    bool a_main = !strcmp(a->model, m->main_model), b_main = !strcmp(b->model, m->main_model);
    if (a_main != b_main)
        return a_main;
    int c = strcmp(a->model, b->model);
    return c ? c < 0 : strcmp(a->task, b->task) < 0;
}

/* Sorts the tables and renumbers the settings' task indices to match. */
static fp_status sort_tasks(rm_model *m, fp_error *err)
{
    size_t n = m->n_tasks;
    int *order = malloc((n ? n : 1) * sizeof *order), *rank = malloc((n ? n : 1) * sizeof *rank);
    rm_task *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!order || !rank || !sorted) {
        free(order), free(rank), free(sorted);
        return fp_fail(err, FP_ENOMEM, "report: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        for (; j > 0 && task_before(m, &m->tasks[i], &m->tasks[order[j - 1]]); j--)
            order[j] = order[j - 1];
        order[j] = (int)i;
    }
    for (size_t k = 0; k < n; k++) {
        sorted[k] = m->tasks[order[k]];
        rank[order[k]] = (int)k;
    }
    memcpy(m->tasks, sorted, n * sizeof *sorted);
    for (size_t s = 0; s < m->n_settings; s++)
        m->settings[s].task = rank[m->settings[s].task];
    free(order), free(rank), free(sorted);
    return FP_OK;
}

/* Whether setting a goes before b: by task, the settings without a variant first, then by
 * their first run. */
static bool goes_before(const rm_model *m, const rm_setting *a, const rm_setting *b)
{
    if (a->task != b->task)
        return a->task < b->task;
    if ((a->variant[0] != 0) != (b->variant[0] != 0))
        return !a->variant[0];
    return m->runs[a->runs[0]].run.id < m->runs[b->runs[0]].run.id;
}

/* Insertion sort: a table holds tens of settings, and qsort has no context argument. */
static void sort_settings(rm_model *m)
{
    for (size_t i = 1; i < m->n_settings; i++) {
        rm_setting x = m->settings[i];
        size_t j = i;
        for (; j > 0 && goes_before(m, &x, &m->settings[j - 1]); j--)
            m->settings[j] = m->settings[j - 1];
        m->settings[j] = x;
    }
}

static fp_status group(rm_model *m, fp_error *err)
{
    m->settings = calloc(m->n_runs ? m->n_runs : 1, sizeof *m->settings);
    m->tasks = calloc(m->n_runs ? m->n_runs : 1, sizeof *m->tasks);
    if (!m->settings || !m->tasks)
        return fp_fail(err, FP_ENOMEM, "report: out of memory");
    m->main_model = main_model_of(m);
    for (size_t i = 0; i < m->n_runs; i++) {
        rm_run *r = &m->runs[i];
        size_t s = 0;
        while (s < m->n_settings && !same_setting(&m->runs[m->settings[s].runs[0]], r))
            s++;
        rm_setting *set = &m->settings[s];
        if (s == m->n_settings) {
            m->n_settings++;
            set->task = task_index(m, r);
            if (!(set->runs = malloc(m->n_runs * sizeof *set->runs)))
                return fp_fail(err, FP_ENOMEM, "report: out of memory");
        }
        set->runs[set->n_runs++] = (int)i;
    }
    for (size_t s = 0; s < m->n_settings; s++)
        describe_variant(m, &m->settings[s]);
    fp_status st = sort_tasks(m, err);
    if (st)
        return st;
    sort_settings(m);
    for (size_t s = 0; s < m->n_settings; s++)
        for (int j = 0; j < m->settings[s].n_runs; j++)
            m->runs[m->settings[s].runs[j]].setting = (int)s;
    return FP_OK;
}

static fp_status load_run(store_db_t *db, rm_run *r, fp_error *err)
{
    fp_status st = store_db_rounds_list(db, r->run.id, &r->rounds, &r->n_rounds, err);
    if (!st)
        st = store_db_layers_load(db, r->run.id, &r->layers, &r->n_layers, err);
    if (!st)
        st = parse_config(r->run.config ? r->run.config : "", &r->kv, &r->n_kv, err);
    if (!st)
        st = add_missing_defaults(&r->kv, &r->n_kv, err);
    return st;
}

fp_status rm_load(store_db_t *db, rm_model *m, fp_error *err)
{
    memset(m, 0, sizeof *m);
    store_run *runs = NULL;
    size_t n = 0;
    fp_status st = store_db_read_begin(db, err);
    if (st)
        return st;
    st = store_db_runs_list(db, &runs, &n, err);
    if (!st && !(m->runs = calloc(n ? n : 1, sizeof *m->runs)))
        st = fp_fail(err, FP_ENOMEM, "report: out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        rm_run *r = &m->runs[m->n_runs];
        r->run = runs[i];
        runs[i].config = NULL; /* moved into r */
        m->n_runs++;
        st = load_run(db, r, err);
        if (!st && r->n_rounds == 0) { /* a run that never committed has nothing to compare */
            m->n_runs--;
            free(r->rounds), free(r->layers), free(r->kv), store_run_clear(&r->run);
            memset(r, 0, sizeof *r);
        }
    }
    fp_error e2;
    fp_status end = store_db_read_end(db, st ? &e2 : err);
    if (!st)
        st = end;
    store_runs_free(&runs, n);
    if (!st)
        st = group(m, err);
    if (st)
        rm_free(m);
    return st;
}

void rm_free(rm_model *m)
{
    for (size_t i = 0; m->runs && i < m->n_runs; i++) {
        free(m->runs[i].rounds);
        free(m->runs[i].layers);
        free(m->runs[i].kv);
        store_run_clear(&m->runs[i].run);
    }
    for (size_t s = 0; m->settings && s < m->n_settings; s++)
        free(m->settings[s].runs);
    free(m->runs);
    free(m->settings);
    free(m->tasks);
    memset(m, 0, sizeof *m);
}

/* The mean over the rounds of an optional column (NaN where absent), divided by unit (a
 * division, as SQL's avg(x) / 1000.0 computes it, so the page and a query agree to the digit). */
static double mean_per_round(const rm_run *r, size_t offset, bool integer, double unit)
{
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < r->n_rounds; i++) {
        const char *row = (const char *)&r->rounds[i] + offset;
        double v;
        if (integer) {
            int64_t x;
            memcpy(&x, row, sizeof x);
            v = x < 0 ? NAN : (double)x;
        } else {
            memcpy(&v, row, sizeof v);
        }
        if (isfinite(v))
            sum += v, n++;
    }
    return n ? sum / n / unit : NAN;
}

/* The mean over the rounds of a count every round has. */
static double mean_count(const rm_run *r, rm_measure which)
{
    if (!r->n_rounds)
        return NAN;
    double sum = 0;
    for (size_t i = 0; i < r->n_rounds; i++) {
        const store_round *x = &r->rounds[i];
        sum += which == RM_SAMPLED     ? x->sampled
               : which == RM_COMPLETED ? x->completed
               : which == RM_DROPPED   ? x->dropped
                                       : x->late;
    }
    return sum / (double)r->n_rounds;
}

double rm_run_measure(const rm_run *r, rm_measure which)
{
    bool global = which == RM_BEST_GLOBAL || which == RM_LAST_GLOBAL;
    if (which <= RM_LAST_POOLED) {
        double best = NAN, last = NAN;
        for (size_t i = 0; i < r->n_rounds; i++) {
            double v = global ? r->rounds[i].global_metric : r->rounds[i].eval_metric;
            if (isnan(v))
                continue;
            last = v;
            if (isnan(best) || v > best)
                best = v;
        }
        return which == RM_BEST_GLOBAL || which == RM_BEST_POOLED ? best : last;
    }
    switch (which) {
    case RM_CPU_S:
        return mean_per_round(r, offsetof(store_round, client_cpu_ms), true, 1000.0);
    case RM_CPU_MAX_S:
        return mean_per_round(r, offsetof(store_round, client_cpu_max_ms), true, 1000.0);
    case RM_KB_DOWN:
        return mean_per_round(r, offsetof(store_round, bytes_down), true, 1000.0);
    case RM_KB_UP:
        return mean_per_round(r, offsetof(store_round, bytes_up), true, 1000.0);
    case RM_SAMPLED:
    case RM_COMPLETED:
    case RM_DROPPED:
    case RM_LATE:
        return mean_count(r, which);
    default:
        return NAN;
    }
}

int rm_rounds_to(const rm_run *r, double threshold)
{
    for (size_t i = 0; i < r->n_rounds; i++)
        if (!isnan(r->rounds[i].global_metric) && r->rounds[i].global_metric >= threshold)
            return r->rounds[i].round + 1;
    return -1;
}

rm_stat rm_stat_of(const double *v, int n)
{
    rm_stat s = {NAN, NAN, 0};
    double sum = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]))
            sum += v[i], s.n++;
    if (!s.n)
        return s;
    s.mean = sum / s.n;
    if (s.n < 2)
        return s;
    double ss = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]))
            ss += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = sqrt(ss / (s.n - 1));
    return s;
}

const char *rm_format_stat(char *buf, size_t n, rm_stat s, double scale, int decimals)
{
    if (!s.n)
        snprintf(buf, n, "-");
    else if (s.n < 2)
        snprintf(buf, n, "%.*f", decimals, s.mean * scale);
    else
        snprintf(buf, n, "%.*f ± %.*f", decimals, s.mean * scale, decimals, s.sd * scale);
    return buf;
}

rm_stat rm_setting_stat(const rm_model *m, const rm_setting *s, rm_measure which)
{
    double v[64];
    int n = 0;
    for (int j = 0; j < s->n_runs && n < 64; j++)
        v[n++] = rm_run_measure(&m->runs[s->runs[j]], which);
    return rm_stat_of(v, n);
}

const rm_setting *rm_main_setting(const rm_model *m, int task, const char *strategy)
{
    for (size_t s = 0; s < m->n_settings; s++) {
        const rm_setting *set = &m->settings[s];
        if (set->task == task && !set->variant[0] &&
            !strcmp(m->runs[set->runs[0]].run.strategy, strategy))
            return set;
    }
    return NULL;
}

rm_gap rm_compare(rm_stat a, rm_stat b, double typical_sd)
{
    rm_gap g = {NAN, RM_UNMEASURED, false};
    if (!a.n || !b.n)
        return g;
    g.d = a.mean - b.mean;
    g.one_seed = a.n < 2 || b.n < 2;
    double spread = g.one_seed ? 2 * typical_sd : a.sd + b.sd;
    if (isnan(spread))
        g.v = RM_NOISE_UNKNOWN;
    else if (fabs(g.d) <= RM_NOISE_SDS * spread)
        g.v = RM_WITHIN;
    else
        g.v = g.d > 0 ? RM_HIGHER : RM_LOWER;
    return g;
}

const char *rm_format_gap(char *buf, size_t n, rm_gap g)
{
    static const char *const TEXT[][2] = {
        [RM_NOISE_UNKNOWN] = {"noise unknown", "noise unknown (1 seed)"},
        [RM_WITHIN] = {"within noise", "within noise (1 seed)"},
        [RM_HIGHER] = {"win", "win (1 seed)"},
        [RM_LOWER] = {"loss", "loss (1 seed)"},
    };
    if (g.v == RM_UNMEASURED)
        snprintf(buf, n, "- | -");
    else
        snprintf(buf, n, "%+.1f | %s", 100 * g.d, TEXT[g.v][g.one_seed]);
    return buf;
}

double rm_typical_sd(const rm_model *m, rm_measure which)
{
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < m->n_settings; i++) {
        const rm_setting *s = &m->settings[i];
        if (s->variant[0] || s->n_runs < 2)
            continue;
        rm_stat st = rm_setting_stat(m, s, which);
        if (st.n > 1 && isfinite(st.sd))
            sum += st.sd, n++;
    }
    return n ? sum / n : NAN;
}
