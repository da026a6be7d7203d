/* store_hash.c — see store_hash.h. Four independent multiply-rotate lanes over 32-byte blocks
 * (the xxHash64 round; several GB/s, so hashing a checkpoint costs far less than writing it),
 * then the tail, then a final avalanche. Must never change its output: stored files hold it. */
#include "store_hash.h"

#include "common/little_endian.h"

static const uint64_t P1 = 0x9E3779B185EBCA87ULL;
static const uint64_t P2 = 0xC2B2AE3D27D4EB4FULL;
static const uint64_t P3 = 0x165667B19E3779F9ULL;
static const uint64_t P4 = 0x85EBCA77C2B2AE63ULL;
static const uint64_t P5 = 0x27D4EB2F165667C5ULL;

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t round64(uint64_t acc, uint64_t v)
{
    return rotl(acc + v * P2, 31) * P1;
}

uint64_t store_hash64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    const size_t total = n;
    uint64_t lane[4] = {h + P1 + P2, h + P2, h, h - P1};
    for (; n >= 32; p += 32, n -= 32)
        for (int l = 0; l < 4; l++)
            lane[l] = round64(lane[l], le_get_u64(p + 8 * l));
    uint64_t acc = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18);
    acc += (uint64_t)total;
    for (; n >= 8; p += 8, n -= 8)
        acc = rotl(acc ^ round64(0, le_get_u64(p)), 27) * P1 + P4;
    for (; n > 0; p++, n--)
        acc = rotl(acc ^ (*p * P5), 11) * P1;
    acc ^= acc >> 33;
    acc *= P2;
    acc ^= acc >> 29;
    acc *= P3;
    acc ^= acc >> 32;
    return acc;
}
