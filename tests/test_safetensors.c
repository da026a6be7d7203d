/* test_safetensors.c — the safetensors reader and writer: round trips, exact F16/BF16
 * conversion, and a table of malformed files that must each be refused with a reason. */
#include "tests/support/test.h"

#include <sys/stat.h>
#include <unistd.h>

#include "model/safetensors.h"

/* An image in memory: u64 header length, the header text, then data_len bytes 0, 1, 2, ... */
static uint8_t *make_image(const char *header, size_t data_len, size_t *len)
{
    size_t hlen = strlen(header);
    *len = 8 + hlen + data_len;
    uint8_t *img = malloc(*len + 1);
    assert_non_null(img);
    uint64_t h64 = hlen;
    memcpy(img, &h64, 8);
    memcpy(img + 8, header, hlen);
    for (size_t i = 0; i < data_len; i++)
        img[8 + hlen + i] = (uint8_t)i;
    return img;
}

static uint8_t *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(*len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

static void write_round_trip(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("st");
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);

    float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
    float b[3] = {0.1f, 0.2f, 0.3f};
    float s = 42.0f;
    st_write_tensor ts[] = {
        {.name = "layer.weight", .ndim = 2, .shape = {2, 3}, .data = w},
        {.name = "bias", .ndim = 1, .shape = {3}, .data = b},
        {.name = "scale", .ndim = 0, .data = &s},
        {.name = "empty", .ndim = 2, .shape = {0, 4}, .data = NULL},
    };
    const char *meta[] = {"format", "pt", "fedpep", "test"};
    fp_error err = {0};
    assert_int_equal(st_write(path, ts, 4, meta, 2, &err), FP_OK);

    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0); /* the temporary was renamed away */

    /* Header padded with spaces so the data starts on an 8-byte boundary. */
    size_t len;
    uint8_t *raw = read_whole(path, &len);
    uint64_t hlen;
    memcpy(&hlen, raw, 8);
    assert_int_equal((8 + hlen) % 8, 0);
    assert_int_equal(raw[8], '{');
    assert_int_equal(len, 8 + hlen + (6 + 3 + 1) * 4);
    free(raw);

    st_file_t *f = st_open(path, &err);
    assert_non_null(f);
    assert_int_equal(st_count(f), 4);
    const char *order[] = {"bias", "empty", "layer.weight", "scale"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(st_at(f, i)->name, order[i]);
    assert_null(st_at(f, 4));
    assert_string_equal(st_metadata(f, "format"), "pt");
    assert_string_equal(st_metadata(f, "fedpep"), "test");
    assert_null(st_metadata(f, "nope"));

    const st_tensor *t = st_find(f, "layer.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, ST_F32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    assert_int_equal(t->numel, 6);
    assert_int_equal(t->nbytes, 24);

    const float *v;
    float *owned;
    int64_t shp[2] = {2, 3};
    assert_int_equal(st_get_f32(f, "layer.weight", 2, shp, &v, &owned, &err), FP_OK);
    assert_null(owned); /* aligned F32: a pointer into the map */
    assert_memory_equal(v, w, sizeof w);
    assert_int_equal(st_get_f32(f, "scale", 0, NULL, &v, &owned, &err), FP_OK);
    assert_true(v[0] == 42.0f);
    int64_t e[2] = {0, 4};
    assert_int_equal(st_get_f32(f, "empty", 2, e, &v, &owned, &err), FP_OK);
    assert_int_equal(st_find(f, "empty")->numel, 0);
    free(owned);
    st_close(&f);
    assert_null(f);
    st_close(&f); /* idempotent */

    /* Overwriting an existing model replaces it whole. */
    assert_int_equal(st_write(path, ts + 1, 1, NULL, 0, &err), FP_OK);
    f = st_open(path, &err);
    assert_non_null(f);
    assert_int_equal(st_count(f), 1);
    assert_null(st_metadata(f, "format"));
    st_close(&f);
    test_rmtree(dir);
}

static void write_refuses_bad_tensors(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("st");
    char path[512];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    float x[2] = {1, 2};
    fp_error err = {0};
    st_write_tensor dup[] = {{.name = "a", .ndim = 1, .shape = {2}, .data = x},
                             {.name = "a", .ndim = 1, .shape = {2}, .data = x}};
    assert_int_equal(st_write(path, dup, 2, NULL, 0, &err), FP_EINVAL);
    assert_non_null(strstr(err.msg, "'a'"));
    st_write_tensor neg[] = {{.name = "n", .ndim = 1, .shape = {-2}, .data = x}};
    assert_int_equal(st_write(path, neg, 1, NULL, 0, &err), FP_EINVAL);
    st_write_tensor meta[] = {{.name = "__metadata__", .ndim = 1, .shape = {2}, .data = x}};
    assert_int_equal(st_write(path, meta, 1, NULL, 0, &err), FP_EINVAL);
    st_write_tensor nodata[] = {{.name = "z", .ndim = 1, .shape = {2}, .data = NULL}};
    assert_int_equal(st_write(path, nodata, 1, NULL, 0, &err), FP_EINVAL);
    assert_int_not_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/no/such/dir/m.safetensors", dir);
    assert_int_equal(st_write(path, neg + 0, 0, NULL, 0, &err), FP_EIO);
    test_rmtree(dir);
}

/* Independent reference for a finite half: (-1)^s · 2^(e-15) · (1 + m/1024), or m · 2^-24. */
static float half_reference(uint16_t h)
{
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float mag = e == 0 ? ldexpf((float)m, -24) : ldexpf(1.0f + (float)m / 1024.0f, e - 15);
    return s ? -mag : mag;
}

static void f16_and_bf16_are_exact(void **state)
{
    (void)state;
    /* Every finite half value against the formula, every non-finite by class and payload. */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = st_f16_to_f32((uint16_t)h);
        if (((h >> 10) & 31) == 31) {
            if (h & 1023) {
                uint32_t bits;
                memcpy(&bits, &f, 4);
                assert_true(isnan(f));
                assert_int_equal(bits & 0x7fffff, (h & 1023) << 13);
            } else {
                assert_true(isinf(f));
            }
            assert_int_equal(signbit(f) != 0, (h >> 15) != 0);
        } else {
            float r = half_reference((uint16_t)h);
            assert_memory_equal(&f, &r, 4); /* bit-exact, ±0 included */
        }
    }
    assert_true(st_f16_to_f32(0x3c00) == 1.0f);
    assert_true(st_f16_to_f32(0xc000) == -2.0f);
    assert_true(st_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(st_f16_to_f32(0x0001) == 5.9604644775390625e-8f);    /* smallest subnormal */
    assert_true(st_f16_to_f32(0x03ff) == 6.0975551605224609375e-5f); /* largest subnormal */
    assert_true(st_f16_to_f32(0x0400) == 6.103515625e-5f);           /* smallest normal */
    assert_true(st_f16_to_f32(0x3555) == 0.333251953125f);
    assert_true(signbit(st_f16_to_f32(0x8000)) && st_f16_to_f32(0x8000) == 0.0f);

    assert_true(st_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(st_bf16_to_f32(0xc049) == -3.140625f);
    assert_true(st_bf16_to_f32(0x0001) == ldexpf(1.0f, -133)); /* float subnormal */
    assert_true(isinf(st_bf16_to_f32(0xff80)) && st_bf16_to_f32(0xff80) < 0);
    assert_true(isnan(st_bf16_to_f32(0x7fc0)));
}

static void half_tensors_convert_into_owned_copies(void **state)
{
    (void)state;
    const char *hdr = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[8,14]},"
                      "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[16,24]},"
                      "\"u\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[25,29]}}";
    size_t len;
    uint8_t *img = make_image(hdr, 29, &len);
    uint8_t *data = img + 8 + strlen(hdr);
    const uint16_t h[4] = {0x3c00, 0xc000, 0x0001, 0x7c00};
    const uint16_t b[3] = {0x3f80, 0xc049, 0x0000};
    memcpy(data, h, 8);
    memcpy(data + 8, b, 6);
    float u = 2.5f;
    memcpy(data + 25, &u, 4); /* odd offset: cannot be read in place */

    fp_error err = {0};
    st_file_t *f = st_open_memory(img, len, &err);
    assert_non_null(f);
    const float *v;
    float *owned;
    int64_t s22[2] = {2, 2};
    assert_int_equal(st_get_f32(f, "h", 2, s22, &v, &owned, &err), FP_OK);
    assert_non_null(owned);
    assert_true(v[0] == 1.0f && v[1] == -2.0f && v[2] == ldexpf(1, -24) && isinf(v[3]));
    free(owned);
    int64_t s3 = 3;
    assert_int_equal(st_get_f32(f, "b", 1, &s3, &v, &owned, &err), FP_OK);
    assert_true(v[0] == 1.0f && v[1] == -3.140625f && v[2] == 0.0f);
    free(owned);
    assert_int_equal(st_get_f32(f, "u", 0, NULL, &v, &owned, &err), FP_OK);
    assert_non_null(owned);
    assert_true(v[0] == 2.5f);
    free(owned);

    /* Listed but refused as F32. */
    assert_int_equal(st_find(f, "i")->dtype, ST_OTHER);
    assert_string_equal(st_find(f, "i")->dtype_name, "I64");
    assert_int_equal(st_get_f32(f, "i", 0, NULL, &v, &owned, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "'i'"));
    assert_non_null(strstr(err.msg, "I64"));
    assert_null(owned);
    st_close(&f);
    free(img);
}

static void wrong_shape_and_missing_names_are_explained(void **state)
{
    (void)state;
    const char *hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]}}";
    size_t len;
    uint8_t *img = make_image(hdr, 24, &len);
    fp_error err = {0};
    st_file_t *f = st_open_memory(img, len, &err);
    assert_non_null(f);
    const float *v;
    float *owned;
    int64_t want[2] = {2, 3};
    assert_int_equal(st_get_f32(f, "w", 2, want, &v, &owned, &err), FP_EFORMAT);
    assert_non_null(strstr(err.msg, "'w'"));
    assert_non_null(strstr(err.msg, "expected shape [2, 3]"));
    assert_non_null(strstr(err.msg, "file has [3, 2]"));
    assert_int_equal(st_get_f32(f, "w", 1, want, &v, &owned, &err), FP_EFORMAT);
    assert_int_equal(st_get_f32(f, "nope", 1, want, &v, &owned, &err), FP_ENOTFOUND);
    assert_non_null(strstr(err.msg, "'nope'"));
    assert_null(st_find(f, "nope"));
    st_close(&f);
    free(img);
}

typedef struct bad_case {
    const char *why;
    const char *header;
    size_t data_len;
    fp_status status;
    const char *must_name; /* a substring the message must contain */
} bad_case;

#define T1(body) "{\"w\":{" body "}}"
#define OK_W "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"

static const bad_case BAD[] = {
    {"bad JSON", "{\"w\":{\"dtype\":\"F32\"", 8, FP_EFORMAT, "JSON"},
    {"trailing garbage", "{} x", 0, FP_EFORMAT, "JSON"},
    {"not an object", "[1, 2, 3]", 0, FP_EFORMAT, "'{'"},
    {"empty header", "", 8, FP_EFORMAT, "'{'"},
    {"duplicate names", "{\"w\":{" OK_W "},\"w\":{" OK_W "}}", 8, FP_EFORMAT, "duplicate"},
    {"tensor not an object", "{\"w\":[1]}", 8, FP_EFORMAT, "'w'"},
    {"missing dtype", T1("\"shape\":[2],\"data_offsets\":[0,8]"), 8, FP_EFORMAT, "dtype missing"},
    {"missing shape", T1("\"dtype\":\"F32\",\"data_offsets\":[0,8]"), 8, FP_EFORMAT,
     "shape missing"},
    {"missing offsets", T1("\"dtype\":\"F32\",\"shape\":[2]"), 8, FP_EFORMAT,
     "data_offsets missing"},
    {"dtype not a string", T1("\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]"), 8, FP_EFORMAT,
     "'w': dtype is not a string"},
    {"unknown dtype", T1("\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]"), 8, FP_EFORMAT,
     "unknown dtype 'F33'"},
    {"shape not an array", T1("\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]"), 8,
     FP_EFORMAT, "'w': shape is not an array"},
    {"fractional dim", T1("\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]"), 8,
     FP_EFORMAT, "'w': shape holds a non-integer"},
    {"string dim", T1("\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]"), 8, FP_EFORMAT,
     "'w': shape"},
    {"negative dim", T1("\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]"), 8, FP_EFORMAT,
     "'w': shape holds negative -2"},
    {"overflowing dims",
     T1("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]"), 8,
     FP_EFORMAT, "'w': shape overflows"},
    {"overflowing bytes",
     T1("\"dtype\":\"F64\",\"shape\":[4294967296,1073741824],\"data_offsets\":[0,8]"), 8,
     FP_EFORMAT, "'w': byte size overflows"},
    {"offsets one integer", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]"), 8,
     FP_EFORMAT, "'w': data_offsets is not"},
    {"offsets strings", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",\"8\"]"), 8,
     FP_EFORMAT, "'w': data_offsets holds a non-integer"},
    {"negative offset", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]"), 8,
     FP_EFORMAT, "'w': data_offsets holds negative"},
    {"offsets past the end", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 7,
     FP_EFORMAT, "'w': data_offsets [0, 8] outside"},
    {"offsets reversed", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]"), 8,
     FP_EFORMAT, "'w': data_offsets [8, 0]"},
    {"huge offset", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9223372036854775807]"),
     8, FP_EFORMAT, "'w': data_offsets"},
    {"length does not match shape", T1("\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]"),
     12, FP_EFORMAT, "'w': data_offsets span 8 bytes, shape and dtype F32 need 12"},
    {"overlap",
     "{\"a\":{" OK_W "},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
     FP_EFORMAT, "overlap"},
    {"too many dims", T1("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]"),
     8, FP_ELIMIT, "'w': 9 dims"},
    {"metadata not an object", "{\"__metadata__\":[1]}", 0, FP_EFORMAT, "__metadata__"},
    {"metadata value not a string", "{\"__metadata__\":{\"k\":1}}", 0, FP_EFORMAT, "'k'"},
    {"NUL in a name", "{\"w\\u0000x\":{" OK_W "}}", 8, FP_EFORMAT, "JSON"},
};

static void malformed_headers_are_refused_with_a_reason(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        size_t len;
        uint8_t *img = make_image(BAD[i].header, BAD[i].data_len, &len);
        fp_error err = {0};
        st_file_t *f = st_open_memory(img, len, &err);
        if (f || err.status != BAD[i].status || !strstr(err.msg, BAD[i].must_name))
            fail_msg("case '%s': got %s \"%s\", want %s containing \"%s\"", BAD[i].why,
                     f ? "success" : fp_status_name(err.status), err.msg,
                     fp_status_name(BAD[i].status), BAD[i].must_name);
        free(img);
    }
}

static void lying_header_lengths_are_refused(void **state)
{
    (void)state;
    fp_error err = {0};
    assert_null(st_open_memory("", 0, &err));
    assert_int_equal(err.status, FP_EFORMAT);
    assert_null(st_open_memory("\x02\0\0", 3, &err));
    assert_int_equal(err.status, FP_EFORMAT);
    /* Header length larger than the file, then one that is absurd (2^63). */
    uint8_t img[16] = {0x20, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    assert_null(st_open_memory(img, 10, &err));
    assert_int_equal(err.status, FP_EFORMAT);
    assert_non_null(strstr(err.msg, "header length 32"));
    img[0] = 0;
    img[7] = 0x80;
    assert_null(st_open_memory(img, 16, &err));
    assert_int_equal(err.status, FP_EFORMAT);
    /* Exactly right: an empty model. */
    img[0] = 2;
    img[7] = 0;
    st_file_t *f = st_open_memory(img, 10, &err);
    assert_non_null(f);
    assert_int_equal(st_count(f), 0);
    st_close(&f);
}

/* Every strict prefix of a valid file must be refused: the last tensor always reaches the end. */
static void every_truncation_is_refused(void **state)
{
    (void)state;
    const char *dir = test_tmpdir("st");
    char path[512];
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    float a[5] = {1, 2, 3, 4, 5}, b[2] = {6, 7};
    st_write_tensor ts[] = {{.name = "a", .ndim = 1, .shape = {5}, .data = a},
                            {.name = "b", .ndim = 2, .shape = {1, 2}, .data = b}};
    const char *meta[] = {"k", "v"};
    fp_error err = {0};
    assert_int_equal(st_write(path, ts, 2, meta, 1, &err), FP_OK);
    size_t len;
    uint8_t *raw = read_whole(path, &len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut + 1); /* exact size so ASan sees any over-read */
        memcpy(copy, raw, cut);
        st_file_t *f = st_open_memory(copy, cut, &err);
        if (f)
            fail_msg("prefix of %zu of %zu bytes was accepted", cut, len);
        assert_int_equal(err.status, FP_EFORMAT);
        free(copy);
    }
    /* The same through a real file, at a few cut points. */
    for (size_t cut = 0; cut < len; cut += 13) {
        FILE *out = fopen(path, "wb");
        fwrite(raw, 1, cut, out);
        fclose(out);
        assert_null(st_open(path, &err));
        assert_int_equal(err.status, FP_EFORMAT);
        assert_non_null(strstr(err.msg, path));
    }
    free(raw);
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    assert_null(st_open(path, &err));
    assert_int_equal(err.status, FP_EIO);
    assert_null(st_open(dir, &err)); /* a folder */
    assert_int_equal(err.status, FP_EIO);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(write_round_trip),
        cmocka_unit_test(write_refuses_bad_tensors),
        cmocka_unit_test(f16_and_bf16_are_exact),
        cmocka_unit_test(half_tensors_convert_into_owned_copies),
        cmocka_unit_test(wrong_shape_and_missing_names_are_explained),
        cmocka_unit_test(malformed_headers_are_refused_with_a_reason),
        cmocka_unit_test(lying_header_lengths_are_refused),
        cmocka_unit_test(every_truncation_is_refused),
    };
    return cmocka_run_group_tests_name("safetensors", tests, NULL, NULL);
}
