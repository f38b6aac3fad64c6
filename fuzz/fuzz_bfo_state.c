/* libFuzzer target: ct_bfo_state_load on arbitrary bytes, into a handle of
 * each kind (bfo, adaptive, hybrid; dim 3) that has taken a step. Never a
 * crash, a leak or undefined behaviour; and the documented contract holds:
 *  - a refused load modifies nothing (the state saves the same bytes);
 *  - an accepted load gives a handle that steps, whose saved state loads
 *    into a fresh handle and saves the very same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_bfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const ct_bfo *b, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_bfo_state: contract broken: %s (%s)\n", what, ct_bfo_errmsg(b));
        abort();
    }
}

static unsigned char *save(ct_bfo *b, size_t *len)
{
    must(ct_bfo_state_size(b, len) == CT_OK, b, "state size");
    unsigned char *p = malloc(*len);
    must(p && ct_bfo_state_save(b, p, *len) == CT_OK, b, "save");
    return p;
}

static void one(const char *kind, const uint8_t *data, size_t size)
{
    ct_bfo *b = fb_make(kind);
    double x[FB_DIM] = {1, -2, 0.5};
    must(ct_bfo_step(b, x, 50, NULL) == CT_OK, b, "first step");
    size_t lb;
    unsigned char *before = save(b, &lb);
    ct_status st = ct_bfo_state_load(b, data, size);
    must(st == CT_OK || st == CT_EFORMAT || st == CT_EMISMATCH || st == CT_EINVAL, b,
         "status of a load");
    must(st == CT_OK || *ct_bfo_errmsg(b), b, "a refusal without a message");
    if (st != CT_OK) {
        size_t la;
        unsigned char *after = save(b, &la);
        must(la == lb && !memcmp(before, after, lb), b, "a refused load modified the state");
        free(after);
    } else {
        /* a small per-step budget: a loaded population may be large */
        st = ct_bfo_step(b, x, 64, NULL);
        must(st == CT_OK || st == CT_ENONFINITE, b, "step after a load");
        size_t l1, l2;
        unsigned char *s1 = save(b, &l1);
        ct_bfo *c = fb_make(kind);
        must(ct_bfo_state_load(c, s1, l1) == CT_OK, c, "reload a saved state");
        unsigned char *s2 = save(c, &l2);
        must(l1 == l2 && !memcmp(s1, s2, l1), c, "a round trip changed the state");
        double g[FB_DIM];
        int known = -1;
        must(ct_bfo_best_grad(c, g, &known) == CT_OK && (known == 0 || known == 1), c,
             "best_grad of a loaded state");
        free(s1);
        free(s2);
        ct_bfo_destroy(c);
    }
    free(before);
    ct_bfo_destroy(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one("bfo", data, size);
    one("adaptive", data, size);
    one("hybrid", data, size);
    return 0;
}
