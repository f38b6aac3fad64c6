/* libFuzzer target: the safetensors reader (src/io/safetensors.c) on
 * arbitrary bytes. Never a crash; an accepted file has every tensor inside
 * the buffer, and writing it back with the writer and reading that again
 * gives the same tensors and metadata. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_safetensors: contract broken: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ct_st_file f;
    ct_err e;
    if (ct_st_parse(data, size, "fuzz", &f, &e) != CT_OK) {
        must(f.n == 0 && f.tensors == NULL, "a failed parse left tensors");
        must(e.msg[0] != 0, "a failed parse without a message");
        return 0;
    }
    ct_st_writer w = {0};
    for (size_t i = 0; i < f.n; i++) {
        const ct_st_tensor *t = &f.tensors[i];
        const uint8_t *p = t->data;
        must(p >= data && p <= data + size && t->nbytes <= (size_t)(data + size - p),
             "a tensor outside the buffer");
        must(t->nbytes == t->numel * ct_st_dtype_size(t->dtype), "nbytes != numel * size");
        must(ct_st_find(&f, t->name) == t, "names are not unique");
        must(ct_st_add(&w, t->name, t->dtype, t->ndim, t->shape, t->data, &e) == CT_OK, "add");
    }
    for (size_t i = 0; i < f.n_meta; i++)
        must(ct_st_add_meta(&w, f.meta_keys[i], f.meta_vals[i], &e) == CT_OK, "add_meta");
    void *buf;
    size_t len;
    must(ct_st_serialize(&w, &buf, &len, &e) == CT_OK, "serialize");
    ct_st_file g;
    must(ct_st_parse(buf, len, "fuzz-rewritten", &g, &e) == CT_OK, "re-parse");
    must(g.n == f.n && g.n_meta <= f.n_meta, "re-parse: counts differ");
    for (size_t i = 0; i < f.n; i++) {
        const ct_st_tensor *a = &f.tensors[i], *b = ct_st_find(&g, a->name);
        must(b && b->dtype == a->dtype && b->ndim == a->ndim && b->nbytes == a->nbytes &&
                 !memcmp(b->shape, a->shape, sizeof a->shape) &&
                 (a->nbytes == 0 || !memcmp(a->data, b->data, a->nbytes)),
             "re-parse: a tensor differs");
    }
    ct_st_free(&g);
    free(buf);
    ct_st_writer_free(&w);
    ct_st_free(&f);
    return 0;
}
