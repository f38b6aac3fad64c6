/* The loader: read_threads reader threads fill a ring of prefetch_size
 * batch slots in sampler order. Batch b goes to slot b % P; a reader claims
 * the next unclaimed batch only while fewer than P batches are ahead of the
 * consumer, so at most P batches are in flight and the consumer receives
 * them in order whatever the thread timing. P = max(prefetch_size,
 * read_threads), so that every reader can work.
 *
 * The readers share a cache of open files: up to CACHE_MAX ct_data_file
 * handles (at least one per reader thread) while their buffers stay within
 * CACHE_BUDGET bytes; a file wanted by a reader is taken from the cache if
 * open there (or being opened by another reader: it waits), else opened on
 * a new handle or on the least recently used idle one (whose buffers are
 * reused). With sample_shuffle and many samples per file this stops
 * re-reading a whole npz for every sample whose file differs from the
 * previous one (measured in docs/data.md). TFRecord files of at most
 * CACHE_BUDGET / (2 read_threads) bytes are read whole (mapped from the
 * page cache, or one sequential O_DIRECT read), larger ones record by record
 * through the .idx (the cache keeps the parsed index). Samples are copied out of a
 * handle under its own mutex. The cache is emptied at every epoch start, so
 * each epoch reads its files from storage again, as DLIO does. The
 * delivered order is the sampler's either way: the cache only changes what
 * is re-read.
 *
 * With one reader thread on a machine of several CPUs, the loader owns a
 * pool of threads (one per CPU, the reader among them) with which the
 * reader frames a whole TFRecord file (ct_data_file_set_pool): mapping in
 * its pages and checking its CRCs was most of a one-reader epoch (bert).
 *
 * Batch memory: each of the P slots owns one buffer for the loader's
 * lifetime (grown to the largest batch copied into it), so batches reuse
 * P buffers whatever the number of batches and epochs. Zero-copy mode
 * (ct_loader_set_zero_copy) delivers a sample whose bytes lie in a reader
 * handle's file mapping as a pointer into it: the slot takes a reference
 * on the mapping (ct_data_file_view), the consumer drops it when it
 * releases the batch, and the mapping is unmapped when neither a handle
 * nor a batch holds it; so a handle can be reopened on another file while
 * batches still view the old one. The CRC/format checks run at open as in
 * copy mode; the sample is not copied. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/error.h"
#include "formats.h"

#define HUGE ((size_t)2 << 20)
#define CACHE_MAX 64
#define CACHE_BUDGET ((uint64_t)1 << 30)
/* zero-copy mode keeps at least FLIGHT bytes of batches in flight (by the
 * configured record length), at most MAX_FLIGHT_SLOTS batches */
#define FLIGHT ((double)(8 << 20))
#define MAX_FLIGHT_SLOTS 32
#define MAX_POOL 8 /* threads framing one file */

typedef struct centry {
    ct_data_file *f;
    const char *path;   /* the file open on f, NULL if none */
    int refs;           /* readers using it now */
    int loading;        /* a reader is opening path on it */
    uint64_t used;      /* last use (LRU) */
    uint64_t resident;  /* buffer bytes after the open */
    pthread_mutex_t mu; /* held while samples are copied out of f */
} centry;

/* A batch slot. Its buffer (data, cap) is the slot's for the loader's
 * lifetime: grown to the largest batch copied into it, never freed before
 * ct_loader_destroy, so the P slots are the loader's whole pool of batch
 * memory, faulted in once and reused by every later batch and epoch. */
typedef struct slot {
    int64_t batch;     /* batch held, -1 if none */
    int ready;
    ct_status status;
    char msg[CT_ERRMSG_CAP];
    int64_t count;
    int64_t *ids;
    uint64_t *offsets, *lengths;
    const uint8_t **ptrs;  /* sample k's bytes: a view or data + offsets[k] */
    int views;             /* samples that are views */
    ct_data_map **maps;    /* mappings the views point into, one reference each */
    int64_t nmaps;
    uint8_t *data;
    size_t cap;
} slot;

struct ct_loader {
    ct_err err;
    int32_t format;
    int odirect;
    int64_t nfiles, spf, batch_size;
    char **paths;
    ct_sampler_opts so;
    int threads, nslots;  /* this epoch's batches in flight (slots used) */
    int base_slots;       /* max(prefetch_size, read_threads): copy mode */
    int maxslots;         /* slots allocated: zero-copy mode, see ct_loader_create */
    int waiting;          /* the consumer sleeps on cv (under mu) */
    slot *slots;
    int64_t *ids, idcap, nids, nbatches;
    /* shared state, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* a batch became ready (the consumer waits) */
    pthread_cond_t cv_free; /* a slot was released or stop (readers wait) */
    int64_t next_claim, consumed, delivered;
    int stop;
    uint64_t bytes;
    pthread_t *tids;
    int running;
    int64_t held; /* slot batch handed to the caller, released on next call */
    int zero_copy, zero_copy_next; /* this epoch's mode, the next epoch's */
    uint64_t views;                /* samples delivered as views (under mu) */
    /* the file cache, under cmu */
    pthread_mutex_t cmu;
    pthread_cond_t ccv;
    centry cache[CACHE_MAX];
    int ncache;
    uint64_t tick;
    ct_pool *pool; /* the reader's helpers when read_threads is 1, else NULL */
};

typedef struct worker_arg {
    ct_loader *l;
} worker_arg;

/* Takes a reference on the cache entry holding file p, opening p on a new
 * or the least recently used idle entry if it is not there. *bytes grows
 * by what opening read. */
static ct_status cache_get(ct_loader *l, const char *p, int *out, uint64_t *bytes)
{
    pthread_mutex_lock(&l->cmu);
    for (;;) {
        int hit = -1, lru = -1;
        uint64_t resident = 0, biggest = 0;
        for (int k = 0; k < l->ncache; k++) {
            centry *e = &l->cache[k];
            if (e->path == p) {
                hit = k;
                break;
            }
            if (!e->refs && !e->loading && (lru < 0 || e->used < l->cache[lru].used))
                lru = k;
            resident += e->resident;
            biggest = e->resident > biggest ? e->resident : biggest;
        }
        if (hit >= 0) {
            centry *e = &l->cache[hit];
            if (e->loading) {
                pthread_cond_wait(&l->ccv, &l->cmu);
                continue;
            }
            e->refs++;
            e->used = ++l->tick;
            pthread_mutex_unlock(&l->cmu);
            *out = hit;
            return CT_OK;
        }
        int k = -1;
        /* one sample per file: a file is wanted once per epoch, keeping it
         * open gains nothing, so readers reuse (warm) handles instead */
        int room = l->spf > 1 ? CACHE_MAX : l->threads;
        if (l->ncache < room && (l->ncache < l->threads || resident + biggest <= CACHE_BUDGET)) {
            centry *e = &l->cache[l->ncache];
            if (ct_data_file_new(&e->f, l->format, l->odirect) == CT_OK) {
                ct_data_file_set_whole_limit(e->f, CACHE_BUDGET / (2 * (uint64_t)l->threads));
                ct_data_file_set_pool(e->f, l->pool);
                pthread_mutex_init(&e->mu, NULL);
                k = l->ncache++;
            } else if (lru < 0) {
                pthread_mutex_unlock(&l->cmu);
                return ct_fail(NULL, CT_ENOMEM, "%s: out of memory for a reader", p);
            }
        }
        if (k < 0)
            k = lru;
        if (k < 0) { /* every entry busy: wait for one */
            pthread_cond_wait(&l->ccv, &l->cmu);
            continue;
        }
        centry *e = &l->cache[k];
        e->path = p;
        e->loading = 1;
        e->refs = 1;
        e->used = ++l->tick;
        pthread_mutex_unlock(&l->cmu);
        uint64_t b0 = ct_data_file_bytes_read(e->f);
        ct_status st = ct_data_file_reopen(e->f, p);
        *bytes += ct_data_file_bytes_read(e->f) - b0;
        uint64_t res = ct_data_file_resident(e->f);
        pthread_mutex_lock(&l->cmu);
        e->loading = 0;
        e->resident = res;
        if (st != CT_OK) {
            e->path = NULL;
            e->refs = 0;
        }
        pthread_cond_broadcast(&l->ccv);
        pthread_mutex_unlock(&l->cmu);
        *out = k;
        return st;
    }
}

static void cache_put(ct_loader *l, int k)
{
    if (k < 0)
        return;
    pthread_mutex_lock(&l->cmu);
    l->cache[k].refs--;
    pthread_cond_broadcast(&l->ccv);
    pthread_mutex_unlock(&l->cmu);
}

/* Drops the slot's references on file mappings (its views' lifetime). */
static void release_maps(slot *s)
{
    for (int64_t k = 0; k < s->nmaps; k++)
        ct_data_map_release(s->maps[k]);
    s->nmaps = 0;
    s->views = 0;
}

/* Fills slot s with batch b; *bytes grows by the bytes read from files.
 * Zero-copy mode: a sample whose bytes lie in a file mapping of its reader
 * handle (ct_data_file_view) is delivered in place and the slot keeps a
 * reference on the mapping; the others are copied into the slot's buffer. */
static ct_status fill(ct_loader *l, slot *s, int64_t b, uint64_t *bytes)
{
    int64_t first = b * l->batch_size;
    int64_t n = l->nids - first < l->batch_size ? l->nids - first : l->batch_size;
    s->count = 0;
    release_maps(s); /* released by the consumer already; kept for safety */
    uint64_t used = 0;
    int cur = -1;
    ct_status st = CT_OK;
    for (int64_t k = 0; k < n && st == CT_OK; k++) {
        int64_t id = l->ids[first + k];
        int64_t fi = id / l->spf, si = id % l->spf;
        const char *p = l->paths[fi];
        if (cur < 0 || l->cache[cur].path != p) {
            if (cur >= 0)
                pthread_mutex_unlock(&l->cache[cur].mu);
            cache_put(l, cur);
            cur = -1;
            int e = -1;
            if ((st = cache_get(l, p, &e, bytes)) != CT_OK)
                break;
            cur = e;
            /* held for the batch's run of samples from this file */
            pthread_mutex_lock(&l->cache[cur].mu);
        }
        centry *e = &l->cache[cur];
        ct_data_file *f = e->f;
        const uint8_t *d = NULL;
        size_t len = 0;
        uint64_t b0 = ct_data_file_bytes_read(f);
        if (si >= ct_data_file_samples(f))
            st = ct_fail(NULL, CT_EFORMAT, "%s: has %lld samples, sample %lld requested (dataset."
                         "num_samples_per_file=%lld)", p, (long long)ct_data_file_samples(f),
                         (long long)si, (long long)l->spf);
        else
            st = ct_data_file_sample(f, si, &d, &len);
        /* a view: one reference per run of samples from one mapping (bytes
         * inside the mapping the slot holds already are in it: a live
         * mapping's addresses are no other buffer's) */
        int view = 0;
        if (st == CT_OK && l->zero_copy) {
            if (s->nmaps && ct_data_map_holds(s->maps[s->nmaps - 1], d, len)) {
                view = 1;
            } else {
                ct_data_map *m = ct_data_file_view(f, d, len);
                if (m) {
                    s->maps[s->nmaps++] = m;
                    view = 1;
                }
            }
        }
        if (view) {
            *bytes += ct_data_file_bytes_read(f) - b0;
            s->ids[k] = id;
            s->offsets[k] = UINT64_MAX;
            s->lengths[k] = len;
            s->ptrs[k] = d;
            s->views++;
            s->count++;
            continue;
        }
        if (st == CT_OK && used + len > s->cap) {
            /* room for the whole batch at this sample size; 2 MiB aligned
             * with transparent huge pages (see fbuf_reserve in readers.c) */
            size_t cap = (size_t)(used + len * (uint64_t)(n - k)) + (size_t)(used + len) / 4;
            cap = (cap + HUGE - 1) / HUGE * HUGE;
            void *nd = NULL;
            if (posix_memalign(&nd, HUGE, cap) != 0) {
                st = ct_fail(NULL, CT_ENOMEM, "out of memory for a batch of %zu bytes", cap);
            } else {
#ifdef MADV_HUGEPAGE
                madvise(nd, cap, MADV_HUGEPAGE);
#endif
                if (used)
                    memcpy(nd, s->data, used);
                free(s->data);
                s->data = nd;
                s->cap = cap;
            }
        }
        if (st == CT_OK)
            memcpy(s->data + used, d, len);
        *bytes += ct_data_file_bytes_read(f) - b0;
        if (st != CT_OK)
            break;
        s->ids[k] = id;
        s->offsets[k] = used;
        s->lengths[k] = len;
        s->ptrs[k] = NULL;
        used += len;
        s->count++;
    }
    if (cur >= 0)
        pthread_mutex_unlock(&l->cache[cur].mu);
    cache_put(l, cur);
    /* copied samples: their place in the (possibly regrown) buffer */
    for (int64_t k = 0; k < s->count; k++)
        if (s->offsets[k] != UINT64_MAX)
            s->ptrs[k] = s->data + s->offsets[k];
    return st;
}

/* Under mu: every batch claimed from the consumer's next one on is ready
 * and no more can be claimed (slots full or none left): the readers are
 * idle. The consumer, once it has to wait, sleeps until then, and takes
 * the batches that piled up without sleeping: one sleep and wake of each
 * side per nslots - 1 batches instead of per batch (with small batches,
 * such as bert's 48 x 2.5 KB, the hand-offs were ~20% of the one reader's
 * time). */
static int readers_idle(const ct_loader *l)
{
    int64_t lim = l->consumed + l->nslots < l->nbatches ? l->consumed + l->nslots : l->nbatches;
    if (l->next_claim < lim)
        return 0;
    for (int64_t b = l->delivered; b < l->next_claim; b++) {
        const slot *s = &l->slots[b % l->nslots];
        if (!(s->ready && s->batch == b))
            return 0;
    }
    return 1;
}

static void *reader_main(void *arg)
{
    ct_loader *l = ((worker_arg *)arg)->l;
    free(arg);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && l->next_claim < l->nbatches && l->next_claim >= l->consumed + l->nslots)
            pthread_cond_wait(&l->cv_free, &l->mu);
        if (l->stop || l->next_claim >= l->nbatches)
            break;
        int64_t b = l->next_claim++;
        slot *s = &l->slots[b % l->nslots];
        pthread_mutex_unlock(&l->mu);
        uint64_t bytes = 0;
        ct_status st = fill(l, s, b, &bytes);
        pthread_mutex_lock(&l->mu);
        s->batch = b;
        s->status = st;
        if (st != CT_OK)
            memcpy(s->msg, ct_errmsg(), sizeof s->msg);
        s->ready = 1;
        l->bytes += bytes;
        l->views += (uint64_t)s->views;
        if (l->waiting && readers_idle(l))
            pthread_cond_signal(&l->cv); /* only the consumer waits on it */
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void stop_workers(ct_loader *l)
{
    if (!l->running)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv_free);
    pthread_mutex_unlock(&l->mu);
    for (int t = 0; t < l->running; t++)
        pthread_join(l->tids[t], NULL);
    l->running = 0;
}

ct_status ct_loader_create(ct_loader **out, const ct_dlio_config *c, int eval, int rank, int size)
{
    if (!out || !c)
        return ct_fail(NULL, CT_EINVAL, "ct_loader_create: NULL argument");
    *out = NULL;
    ct_loader *l = calloc(1, sizeof *l);
    if (!l)
        return ct_fail(NULL, CT_ENOMEM, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    pthread_cond_init(&l->cv_free, NULL);
    pthread_mutex_init(&l->cmu, NULL);
    pthread_cond_init(&l->ccv, NULL);
    l->format = c->format;
    l->odirect = c->odirect;
    l->nfiles = eval ? c->num_files_eval : c->num_files_train;
    l->spf = c->num_samples_per_file;
    l->batch_size = eval ? c->batch_size_eval : c->batch_size;
    l->threads = c->read_threads < 1 ? 1 : c->read_threads;
    /* at least one batch in flight per reader, or readers beyond
     * prefetch_size would idle (DLIO's torch loader likewise gives every
     * worker ceil(prefetch_size / read_threads) >= 1 batches) */
    l->nslots = c->prefetch_size < 1 ? 1 : c->prefetch_size;
    if (l->nslots < l->threads)
        l->nslots = l->threads;
    /* zero-copy mode: views need no batch buffer, so small batches may
     * have more in flight (FLIGHT bytes): fewer hand-offs (readers_idle).
     * Not with O_DIRECT, whose samples are all copied. */
    l->base_slots = l->maxslots = l->nslots;
    double batch_bytes = (double)(eval ? c->batch_size_eval : c->batch_size) *
                         (c->record_length > 1 ? c->record_length : 1);
    double want = FLIGHT / batch_bytes;
    if (want > MAX_FLIGHT_SLOTS)
        want = MAX_FLIGHT_SLOTS;
    if (want > l->maxslots && !c->odirect)
        l->maxslots = (int)want;
    l->held = -1;
    ct_sampler_opts so = {l->nfiles, l->spf, c->file_shuffle, c->sample_shuffle, c->shuffle_size,
                          c->seed, c->seed_change_epoch, rank, size, l->batch_size, c->drop_last};
    l->so = so;
    ct_status st = CT_OK;
    int64_t cnt = ct_sampler_count(&so);
    if (cnt < 0) {
        st = ct_fail(NULL, CT_EINVAL, "%s", ct_errmsg());
        goto fail;
    }
    if (l->nfiles < 1) {
        st = ct_fail(NULL, CT_EINVAL, "dataset.num_files_%s is 0: nothing to read", eval ? "eval" : "train");
        goto fail;
    }
    l->paths = calloc((size_t)l->nfiles, sizeof *l->paths);
    l->idcap = l->nfiles * l->spf / size + 2;
    l->ids = malloc((size_t)l->idcap * sizeof *l->ids);
    l->nbatches = (cnt + l->batch_size - 1) / l->batch_size;
    l->slots = calloc((size_t)l->maxslots, sizeof *l->slots);
    l->tids = calloc((size_t)l->threads, sizeof *l->tids);
    if (!l->paths || !l->ids || !l->slots || !l->tids) {
        st = ct_fail(NULL, CT_ENOMEM, "out of memory creating a loader");
        goto fail;
    }
    int64_t missing = 0;
    const char *first_missing = NULL;
    for (int64_t i = 0; i < l->nfiles; i++) {
        int len = ct_dlio_file_path(c, eval, i, NULL, 0);
        l->paths[i] = malloc((size_t)len + 1);
        if (!l->paths[i]) {
            st = ct_fail(NULL, CT_ENOMEM, "out of memory");
            goto fail;
        }
        ct_dlio_file_path(c, eval, i, l->paths[i], (size_t)len + 1);
        struct stat sb;
        if (stat(l->paths[i], &sb) != 0) {
            if (!first_missing)
                first_missing = l->paths[i];
            missing++;
        }
    }
    if (missing) {
        st = ct_fail(NULL, CT_EIO,
                     "%lld of %lld data files are missing, the first '%s' (generate them with "
                     "`ctrain dlio generate` or set dataset.data_folder)",
                     (long long)missing, (long long)l->nfiles, first_missing);
        goto fail;
    }
    /* the reader's helpers; without them (no threads to be had) it frames alone */
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (l->threads == 1 && cpus > 1 &&
        ct_pool_create(&l->pool, cpus < MAX_POOL ? (int)cpus : MAX_POOL, NULL) != CT_OK)
        l->pool = NULL;
    for (int k = 0; k < l->maxslots; k++) {
        slot *s = &l->slots[k];
        s->batch = -1;
        s->ids = malloc((size_t)l->batch_size * sizeof *s->ids);
        s->offsets = malloc((size_t)l->batch_size * sizeof *s->offsets);
        s->lengths = malloc((size_t)l->batch_size * sizeof *s->lengths);
        s->ptrs = malloc((size_t)l->batch_size * sizeof *s->ptrs);
        s->maps = malloc((size_t)l->batch_size * sizeof *s->maps);
        if (!s->ids || !s->offsets || !s->lengths || !s->ptrs || !s->maps) {
            st = ct_fail(NULL, CT_ENOMEM, "out of memory");
            goto fail;
        }
    }
    *out = l;
    return CT_OK;
fail:
    ct_loader_destroy(l);
    return st;
}

void ct_loader_destroy(ct_loader *l)
{
    if (!l)
        return;
    stop_workers(l);
    for (int64_t i = 0; l->paths && i < l->nfiles; i++)
        free(l->paths[i]);
    free(l->paths);
    for (int k = 0; l->slots && k < l->maxslots; k++) {
        if (l->slots[k].maps)
            release_maps(&l->slots[k]);
        free(l->slots[k].ptrs);
        free(l->slots[k].maps);
        free(l->slots[k].ids);
        free(l->slots[k].offsets);
        free(l->slots[k].lengths);
        free(l->slots[k].data);
    }
    free(l->slots);
    free(l->ids);
    free(l->tids);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    pthread_cond_destroy(&l->cv_free);
    for (int k = 0; k < l->ncache; k++) {
        ct_data_file_close(l->cache[k].f);
        pthread_mutex_destroy(&l->cache[k].mu);
    }
    pthread_mutex_destroy(&l->cmu);
    pthread_cond_destroy(&l->ccv);
    ct_pool_destroy(l->pool);
    free(l);
}

ct_status ct_loader_start_epoch(ct_loader *l, int32_t epoch)
{
    if (!l)
        return ct_fail(NULL, CT_EINVAL, "ct_loader_start_epoch: NULL loader");
    stop_workers(l);
    int64_t n;
    ct_status st = ct_sampler_epoch(&l->so, epoch, l->ids, l->idcap, &n);
    if (st != CT_OK)
        return ct_fail_keep(&l->err, st);
    l->nids = n;
    l->nbatches = (n + l->batch_size - 1) / l->batch_size;
    /* each epoch reads its files again (the handles and buffers stay) */
    for (int k = 0; k < l->ncache; k++) {
        l->cache[k].path = NULL;
        l->cache[k].used = 0;
    }
    l->next_claim = l->consumed = l->delivered = 0;
    l->stop = 0;
    l->held = -1;
    l->zero_copy = l->zero_copy_next;
    l->nslots = l->zero_copy ? l->maxslots : l->base_slots;
    l->waiting = 0;
    for (int k = 0; k < l->maxslots; k++) {
        l->slots[k].ready = 0;
        l->slots[k].batch = -1;
        release_maps(&l->slots[k]); /* views of dropped or held batches end */
    }
    for (int t = 0; t < l->threads; t++) {
        worker_arg *a = malloc(sizeof *a);
        if (a)
            a->l = l;
        if (!a || pthread_create(&l->tids[t], NULL, reader_main, a) != 0) {
            free(a);
            stop_workers(l);
            return ct_fail(&l->err, CT_ENOMEM, "cannot start reader thread %d", t);
        }
        l->running = t + 1;
    }
    return CT_OK;
}

ct_status ct_loader_next(ct_loader *l, ct_batch *b, int *done)
{
    if (!l || !b || !done)
        return ct_fail(NULL, CT_EINVAL, "ct_loader_next: NULL argument");
    if (!l->running && l->nbatches)
        return ct_fail(&l->err, CT_ESTATE, "ct_loader_next: call ct_loader_start_epoch first");
    if (l->held >= 0) /* the views of the batch the caller had end here */
        release_maps(&l->slots[l->held % l->nslots]);
    pthread_mutex_lock(&l->mu);
    if (l->held >= 0) {
        /* release the batch the caller had: its slot may be refilled */
        slot *s = &l->slots[l->held % l->nslots];
        s->ready = 0;
        s->batch = -1;
        l->consumed++;
        l->held = -1;
        pthread_cond_broadcast(&l->cv_free);
    }
    if (l->delivered >= l->nbatches) {
        pthread_mutex_unlock(&l->mu);
        *done = 1;
        return CT_OK;
    }
    int64_t want = l->delivered;
    slot *s = &l->slots[want % l->nslots];
    if (!(s->ready && s->batch == want)) {
        l->waiting = 1;
        while (!(s->ready && s->batch == want && readers_idle(l)))
            pthread_cond_wait(&l->cv, &l->mu);
        l->waiting = 0;
    }
    pthread_mutex_unlock(&l->mu);
    l->held = want; /* released by the next call, failed or not */
    l->delivered++;
    if (s->status != CT_OK)
        return ct_fail(&l->err, s->status, "%s", s->msg);
    *done = 0;
    b->count = s->count;
    b->ids = s->ids;
    b->data = s->views ? NULL : s->data;
    b->offsets = s->views ? NULL : s->offsets;
    b->lengths = s->lengths;
    b->index = want;
    b->samples = s->ptrs;
    return CT_OK;
}

ct_status ct_loader_set_zero_copy(ct_loader *l, int on)
{
    if (!l)
        return ct_fail(NULL, CT_EINVAL, "ct_loader_set_zero_copy: NULL loader");
    l->zero_copy_next = on != 0;
    return CT_OK;
}

uint64_t ct_loader_view_count(const ct_loader *l)
{
    if (!l)
        return 0;
    pthread_mutex_lock((pthread_mutex_t *)&l->mu);
    uint64_t v = l->views;
    pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
    return v;
}

int64_t ct_loader_batches(const ct_loader *l) { return l ? l->nbatches : 0; }

uint64_t ct_loader_bytes_read(const ct_loader *l)
{
    if (!l)
        return 0;
    pthread_mutex_lock((pthread_mutex_t *)&l->mu);
    uint64_t b = l->bytes;
    pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
    return b;
}

const char *ct_loader_errmsg(const ct_loader *l) { return l ? l->err.msg : ""; }
