/* config_write.c — writes a configuration out through the option table: the INI dump (which
 * reads back to the same values), equality, and the markdown reference of every option. Never
 * parses (config.c does). */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"

/* ---- writing --------------------------------------------------------------------------- */

/* The shortest %g form that reads back as the same double. */
static void format_double(double v, char *out, size_t n)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

void config_format_value(const fedpep_config *cfg, const config_option *opt, char *out, size_t n)
{
    const void *p = config_cfield(cfg, opt);
    switch (opt->type) {
    case CONFIG_INT:
        snprintf(out, n, "%d", *(const int *)p);
        break;
    case CONFIG_I64:
        snprintf(out, n, "%" PRId64, *(const int64_t *)p);
        break;
    case CONFIG_DOUBLE:
        format_double(*(const double *)p, out, n);
        break;
    case CONFIG_BOOL:
        snprintf(out, n, "%s", *(const bool *)p ? "true" : "false");
        break;
    case CONFIG_STRING:
        snprintf(out, n, "%s", (const char *)p);
        break;
    case CONFIG_ENUM: {
        int v = *(const int *)p, count = 0;
        while (opt->names[count])
            count++;
        snprintf(out, n, "%s", v >= 0 && v < count ? opt->names[v] : "?");
        break;
    }
    }
}

fp_status config_dump(const fedpep_config *cfg, FILE *out)
{
    fprintf(out, "# fedpep run configuration: every option (docs/config.md explains each)\n");
    for (size_t s = 0; config_sections[s]; s++) {
        fprintf(out, "\n[%s]\n", config_sections[s]);
        for (size_t i = 0; i < config_option_count; i++) {
            const config_option *opt = &config_options[i];
            if (strcmp(opt->section, config_sections[s]))
                continue;
            char value[FP_CONFIG_STR_MAX + 1];
            config_format_value(cfg, opt, value, sizeof value);
            fprintf(out, "%s = %s\n", opt->key, value);
        }
    }
    return ferror(out) ? FP_EIO : FP_OK;
}

bool config_equal(const fedpep_config *a, const fedpep_config *b)
{
    for (size_t i = 0; i < config_option_count; i++) {
        const config_option *opt = &config_options[i];
        const void *pa = config_cfield(a, opt), *pb = config_cfield(b, opt);
        bool same;
        switch (opt->type) {
        case CONFIG_STRING:
            same = !strcmp(pa, pb);
            break;
        case CONFIG_DOUBLE:
            same = *(const double *)pa == *(const double *)pb;
            break;
        case CONFIG_BOOL:
            same = *(const bool *)pa == *(const bool *)pb;
            break;
        default:
            same = !memcmp(pa, pb, opt->size);
        }
        if (!same)
            return false;
    }
    return true;
}

static const char *type_name(config_type t)
{
    static const char *const names[] = {"int", "int", "real", "bool", "string", "enum"};
    return names[t];
}

static void format_allowed(const config_option *opt, char *out, size_t n)
{
    switch (opt->type) {
    case CONFIG_INT:
    case CONFIG_I64:
        snprintf(out, n, "%lld … %lld", (long long)opt->min, (long long)opt->max);
        break;
    case CONFIG_DOUBLE:
        snprintf(out, n, "%g … %g", opt->min, opt->max);
        break;
    case CONFIG_BOOL:
        snprintf(out, n, "true, false");
        break;
    case CONFIG_STRING:
        snprintf(out, n, "%d … %d bytes", (int)opt->min, (int)opt->max);
        break;
    case CONFIG_ENUM:
        out[0] = '\0';
        for (int i = 0; opt->names[i]; i++) {
            if (i)
                strncat(out, ", ", n - strlen(out) - 1);
            strncat(out, "`", n - strlen(out) - 1);
            strncat(out, opt->names[i], n - strlen(out) - 1);
            strncat(out, "`", n - strlen(out) - 1);
        }
        break;
    }
}

fp_status config_doc_markdown(FILE *out)
{
    for (size_t s = 0; config_sections[s]; s++) {
        fprintf(out, "%s### [%s]\n\n", s ? "\n" : "", config_sections[s]);
        fprintf(out, "| key | type | default | allowed | meaning |\n");
        fprintf(out, "| --- | --- | --- | --- | --- |\n");
        for (size_t i = 0; i < config_option_count; i++) {
            const config_option *opt = &config_options[i];
            if (strcmp(opt->section, config_sections[s]))
                continue;
            char allowed[256];
            format_allowed(opt, allowed, sizeof allowed);
            char def[FP_CONFIG_STR_MAX + 8];
            snprintf(def, sizeof def, opt->def[0] ? "`%s`" : "*(empty)*", opt->def);
            fprintf(out, "| `%s` | %s | %s | %s | %s |\n", opt->key, type_name(opt->type), def,
                    allowed, opt->doc);
        }
    }
    return ferror(out) ? FP_EIO : FP_OK;
}
