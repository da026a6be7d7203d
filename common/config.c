/* config.c — reads and checks the run configuration through the option table (config_options.c);
 * writing and documenting it is config_write.c. INI syntax is libinih's; this file only decides
 * what a key means. It must never abort on bad input nor keep state between calls. */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/file_io.h"
#include "config_table.h"

/* libinih (Debian, r55) reads lines into a 200-byte buffer and silently cuts longer ones, so
 * lines are checked here first: content (without "\r\n") of at most this many bytes. */
#define CONFIG_MAX_LINE 196
#define CONFIG_MAX_FILE (1 << 20)
#define CONFIG_MAX_OPTIONS 128

/* ---- values ---------------------------------------------------------------------------- */

static void *field(fedpep_config *cfg, const config_option *opt)
{
    return (char *)cfg + opt->offset;
}

static fp_status bad(fp_error *err, fp_status st, const config_option *opt, const char *why,
                     const char *value)
{
    return fp_fail(err, st, "[%s] %s: %s '%.60s'", opt->section, opt->key, why, value);
}

static fp_status out_of_range(fp_error *err, const config_option *opt, const char *value)
{
    if (opt->type == CONFIG_DOUBLE)
        return fp_fail(err, FP_ELIMIT, "[%s] %s: %.60s is out of range [%g, %g]", opt->section,
                       opt->key, value, opt->min, opt->max);
    return fp_fail(err, FP_ELIMIT, "[%s] %s: %.60s is out of range [%lld, %lld]", opt->section,
                   opt->key, value, (long long)opt->min, (long long)opt->max);
}

static fp_status set_integer(fedpep_config *cfg, const config_option *opt, const char *value,
                             fp_error *err)
{
    if (!*value || !(*value == '-' || *value == '+' || (*value >= '0' && *value <= '9')))
        return bad(err, FP_EFORMAT, opt, "not an integer:", value);
    errno = 0;
    char *end;
    long long v = strtoll(value, &end, 10);
    if (*end)
        return bad(err, FP_EFORMAT, opt, "not an integer:", value);
    if (errno == ERANGE || (double)v < opt->min || (double)v > opt->max)
        return out_of_range(err, opt, value);
    if (opt->type == CONFIG_INT)
        *(int *)field(cfg, opt) = (int)v;
    else
        *(int64_t *)field(cfg, opt) = (int64_t)v;
    return FP_OK;
}

static fp_status set_double(fedpep_config *cfg, const config_option *opt, const char *value,
                            fp_error *err)
{
    /* strtod also takes "nan", "inf" and hex floats; a config number is decimal and finite. */
    if (!*value || strpbrk(value, "xXnN") || !strpbrk(value, "0123456789"))
        return bad(err, FP_EFORMAT, opt, "not a number:", value);
    errno = 0;
    char *end;
    double v = strtod(value, &end);
    if (*end || end == value)
        return bad(err, FP_EFORMAT, opt, "not a number:", value);
    if (errno == ERANGE || !isfinite(v) || v < opt->min || v > opt->max)
        return out_of_range(err, opt, value);
    *(double *)field(cfg, opt) = v;
    return FP_OK;
}

static fp_status set_bool(fedpep_config *cfg, const config_option *opt, const char *value,
                          fp_error *err)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (!strcasecmp(value, yes[i]) || !strcasecmp(value, no[i])) {
            *(bool *)field(cfg, opt) = !strcasecmp(value, yes[i]);
            return FP_OK;
        }
    }
    return bad(err, FP_EFORMAT, opt, "not a boolean (true/false, yes/no, on/off, 1/0):", value);
}

static fp_status set_string(fedpep_config *cfg, const config_option *opt, const char *value,
                            fp_error *err)
{
    size_t n = strlen(value);
    if ((double)n < opt->min || (double)n > opt->max)
        return fp_fail(err, FP_ELIMIT, "[%s] %s: length %zu is out of range [%d, %d]", opt->section,
                       opt->key, n, (int)opt->min, (int)opt->max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        /* ';' would start an inline comment when the value is written back. */
        if (c < 0x20 || c == 0x7f || c == ';')
            return bad(err, FP_EFORMAT, opt, "control character or ';' in", value);
    }
    if (n && (value[0] == ' ' || value[n - 1] == ' '))
        return bad(err, FP_EFORMAT, opt, "leading or trailing blank in", value);
    assert(n < opt->size);
    memcpy(field(cfg, opt), value, n + 1);
    return FP_OK;
}

static fp_status set_enum(fedpep_config *cfg, const config_option *opt, const char *value,
                          fp_error *err)
{
    char allowed[160] = "";
    for (int i = 0; opt->names[i]; i++) {
        if (!strcasecmp(value, opt->names[i])) {
            *(int *)field(cfg, opt) = i;
            return FP_OK;
        }
        if (i)
            strncat(allowed, ", ", sizeof allowed - strlen(allowed) - 1);
        strncat(allowed, opt->names[i], sizeof allowed - strlen(allowed) - 1);
    }
    return fp_fail(err, FP_EFORMAT, "[%s] %s: '%.40s' is not one of: %s", opt->section, opt->key,
                   value, allowed);
}

/* Parses value as opt's type and stores it; on failure cfg is unchanged and err says
 * "[section] key: why". */
static fp_status set_option(fedpep_config *cfg, const config_option *opt, const char *value,
                            fp_error *err)
{
    switch (opt->type) {
    case CONFIG_INT:
    case CONFIG_I64:
        return set_integer(cfg, opt, value, err);
    case CONFIG_DOUBLE:
        return set_double(cfg, opt, value, err);
    case CONFIG_BOOL:
        return set_bool(cfg, opt, value, err);
    case CONFIG_STRING:
        return set_string(cfg, opt, value, err);
    case CONFIG_ENUM:
        return set_enum(cfg, opt, value, err);
    }
    return fp_fail(err, FP_EINVAL, "[%s] %s: bad option type", opt->section, opt->key);
}

static bool section_known(const char *section)
{
    for (size_t i = 0; config_sections[i]; i++)
        if (!strcmp(config_sections[i], section))
            return true;
    return false;
}

static int find_option(const char *section, const char *key)
{
    for (size_t i = 0; i < config_option_count; i++)
        if (!strcmp(config_options[i].section, section) && !strcmp(config_options[i].key, key))
            return (int)i;
    return -1;
}

void config_defaults(fedpep_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < config_option_count; i++) {
        fp_status st = set_option(cfg, &config_options[i], config_options[i].def, NULL);
        assert(st == FP_OK && "every default in the table must parse");
        (void)st;
    }
}

/* ---- reading INI text ------------------------------------------------------------------ */

typedef struct parse_state {
    fedpep_config *cfg;
    const char *name;
    const char *text;
    size_t len;
    size_t pos;                       /* next byte the reader hands to inih */
    int line;                         /* lines handed to inih so far = inih's line number */
    const char *line_start;           /* start of the current line */
    int prev_option;                  /* option of the previous handler call, -1 = none */
    int set_line[CONFIG_MAX_OPTIONS]; /* >0 line, <0 -(override index + 1), 0 default */
    int fail_line;                    /* line of the first handler failure, 0 = none */
    fp_error fail;
} parse_state;

/* fgets-style reader over the text: one line per call (lines are pre-checked to fit). */
static char *read_line(char *buf, int size, void *stream)
{
    parse_state *st = stream;
    if (st->pos >= st->len)
        return NULL;
    const char *start = st->text + st->pos;
    const char *nl = memchr(start, '\n', st->len - st->pos);
    size_t n = nl ? (size_t)(nl - start) + 1 : st->len - st->pos;
    assert(n < (size_t)size);
    memcpy(buf, start, n);
    buf[n] = '\0';
    st->pos += n;
    st->line++;
    st->line_start = start;
    return buf;
}

static int handler_fail(parse_state *st, fp_error *why)
{
    if (!st->fail_line) {
        st->fail_line = st->line;
        st->fail = *why;
    }
    return 0;
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
    parse_state *st = user;
    fp_error why = {0};
    int i = find_option(section, key);
    if (i < 0) {
        if (!*section)
            fp_fail(&why, FP_EFORMAT, "%.40s: key outside any [section]", key);
        else if (!section_known(section))
            fp_fail(&why, FP_EFORMAT, "[%.40s]: unknown section", section);
        else
            fp_fail(&why, FP_EFORMAT, "[%s] %.40s: unknown key", section, key);
        st->prev_option = -1;
        return handler_fail(st, &why);
    }
    const config_option *opt = &config_options[i];
    bool indented = st->line_start[0] == ' ' || st->line_start[0] == '\t';
    if (indented && st->prev_option == i) {
        fp_fail(&why, FP_EFORMAT,
                "[%s] %s: indented line continues the previous value; remove the indent",
                opt->section, opt->key);
        return handler_fail(st, &why);
    }
    st->prev_option = i;
    if (st->set_line[i] > 0) {
        fp_fail(&why, FP_EFORMAT, "[%s] %s: given twice (first at line %d)", opt->section, opt->key,
                st->set_line[i]);
        return handler_fail(st, &why);
    }
    if (set_option(st->cfg, opt, value, &why))
        return handler_fail(st, &why);
    st->set_line[i] = st->line;
    return 1;
}

/* The text of line `line` (1-based) of the input, for syntax messages. */
static void line_text(const parse_state *st, int line, char *out, size_t n)
{
    const char *p = st->text, *end = st->text + st->len;
    for (int l = 1; l < line && p < end; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    size_t k = 0;
    while (p < end && *p != '\n' && *p != '\r' && k + 1 < n)
        out[k++] = *p++;
    out[k] = '\0';
}

static fp_status syntax_error(const parse_state *st, int line, fp_error *err)
{
    char text[CONFIG_MAX_LINE + 1];
    line_text(st, line, text, sizeof text);
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '[')
        return fp_fail(err, FP_EFORMAT, "%s:%d: section header without ']': '%.60s'", st->name,
                       line, p);
    return fp_fail(err, FP_EFORMAT, "%s:%d: expected 'key = value' or '[section]': '%.60s'",
                   st->name, line, p);
}

/* Rejects what libinih would misread: NUL bytes and over-long lines (every byte counts but
 * the "\r\n" or "\n" that ends the line). */
static fp_status precheck(const char *text, size_t len, const char *name, fp_error *err)
{
    int line = 1;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] == '\0')
            return fp_fail(err, FP_EFORMAT, "%s:%d: NUL byte", name, line);
        if (i < len && text[i] != '\n')
            continue;
        size_t n = i - start;
        if (n && text[i - 1] == '\r')
            n--;
        if (n > CONFIG_MAX_LINE)
            return fp_fail(err, FP_ELIMIT, "%s:%d: line longer than %d bytes", name, line,
                           CONFIG_MAX_LINE);
        line++;
        start = i + 1;
    }
    return FP_OK;
}

/* Rank of when option i was set: defaults first, then file lines, then overrides in order. */
static long set_order(const parse_state *st, int i)
{
    int v = st->set_line[i];
    return v > 0 ? v : v < 0 ? 1000000L - v : 0;
}

static void location(const parse_state *st, int i, char *out, size_t n)
{
    if (st->set_line[i] > 0)
        snprintf(out, n, "%s:%d", st->name, st->set_line[i]);
    else if (st->set_line[i] < 0)
        snprintf(out, n, "override %d", -st->set_line[i]);
    else
        snprintf(out, n, "%s", st->name);
}

/* Cross-option rules: "a why b". The failure is reported where the later of the two was set.
 * st may be NULL (no location known). */
static fp_status check_rules(const fedpep_config *cfg, const parse_state *st, fp_error *err)
{
    const struct {
        bool broken;
        const char *sa, *ka, *why, *sb, *kb;
    } rules[] = {
        {cfg->federation.clients_per_round > cfg->federation.clients, "federation",
         "clients_per_round", "more than", "federation", "clients"},
        {cfg->federation.min_clients > cfg->federation.clients_per_round, "federation",
         "min_clients", "more than", "federation", "clients_per_round"},
        {cfg->faults.straggler_clients > cfg->federation.clients, "faults", "straggler_clients",
         "more than", "federation", "clients"},
        {cfg->faults.kill_coordinator_at_round >= cfg->run.rounds, "faults",
         "kill_coordinator_at_round", "not below", "run", "rounds"},
        {cfg->eval.every > cfg->run.rounds, "eval", "every", "more than", "run", "rounds"},
        {cfg->server.lr_min > cfg->server.lr, "server", "lr_min", "more than", "server", "lr"},
    };
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        if (!rules[r].broken)
            continue;
        int a = find_option(rules[r].sa, rules[r].ka), b = find_option(rules[r].sb, rules[r].kb);
        assert(a >= 0 && b >= 0);
        char where[200] = "config", va[64], vb[64];
        if (st)
            location(st, set_order(st, b) > set_order(st, a) ? b : a, where, sizeof where);
        config_format_value(cfg, &config_options[a], va, sizeof va);
        config_format_value(cfg, &config_options[b], vb, sizeof vb);
        return fp_fail(err, FP_ELIMIT, "%s: [%s] %s = %s is %s [%s] %s = %s", where, rules[r].sa,
                       rules[r].ka, va, rules[r].why, rules[r].sb, rules[r].kb, vb);
    }
    return FP_OK;
}

fp_status config_check(const fedpep_config *cfg, fp_error *err)
{
    return check_rules(cfg, NULL, err);
}

static fp_status apply_override(parse_state *st, const char *assignment, int index, fp_error *err)
{
    char buf[CONFIG_MAX_LINE + 1];
    size_t n = strlen(assignment);
    if (n > CONFIG_MAX_LINE)
        return fp_fail(err, FP_ELIMIT, "override %d: longer than %d bytes", index + 1,
                       CONFIG_MAX_LINE);
    memcpy(buf, assignment, n + 1);
    char *eq = strchr(buf, '=');
    char *dot = strchr(buf, '.');
    if (!eq || !dot || dot > eq)
        return fp_fail(err, FP_EFORMAT, "override %d '%.60s': expected section.key=value",
                       index + 1, assignment);
    *eq = '\0';
    *dot = '\0';
    char *section = buf, *key = dot + 1, *value = eq + 1;
    /* Blanks around the parts are the shell's, not the value's. */
    char *parts[] = {section, key, value};
    for (size_t k = 0; k < 3; k++) {
        char *p = parts[k];
        while (*p == ' ' || *p == '\t')
            p++;
        char *e = p + strlen(p);
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        parts[k] = p;
    }
    int i = find_option(parts[0], parts[1]);
    if (i < 0) {
        if (!section_known(parts[0]))
            return fp_fail(err, FP_EFORMAT, "override %d: [%.40s]: unknown section", index + 1,
                           parts[0]);
        return fp_fail(err, FP_EFORMAT, "override %d: [%s] %.40s: unknown key", index + 1, parts[0],
                       parts[1]);
    }
    if (st->set_line[i] < 0)
        return fp_fail(err, FP_EFORMAT, "override %d: [%s] %s: given twice (first in override %d)",
                       index + 1, parts[0], parts[1], -st->set_line[i]);
    fp_status s = set_option(st->cfg, &config_options[i], parts[2], err);
    if (s)
        return fp_wrap(err, "override %d", index + 1);
    st->set_line[i] = -(index + 1);
    return FP_OK;
}

fp_status config_override(fedpep_config *cfg, const char *assignment, fp_error *err)
{
    if (!cfg || !assignment)
        return fp_fail(err, FP_EINVAL, "config_override: NULL argument");
    parse_state st = {.cfg = cfg, .name = "override"};
    return apply_override(&st, assignment, 0, err);
}

static fp_status parse_text(parse_state *st, const char *const *overrides, size_t n_overrides,
                            fp_error *err)
{
    assert(config_option_count <= CONFIG_MAX_OPTIONS);
    fp_status s = precheck(st->text, st->len, st->name, err);
    if (s)
        return s;
    int bad_line = st->len ? ini_parse_stream(read_line, st, on_key, st) : 0;
    if (bad_line > 0) {
        if (st->fail_line == bad_line) {
            *err = st->fail;
            return fp_wrap(err, "%s:%d", st->name, bad_line);
        }
        return syntax_error(st, bad_line, err);
    }
    if (bad_line < 0)
        return fp_fail(err, FP_ENOMEM, "%s: the INI parser failed (%d)", st->name, bad_line);
    for (size_t k = 0; k < n_overrides; k++) {
        if (!overrides[k])
            return fp_fail(err, FP_EINVAL, "override %zu is NULL", k + 1);
        s = apply_override(st, overrides[k], (int)k, err);
        if (s)
            return s;
    }
    return check_rules(st->cfg, st, err);
}

fp_status config_load_string(const char *text, size_t len, const char *name,
                             const char *const *overrides, size_t n_overrides, fedpep_config *cfg,
                             fp_error *err)
{
    fp_error local;
    if (!err)
        err = &local;
    if (!cfg || (!text && len) || (n_overrides && !overrides))
        return fp_fail(err, FP_EINVAL, "config_load_string: NULL argument");
    config_defaults(cfg);
    parse_state st = {.cfg = cfg,
                      .name = name ? name : "config",
                      .text = text ? text : "",
                      .len = len,
                      .prev_option = -1};
    return parse_text(&st, overrides, n_overrides, err);
}

fp_status config_load(const char *path, const char *const *overrides, size_t n_overrides,
                      fedpep_config *cfg, fp_error *err)
{
    if (!path)
        return config_load_string(NULL, 0, "defaults", overrides, n_overrides, cfg, err);
    char *text = NULL;
    size_t len = 0;
    fp_status s = fp_file_read(path, CONFIG_MAX_FILE, &text, &len, err);
    if (!s)
        s = config_load_string(text, len, path, overrides, n_overrides, cfg, err);
    free(text);
    return s;
}

/* ---- derived values -------------------------------------------------------------------- */

fp_status config_data_dir(const fedpep_config *cfg, char *out, size_t n, fp_error *err)
{
    int len;
    if (cfg->data.dir[0]) {
        len = snprintf(out, n, "%s", cfg->data.dir);
    } else {
        const char *shared = getenv("FEDPEP_SHARED");
        len = snprintf(out, n, "%s/datasets", shared && *shared ? shared : "../shared");
    }
    if (len < 0 || (size_t)len >= n)
        return fp_fail(err, FP_ELIMIT, "datasets folder path longer than %zu bytes", n);
    return FP_OK;
}

int config_prompt_length(const fedpep_config *cfg, bool decoder)
{
    if (cfg->model.prompt_length > 0)
        return cfg->model.prompt_length;
    return decoder ? 5 : 20;
}

bool config_linear_head(const fedpep_config *cfg)
{
    return cfg->model.head == FP_HEAD_LINEAR || cfg->model.head == FP_HEAD_DESCRIPTIONS;
}
