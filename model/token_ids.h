/* tokenizer.h — what every fedpep tokenizer hands out: a growable list of token ids.
 * Encoders append to a tok_ids, so a prompt template is built by encoding its pieces one after
 * another into the same list. Pure data and two inline helpers; no tokenizer logic here. */
#ifndef FEDPEP_MODEL_TOKEN_IDS_H
#define FEDPEP_MODEL_TOKEN_IDS_H

#include <stddef.h>
#include <stdlib.h>

typedef struct tok_ids {
    int *ids;
    size_t n;   /* ids in use */
    size_t cap; /* ids allocated */
} tok_ids;

/* Frees the list and leaves it empty and reusable. */
static inline void tok_ids_free(tok_ids *v)
{
    free(v->ids);
    v->ids = NULL;
    v->n = v->cap = 0;
}

/* Appends one id; returns 0, or -1 when memory runs out (the list is unchanged). */
static inline int tok_ids_push(tok_ids *v, int id)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        int *ids = (int *)realloc(v->ids, cap * sizeof *ids);
        if (!ids)
            return -1;
        v->ids = ids;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return 0;
}

#endif
