/* A fixed team of worker threads that run one function together: the
 * caller is thread 0, the workers are 1..n-1. Each handle that runs parallel
 * work owns its own pool; there is no process-wide pool. */
#ifndef CT_CORE_POOL_H
#define CT_CORE_POOL_H

#include <stddef.h>

#include "error.h"

typedef struct ct_pool ct_pool;
typedef void (*ct_pool_fn)(void *ctx, int tid, int nthreads);

ct_status ct_pool_create(ct_pool **out, int threads, ct_err *e);
void ct_pool_destroy(ct_pool *p);
int ct_pool_threads(const ct_pool *p);
/* Runs fn(ctx, tid, n) on every thread of the team and returns when all
 * have finished. p may be NULL: then fn(ctx, 0, 1) runs on the caller. */
void ct_pool_run(ct_pool *p, ct_pool_fn fn, void *ctx);

/* The part [*begin, *end) of n items that thread tid of nthreads takes in
 * a static split: contiguous, balanced, independent of timing. */
void ct_pool_split(size_t n, int tid, int nthreads, size_t *begin, size_t *end);

#endif
