/* libFuzzer target: option text. The first byte picks the optimizer kind,
 * the rest is the text, given to ct_optim_create, ct_optim_add_group and
 * ct_optim_set_options. Never a crash or undefined behaviour; a refused
 * set_options leaves the options as they were; whatever options are
 * accepted, a step runs (UBSan watches its arithmetic). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/ctrain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_options: contract broken: %s (%s)\n", what, ct_errmsg());
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t nk = 0;
    while (ct_optim_kind_name(nk))
        nk++;
    const char *kind = ct_optim_kind_name(data[0] % nk);
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0; /* the text ends at its first NUL */
    float w[48], g[48], b[6], gb[6];
    for (int i = 0; i < 48; i++) {
        w[i] = (float)(i % 7) * 0.25f - 0.5f;
        g[i] = (float)(i % 5) * 0.1f - 0.2f;
    }
    for (int i = 0; i < 6; i++) {
        b[i] = 0.1f * (float)i;
        gb[i] = 0.05f;
    }
    ct_param p[2] = {
        {.data = w, .grad = g, .numel = 48, .dtype = CT_F32, .ndim = 2, .shape = {6, 8}},
        {.data = b, .grad = gb, .numel = 6, .dtype = CT_F32, .ndim = 1, .shape = {6}},
    };
    ct_optim *o = NULL;
    ct_status st = ct_optim_create(&o, kind, text);
    must(st == CT_OK || st == CT_EINVAL || st == CT_EUNSUPPORTED, "create status");
    must((st == CT_OK) == (o != NULL), "create: out and status disagree");
    if (st == CT_OK || (st == CT_EINVAL && ct_optim_create(&o, kind, NULL) == CT_OK)) {
        ct_optim_set_nonfinite_policy(o, CT_NONFINITE_NONE);
        st = ct_optim_add_group(o, p, 1, text, NULL);
        must(st == CT_OK || st == CT_EINVAL, "add_group status");
        must((st == CT_OK) == (ct_optim_num_groups(o) == 1), "add_group: group count");
        if (ct_optim_num_groups(o) == 0)
            must(ct_optim_add_group(o, p, 1, NULL, NULL) == CT_OK, "add_group with defaults");
        must(ct_optim_add_group(o, p + 1, 1, NULL, NULL) == CT_OK, "second group");
        ct_optim_step(o);
        double lr0, lr1;
        ct_optim_get_lr(o, 1, &lr0);
        void *s0, *s1;
        size_t l0, l1;
        must(ct_optim_save_mem(o, &s0, &l0) == CT_OK, "save");
        st = ct_optim_set_options(o, 1, text);
        if (st != CT_OK) {
            ct_optim_get_lr(o, 1, &lr1);
            must(ct_optim_save_mem(o, &s1, &l1) == CT_OK, "save");
            must(lr0 == lr1 && l0 == l1 && !memcmp(s0, s1, l0),
                 "a refused set_options changed the optimizer");
            ct_free(s1);
        }
        ct_free(s0);
        ct_optim_step(o);
        ct_optim_step(o);
    }
    ct_optim_destroy(o);
    free(text);
    return 0;
}
