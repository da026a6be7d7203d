/* test_tfjs_weights.c — the TF.js weights manifest loader: small synthetic packages written to a
 * temporary folder (two groups, shards cut inside a tensor, float32, int32 and scalars), every
 * malformed manifest and shard case refused with a reason, and the real USE-lite package. */
#include "tests/support/test.h"

#include <sys/stat.h>

#include "model/tfjs_weights.h"

#define USE_LITE_DIR ".cache/use-lite/package/dist"

static void write_bytes(const char *dir, const char *name, const void *bytes, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    fclose(f);
}

/* The happy package: group 0 = a.bin + b.bin holding w [2][3] f32, ids [2] i32, s [] f32 (b.bin
 * starts inside w); group 1 = c.bin holding v [4] f32. */
static const char GOOD_JSON[] = "{\"format\": \"graph-model\", \"modelTopology\": {\"node\": []},"
                                " \"weightsManifest\": ["
                                "  {\"paths\": [\"a.bin\", \"b.bin\"], \"weights\": ["
                                "    {\"name\": \"w\", \"shape\": [2, 3], \"dtype\": \"float32\"},"
                                "    {\"name\": \"ids\", \"shape\": [2], \"dtype\": \"int32\"},"
                                "    {\"name\": \"s\", \"shape\": [], \"dtype\": \"float32\"}]},"
                                "  {\"paths\": [\"c.bin\"], \"weights\": ["
                                "    {\"name\": \"v\", \"shape\": [4], \"dtype\": \"float32\"}]}]}";

/* Group 0's 36 bytes as written: 6 floats, 2 int32, 1 float. */
static void group0_bytes(unsigned char out[36])
{
    const float w[6] = {1, 2, 3, 4, 5, 6.5f}, s = -7.25f;
    const int32_t ids[2] = {11, -12};
    memcpy(out, w, 24);
    memcpy(out + 24, ids, 8);
    memcpy(out + 32, &s, 4);
}

/* Writes the good package into a fresh folder; a_len/c_len cut or pad shards a.bin and c.bin. */
static const char *make_package(const char *tag, const char *json, size_t a_len, size_t c_len)
{
    const char *dir = test_tmpdir(tag);
    unsigned char g0[36], c[20] = {0};
    group0_bytes(g0);
    const float v[4] = {0.5f, -0.5f, 8, 9};
    memcpy(c, v, 16);
    write_bytes(dir, "model.json", json, strlen(json));
    write_bytes(dir, "a.bin", g0, a_len); /* 10 of 36: cuts w's third float */
    write_bytes(dir, "b.bin", g0 + 10, 36 - 10);
    write_bytes(dir, "c.bin", c, c_len);
    return dir;
}

static void opens_two_groups_with_cut_shards(void **state)
{
    (void)state;
    const char *dir = make_package("tfjs-good", GOOD_JSON, 10, 16);
    fp_error err = {0};
    tfjs_weights_t *tw = tfjs_weights_open(dir, &err);
    assert_non_null(tw);
    assert_int_equal(tfjs_weights_count(tw), 4);
    assert_int_equal(tfjs_weights_bytes(tw), 52);
    assert_int_equal(tfjs_weights_shard_count(tw), 3);
    assert_string_equal(tfjs_weights_shard(tw, 2), "c.bin");
    assert_null(tfjs_weights_shard(tw, 3));
    assert_null(tfjs_weights_at(tw, 4));

    const tfjs_tensor *ids = tfjs_weights_find(tw, "ids");
    assert_non_null(ids);
    assert_ptr_equal(ids, tfjs_weights_at(tw, 1));
    assert_int_equal(ids->dtype, TFJS_I32);
    assert_int_equal(ids->offset, 24);
    assert_int_equal(ids->group, 0);
    assert_int_equal(((const int32_t *)ids->data)[1], -12);

    const float *p;
    const int64_t w_shape[2] = {2, 3};
    assert_int_equal(tfjs_weights_get_f32(tw, "w", 2, w_shape, &p, &err), FP_OK);
    for (int i = 0; i < 5; i++)
        assert_true(p[i] == (float)(i + 1));
    assert_true(p[5] == 6.5f);
    assert_int_equal(tfjs_weights_get_f32(tw, "s", 0, NULL, &p, &err), FP_OK);
    assert_true(*p == -7.25f);
    const int64_t v_shape[1] = {4};
    assert_int_equal(tfjs_weights_get_f32(tw, "v", 1, v_shape, &p, &err), FP_OK);
    assert_int_equal(tfjs_weights_find(tw, "v")->group, 1);
    assert_int_equal(tfjs_weights_find(tw, "v")->offset, 36);
    assert_true(p[0] == 0.5f && p[3] == 9.0f);

    /* Shape, dtype and name errors name the tensor. */
    const int64_t wrong[2] = {3, 2};
    assert_int_equal(tfjs_weights_get_f32(tw, "w", 2, wrong, &p, &err), FP_EFORMAT);
    assert_null(p);
    assert_non_null(strstr(err.msg, "tensor w has shape [2, 3], expected [3, 2]"));
    assert_int_equal(tfjs_weights_get_f32(tw, "w", 1, wrong, &p, &err), FP_EFORMAT);
    assert_int_equal(tfjs_weights_get_f32(tw, "ids", 1, (int64_t[]){2}, &p, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "ids is int32"));
    assert_int_equal(tfjs_weights_get_f32(tw, "nope", 1, v_shape, &p, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "nope"));

    tfjs_weights_destroy(&tw);
    assert_null(tw);
    tfjs_weights_destroy(&tw); /* idempotent */
    test_rmtree(dir);
}

static void refuses_short_long_and_missing_shards(void **state)
{
    (void)state;
    fp_error err = {0};
    struct {
        size_t a_len, c_len;
        const char *group;
    } cases[] = {{9, 16, "group 0"}, {10, 12, "group 1"}, {10, 20, "group 1"}, {11, 16, "group 0"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *dir = make_package("tfjs-size", GOOD_JSON, cases[i].a_len, cases[i].c_len);
        assert_null(tfjs_weights_open(dir, &err));
        assert_int_equal(err.status, FP_EFORMAT);
        assert_non_null(strstr(err.msg, cases[i].group));
        assert_non_null(strstr(err.msg, "short or long"));
        test_rmtree(dir);
    }

    const char *dir = make_package("tfjs-missing", GOOD_JSON, 10, 16);
    char path[512];
    snprintf(path, sizeof path, "%s/b.bin", dir);
    assert_int_equal(remove(path), 0);
    assert_null(tfjs_weights_open(dir, &err));
    assert_int_equal(err.status, FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "b.bin"));

    snprintf(path, sizeof path, "%s/model.json", dir);
    assert_int_equal(remove(path), 0);
    assert_null(tfjs_weights_open(dir, &err));
    assert_int_equal(err.status, FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "model.json"));
    test_rmtree(dir);

    /* A shard that is a folder. */
    dir = make_package("tfjs-dir", GOOD_JSON, 10, 16);
    snprintf(path, sizeof path, "%s/c.bin", dir);
    assert_int_equal(remove(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_null(tfjs_weights_open(dir, &err));
    assert_int_equal(err.status, FP_EIO);
    test_rmtree(dir);
}

/* Manifest text → expected status and a fragment of the reason. */
static const struct bad_manifest {
    const char *json, *why;
    fp_status status;
} BAD[] = {
    {"{\"weightsManifest\": [", "not JSON", FP_EFORMAT},
    {"[1, 2]", "no 'weightsManifest'", FP_EFORMAT},
    {"{\"modelTopology\": {}}", "no 'weightsManifest'", FP_EFORMAT},
    {"{\"weightsManifest\": {}}", "no 'weightsManifest'", FP_EFORMAT},
    {"{\"weightsManifest\": [7]}", "weightsManifest[0]: not an object", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"weights\": []}]}", "arrays 'paths'", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": {}}]}", "arrays 'paths'", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [3], \"weights\": []}]}", "paths[0]", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [\"\"], \"weights\": []}]}", "paths[0]", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [\"/etc/passwd\"], \"weights\": []}]}", "inside",
     FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [\"x/../../y\"], \"weights\": []}]}", "inside",
     FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [\"..\"], \"weights\": []}]}", "inside", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [\"a\\u0000b\"], \"weights\": []}]}", "not JSON",
     FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [1]}]}", "weights[0]: not an object",
     FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"shape\": [1], \"dtype\": "
     "\"float32\"}]}]}",
     "'name'", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"\", \"shape\": [1], "
     "\"dtype\": \"float32\"}]}]}",
     "'name'", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": [1], "
     "\"dtype\": \"float16\"}]}]}",
     "(t): dtype float16 is not supported", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": [1], "
     "\"dtype\": \"string\"}]}]}",
     "dtype string", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": [1]}]}]}",
     "(missing)", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": [1], "
     "\"dtype\": \"float32\", \"quantization\": {\"dtype\": \"uint8\"}}]}]}",
     "quantized", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": 4, "
     "\"dtype\": \"float32\"}]}]}",
     "'shape' is not an array", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"dtype\": "
     "\"float32\"}]}]}",
     "'shape' is not an array", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": [2, -1], "
     "\"dtype\": \"float32\"}]}]}",
     "shape[1] is not an integer >= 0", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": [2.5], "
     "\"dtype\": \"float32\"}]}]}",
     "shape[0] is not an integer", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": "
     "[1,1,1,1,1,1,1,1,1], \"dtype\": \"float32\"}]}]}",
     "9 dimensions", FP_EFORMAT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": "
     "[65536, 65536, 65536], \"dtype\": \"float32\"}]}]}",
     "shape[1] = 65536", FP_ELIMIT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": "
     "[9223372036854775807], \"dtype\": \"int32\"}]}]}",
     "larger than", FP_ELIMIT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": "
     "[1073741824], \"dtype\": \"float32\"}, {\"name\": \"u\", \"shape\": [1], \"dtype\": "
     "\"float32\"}]}]}",
     "together", FP_ELIMIT},
    {"{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": [1], "
     "\"dtype\": \"float32\"}]}, {\"paths\": [], \"weights\": [{\"name\": \"t\", \"shape\": [2], "
     "\"dtype\": \"float32\"}]}]}",
     "tensor t is listed twice", FP_EFORMAT},
};

static void refuses_every_malformed_manifest(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        fp_error err = {0};
        tfjs_weights_t *tw =
            tfjs_weights_parse_manifest(BAD[i].json, strlen(BAD[i].json), "m.json", &err);
        if (tw || err.status != BAD[i].status || !strstr(err.msg, BAD[i].why))
            fail_msg("case %zu (%s): status %s, reason '%s'", i, BAD[i].json,
                     fp_status_name(err.status), err.msg);
    }
    /* The same refusals through the folder entry point, for one case. */
    const char *dir = make_package("tfjs-badjson", BAD[16].json, 10, 16);
    fp_error err = {0};
    assert_null(tfjs_weights_open(dir, &err));
    assert_non_null(strstr(err.msg, "model.json"));
    assert_non_null(strstr(err.msg, "float16"));
    test_rmtree(dir);
}

static void parsed_manifest_has_offsets_but_no_data(void **state)
{
    (void)state;
    fp_error err = {0};
    tfjs_weights_t *tw = tfjs_weights_parse_manifest(GOOD_JSON, strlen(GOOD_JSON), "m", &err);
    assert_non_null(tw);
    assert_int_equal(tfjs_weights_bytes(tw), 52);
    assert_int_equal(tfjs_weights_find(tw, "s")->ndim, 0);
    assert_int_equal(tfjs_weights_find(tw, "s")->numel, 1);
    assert_int_equal(tfjs_weights_find(tw, "s")->offset, 32);
    assert_null(tfjs_weights_find(tw, "s")->data);
    const float *p;
    assert_int_equal(tfjs_weights_get_f32(tw, "s", 0, NULL, &p, &err), FP_ESTATE);
    tfjs_weights_destroy(&tw);

    /* Zero-sized tensors and an empty manifest are well formed. */
    const char *empty = "{\"weightsManifest\": [{\"paths\": [], \"weights\": [{\"name\": \"z\", "
                        "\"shape\": [0, 5], \"dtype\": \"float32\"}]}]}";
    tw = tfjs_weights_parse_manifest(empty, strlen(empty), "m", &err);
    assert_non_null(tw);
    assert_int_equal(tfjs_weights_bytes(tw), 0);
    tfjs_weights_destroy(&tw);
}

static void reads_package_files_with_a_limit(void **state)
{
    (void)state;
    const char *dir = make_package("tfjs-read", GOOD_JSON, 10, 16);
    char *bytes;
    size_t len;
    fp_error err = {0};
    assert_int_equal(tfjs_read_package_file(dir, "c.bin", 16, &bytes, &len, &err), FP_OK);
    assert_int_equal(len, 16);
    assert_int_equal(bytes[16], '\0');
    free(bytes);
    assert_int_equal(tfjs_read_package_file(dir, "c.bin", 15, &bytes, &len, &err), FP_ELIMIT);
    assert_null(bytes);
    assert_int_equal(tfjs_read_package_file(dir, "none", 15, &bytes, &len, &err), FP_ENOTFOUND);
    test_rmtree(dir);
}

/* The real package: 61 tensors account for all 27,903,656 bytes of the 7 shards (USE-LITE.md
 * §1.1). */
static void opens_the_real_use_lite_package(void **state)
{
    (void)state;
    fp_error err = {0};
    tfjs_weights_t *tw = tfjs_weights_open(USE_LITE_DIR, &err);
    if (!tw)
        fail_msg("%s (run `bash scripts/setup.sh`, which fetches it)", err.msg);
    assert_int_equal(tfjs_weights_count(tw), 61);
    assert_int_equal(tfjs_weights_bytes(tw), 27903656);
    assert_int_equal(tfjs_weights_shard_count(tw), 7);
    const float *inv;
    const int64_t shape[2] = {1, 128};
    assert_int_equal(tfjs_weights_get_f32(tw,
                                          "module_apply_default/Encoder_en/KonaTransformer/Encode/"
                                          "TransformerStack/Layer_0/AddTimingSignal/TimingSignal/"
                                          "ExpandDims_1",
                                          2, shape, &inv, &err),
                     FP_OK);
    /* inv_k = exp(-k ln(1e4) / 127) */
    for (int k = 0; k < 128; k += 9)
        assert_close(inv[k], exp(-k * log(1e4) / 127), 1e-6);
    tfjs_weights_destroy(&tw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(opens_two_groups_with_cut_shards),
        cmocka_unit_test(refuses_short_long_and_missing_shards),
        cmocka_unit_test(refuses_every_malformed_manifest),
        cmocka_unit_test(parsed_manifest_has_offsets_but_no_data),
        cmocka_unit_test(reads_package_files_with_a_limit),
        cmocka_unit_test(opens_the_real_use_lite_package),
    };
    return cmocka_run_group_tests_name("tfjs_weights", tests, NULL, NULL);
}
