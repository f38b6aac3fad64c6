/* libFuzzer target: ct_optim_load_mem on arbitrary bytes, into an adamw
 * optimizer with two groups, with and without lookahead. Never a crash, a
 * leak or undefined behaviour; and the documented contract holds:
 *  - a refused load modifies nothing (the state saves the same bytes);
 *  - an accepted load gives an optimizer that steps, saves, and whose saved
 *    state loads again and saves the very same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_state_load: contract broken: %s (%s)\n", what, ct_errmsg());
        abort();
    }
}

static void one(const uint8_t *data, size_t size, int lookahead)
{
    fz_env e;
    if (fz_make(&e, lookahead, NULL)) {
        fz_free(&e);
        return;
    }
    ct_optim_set_nonfinite_policy(e.o, CT_NONFINITE_NONE);
    ct_optim_step(e.o); /* some state to protect */
    void *before, *after;
    size_t lb, la;
    must(ct_optim_save_mem(e.o, &before, &lb) == CT_OK, "save before");
    ct_status st = ct_optim_load_mem(e.o, data, size);
    must(st == CT_OK || st == CT_EFORMAT || st == CT_EMISMATCH, "status of a load");
    must(*ct_optim_errmsg(e.o) || st == CT_OK, "a refusal without a message");
    if (st != CT_OK) {
        must(ct_optim_save_mem(e.o, &after, &la) == CT_OK, "save after");
        must(la == lb && !memcmp(before, after, lb), "a refused load modified the state");
        ct_free(after);
    } else {
        /* Loaded: it must step (whatever valid options it carries), and its
         * state must survive a save/load round trip unchanged. */
        ct_optim_step(e.o);
        void *s1, *s2;
        size_t l1, l2;
        must(ct_optim_save_mem(e.o, &s1, &l1) == CT_OK, "save a loaded state");
        fz_env f;
        if (!fz_make(&f, lookahead, NULL)) {
            must(ct_optim_load_mem(f.o, s1, l1) == CT_OK, "reload a saved state");
            must(ct_optim_save_mem(f.o, &s2, &l2) == CT_OK, "save the reloaded state");
            must(l1 == l2 && !memcmp(s1, s2, l1), "a round trip changed the state");
            ct_free(s2);
        }
        fz_free(&f);
        ct_free(s1);
    }
    ct_free(before);
    fz_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size, 0);
    one(data, size, 1);
    return 0;
}
