/* The optimizer layout shared by fuzz_state_load and fuzz_make_seeds:
 * adamw with two groups, {37, 4x6} and {5x3}, optionally with lookahead
 * (k=3, alpha=0.5). Seeds are states saved from exactly this layout, so the
 * fuzzer starts from inputs that load. */
#ifndef CT_FUZZ_LAYOUT_H
#define CT_FUZZ_LAYOUT_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/ctrain.h"

#define FZ_NP 3
static const size_t fz_numel[FZ_NP] = {37, 24, 15};
static const int fz_ndim[FZ_NP] = {1, 2, 2};
static const int64_t fz_shape[FZ_NP][2] = {{37, 0}, {4, 6}, {5, 3}};

typedef struct fz_env {
    ct_optim *o;
    float *data[FZ_NP], *grad[FZ_NP];
} fz_env;

static inline void fz_free(fz_env *e)
{
    ct_optim_destroy(e->o);
    for (int i = 0; i < FZ_NP; i++) {
        free(e->data[i]);
        free(e->grad[i]);
    }
    memset(e, 0, sizeof *e);
}

/* Returns 0 on success. options: the optimizer's default options. */
static inline int fz_make(fz_env *e, int lookahead, const char *options)
{
    memset(e, 0, sizeof *e);
    for (int i = 0; i < FZ_NP; i++) {
        e->data[i] = malloc(fz_numel[i] * sizeof(float));
        e->grad[i] = malloc(fz_numel[i] * sizeof(float));
        if (!e->data[i] || !e->grad[i])
            return 1;
        for (size_t j = 0; j < fz_numel[i]; j++) {
            e->data[i][j] = (float)cos(0.3 * (double)j + i);
            e->grad[i][j] = (float)sin(0.7 * (double)j - i) * 0.1f;
        }
    }
    if (ct_optim_create(&e->o, "adamw", options))
        return 1;
    if (lookahead && ct_optim_enable_lookahead(e->o, 3, 0.5))
        return 1;
    ct_param p[FZ_NP];
    for (int i = 0; i < FZ_NP; i++) {
        p[i] = (ct_param){.data = e->data[i], .grad = e->grad[i], .numel = fz_numel[i],
                          .dtype = CT_F32, .ndim = fz_ndim[i]};
        for (int d = 0; d < fz_ndim[i]; d++)
            p[i].shape[d] = fz_shape[i][d];
    }
    if (ct_optim_add_group(e->o, p, 2, NULL, NULL) ||
        ct_optim_add_group(e->o, p + 2, 1, "lr=0.01 weight_decay=0", NULL))
        return 1;
    return 0;
}

#endif
