/* Internals of ct_graph: the arena, the tape, and helpers every op file
 * uses. An op is a forward function that checks its inputs, makes its
 * output with op_output, computes it, and (when the output has a grad
 * buffer) records a tape node whose backward function adds into the grad
 * buffers of the inputs. */
#ifndef CT_NN_GRAPH_IMPL_H
#define CT_NN_GRAPH_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "blas.h"
#include "ctrain/tensor.h"

typedef struct ct_node ct_node;
typedef void (*ct_backward_fn)(ct_graph *g, ct_node *n);

struct ct_node {
    ct_backward_fn backward;
    ct_tensor *out;
    ct_tensor *in[4];
    void *aux;       /* op-specific saved data in the arena */
    int64_t i[8];    /* integer arguments */
    float f[4];      /* real arguments */
};

typedef struct arena_block {
    struct arena_block *next;
    size_t cap, used;
    /* data follows, 64-byte aligned */
} arena_block;

struct ct_graph {
    arena_block *blocks; /* current block first */
    size_t total;        /* bytes of all blocks */
    ct_node *nodes;
    size_t n_nodes, cap_nodes;
    ct_status status;
    ct_err err;
    int no_grad, training;
    uint64_t seed, step, rand_calls;
    ct_blas blas; /* OpenBLAS, loaded with the graph (blas.h) */
};

/* Arena memory, 64-byte aligned, uninitialised (NULL and a sticky error on
 * failure). */
void *ct_arena_alloc(ct_graph *g, size_t bytes);
void *ct_arena_zalloc(ct_graph *g, size_t bytes);

/* Records a failure (the first one sticks) and returns NULL. */
ct_tensor *ct_graph_fail(ct_graph *g, ct_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Non-zero when the op can run: no earlier error and no NULL input. */
int ct_graph_ok(ct_graph *g, int n, ...);

/* 1 if any input has a grad buffer and gradients are recorded. */
int ct_needs_grad(const ct_graph *g, int n, ...);

/* A new contiguous output; with grad, a zeroed grad buffer. */
ct_tensor *ct_op_output(ct_graph *g, int ndim, const int64_t *shape, int grad);

/* Appends a tape node (returns NULL with a sticky error on failure). */
ct_node *ct_record(ct_graph *g, ct_backward_fn fn, ct_tensor *out, int nin, ...);

void ct_set_contiguous_strides(ct_tensor *t);
int64_t ct_shape_numel(int ndim, const int64_t *shape);
/* Normalises a possibly negative dim; -1 if out of range. */
int ct_norm_dim(int dim, int ndim);

/* Deterministic uniform [0,1) float from (key, counter): splitmix64
 * (Steele, Lea, Flood 2014) of the pair. */
uint64_t ct_mix64(uint64_t z);

/* Shape text "[2, 3]" for messages. */
const char *ct_shape_str(const ct_tensor *t, char *buf, size_t cap);

#endif
