/* test_plot.c — the SVG writer and `fedpep plot`: documents are well formed (every tag closed in
 * order, no NaN or Inf printed, text escaped), each series becomes one polyline per unbroken
 * run of points with one circle per point, and runs with 0, 1 and several rounds all plot. */
#include "tests/support/test.h"
#include "tests/test_history_fixture.h"

#include <sys/wait.h>
#include <unistd.h>

#include "storage/store_report.h"
#include "storage/svg_plot.h"

/* Checks that every element is closed in order (a tiny XML tag matcher: the writer emits no
 * comments, CDATA or '>' inside attributes). Fails the test otherwise. */
static void assert_well_formed(const char *svg)
{
    assert_true(!strncmp(svg, "<?xml", 5));
    char stack[64][32];
    int depth = 0, roots = 0;
    for (const char *p = strchr(svg, '<'); p; p = strchr(p + 1, '<')) {
        const char *end = strchr(p, '>');
        assert_non_null(end);
        if (p[1] == '?')
            continue;
        bool closing = p[1] == '/', self = end[-1] == '/';
        const char *name = p + (closing ? 2 : 1);
        size_t n = strcspn(name, " />");
        assert_true(n > 0 && n < 32);
        if (closing) {
            assert_true(depth > 0);
            depth--;
            if (strncmp(stack[depth], name, n) || stack[depth][n])
                fail_msg("</%.*s> closes <%s>", (int)n, name, stack[depth]);
        } else if (!self) {
            assert_true(depth < 64);
            if (depth == 0)
                roots++;
            memcpy(stack[depth], name, n);
            stack[depth++][n] = '\0';
        }
    }
    assert_int_equal(depth, 0);
    assert_int_equal(roots, 1);
    assert_null(strstr(svg, "nan"));
    assert_null(strstr(svg, "inf"));
}

static int count(const char *s, const char *what)
{
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what))
        n++;
    return n;
}

/* Points in the k-th polyline. */
static int polyline_points(const char *svg, int k)
{
    const char *p = svg;
    for (int i = 0; i <= k; i++) {
        p = strstr(p, "<polyline");
        assert_non_null(p);
        p++;
    }
    const char *pts = strstr(p, "points=\"") + 8, *end = strchr(pts, '"');
    int n = 1;
    for (const char *c = pts; c < end; c++)
        n += *c == ' ';
    return n;
}

static char *write_figure(const char *title, const svg_panel *panels, size_t n)
{
    char *text = NULL;
    HX_CAPTURE(&text, svg_plot_write(out, title, panels, n, &err_));
    assert_well_formed(text);
    return text;
}

static void test_nice_ticks(void **state)
{
    (void)state;
    double t[16], lo = 0.03, hi = 0.97;
    size_t n = svg_nice_ticks(&lo, &hi, 6, 0, t);
    assert_int_equal(n, 6);
    assert_close(t[0], 0, 1e-12);
    assert_close(t[5], 1, 1e-12);
    assert_close(lo, 0, 1e-12);
    assert_close(hi, 1, 1e-12);
    lo = 0;
    hi = 2; /* rounds: whole steps */
    n = svg_nice_ticks(&lo, &hi, 6, 1, t);
    assert_int_equal(n, 3);
    assert_close(t[1], 1, 0);
    lo = hi = 5; /* a single round */
    n = svg_nice_ticks(&lo, &hi, 6, 1, t);
    assert_true(lo < 5 && hi > 5 && n >= 2 && n <= 6);
    for (int k = 0; k < 200; k++) { /* any window: 2..max ticks covering it, 1-2-5 steps */
        double a = (k - 100) * 37.3, b = a + pow(10, (k % 13) - 4) * (1 + k % 7);
        lo = a;
        hi = b;
        n = svg_nice_ticks(&lo, &hi, 6, k % 2, t);
        assert_true(n >= 2 && n <= 6);
        assert_true(lo <= a && hi >= b);
        assert_close(t[0], lo, 1e-9 * fabs(lo) + 1e-12);
    }
}

static void test_series_polylines_and_escaping(void **state)
{
    (void)state;
    const double y[] = {1, NAN, 2, 3, INFINITY, 4};
    const svg_series s[] = {{"a & <b>", NULL, y, 6}};
    const svg_panel p[] = {{"t \"q\"", "x", "y'", s, 1, 1, 0}};
    char *svg = write_figure("<run & co>", p, 1);
    assert_int_equal(count(svg, "<polyline"), 3); /* [1] [2 3] [4] */
    assert_int_equal(polyline_points(svg, 0), 1);
    assert_int_equal(polyline_points(svg, 1), 2);
    assert_int_equal(polyline_points(svg, 2), 1);
    assert_int_equal(count(svg, "<circle"), 4);
    assert_non_null(strstr(svg, "&lt;run &amp; co&gt;"));
    assert_non_null(strstr(svg, "a &amp; &lt;b&gt;"));
    assert_non_null(strstr(svg, "t &quot;q&quot;"));
    assert_non_null(strstr(svg, "y&apos;"));
    free(svg);

    fp_error err = {0};
    FILE *sink = fopen("/dev/null", "w");
    assert_int_equal(svg_plot_write(sink, "t", p, 0, &err), FP_EINVAL);
    const svg_panel broken[] = {{"t", "x", "y", NULL, 2, 0, 0}};
    assert_int_equal(svg_plot_write(sink, "t", broken, 1, &err), FP_EINVAL);
    fclose(sink);
}

/* y_zero stretches the axis down to 0; otherwise it hugs the data. */
static void test_y_zero(void **state)
{
    (void)state;
    const double x[] = {10, 11}, y[] = {5, 6}; /* no 0 on the x axis either */
    const svg_series s[] = {{"v", x, y, 2}};
    svg_panel p = {"t", "x", "y", s, 1, 1, 0};
    char *svg = write_figure("hug", &p, 1);
    assert_null(strstr(svg, ">0<"));
    assert_non_null(strstr(svg, ">5<"));
    free(svg);
    p.y_zero = 1;
    svg = write_figure("zero", &p, 1);
    assert_non_null(strstr(svg, ">0<"));
    free(svg);
}

typedef struct px {
    char dir[256], path[320];
    store_db_t *db;
} px;

static int px_setup(void **state)
{
    px *h = calloc(1, sizeof *h);
    snprintf(h->dir, sizeof h->dir, "%s", test_tmpdir("plot"));
    snprintf(h->path, sizeof h->path, "%s/fedpep.db", h->dir);
    hx_fill(h->path);
    /* run "gamma" with exactly one round (not evaluated: its metric panel has no data) */
    store_db_t *w = NULL;
    assert_int_equal(store_db_open(&w, h->path, 0, NULL), FP_OK);
    store_run_spec g = {"gamma", "", "tiny", "rte", "fedavgm", 9};
    int64_t id = 0;
    assert_int_equal(store_db_run_begin(w, &g, &id, NULL, NULL), FP_OK);
    hx_commit_round(w, id, 0);
    store_db_close(&w);
    assert_int_equal(store_db_open(&h->db, h->path, STORE_DB_READONLY, NULL), FP_OK);
    *state = h;
    return 0;
}

static int px_teardown(void **state)
{
    px *h = *state;
    store_db_close(&h->db);
    test_rmtree(h->dir);
    free(h);
    return 0;
}

static char *plot_run(px *h, const char *run)
{
    char *svg = NULL;
    HX_CAPTURE(&svg, store_report_plot(h->db, run, out, &err_));
    assert_well_formed(svg);
    return svg;
}

static void test_plot_runs_of_0_1_n_rounds(void **state)
{
    px *h = *state;
    /* alpha, 3 rounds: metric at rounds 1-2 (one line of 2), loss 3, bytes down 3 and up 3 */
    char *svg = plot_run(h, "alpha");
    assert_int_equal(count(svg, "<polyline"), 4);
    assert_int_equal(polyline_points(svg, 0), 2);
    assert_int_equal(polyline_points(svg, 1), 3);
    assert_int_equal(polyline_points(svg, 2), 3);
    assert_int_equal(polyline_points(svg, 3), 3);
    assert_int_equal(count(svg, "<circle"), 2 + 3 + 6);
    assert_int_equal(count(svg, "class=\"panel\""), 3);
    assert_int_equal(count(svg, "no data"), 0);
    assert_non_null(strstr(svg, "run alpha: sst2, fedpeptao (3 rounds)"));
    assert_non_null(strstr(svg, ">down (to clients)<"));
    assert_non_null(strstr(svg, ">up (from clients)<"));
    assert_non_null(strstr(svg, ">round<"));
    assert_non_null(strstr(svg, ">30k<")); /* bytes ticks with SI suffixes */
    free(svg);

    svg = plot_run(h, "beta"); /* no rounds: empty axes, no lines */
    assert_int_equal(count(svg, "<polyline"), 0);
    assert_int_equal(count(svg, "<circle"), 0);
    assert_int_equal(count(svg, "no data"), 3);
    free(svg);

    svg = plot_run(h, "gamma"); /* one round: single points still show */
    assert_int_equal(count(svg, "<polyline"), 3);
    assert_int_equal(count(svg, "<circle"), 3);
    assert_int_equal(count(svg, "no data"), 1);
    assert_non_null(strstr(svg, "(1 round)"));
    free(svg);

    fp_error err = {0};
    FILE *sink = fopen("/dev/null", "w");
    assert_int_equal(store_report_plot(h->db, "nope", sink, &err), FP_ENOTFOUND);
    fclose(sink);
}

static void test_plot_command(void **state)
{
    px *h = *state;
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char bin[512], cmd[2048], svg_path[512];
    snprintf(bin, sizeof bin, "%s/asan/fedpep", build);
    if (access(bin, X_OK) != 0)
        skip(); /* built by `make test` before the tests run */
    snprintf(svg_path, sizeof svg_path, "%s/out.svg", h->dir);
    snprintf(cmd, sizeof cmd, "%s plot %s alpha -o %s 2>/dev/null", bin, h->path, svg_path);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    char *svg = test_read_file(svg_path, NULL);
    assert_non_null(svg);
    assert_well_formed(svg);
    assert_int_equal(count(svg, "<polyline"), 4);
    free(svg);
    /* an unknown run fails and leaves no file (nor its temporary) behind */
    snprintf(svg_path, sizeof svg_path, "%s/bad.svg", h->dir);
    snprintf(cmd, sizeof cmd, "%s plot %s nope -o %s 2>/dev/null", bin, h->path, svg_path);
    rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    assert_int_not_equal(access(svg_path, F_OK), 0);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", svg_path);
    assert_int_not_equal(access(tmp, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nice_ticks),
        cmocka_unit_test(test_series_polylines_and_escaping),
        cmocka_unit_test(test_y_zero),
        cmocka_unit_test_setup_teardown(test_plot_runs_of_0_1_n_rounds, px_setup, px_teardown),
        cmocka_unit_test_setup_teardown(test_plot_command, px_setup, px_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
