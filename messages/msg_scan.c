/* msg_scan.c — a bounded structural pass over untrusted MessagePack before msgpack-c sees it.
 *
 * msgpack-c allocates count * sizeof(msgpack_object) as soon as it reads an array or map
 * header, so five bytes claiming 2^32 items would ask for ~100 GB. This pass proves every
 * count is plausible (each item needs at least one byte of input) and within limits, so the
 * unpacker's allocations stay proportional to the input. It must never allocate, never read
 * past len, and never recurse (depth is an explicit stack). */
#include "messages/msg_schema.h"

/* Big-endian unsigned of n bytes at p (the caller checked they exist). */
static uint64_t read_be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* What the byte c announces: fixed payload bytes, a length field of len_bytes (plus extra
 * bytes, for ext's type byte), or a container header. */
typedef struct head {
    int fixed;      /* payload bytes after the type byte (and after the length field) */
    int len_bytes;  /* size of a big-endian length field, 0 if none */
    int container;  /* 0 none, 1 array, 2 map */
    uint64_t count; /* fixed container count or fixstr length */
    bool valid;
} head;

static head classify(uint8_t c)
{
    head h = {.valid = true};
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
        return h;
    if (c <= 0x8f) /* 0x80..0x8f: the cases below 0x80 returned above */
        return (head){.container = 2, .count = c & 0x0f, .valid = true};
    if (c <= 0x9f)
        return (head){.container = 1, .count = c & 0x0f, .valid = true};
    if (c <= 0xbf)
        return (head){.fixed = c & 0x1f, .valid = true};
    switch (c) {
    case 0xc4:
    case 0xd9:
        return (head){.len_bytes = 1, .valid = true};
    case 0xc5:
    case 0xda:
        return (head){.len_bytes = 2, .valid = true};
    case 0xc6:
    case 0xdb:
        return (head){.len_bytes = 4, .valid = true};
    case 0xc7:
        return (head){.len_bytes = 1, .fixed = 1, .valid = true};
    case 0xc8:
        return (head){.len_bytes = 2, .fixed = 1, .valid = true};
    case 0xc9:
        return (head){.len_bytes = 4, .fixed = 1, .valid = true};
    case 0xca:
    case 0xce:
    case 0xd2:
        return (head){.fixed = 4, .valid = true};
    case 0xcb:
    case 0xcf:
    case 0xd3:
        return (head){.fixed = 8, .valid = true};
    case 0xcc:
    case 0xd0:
        return (head){.fixed = 1, .valid = true};
    case 0xcd:
    case 0xd1:
        return (head){.fixed = 2, .valid = true};
    case 0xd4:
        return (head){.fixed = 2, .valid = true};
    case 0xd5:
        return (head){.fixed = 3, .valid = true};
    case 0xd6:
        return (head){.fixed = 5, .valid = true};
    case 0xd7:
        return (head){.fixed = 9, .valid = true};
    case 0xd8:
        return (head){.fixed = 17, .valid = true};
    case 0xdc:
        return (head){.container = 1, .len_bytes = 2, .valid = true};
    case 0xdd:
        return (head){.container = 1, .len_bytes = 4, .valid = true};
    case 0xde:
        return (head){.container = 2, .len_bytes = 2, .valid = true};
    case 0xdf:
        return (head){.container = 2, .len_bytes = 4, .valid = true};
    default:
        return (head){.valid = false}; /* 0xc1 is never used */
    }
}

fp_status msg_scan(const uint8_t *buf, size_t len, const msg_limits *lim, fp_error *err)
{
    uint64_t remaining[MSG_MAX_DEPTH + 1];
    int depth = 0;
    remaining[0] = 1;
    size_t pos = 0, objects = 0;
    while (depth >= 0) {
        if (remaining[depth] == 0) {
            depth--;
            continue;
        }
        remaining[depth]--;
        if (pos >= len)
            return fp_fail(err, FP_EFORMAT, "message: truncated at byte %zu (a value is missing)",
                           pos);
        if (++objects > lim->max_objects)
            return fp_fail(err, FP_ELIMIT, "message: more than %zu MessagePack objects",
                           lim->max_objects);
        uint8_t c = buf[pos++];
        head h = classify(c);
        if (!h.valid)
            return fp_fail(err, FP_EFORMAT, "message: reserved byte 0x%02x at %zu", c, pos - 1);
        uint64_t n = h.count;
        if (h.len_bytes) {
            if ((size_t)h.len_bytes > len - pos)
                return fp_fail(err, FP_EFORMAT, "message: truncated in a length at byte %zu", pos);
            n = read_be(buf + pos, h.len_bytes);
            pos += (size_t)h.len_bytes;
        }
        if (h.container) {
            if (n > lim->max_array)
                return fp_fail(err, FP_ELIMIT, "message: %s of %llu items at byte %zu, at most %zu",
                               h.container == 2 ? "map" : "array", (unsigned long long)n, pos,
                               lim->max_array);
            uint64_t items = n * (uint64_t)h.container; /* a map holds keys and values */
            if (items > len - pos)
                return fp_fail(err, FP_EFORMAT,
                               "message: truncated: %s claims %llu items but only %zu bytes remain",
                               h.container == 2 ? "map" : "array", (unsigned long long)n,
                               len - pos);
            if (items > 0) {
                if (depth + 1 > MSG_MAX_DEPTH)
                    return fp_fail(err, FP_ELIMIT, "message: nested deeper than %d", MSG_MAX_DEPTH);
                remaining[++depth] = items;
            }
            continue;
        }
        uint64_t payload = (uint64_t)h.fixed + (h.len_bytes ? n : 0);
        if (payload > len - pos)
            return fp_fail(
                err, FP_EFORMAT,
                "message: truncated: value at byte %zu needs %llu bytes, only %zu remain", pos - 1,
                (unsigned long long)payload, len - pos);
        pos += (size_t)payload;
    }
    if (pos != len)
        return fp_fail(err, FP_EFORMAT, "message: %zu trailing bytes after the map", len - pos);
    return FP_OK;
}
