/* tokenizer.c — the tokenizer interface of train/ and its BPE and unigram adapters. Never
 * allocates per call beyond what the wrapped tokenizer does. */
#include "train/tokenizer.h"

#include <stdlib.h>

/* Byte-level BPE splits words before their blank, so pieces need no start mark. */
static fp_status bpe_encode_op(void *impl, const char *text, size_t len, bool at_start,
                               tok_ids *out, fp_error *err)
{
    (void)at_start;
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

/* Names the specials through the adapter's own token_id: <s>/</s> or else <|endoftext|>. */
static void find_specials(train_tok_t *self)
{
    int eot = self->ops->token_id(self->impl, "<|endoftext|>");
    self->bos = self->ops->token_id(self->impl, "<s>");
    self->eos = self->ops->token_id(self->impl, "</s>");
    if (self->bos < 0)
        self->bos = eot;
    if (self->eos < 0)
        self->eos = eot;
    self->pad = self->ops->token_id(self->impl, "<pad>");
    self->mask = self->ops->token_id(self->impl, "<mask>");
}

train_tok_t *train_tok_from_bpe(bpe_t *bpe)
{
    train_tok_t *self = calloc(1, sizeof *self);
    if (!self) {
        bpe_destroy(&bpe);
        return NULL;
    }
    self->impl = bpe;
    self->ops = &BPE_OPS;
    find_specials(self);
    self->wrap_bos_eos = true;
    return self;
}

static fp_status sp_encode_op(void *impl, const char *text, size_t len, bool at_start,
                              tok_ids *out, fp_error *err)
{
    return sp_encode_ex((const sp_t *)impl, text, len, at_start, out, err);
}

static int sp_token_id_op(const void *impl, const char *token)
{
    return sp_token_id((const sp_t *)impl, token);
}

static int sp_vocab_size_op(const void *impl)
{
    return sp_vocab_size((const sp_t *)impl);
}

static void sp_destroy_op(void *impl)
{
    sp_t *sp = impl;
    sp_destroy(&sp);
}

static const train_tok_ops UNIGRAM_OPS = {sp_encode_op, sp_token_id_op, sp_vocab_size_op,
                                          sp_destroy_op};

train_tok_t *train_tok_from_unigram(sp_t *sp, fp_error *err)
{
    if (sp_add_specials(sp, SP_ADDED_SPECIALS, 2, err)) {
        sp_destroy(&sp);
        return NULL;
    }
    train_tok_t *self = calloc(1, sizeof *self);
    if (!self) {
        fp_fail(err, FP_ENOMEM, "tokenizer: out of memory");
        sp_destroy(&sp);
        return NULL;
    }
    self->impl = sp;
    self->ops = &UNIGRAM_OPS;
    find_specials(self);
    self->wrap_bos_eos = false;
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
    return self->ops->encode(self->impl, text, len, true, out, err);
}

fp_status train_tok_encode_part(train_tok_t *self, const char *text, size_t len, bool at_start,
                                tok_ids *out, fp_error *err)
{
    return self->ops->encode(self->impl, text, len, at_start, out, err);
}

int train_tok_id(const train_tok_t *self, const char *token)
{
    return self->ops->token_id(self->impl, token);
}

int train_tok_vocab_size(const train_tok_t *self)
{
    return self->ops->vocab_size(self->impl);
}
