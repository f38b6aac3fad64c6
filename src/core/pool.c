#include "pool.h"

#include <pthread.h>
#include <stdlib.h>

struct ct_pool {
    int n;                  /* team size including the caller */
    pthread_t *threads;     /* n - 1 workers */
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    unsigned long generation; /* bumped for each run */
    int pending;            /* workers still running this generation */
    int quit;
    ct_pool_fn fn;
    void *ctx;
};

typedef struct worker_arg {
    ct_pool *p;
    int tid;
} worker_arg;

static void *worker(void *arg)
{
    ct_pool *p = ((worker_arg *)arg)->p;
    int tid = ((worker_arg *)arg)->tid;
    free(arg);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        ct_pool_fn fn = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, tid, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

ct_status ct_pool_create(ct_pool **out, int threads, ct_err *e)
{
    *out = NULL;
    if (threads < 1 || threads > 1024)
        return ct_fail(e, CT_EINVAL, "threads=%d is invalid: must be in [1, 1024]", threads);
    ct_pool *p = calloc(1, sizeof *p);
    if (!p)
        return ct_fail(e, CT_ENOMEM, "out of memory creating a thread pool");
    p->n = threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    if (threads > 1) {
        p->threads = calloc((size_t)threads - 1, sizeof *p->threads);
        if (!p->threads) {
            ct_pool_destroy(p);
            return ct_fail(e, CT_ENOMEM, "out of memory creating a thread pool");
        }
    }
    for (int t = 1; t < threads; t++) {
        worker_arg *a = malloc(sizeof *a);
        if (a) {
            a->p = p;
            a->tid = t;
        }
        if (!a || pthread_create(&p->threads[t - 1], NULL, worker, a) != 0) {
            free(a);
            p->n = t; /* only t-1 workers exist: destroy joins those */
            ct_pool_destroy(p);
            return ct_fail(e, CT_ENOMEM, "could not start thread %d of %d", t, threads);
        }
    }
    *out = p;
    return CT_OK;
}

void ct_pool_destroy(ct_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->n; t++)
        pthread_join(p->threads[t - 1], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

int ct_pool_threads(const ct_pool *p) { return p ? p->n : 1; }

void ct_pool_run(ct_pool *p, ct_pool_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void ct_pool_split(size_t n, int tid, int nthreads, size_t *begin, size_t *end)
{
    size_t t = (size_t)tid, T = (size_t)nthreads;
    size_t base = n / T, extra = n % T;
    *begin = t * base + (t < extra ? t : extra);
    *end = *begin + base + (t < extra ? 1 : 0);
}
