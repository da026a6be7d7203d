/* tokenizer.c — the tokenizer interface of train/ and its BPE adapter. Never allocates per call
 * beyond what the wrapped tokenizer does. */
#include "train/tokenizer.h"

#include <stdlib.h>

static fp_status bpe_encode_op(void *impl, const char *text, size_t len, tok_ids *out,
                               fp_error *err)
{
    return bpe_encode((bpe_t *)impl, text, len, false, out, err);
}

static int bpe_token_id_op(const void *impl, const char *token)
{
    return bpe_token_id((const bpe_t *)impl, token);
}

static int bpe_vocab_size_op(const void *impl)
{
    return bpe_vocab_size((const bpe_t *)impl);
}

static void bpe_destroy_op(void *impl)
{
    bpe_t *b = impl;
    bpe_destroy(&b);
}

static const train_tok_ops BPE_OPS = {bpe_encode_op, bpe_token_id_op, bpe_vocab_size_op,
                                      bpe_destroy_op};

train_tok_t *train_tok_from_bpe(bpe_t *bpe)
{
    train_tok_t *self = calloc(1, sizeof *self);
    if (!self) {
        bpe_destroy(&bpe);
        return NULL;
    }
    self->impl = bpe;
    self->ops = &BPE_OPS;
    int eot = bpe_token_id(bpe, "<|endoftext|>");
    self->bos = bpe_token_id(bpe, "<s>");
    self->eos = bpe_token_id(bpe, "</s>");
    if (self->bos < 0)
        self->bos = eot;
    if (self->eos < 0)
        self->eos = eot;
    self->pad = bpe_token_id(bpe, "<pad>");
    self->mask = bpe_token_id(bpe, "<mask>");
    return self;
}

void train_tok_destroy(train_tok_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    train_tok_t *self = *self_p;
    if (self->ops && self->ops->destroy)
        self->ops->destroy(self->impl);
    free(self);
    *self_p = NULL;
}

fp_status train_tok_encode(train_tok_t *self, const char *text, size_t len, tok_ids *out,
                           fp_error *err)
{
    return self->ops->encode(self->impl, text, len, out, err);
}

int train_tok_id(const train_tok_t *self, const char *token)
{
    return self->ops->token_id(self->impl, token);
}

int train_tok_vocab_size(const train_tok_t *self)
{
    return self->ops->vocab_size(self->impl);
}
