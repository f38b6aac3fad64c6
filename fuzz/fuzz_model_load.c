/* libFuzzer target: the model checkpoint reader (ct_model_load_mem,
 * src/nn/model.c) on arbitrary bytes, and on a valid checkpoint of a small
 * CNN with batch norm patched and truncated by the input. Never a crash; a
 * refused file leaves the model exactly as it was; an accepted one gives
 * a model whose saved bytes load again. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_model_load: contract broken: %s\n", what);
        abort();
    }
}

static ct_model *make_model(void)
{
    int64_t in[3] = {1, 6, 6};
    ct_model *m;
    if (ct_model_create(&m, 3, in) || ct_model_add(m, "conv2d", "out_channels=2 kernel_size=3") ||
        ct_model_add(m, "batchnorm2d", "") || ct_model_add(m, "flatten", "") ||
        ct_model_add(m, "linear", "out_features=3") || ct_model_build(m, 1))
        abort();
    return m;
}

static void try_load(ct_model *m, const uint8_t *buf, size_t len)
{
    void *before;
    size_t blen;
    must(!ct_model_save_mem(m, &before, &blen, NULL, NULL, 0), "save before");
    if (ct_model_load_mem(m, buf, len) != CT_OK) {
        void *after;
        size_t alen;
        must(!ct_model_save_mem(m, &after, &alen, NULL, NULL, 0), "save after");
        must(alen == blen && !memcmp(before, after, blen), "a refused load modified the model");
        ct_free(after);
    } else {
        void *again;
        size_t alen;
        must(!ct_model_save_mem(m, &again, &alen, NULL, NULL, 0), "save accepted");
        must(ct_model_load_mem(m, again, alen) == CT_OK, "a saved model does not load");
        ct_free(again);
    }
    ct_free(before);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ct_model *m = make_model();
    try_load(m, data, size);
    /* the valid checkpoint, patched: the input is (offset16, byte) pairs,
     * then a final truncation byte */
    void *valid;
    size_t vlen;
    must(!ct_model_save_mem(m, &valid, &vlen, NULL, NULL, 0), "save");
    uint8_t *p = valid;
    size_t i = 0;
    for (; i + 3 <= size; i += 3)
        p[((size_t)data[i] | (size_t)data[i + 1] << 8) % vlen] = data[i + 2];
    size_t len = i < size ? vlen - (size_t)data[i] % (vlen + 1) : vlen;
    try_load(m, p, len);
    ct_free(valid);
    ct_model_destroy(m);
    return 0;
}
