/* bpe_dump.c — fedpep's BPE ids for every line of stdin (one line of ids each) and, on stderr,
 * the encoding throughput. Built and run by tests/reference/bpe_compare.sh; not part of make. */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include "model/bpe.h"
int main(int argc, char **argv)
{
    fp_error err = {0};
    bpe_t *b = bpe_new(argv[1], argv[2], &err);
    if (!b) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    tok_ids ids = {0};
    struct timespec t0, t1;
    double secs = 0;
    size_t total = 0, bytes = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            n--;
        ids.n = 0;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
        bpe_encode(b, line, (size_t)n, false, &ids, &err);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
        secs += (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
        total += ids.n;
        bytes += n;
        for (size_t i = 0; i < ids.n; i++)
            printf(i ? " %d" : "%d", ids.ids[i]);
        printf("\n");
    }
    fprintf(stderr,
            "%zu tokens, %zu bytes in %.3f s: %.0f tokens/s, %.1f MB/s (CPU time of encoding)\n",
            total, bytes, secs, total / secs, bytes / secs / 1e6);
    tok_ids_free(&ids);
    free(line);
    bpe_destroy(&b);
}
