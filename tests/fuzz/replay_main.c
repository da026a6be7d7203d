/* replay_main.c — a fuzz target's LLVMFuzzerTestOneInput run on files, without libFuzzer, so
 * that `make test` replays every target's seeds (tests/fuzz/seeds/TARGET: the starting corpus,
 * and the regression seeds that crashing inputs found by fuzzing become) under the suite's
 * ASan/UBSan build (tests/shell/test_fuzz_seeds.sh). Usage: REPLAY DIR|FILE...; exit 0 when
 * every input ran (a crash aborts the process), 1 when an input could not be read. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Defined by the targets that load something once (the tokenizers). */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return 1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += got;
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap *= 2);
            if (!bigger)
                free(buf);
            buf = bigger;
        }
    }
    int bad = ferror(f) || !buf;
    fclose(f);
    if (bad) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        return 1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int failed = 0, inputs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        DIR *dir = stat(argv[i], &sb) == 0 && S_ISDIR(sb.st_mode) ? opendir(argv[i]) : NULL;
        if (!dir) {
            failed += replay_file(argv[i]);
            inputs++;
            continue;
        }
        for (struct dirent *e; (e = readdir(dir));) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (e->d_name[0] == '.' || stat(path, &sb) || !S_ISREG(sb.st_mode))
                continue;
            failed += replay_file(path);
            inputs++;
        }
        closedir(dir);
    }
    printf("replay: %d inputs, %d unreadable\n", inputs, failed);
    return failed || !inputs;
}
