/* msg_schema.h — private to messages/: the tables that describe every message field, so the
 * encoder, decoder, validator, equality and destructor are one loop over a table each and
 * cannot disagree about a field. Adding a field = adding a struct member and one table row.
 * Nothing outside messages/ may include this file. */
#ifndef FEDPEP_MESSAGES_MSG_SCHEMA_H
#define FEDPEP_MESSAGES_MSG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "messages/protocol.h"

typedef enum field_kind {
    FK_U32,     /* uint32_t; wire: non-negative integer <= UINT32_MAX */
    FK_U64,     /* uint64_t; wire: non-negative integer */
    FK_F64,     /* double, finite; wire: float 32 or 64 (encoded as 64) */
    FK_BOOL,    /* bool */
    FK_ID,      /* char[MSG_ID_CAP]; wire: str of [A-Za-z0-9._:-], <= MSG_ID_MAX */
    FK_TEXT,    /* char * (owned); wire: str, valid UTF-8, no NUL, <= max_string */
    FK_ENUM,    /* an enum stored as int; wire: str, one of its names */
    FK_TENSOR,  /* msg_tensor_t; wire: {"shape": [u32...], "data": bin} */
    FK_U32S,    /* msg_u32s_t; wire: array of integers */
    FK_U64S,    /* msg_u64s_t */
    FK_F64S,    /* msg_f64s_t; wire: array of floats */
    FK_BLOB,    /* msg_blob_t; wire: bin */
    FK_RNG,     /* uint64_t[4]; wire: array of exactly 4 integers */
    FK_RECORDS, /* {T *v; uint32_t n}; wire: array of maps described by .sub */
} field_kind;

enum {
    FF_OPTIONAL = 1u << 0, /* may be absent on the wire; encoded only when non-empty */
    FF_NONEMPTY = 1u << 1, /* ids, texts, arrays: must have at least one item / byte */
};

typedef const char *(*enum_name_fn)(int value);

struct schema;

typedef struct field {
    const char *key;
    field_kind kind;
    size_t off; /* offset of the member from the start of the struct being described */
    unsigned flags;
    enum_name_fn enum_name; /* FK_ENUM: name of each value in [enum_min, enum_count) */
    int enum_min;
    int enum_count;
    const struct schema *sub; /* FK_RECORDS */
} field_t;

/* A set of fields of one struct (a message body, or one record of an array of maps). */
typedef struct schema {
    const char *name;
    const field_t *fields;
    size_t n_fields;
    size_t record_size; /* FK_RECORDS: sizeof one item */
    /* Cross-field rules after every field is individually valid; NULL if none. */
    fp_status (*check)(const msg_t *m, fp_error *err);
} schema_t;

/* The header fields common to all messages after v and type: run, from, seq, re, and last
 * round, which only the types with msg_type_has_round() carry. */
extern const field_t MSG_HEADER_FIELDS[5];
/* How many of MSG_HEADER_FIELDS a message of this type carries (4 or 5). */
size_t msg_header_count(msg_type type);

/* The body schema of a message type (type in 1..MSG_TYPE_COUNT-1). */
const schema_t *msg_schema_of(msg_type type);

/* Field-level semantic check of a value in memory; the decoder calls it on what it decoded
 * and msg_validate on what a sender filled. path names the field for the reason. */
fp_status msg_field_validate(const field_t *f, const void *base, const msg_limits *lim,
                             const char *path, fp_error *err);
/* Whether an optional field is empty (then it is not encoded). */
bool msg_field_empty(const field_t *f, const void *base);
void msg_field_free(const field_t *f, void *base);
bool msg_field_equal(const field_t *f, const void *a, const void *b);

/* Walks buf[0..len) as MessagePack without building anything: exactly one complete object,
 * no trailing bytes, no reserved byte 0xc1, every str/bin/ext inside the input, every
 * array/map count <= max_array and small enough that its items could fit in the bytes left,
 * nesting <= MSG_MAX_DEPTH, at most max_objects objects. After it succeeds msgpack-c can
 * build the object tree with at most ~24 bytes of zone per input byte. */
fp_status msg_scan(const uint8_t *buf, size_t len, const msg_limits *lim, fp_error *err);

/* A double stored at p (a struct member reached by offset), read and written through memcpy
 * so no char pointer is reinterpreted. */
static inline double msg_get_f64(const void *p)
{
    double v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void msg_put_f64(void *p, double v)
{
    memcpy(p, &v, sizeof v);
}

/* Field paths in reasons ("SAVE.clients[3].status"); longer ones are cut, never overflowed. */
#define MSG_PATH_CAP 160
void msg_path(char *dst, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ids: 0..MSG_ID_MAX bytes of [A-Za-z0-9._:-]. */
bool msg_id_valid(const char *s, size_t len);
bool msg_utf8_valid(const uint8_t *s, size_t len);

#endif
