/* config_table.h — the option table behind config.h, shared by the table itself
 * (config_options.c), the parser (config.c) and the writer (config_write.c). Private to
 * common/config*: other modules use config.h. */
#ifndef FEDPEP_COMMON_CONFIG_TABLE_H
#define FEDPEP_COMMON_CONFIG_TABLE_H

#include <stddef.h>

#include "config.h"

typedef enum config_type {
    CONFIG_INT,    /* int */
    CONFIG_I64,    /* int64_t */
    CONFIG_DOUBLE, /* double, finite */
    CONFIG_BOOL,   /* bool: true/false, yes/no, on/off, 1/0 */
    CONFIG_STRING, /* char[size], printable, no ';', no surrounding blanks */
    CONFIG_ENUM    /* an enum stored as int: index into names */
} config_type;

typedef struct config_option {
    const char *section;
    const char *key;
    config_type type;
    size_t offset;            /* of the field inside fedpep_config */
    size_t size;              /* of the field */
    const char *def;          /* the default, as INI text (parsed by the same code as a file) */
    double min, max;          /* numbers: inclusive range; strings: length range */
    const char *const *names; /* enums: value names in enum order, NULL-terminated */
    const char *doc;          /* one line for the reference table */
} config_option;

extern const config_option config_options[];
extern const size_t config_option_count;

/* Section names in table order (the order of the dump and of the docs), NULL-terminated. */
extern const char *const config_sections[];

/* The field of opt inside cfg. */
static inline const void *config_cfield(const fedpep_config *cfg, const config_option *opt)
{
    return (const char *)cfg + opt->offset;
}

/* opt's value in cfg as INI text (config_write.c; the parser's messages use it too). */
void config_format_value(const fedpep_config *cfg, const config_option *opt, char *out, size_t n);

#endif
