/* sp_dump.c — fedpep's SentencePiece unigram ids for every line of stdin (one line of ids each)
 * and, on stderr, the encoding throughput. Built and run by `tests/reference/sp_reference.sh
 * --compare`; not part of make. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/sentencepiece.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: sp_dump VOCAB.json <lines >ids\n");
        return 2;
    }
    fp_error err = {0};
    sp_t *sp = sp_new(argv[1], &err);
    if (!sp) {
        fprintf(stderr, "sp_dump: %s\n", err.msg);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, lines = 0, bytes = 0, n_ids = 0;
    ssize_t len;
    tok_ids ids = {0};
    double secs = 0;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        ids.n = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (sp_encode(sp, line, (size_t)len, &ids, &err)) {
            fprintf(stderr, "sp_dump: %s\n", err.msg);
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        for (size_t i = 0; i < ids.n; i++)
            printf(i ? " %d" : "%d", ids.ids[i]);
        putchar('\n');
        lines++;
        bytes += (size_t)len;
        n_ids += ids.n;
    }
    fprintf(stderr,
            "sp_dump: %zu lines, %zu bytes, %zu ids in %.3f s: %.1f MB/s, %.0f lines/s, "
            "%.2f M ids/s\n",
            lines, bytes, n_ids, secs, (double)bytes / secs / 1e6, (double)lines / secs,
            (double)n_ids / secs / 1e6);
    tok_ids_free(&ids);
    free(line);
    sp_destroy(&sp);
    return 0;
}
