/* test_distill.c — `fedpep distill` (train/distill*.h): the text it reads (dev and test lines
 * never, duplicates once, a held-out share chosen by content), a short run from the real teacher
 * (models/default) that learns, stops and resumes to the same bytes, refuses another recipe, and
 * exports a folder that loads as a model; and the state file, refused with its cause when
 * damaged. */
#include "tests/support/test.h"

#include <unistd.h>

#include "common/config.h"
#include "data/task.h"
#include "train/distill.h"
#include "train/distill_state.h"
#include "train/distill_text.h"
#include "train/model_bundle.h"

static const char *TEACHER = "models/default";

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Lines made of numbered words: distinct sentences, deterministic. */
static void write_corpus(const char *path, int n, int offset)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    static const char *const WORDS[] = {"the",  "film", "was", "a",       "quiet", "story", "about",
                                        "rain", "and",  "old", "friends", "who",   "never", "left"};
    for (int i = 0; i < n; i++) {
        int k = i + offset;
        fprintf(f, "%s %s %s %s line %d .\n", WORDS[k % 14], WORDS[(k / 3) % 14],
                WORDS[(k / 7) % 14], WORDS[(k / 11) % 14], k);
    }
    fclose(f);
}

static train_model_t *open_teacher(void)
{
    fp_error err;
    train_model_t *m = train_model_open(TEACHER, NULL, NULL, &err);
    if (!m)
        fail_msg("%s", err.msg);
    return m;
}

/* ---- the text */

static bool seqs_contain(const distill_seqs *q, const tok_ids *ids)
{
    for (size_t i = 0; i < q->n; i++)
        if (q->start[i + 1] - q->start[i] == ids->n &&
            !memcmp(q->ids + q->start[i], ids->ids, ids->n * sizeof(int)))
            return true;
    return false;
}

static void text_drops_eval_lines_and_duplicates(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("distill-text");
    char corpus[512], datasets[512], dev_line[1024] = {0};
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
    snprintf(datasets, sizeof datasets, "%s/datasets", test_shared_dir());
    /* the second line of SST-2's dev file (its first sentence), in other case and spacing */
    char dev_path[600];
    snprintf(dev_path, sizeof dev_path, "%s/sst-2/dev.tsv", datasets);
    char *dev = test_read_file(dev_path, NULL);
    assert_non_null(dev);
    const char *s = strchr(dev, '\n') + 1;
    size_t n = strcspn(s, "\t");
    for (size_t i = 0; i < n && i < sizeof dev_line - 1; i++)
        dev_line[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 32 : s[i]);
    free(dev);
    write_corpus(corpus, 400, 0);
    FILE *f = fopen(corpus, "a");
    fprintf(f, "  %s  \nThe  THE the, the line 0 .\n\n%s\n", dev_line,
            "a word and a much longer sentence than sixteen pieces can hold , so it is cut "
            "short at the limit of the student");
    fclose(f);

    train_model_t *m = open_teacher();
    const char *files[] = {corpus};
    distill_text_spec spec = {files, 1, datasets, 1u << FP_TASK_RTE, 16, 100};
    distill_text t;
    fp_error err;
    assert_int_equal(distill_text_build(&spec, m->tok, &t, &err), FP_OK);
    /* 403 corpus lines + RTE's training pairs (two sentences each) */
    assert_true(t.lines > 403 + 2 * 2000);
    assert_true(t.excluded >= 1);
    assert_true(t.duplicates >= 1); /* "The  THE the, the line 0 ." equals line 0 by key */
    assert_int_equal(t.empty, 1);
    assert_true(t.truncated >= 1);
    assert_int_equal(t.train.n + t.held.n, t.lines - t.excluded - t.duplicates - t.empty);
    /* the dev sentence is nowhere; a kept line is somewhere */
    tok_ids ids = {0};
    assert_int_equal(train_tok_encode(m->tok, dev_line, strlen(dev_line), &ids, &err), FP_OK);
    assert_false(seqs_contain(&t.train, &ids) || seqs_contain(&t.held, &ids));
    ids.n = 0;
    const char *kept = "was the the the line 2 .";
    assert_int_equal(train_tok_encode(m->tok, kept, strlen(kept), &ids, &err), FP_OK);
    assert_true(seqs_contain(&t.train, &ids) || seqs_contain(&t.held, &ids));
    tok_ids_free(&ids);
    /* about 10% held out, every sentence at most 16 ids */
    double share = (double)t.held.n / (double)(t.train.n + t.held.n);
    assert_true(share > 0.07 && share < 0.13);
    for (size_t i = 0; i < t.train.n; i++)
        assert_true(t.train.start[i + 1] - t.train.start[i] <= 16);
    distill_text_free(&t);

    /* the held-out choice depends on the sentence, not on its place */
    write_corpus(corpus, 400, 0);
    spec.datasets_dir = NULL;
    distill_text a, b;
    assert_int_equal(distill_text_build(&spec, m->tok, &a, &err), FP_OK);
    char reversed[512];
    snprintf(reversed, sizeof reversed, "%s/reversed.txt", dir);
    FILE *r = fopen(reversed, "w");
    for (int i = 399; i >= 0; i--) {
        /* the same lines as write_corpus, last first */
        char line[256];
        FILE *src = fopen(corpus, "r");
        for (int j = 0; j <= i; j++)
            assert_non_null(fgets(line, sizeof line, src));
        fclose(src);
        fputs(line, r);
    }
    fclose(r);
    files[0] = reversed;
    assert_int_equal(distill_text_build(&spec, m->tok, &b, &err), FP_OK);
    assert_int_equal(a.held.n, b.held.n);
    assert_int_equal(a.held.tokens, b.held.tokens);
    distill_text_free(&a);
    distill_text_free(&b);

    /* a missing file is named */
    files[0] = "/nonexistent/corpus.txt";
    assert_int_not_equal(distill_text_build(&spec, m->tok, &a, &err), FP_OK);
    assert_non_null(strstr(err.msg, "/nonexistent/corpus.txt"));
    train_model_destroy(&m);
    test_rmtree(dir);
}

/* ---- a short run */

static void small_recipe(distill_options *o, const char *out, const char *corpus)
{
    distill_defaults(o);
    o->teacher_dir = TEACHER;
    o->out_dir = out;
    o->datasets_dir = NULL;
    o->files[0] = corpus;
    o->n_files = 1;
    o->layers = 2;
    o->heads = 4;
    o->d_ff = 64;
    o->batch = 8;
    o->max_len = 16;
    o->steps = 16;
    o->warmup = 2;
    o->lr = 2e-3;
    o->eval_every = 8;
    o->held_max = 32;
}

static float *read_floats(const char *path, size_t *n)
{
    size_t len;
    char *b = test_read_file(path, &len);
    assert_non_null(b);
    *n = len;
    return (float *)b;
}

static void run_learns_stops_and_resumes_exactly(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("distill-run");
    char corpus[512], one[512], two[512], path[600];
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
    snprintf(one, sizeof one, "%s/one", dir);
    snprintf(two, sizeof two, "%s/two", dir);
    write_corpus(corpus, 600, 0);
    distill_options o;
    distill_result res, first;
    fp_error err;

    /* uninterrupted; the first evaluation is kept to compare with the last */
    small_recipe(&o, one, corpus);
    o.steps = 8;
    assert_int_equal(distill_run(&o, NULL, &first, &err), FP_OK);
    assert_true(first.finished);
    test_rmtree(one);
    small_recipe(&o, one, corpus);
    assert_int_equal(distill_run(&o, NULL, &res, &err), FP_OK);
    assert_true(res.finished);
    assert_int_equal(res.step, 16);
    assert_true(res.tokens > 16 * 8);
    assert_true(res.held.tok < first.held.tok); /* it learns the teacher's states */
    assert_true(res.held.pool_cos > first.held.pool_cos);

    /* stopped after each of the first steps (a signal before the run) and resumed, to the same
     * bytes */
    volatile int stop = 1;
    for (int i = 0; i < 4; i++) {
        small_recipe(&o, two, corpus);
        o.stop = i < 3 ? &stop : NULL;
        assert_int_equal(distill_run(&o, NULL, &res, &err), FP_OK);
        assert_int_equal(res.step, i < 3 ? i + 1 : 16);
    }
    assert_true(res.finished);
    snprintf(path, sizeof path, "%s/model.safetensors", one);
    size_t na, nb;
    float *a = read_floats(path, &na);
    snprintf(path, sizeof path, "%s/model.safetensors", two);
    float *b = read_floats(path, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na); /* a file's bytes, not a struct's */
    free(a);
    free(b);

    /* the export is a model folder the loader opens, with the student's shape */
    train_model_t *m = train_model_open(two, NULL, NULL, &err);
    assert_non_null(m);
    assert_int_equal(m->cfg.n_layers, 2);
    assert_int_equal(m->cfg.d_model, 256);
    assert_int_equal(m->cfg.d_ff, 64);
    train_model_destroy(&m);

    /* another recipe on the same folder is refused, naming the difference */
    small_recipe(&o, two, corpus);
    o.lr = 1e-3;
    assert_int_equal(distill_run(&o, NULL, &res, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "lr = 0.002"));
    assert_non_null(strstr(err.msg, "lr = 0.001"));
    test_rmtree(dir);
}

static void bad_recipes_are_refused(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("distill-bad");
    char corpus[512], out[512];
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    write_corpus(corpus, 200, 0);
    distill_options o;
    distill_result res;
    fp_error err;
    small_recipe(&o, out, corpus);
    o.d_model = 128; /* the teacher's embeddings are 256 wide */
    assert_int_equal(distill_run(&o, NULL, &res, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "embedding width 256"));
    small_recipe(&o, out, corpus);
    o.steps = 0;
    assert_int_equal(distill_run(&o, NULL, &res, &err), FP_EINVAL);
    small_recipe(&o, out, corpus);
    o.teacher_dir = "/nonexistent";
    assert_int_not_equal(distill_run(&o, NULL, &res, &err), FP_OK);
    assert_non_null(strstr(err.msg, "/nonexistent"));
    assert_int_equal(access(out, F_OK), -1); /* nothing written */
    test_rmtree(dir);
}

/* ---- the state file */

enum { NUMEL = 7, NTRAIN = 5, MAPN = 6, DT = 2 };

static void state_init(distill_state *s, float *block, float *map, float *mu, float *sigma)
{
    *s = (distill_state){.recipe = strdup("layers = 2\n"),
                         .step = 3,
                         .epoch = 1,
                         .batch_pos = 9,
                         .tokens = 1234,
                         .cpu_s = 5.5,
                         .block = block,
                         .numel = NUMEL,
                         .map = map,
                         .map_n = MAPN,
                         .mu = mu,
                         .sigma = sigma,
                         .d_t = DT,
                         .n_trainable = NTRAIN};
    for (int i = 0; i < NUMEL; i++)
        block[i] = 0.25f * (float)i - 1;
    for (int i = 0; i < MAPN; i++)
        map[i] = (float)i / 3;
    mu[0] = 1.5f, mu[1] = -2;
    sigma[0] = 0.5f, sigma[1] = 4;
    s->opt_w = fl_adamw_new(NTRAIN);
    s->opt_map = fl_adamw_new(MAPN);
    s->opt_w->step = 3;
    s->opt_w->m[2] = 0.125f;
    s->opt_map->v[5] = 9.0f;
}

static void state_round_trips_and_refuses_damage(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("distill-state");
    char path[512], bad[512];
    snprintf(path, sizeof path, "%s/state.bin", dir);
    snprintf(bad, sizeof bad, "%s/bad.bin", dir);
    float block[NUMEL], map[MAPN], mu[DT], sigma[DT];
    distill_state s;
    state_init(&s, block, map, mu, sigma);
    fp_error err;
    assert_int_equal(distill_state_save(&s, path, &err), FP_OK);

    float block2[NUMEL], map2[MAPN], mu2[DT], sigma2[DT];
    distill_state t = {.block = block2,
                       .numel = NUMEL,
                       .map = map2,
                       .map_n = MAPN,
                       .mu = mu2,
                       .sigma = sigma2,
                       .d_t = DT,
                       .n_trainable = NTRAIN};
    assert_int_equal(distill_state_load(&t, path, &err), FP_OK);
    assert_string_equal(t.recipe, "layers = 2\n");
    assert_int_equal(t.step, 3);
    assert_int_equal(t.epoch, 1);
    assert_int_equal(t.batch_pos, 9);
    assert_close(t.tokens, 1234, 0);
    assert_close(t.cpu_s, 5.5, 0);
    for (int i = 0; i < NUMEL; i++)
        assert_true(block2[i] == block[i]);
    for (int i = 0; i < MAPN; i++)
        assert_true(map2[i] == map[i]);
    assert_true(mu2[1] == -2 && sigma2[1] == 4);
    assert_int_equal(t.opt_w->step, 3);
    assert_true(t.opt_w->m[2] == 0.125f);
    assert_true(t.opt_map->v[5] == 9.0f);
    distill_state_free_owned(&t);

    /* every truncation is refused with "truncated", never read half */
    size_t len;
    char *bytes = test_read_file(path, &len);
    for (size_t cut = 0; cut < len; cut += cut < 64 ? 1 : 7) {
        write_text(bad, ""); /* empty first, then the prefix */
        FILE *f = fopen(bad, "wb");
        fwrite(bytes, 1, cut, f);
        fclose(f);
        assert_int_equal(distill_state_load(&t, bad, &err), FP_EFORMAT);
        distill_state_free_owned(&t);
    }
    /* another version, a trailing byte, other sizes */
    bytes[4] = 2;
    FILE *f = fopen(bad, "wb");
    fwrite(bytes, 1, len, f);
    fclose(f);
    assert_int_equal(distill_state_load(&t, bad, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "version"));
    distill_state_free_owned(&t);
    bytes[4] = 1;
    f = fopen(bad, "wb");
    fwrite(bytes, 1, len, f);
    fputc(0, f);
    fclose(f);
    assert_int_equal(distill_state_load(&t, bad, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "after the end"));
    distill_state_free_owned(&t);
    t.numel = NUMEL - 1;
    assert_int_equal(distill_state_load(&t, path, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "weights"));
    distill_state_free_owned(&t);
    t.numel = NUMEL;
    t.n_trainable = NTRAIN + 1;
    assert_int_equal(distill_state_load(&t, path, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "AdamW"));
    distill_state_free_owned(&t);
    assert_int_equal(distill_state_load(&t, "/nonexistent/state.bin", &err), FP_ENOTFOUND);
    distill_state_free_owned(&t);
    free(bytes);
    distill_state_free_owned(&s);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_drops_eval_lines_and_duplicates),
        cmocka_unit_test(run_learns_stops_and_resumes_exactly),
        cmocka_unit_test(bad_recipes_are_refused),
        cmocka_unit_test(state_round_trips_and_refuses_damage),
    };
    return cmocka_run_group_tests_name("distill", tests, NULL, NULL);
}
