/* little_endian.h — fixed-width values as little-endian bytes, whatever the host's order.
 *
 * Every byte format fedpep writes itself (state blobs, rows blobs, the client state header, the
 * checkpoint hash) is little-endian; these are its only encoders. Floats travel as their IEEE-754
 * bits. The caller guarantees p holds the 4 or 8 bytes; nothing here checks a length, allocates
 * or fails. */
#ifndef FEDPEP_COMMON_LITTLE_ENDIAN_H
#define FEDPEP_COMMON_LITTLE_ENDIAN_H

#include <stdint.h>
#include <string.h>

static inline void le_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void le_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t le_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t le_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline void le_put_f32(uint8_t *p, float x)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    le_put_u32(p, bits);
}

static inline float le_get_f32(const uint8_t *p)
{
    uint32_t bits = le_get_u32(p);
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static inline void le_put_f64(uint8_t *p, double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    le_put_u64(p, bits);
}

static inline double le_get_f64(const uint8_t *p)
{
    uint64_t bits = le_get_u64(p);
    double x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

#endif
