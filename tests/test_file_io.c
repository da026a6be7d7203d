/* test_file_io.c — common/file_io: whole-file reads under a limit (exact, one over, empty,
 * missing, a folder, a pipe) and atomic replacement (new content, no temporary left, a failed
 * write leaves the old file). */
#include <sys/stat.h>
#include <unistd.h>

#include "common/file_io.h"
#include "tests/support/test.h"

static void write_bytes(const char *path, const char *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void reads_up_to_the_limit_and_refuses_one_byte_more(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("file_io");
    char path[512];
    snprintf(path, sizeof path, "%s/ten", dir);
    write_bytes(path, "0123456789", 10);
    char *buf = NULL;
    size_t len = 99;
    fp_error err;
    assert_int_equal(fp_file_read(path, 10, &buf, &len, &err), FP_OK);
    assert_int_equal(len, 10);
    assert_string_equal(buf, "0123456789"); /* NUL-terminated */
    free(buf);
    assert_int_equal(fp_file_read(path, 9, &buf, &len, &err), FP_ELIMIT);
    assert_null(buf);
    assert_int_equal(len, 0);
    assert_non_null(strstr(err.msg, "ten: larger than 9 bytes"));
    assert_int_equal(fp_file_read(path, 0, &buf, &len, &err), FP_ELIMIT);

    /* Larger than the first buffer: the growth path keeps every byte. */
    size_t big = 3 * 4096 + 17;
    char *want = malloc(big);
    for (size_t i = 0; i < big; i++)
        want[i] = (char)('a' + i % 26);
    write_bytes(path, want, big);
    assert_int_equal(fp_file_read(path, big, &buf, &len, &err), FP_OK);
    assert_int_equal(len, big);
    assert_memory_equal(buf, want, big);
    assert_int_equal(buf[big], '\0');
    free(buf);
    assert_int_equal(fp_file_read(path, big - 1, &buf, &len, &err), FP_ELIMIT);
    free(want);

    write_bytes(path, "", 0);
    assert_int_equal(fp_file_read(path, 10, &buf, &len, &err), FP_OK);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    free(buf);
    test_rmtree(dir);
}

static void missing_files_and_folders_are_named(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("file_io");
    char path[512];
    snprintf(path, sizeof path, "%s/none", dir);
    char *buf = (char *)1;
    size_t len;
    fp_error err;
    assert_int_equal(fp_file_read(path, 10, &buf, &len, &err), FP_ENOTFOUND);
    assert_null(buf);
    assert_non_null(strstr(err.msg, "none: cannot open"));
    assert_int_equal(fp_file_read(dir, 10, &buf, &len, &err), FP_EIO);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_int_equal(fp_file_read(NULL, 10, &buf, &len, &err), FP_EINVAL);
    test_rmtree(dir);
}

static void a_pipe_is_read_to_its_end(void **state)
{
    (void)state;
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    assert_int_equal(write(fd[1], "from a pipe", 11), 11);
    close(fd[1]);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd[0]);
    char *buf = NULL;
    size_t len;
    fp_error err;
    assert_int_equal(fp_file_read(path, 100, &buf, &len, &err), FP_OK);
    assert_int_equal(len, 11);
    assert_string_equal(buf, "from a pipe");
    free(buf);
    close(fd[0]);
}

static void atomic_write_replaces_or_leaves_the_old_file(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("file_io");
    char path[512], tmp[520];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_bytes(path, "old", 3);
    const void *parts[] = {"ab", "", "cde"};
    size_t sizes[] = {2, 0, 3};
    fp_error err;
    assert_int_equal(fp_file_write_atomic(path, parts, sizes, 3, &err), FP_OK);
    size_t len;
    char *got = test_read_file(path, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(got, "abcde", 5);
    free(got);
    assert_int_not_equal(access(tmp, F_OK), 0);

    /* The temporary cannot be made (its name is a folder): the old file stays whole. */
    assert_int_equal(mkdir(tmp, 0755), 0);
    assert_int_equal(fp_file_write_atomic(path, parts, sizes, 1, &err), FP_EIO);
    assert_non_null(strstr(err.msg, "out.bin.tmp"));
    got = test_read_file(path, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(got, "abcde", 5);
    free(got);
    assert_int_equal(fp_file_write_atomic(NULL, parts, sizes, 1, &err), FP_EINVAL);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_up_to_the_limit_and_refuses_one_byte_more),
        cmocka_unit_test(missing_files_and_folders_are_named),
        cmocka_unit_test(a_pipe_is_read_to_its_end),
        cmocka_unit_test(atomic_write_replaces_or_leaves_the_old_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
