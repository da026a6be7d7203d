/* test.h — what every fedpep test program includes: cmocka with its prerequisites, and small
 * helpers shared by tests (paths to ../shared, temporary folders). */
#ifndef FEDPEP_TESTS_SUPPORT_TEST_H
#define FEDPEP_TESTS_SUPPORT_TEST_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

/* Folder of the shared assets (datasets, corpus): $FEDPEP_SHARED, else ../shared. */
const char *test_shared_dir(void);

/* Creates a fresh temporary folder for one test and returns its path (static storage per
 * call, so copy it if you need two). Fails the test on error. */
const char *test_tmpdir(const char *tag);

/* Removes a folder made by test_tmpdir and everything in it. */
void test_rmtree(const char *path);

/* Reads a whole file into a malloc'd, NUL-terminated buffer (the caller frees it); *len gets
 * its size if len is not NULL. NULL if the file cannot be read. */
char *test_read_file(const char *path, size_t *len);

/* Milliseconds on the monotonic clock, for deadlines and elapsed times. */
int64_t test_now_ms(void);

/* Process pid exists and is not a zombie (an orphan's zombie may wait for a busy init). */
bool test_pid_alive(pid_t pid);

/* Asserts |a - b| <= tol with a readable message. */
#define assert_close(a, b, tol)                                                                    \
    do {                                                                                           \
        double a_ = (a), b_ = (b), t_ = (tol);                                                     \
        if (!(fabs(a_ - b_) <= t_))                                                                \
            fail_msg("%s = %.9g, %s = %.9g, |diff| %.3g > %.3g", #a, a_, #b, b_, fabs(a_ - b_),    \
                     t_);                                                                          \
    } while (0)

#endif
