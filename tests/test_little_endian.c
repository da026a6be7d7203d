/* test_little_endian.c — common/little_endian.h: the byte layout of every fixed-width value
 * fedpep writes, and round trips that keep every bit (NaN payloads, -0, denormals). */
#include "tests/support/test.h"

#include "common/little_endian.h"

static void integers_are_least_significant_byte_first(void **state)
{
    (void)state;
    uint8_t b[8];
    le_put_u32(b, 0x01020304u);
    assert_memory_equal(b, "\x04\x03\x02\x01", 4);
    assert_int_equal(le_get_u32(b), 0x01020304u);
    le_put_u64(b, 0x0102030405060708ull);
    assert_memory_equal(b, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
    assert_true(le_get_u64(b) == 0x0102030405060708ull);
    le_put_u64(b, UINT64_MAX);
    assert_true(le_get_u64(b) == UINT64_MAX);
    le_put_u32(b, UINT32_MAX);
    assert_int_equal(le_get_u32(b), UINT32_MAX);
}

static void floats_are_their_ieee_bits(void **state)
{
    (void)state;
    uint8_t b[8];
    le_put_f32(b, 1.0f);
    assert_memory_equal(b, "\x00\x00\x80\x3f", 4);
    le_put_f64(b, -2.0);
    assert_memory_equal(b, "\x00\x00\x00\x00\x00\x00\x00\xc0", 8);
    assert_true(le_get_f64(b) == -2.0);
    /* every bit survives: a NaN with a payload, -0, the smallest denormal */
    const uint32_t bits32[] = {0x7fc01234u, 0x80000000u, 0x00000001u, 0x3eaaaaabu};
    for (size_t i = 0; i < sizeof bits32 / sizeof bits32[0]; i++) {
        float x, y;
        memcpy(&x, &bits32[i], 4);
        le_put_f32(b, x);
        assert_int_equal(le_get_u32(b), bits32[i]);
        y = le_get_f32(b);
        assert_memory_equal(&x, &y, 4);
    }
    const uint64_t bits64[] = {0x7ff8000000001234ull, 0x8000000000000000ull, 1ull};
    for (size_t i = 0; i < sizeof bits64 / sizeof bits64[0]; i++) {
        double x, y;
        memcpy(&x, &bits64[i], 8);
        le_put_f64(b, x);
        assert_true(le_get_u64(b) == bits64[i]);
        y = le_get_f64(b);
        assert_memory_equal(&x, &y, 8);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers_are_least_significant_byte_first),
        cmocka_unit_test(floats_are_their_ieee_bits),
    };
    return cmocka_run_group_tests_name("little_endian", tests, NULL, NULL);
}
