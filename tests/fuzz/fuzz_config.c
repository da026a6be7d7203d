/* fuzz_config.c — libFuzzer target: arbitrary bytes as a run configuration, plus the first line
 * reused as an override. Whatever the input, loading must return a status (never crash, leak or
 * read out of bounds), and a config that loads must dump to INI that loads back equal. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fedpep_config cfg;
    fp_error err;
    /* The text is not NUL-terminated on purpose: the loader must respect len. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    const char *nl = memchr(text, '\n', size);
    size_t first = nl ? (size_t)(nl - text) : size;
    char override[256];
    size_t olen = first < sizeof override - 1 ? first : sizeof override - 1;
    memcpy(override, text, olen);
    override[olen] = '\0';
    const char *ov[] = {override};
    size_t n_ov = memchr(override, '\0', olen) ? 0 : 1;

    if (config_load_string(text, size, "fuzz", NULL, 0, &cfg, &err) == FP_OK) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        if (f) {
            config_dump(&cfg, f);
            fclose(f);
            fedpep_config back;
            if (config_load_string(out, len, "dump", NULL, 0, &back, &err) != FP_OK ||
                !config_equal(&cfg, &back)) {
                fprintf(stderr, "dump did not round-trip: %s\n%s", err.msg, out);
                abort();
            }
            free(out);
        }
    }
    config_load_string(text, size, "fuzz", ov, n_ov, &cfg, &err);
    free(text);
    return 0;
}
