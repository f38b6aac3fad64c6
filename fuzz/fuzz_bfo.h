/* The BFO handles of fuzz_bfo_state.c and of its seeds (make_seeds.c): dim
 * 3, a population of 10, the sphere (with its gradient for the hybrid kind). */
#ifndef CT_FUZZ_BFO_H
#define CT_FUZZ_BFO_H
#include <stdlib.h>
#include <string.h>

#include "ctrain/bfo.h"

enum { FB_DIM = 3 };

static ct_status fb_sphere(void *ctx, const double *x, size_t n, size_t d, double *f)
{
    (void)ctx;
    for (size_t r = 0; r < n; r++) {
        double s = 0;
        for (size_t i = 0; i < d; i++)
            s += x[r * d + i] * x[r * d + i];
        f[r] = s;
    }
    return CT_OK;
}

static ct_status fb_sphere_grad(void *ctx, const double *x, size_t n, size_t d, double *f,
                                double *g)
{
    for (size_t i = 0; i < n * d; i++)
        g[i] = 2 * x[i];
    return fb_sphere(ctx, x, n, d, f);
}

static ct_bfo *fb_make(const char *kind)
{
    ct_bfo *b = NULL;
    if (ct_bfo_create(&b, kind, FB_DIM, "population_size=10 chemotaxis_steps=2 seed=1") != CT_OK)
        abort();
    ct_bfo_set_fitness(b, fb_sphere, NULL, 0);
    if (!strcmp(kind, "hybrid"))
        ct_bfo_set_gradient(b, fb_sphere_grad, NULL, 0);
    return b;
}

#endif
