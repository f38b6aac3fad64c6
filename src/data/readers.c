/* Readers, one per format, behind ct_data_file. Each reads what DLIO's
 * reader of the format reads (dlio_benchmark/reader/ *.py): the whole file
 * for npy/npz/csv (np.load, pandas.read_csv), one sample per access for
 * hdf5 and indexed_binary. TFRecord: with the DALI index DLIO writes
 * ({data_folder}/index/{train|valid}/{name}.idx, "offset length" lines, as
 * DALI's tfrecord2idx) one record per access (pread of the record, both
 * CRCs checked; a sequential run of accesses reads ahead in windows of
 * TFR_WINDOW bytes); without it, or when the file is at most the handle's
 * whole_limit (the loader sets it so that files its cache can hold are read
 * in one sequential read), the whole file, framed as TFRecordDataset does. A handle keeps its buffer between files (ct_data_file_reopen), so a
 * reader thread allocates once. Whole files are mapped rather than read
 * when not O_DIRECT (load_whole): the bytes are checked and copied out of
 * the page cache, one pass fewer than read() into a buffer, and no buffer
 * pages to zero. indexed_binary and contiguous hdf5 files are mapped too
 * (not populated: a sample's pages are faulted in when it is read). The
 * mappings are reference counted (ct_data_map) so that the loader's
 * zero-copy batches can keep viewing a file after its handle moved on.
 * A handle given a thread pool (ct_data_file_set_pool) frames a whole
 * TFRecord file with all of its threads (tfr_frame_parallel). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../core/pool.h"
#include "formats.h"

#define ALIGN 4096
/* read-ahead window of sequential per-record TFRecord reads */
#define TFR_WINDOW ((uint64_t)4 << 20)

/* Grows f's buffer to at least n bytes (aligned, contents not kept). */
typedef struct fbuf {
    uint8_t *p;
    size_t cap;
} fbuf;

/* Buffers of 2 MiB and more are 2 MiB aligned and asked for transparent
 * huge pages: a one-epoch run faults every buffer page in once, and 4 KiB
 * faults cost more CPU than the copies (perf: ~40% of a warm npz epoch). */
#define HUGE_ALIGN ((size_t)2 << 20)

static ct_status fbuf_reserve(fbuf *b, size_t n, const char *path)
{
    if (n <= b->cap)
        return CT_OK;
    size_t cap = n + n / 8 + ALIGN;
    size_t al = cap >= HUGE_ALIGN ? HUGE_ALIGN : ALIGN;
    cap = (cap + al - 1) / al * al;
    void *p = NULL;
    if (posix_memalign(&p, al, cap) != 0)
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory for %zu bytes", path, n);
#ifdef MADV_HUGEPAGE
    if (al == HUGE_ALIGN)
        madvise(p, cap, MADV_HUGEPAGE); /* a hint: failure changes nothing */
#endif
    free(b->p);
    b->p = p;
    b->cap = cap;
    return CT_OK;
}

/* Reads all of fd (size bytes) into b. O_DIRECT descriptors need aligned
 * lengths: the buffer is padded to a multiple of ALIGN. */
static ct_status read_fd_all(int fd, uint64_t size, fbuf *b, const char *path, uint64_t *nread)
{
    ct_status st = fbuf_reserve(b, (size_t)size + ALIGN, path);
    if (st != CT_OK)
        return st;
    uint64_t got = 0;
    const size_t chunk = 16u << 20;
    while (got < size) {
        size_t want = (size_t)((size - got + ALIGN - 1) / ALIGN * ALIGN);
        if (want > chunk)
            want = chunk;
        ssize_t r = pread(fd, b->p + got, want, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return ct_fail(NULL, CT_EIO, "%s: offset %llu: read failed: %s", path,
                           (unsigned long long)got, strerror(errno));
        if (r == 0)
            return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: file shorter than its size %llu",
                           path, (unsigned long long)got, (unsigned long long)size);
        got += (uint64_t)r;
    }
    *nread += size;
    return CT_OK;
}

static int open_file(const char *path, int odirect, uint64_t *size)
{
    int fd = -1;
#ifdef O_DIRECT
    if (odirect)
        fd = open(path, O_RDONLY | O_DIRECT);
#endif
    if (fd < 0)
        fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return -1;
    }
    *size = (uint64_t)sb.st_size;
    return fd;
}

ct_status ct_read_file(const char *path, int odirect, uint8_t **buf, uint64_t *len)
{
    uint64_t size, nread = 0;
    int fd = open_file(path, odirect, &size);
    if (fd < 0)
        return ct_fail(NULL, CT_EIO, "cannot open '%s': %s", path, strerror(errno));
    fbuf b = {NULL, 0};
    ct_status st = read_fd_all(fd, size, &b, path, &nread);
    close(fd);
    if (st != CT_OK) {
        free(b.p);
        return st;
    }
    *buf = b.p;
    *len = size;
    return CT_OK;
}

ct_status ct_open_decoded(ct_data_file *f, size_t img_size,
                          ct_status (*decode)(ct_data_file *f, const uint8_t *b, uint64_t n,
                                              void *img))
{
    uint8_t *buf = NULL;
    uint64_t n = 0;
    ct_status st = ct_read_file(f->path, f->odirect, &buf, &n);
    if (st != CT_OK)
        return st;
    f->bytes_read += n;
    f->img = calloc(1, img_size);
    st = f->img ? decode(f, buf, n, f->img)
                : ct_fail(NULL, CT_ENOMEM, "%s: out of memory", f->path);
    free(buf);
    return st;
}

ct_status ct_image_sample(ct_data_file *f, int64_t i, const uint8_t **data, size_t *len)
{
    const ct_image *im = f->img;
    if (i < 0 || !im || !im->px)
        return ct_fail(NULL, CT_EINVAL, "%s: sample %lld: no image", f->path, (long long)i);
    *data = im->px;
    *len = im->len;
    return CT_OK;
}

void ct_image_close(ct_data_file *f)
{
    ct_image *im = f->img;
    if (im)
        free(im->px);
    free(im);
    f->img = NULL;
}

/* ---- file mappings shared with the loader's batches ---- */

/* A read-only mapping of a data file. The handle that made it holds one
 * reference; a zero-copy batch holding views into it holds more
 * (ct_data_file_view), so the mapping outlives a reopen of the handle until
 * the last batch viewing it is released. The count is atomic: handles are
 * reopened by reader threads, batches released by the consumer. */
struct ct_data_map {
    void *addr;
    size_t len;
    atomic_int refs;
};

static ct_data_map *map_new(void *addr, size_t len)
{
    ct_data_map *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    m->addr = addr;
    m->len = len;
    atomic_init(&m->refs, 1);
    return m;
}

void ct_data_map_release(ct_data_map *m)
{
    if (m && atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        munmap(m->addr, m->len);
        free(m);
    }
}

/* Maps all of fd (size bytes) read-only; populate: map the page-cache pages
 * in at once (MAP_POPULATE: read from storage where not cached). NULL if
 * the file is empty or mmap refuses. */
static ct_data_map *map_fd(int fd, uint64_t size, int populate)
{
    if (size == 0 || size > (uint64_t)SIZE_MAX)
        return NULL;
    int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
    if (populate)
        flags |= MAP_POPULATE;
#else
    (void)populate;
#endif
    void *a = mmap(NULL, (size_t)size, PROT_READ, flags, fd, 0);
    if (a == MAP_FAILED)
        return NULL;
    ct_data_map *m = map_new(a, (size_t)size);
    if (!m)
        munmap(a, (size_t)size);
    return m;
}

/* Reads bytes [off, off + n) of a mapping that was not populated: the
 * pages are faulted in (from storage where not cached) and mapped, as a
 * pread of them would read them, without a copy. */
static void map_populate(const ct_data_map *m, uint64_t off, uint64_t n)
{
    if (!n)
        return;
    uint8_t *a = (uint8_t *)m->addr;
    uint64_t start = off / ALIGN * ALIGN, end = off + n;
#ifdef MADV_POPULATE_READ
    if (madvise(a + start, (size_t)(end - start), MADV_POPULATE_READ) == 0)
        return;
#endif
    /* kernels before 5.14: touch one byte per page */
    volatile const uint8_t *v = a;
    uint8_t sink = 0;
    for (uint64_t k = start; k < end; k += ALIGN)
        sink ^= v[k];
    sink ^= v[end - 1];
    (void)sink;
}

/* ---- shared state of the whole-file readers ---- */

typedef struct whole {
    fbuf file;        /* the file's bytes (read), or a per-record window */
    /* whole-file readers: the file's bytes, file.p or a read-only mapping
     * of the file (see load_whole) */
    const uint8_t *fp;
    ct_data_map *map;  /* the file mapped (npy, npz, tfrecord, indexed
                          binary, contiguous hdf5), NULL if not */
    fbuf scratch;     /* inflated npz member, or a csv/hdf5/ibin sample */
    fbuf gather;      /* a C-order npy/npz sample (not scratch: it may hold the array) */
    uint64_t size;
    /* npy/npz: the array */
    const uint8_t *arr;
    ct_npy_info info;
    /* tfrecord: record payload offsets and lengths (whole file), or record
     * starts and total lengths from the index (per record, idx = 1) */
    uint64_t *recoff, *reclen;
    /* whole file: each record's "image" bytes (offset in the file, length;
     * length UINT64_MAX if its Example does not parse: tfr_sample says why) */
    uint64_t *imgoff, *imglen;
    size_t reccap;
    int idx;
    uint64_t win_off, win_len; /* file bytes [win_off, +win_len) are in file */
    int64_t last_rec;
    int run;                   /* consecutive sequential accesses */
    uint64_t whole_limit;      /* see ct_data_file_set_whole_limit */
    /* csv: row starts */
    uint64_t *rows;
    size_t rowcap;
    /* hdf5 */
    hid_t h5file, h5ds;
    int64_t h5d1, h5d2;
    uint64_t h5off;  /* file offset of a contiguous dataset's data (map) */
    /* indexed binary */
    int fd;
    uint64_t *ioff, *isz;
    /* tfrecord framed in parallel: the pool, one part per thread */
    ct_pool *pool;
    struct tfr_part *parts;
    int nparts;
} whole;

static whole *W(ct_data_file *f) { return f->impl; }

static void unmap_whole(whole *w)
{
    ct_data_map_release(w->map); /* unmapped when no batch views it */
    w->map = NULL;
    w->fp = NULL;
}

/* Makes the whole file present at w->fp. Without O_DIRECT the file is
 * mapped read-only and its page-cache pages mapped in at once
 * (MAP_POPULATE): the readers then check and copy the bytes straight from
 * the page cache, with no kernel copy into a buffer and no fresh buffer
 * pages for the kernel to zero (a read() into a new buffer costs both;
 * perf on a warm resnet50 epoch: ~45% of the loader's CPU). The bytes are
 * those read() returns. With O_DIRECT, or where mmap fails, the file is
 * read into the handle's reused buffer. Either way bytes_read grows by the
 * file size. */
static ct_status load_whole_as(ct_data_file *f, int populate)
{
    whole *w = W(f);
    unmap_whole(w);
    uint64_t size;
    int fd = open_file(f->path, f->odirect, &size);
    if (fd < 0)
        return ct_fail(NULL, CT_EIO, "cannot open '%s': %s", f->path, strerror(errno));
    w->size = size;
    if (!f->odirect && (w->map = map_fd(fd, size, populate)) != NULL) {
        close(fd);
        w->fp = w->map->addr;
        f->bytes_read += size;
        return CT_OK;
    }
    ct_status st = read_fd_all(fd, size, &w->file, f->path, &f->bytes_read);
    close(fd);
    w->fp = w->file.p;
    return st;
}

static ct_status load_whole(ct_data_file *f) { return load_whole_as(f, 1); }

/* The array's sample i, sample axis last (DLIO: x[..., i]). */
static ct_status array_sample(ct_data_file *f, int64_t i, const uint8_t **data, size_t *len)
{
    whole *w = W(f);
    const ct_npy_info *in = &w->info;
    if (i < 0 || i >= f->nsamples)
        return ct_fail(NULL, CT_EINVAL, "%s: sample %lld is outside [0, %lld)", f->path,
                       (long long)i, (long long)f->nsamples);
    uint64_t total = ct_npy_data_bytes(in);
    uint64_t ns = (uint64_t)f->nsamples, per = total / (ns ? ns : 1);
    if (ns == 1 || in->ndim == 0) {
        *data = w->arr;
        *len = (size_t)total;
        return CT_OK;
    }
    if (in->fortran) {
        /* last axis slowest: contiguous */
        *data = w->arr + (uint64_t)i * per;
        *len = (size_t)per;
        return CT_OK;
    }
    ct_status st = fbuf_reserve(&w->gather, (size_t)per, f->path);
    if (st != CT_OK)
        return st;
    size_t is = in->itemsize;
    const uint8_t *src = w->arr + (uint64_t)i * is;
    uint64_t nel = per / is;
    if (is == 1) {
        for (uint64_t k = 0; k < nel; k++)
            w->gather.p[k] = src[k * ns];
    } else {
        for (uint64_t k = 0; k < nel; k++)
            memcpy(w->gather.p + k * is, src + k * ns * is, is);
    }
    *data = w->gather.p;
    *len = (size_t)per;
    return CT_OK;
}

static ct_status set_array(ct_data_file *f, const uint8_t *buf, uint64_t n, uint64_t base)
{
    whole *w = W(f);
    ct_status st = ct_npy_parse(buf, (size_t)(n < 65536 + 16 ? n : 65536 + 16), &w->info, f->path, base);
    if (st != CT_OK)
        return st;
    uint64_t need = ct_npy_data_bytes(&w->info);
    if (need == UINT64_MAX || need > n - w->info.header_len)
        return ct_fail(NULL, CT_EFORMAT,
                       "%s: offset %llu: array data truncated: header says %llu bytes, %llu present",
                       f->path, (unsigned long long)(base + w->info.header_len),
                       (unsigned long long)need, (unsigned long long)(n - w->info.header_len));
    w->arr = buf + w->info.header_len;
    f->nsamples = w->info.ndim ? w->info.shape[w->info.ndim - 1] : 1;
    return CT_OK;
}

static ct_status npy_open(ct_data_file *f)
{
    ct_status st = load_whole(f);
    if (st != CT_OK)
        return st;
    return set_array(f, W(f)->fp, W(f)->size, 0);
}

static ct_status npz_open(ct_data_file *f)
{
    ct_status st = load_whole(f);
    if (st != CT_OK)
        return st;
    whole *w = W(f);
    ct_zip_entry e;
    if ((st = ct_zip_find_mem(w->fp, w->size, "x.npy", &e, f->path)) != CT_OK)
        return st;
    const uint8_t *m;
    if (e.method == 8) {
        /* deflate expands at most 1032:1 (zlib's technical details): a
         * larger claim is a corrupt header, refused before allocating it
         * (found by fuzz_npy: 200 bytes made the reader allocate 2 GB) */
        if (e.usize > e.csize * 1032 + 64)
            return ct_fail(NULL, CT_EFORMAT,
                           "%s: offset %llu: member x.npy claims %llu bytes from %llu deflated "
                           "bytes, more than deflate can produce", f->path,
                           (unsigned long long)e.data_off, (unsigned long long)e.usize,
                           (unsigned long long)e.csize);
        if ((st = fbuf_reserve(&w->scratch, (size_t)e.usize + 1, f->path)) != CT_OK)
            return st;
    }
    if ((st = ct_zip_extract(w->fp, &e, w->scratch.p, &m, f->path, "x.npy")) != CT_OK)
        return st;
    return set_array(f, m, e.usize, e.method == 8 ? 0 : e.data_off);
}

static ct_status rec_grow(whole *w, size_t n, const char *path)
{
    if (n < w->reccap)
        return CT_OK;
    size_t cap = w->reccap ? 2 * w->reccap : 256;
    while (cap <= n)
        cap *= 2;
    uint64_t *a = realloc(w->recoff, cap * sizeof *a), *b;
    if (!a)
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", path);
    w->recoff = a;
    b = realloc(w->reclen, cap * sizeof *b);
    if (!b)
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", path);
    w->reclen = b;
    if (!(a = realloc(w->imgoff, cap * sizeof *a)))
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", path);
    w->imgoff = a;
    if (!(a = realloc(w->imglen, cap * sizeof *a)))
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", path);
    w->imglen = a;
    w->reccap = cap;
    return CT_OK;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* The framing of the record whose bytes (header, payload, CRC) start at p
 * with avail bytes present: TFR_OK and its payload length in *len, or what
 * is wrong. */
enum { TFR_OK, TFR_SHORT_HEADER, TFR_LENGTH_CRC, TFR_SHORT_RECORD, TFR_DATA_CRC };
static int tfr_check(const uint8_t *p, uint64_t avail, uint64_t *len)
{
    if (avail < 12)
        return TFR_SHORT_HEADER;
    uint64_t l = 0;
    for (int i = 7; i >= 0; i--)
        l = (l << 8) | p[i];
    *len = l;
    if (ct_tfrecord_mask(ct_crc32c(0, p, 8)) != le32(p + 8))
        return TFR_LENGTH_CRC;
    if (l > avail - 12 || avail - 12 - l < 4)
        return TFR_SHORT_RECORD;
    if (ct_tfrecord_mask(ct_crc32c(0, p + 12, (size_t)l)) != le32(p + 12 + l))
        return TFR_DATA_CRC;
    return TFR_OK;
}

/* tfr_check of the record at file offset off, with a message naming path
 * and the offset. */
static ct_status tfr_frame(const uint8_t *p, uint64_t avail, uint64_t off, const char *path,
                           uint64_t *len)
{
    uint64_t l = 0;
    switch (tfr_check(p, avail, &l)) {
    case TFR_SHORT_HEADER:
        return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: truncated TFRecord header", path,
                       (unsigned long long)off);
    case TFR_LENGTH_CRC:
        return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: TFRecord length CRC mismatch", path,
                       (unsigned long long)off);
    case TFR_SHORT_RECORD:
        return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: truncated TFRecord (length %llu)", path,
                       (unsigned long long)off, (unsigned long long)l);
    case TFR_DATA_CRC:
        return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: TFRecord data CRC mismatch", path,
                       (unsigned long long)(off + 12));
    default:
        *len = l;
        return CT_OK;
    }
}

/* The DALI index of the record file at path, if one exists: DLIO writes it
 * to {data_folder}/index/{train|valid}/{name}.idx, and path is
 * {data_folder}/{train|valid}/[{subfolder}/]{name}. Returns 0 and the index
 * path in buf if found. */
static int tfr_index_path(const char *path, char *buf, size_t cap)
{
    const char *name = strrchr(path, '/');
    if (!name)
        return 1;
    /* the directory holding `name`, then its parent (subfolders) */
    const char *end = name;
    for (int up = 0; up < 2; up++) {
        const char *d = end;
        while (d > path && d[-1] != '/')
            d--;
        size_t dl = (size_t)(end - d);
        if (dl == 5 && (!memcmp(d, "train", 5) || !memcmp(d, "valid", 5))) {
            int n = snprintf(buf, cap, "%.*sindex/%.*s%s.idx", (int)(d - path), path, (int)dl, d, name);
            if (n > 0 && (size_t)n < cap && access(buf, R_OK) == 0)
                return 0;
        }
        if (d == path)
            break;
        end = d - 1;
    }
    return 1;
}

/* Per-record mode: the index's "offset length" lines, each record checked
 * to lie inside the file. */
static ct_status tfr_open_index(ct_data_file *f, const char *ipath)
{
    whole *w = W(f);
    uint8_t *t;
    uint64_t tl;
    ct_status st = ct_read_file(ipath, 0, &t, &tl);
    if (st != CT_OK)
        return st;
    f->bytes_read += tl;
    uint64_t size;
    w->fd = open_file(f->path, f->odirect, &size);
    if (w->fd < 0) {
        free(t);
        return ct_fail(NULL, CT_EIO, "cannot open '%s': %s", f->path, strerror(errno));
    }
    w->size = size;
    size_t n = 0;
    uint64_t pos = 0;
    while (pos < tl && st == CT_OK) {
        uint64_t v[2] = {0, 0}, line = pos;
        for (int k = 0; k < 2 && st == CT_OK; k++) {
            while (pos < tl && (t[pos] == ' ' || t[pos] == '\t'))
                pos++;
            int digits = 0;
            while (pos < tl && t[pos] >= '0' && t[pos] <= '9' && digits < 19) {
                v[k] = v[k] * 10 + (uint64_t)(t[pos++] - '0');
                digits++;
            }
            if (!digits || (pos < tl && t[pos] >= '0' && t[pos] <= '9'))
                st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: expected \"offset length\" lines",
                             ipath, (unsigned long long)line);
        }
        while (st == CT_OK && pos < tl && (t[pos] == ' ' || t[pos] == '\t' || t[pos] == '\r'))
            pos++;
        if (st == CT_OK && pos < tl && t[pos++] != '\n')
            st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: expected \"offset length\" lines", ipath,
                         (unsigned long long)line);
        if (st != CT_OK)
            break;
        if (v[1] < 16 || v[0] > size || v[1] > size - v[0])
            st = ct_fail(NULL, CT_EFORMAT,
                         "%s: offset %llu: record at %llu of %llu bytes does not fit '%s' (%llu bytes)",
                         ipath, (unsigned long long)line, (unsigned long long)v[0],
                         (unsigned long long)v[1], f->path, (unsigned long long)size);
        else if ((st = rec_grow(w, n, f->path)) == CT_OK) {
            w->recoff[n] = v[0];
            w->reclen[n] = v[1];
            n++;
        }
    }
    free(t);
    if (st != CT_OK)
        return st;
    w->idx = 1;
    w->win_off = w->win_len = 0;
    w->last_rec = -2;
    w->run = 0;
    f->nsamples = (int64_t)n;
    return CT_OK;
}

/* Where a record's Example keeps its "image" bytes, as offsets in the file
 * at p (length UINT64_MAX if the Example does not parse: tfr_sample then
 * says why). */
static void tfr_locate(const uint8_t *p, uint64_t off, uint64_t len, uint64_t *imgoff,
                       uint64_t *imglen)
{
    const uint8_t *img;
    size_t il;
    if (ct_example_bytes(p + off + 12, (size_t)len, "image", &img, &il) == CT_OK) {
        *imgoff = (uint64_t)(img - p);
        *imglen = il;
    } else {
        *imglen = UINT64_MAX;
    }
}

/* ---- a whole TFRecord file framed by the threads of a pool ----
 * Thread t of T takes the bytes [lo, hi) of an even split of the file: it
 * maps in their pages, finds the first record start at or after lo (t > 0:
 * the first offset where a whole record frames, both CRCs right, scanning
 * at most TFR_SCAN_MAX bytes), and frames the records that start before hi
 * as the sequential pass does. The parts are the sequential pass's records
 * exactly when they chain: each part begins where the one before ended (a
 * record inside another's payload that happens to frame would start a
 * part early and break the chain), and the last ends at the end of the
 * file. Anything else (a broken chain, a bad record, no start found, out
 * of memory) falls back to the sequential pass, which gives the error. */
#define TFR_PAR_MIN ((uint64_t)4 << 20) /* smaller files: one thread */
#define TFR_SCAN_MAX ((uint64_t)1 << 20)

typedef struct tfr_part {
    uint64_t *recoff, *reclen, *imgoff, *imglen;
    size_t n, cap;
    uint64_t begin, end; /* first record start found; end of the last framed */
    int empty;           /* no record starts in [lo, hi) */
    int ok;
} tfr_part;

static int part_grow(tfr_part *q)
{
    if (q->n < q->cap)
        return 1;
    size_t cap = q->cap ? 2 * q->cap : 1024;
    uint64_t **a[4] = {&q->recoff, &q->reclen, &q->imgoff, &q->imglen};
    for (int k = 0; k < 4; k++) {
        uint64_t *r = realloc(*a[k], cap * sizeof **a[k]);
        if (!r)
            return 0;
        *a[k] = r;
    }
    q->cap = cap;
    return 1;
}

static void tfr_frame_part(void *ctx, int tid, int nt)
{
    whole *w = ctx;
    tfr_part *q = &w->parts[tid];
    const uint8_t *p = w->fp;
    size_t lo, hi;
    ct_pool_split((size_t)w->size, tid, nt, &lo, &hi);
    q->n = 0;
    q->ok = q->empty = 0;
    map_populate(w->map, lo, hi - lo);
    uint64_t off = lo, len = 0;
    if (tid > 0) {
        uint64_t stop = hi - lo > TFR_SCAN_MAX ? lo + TFR_SCAN_MAX : hi;
        while (off < stop && tfr_check(p + off, w->size - off, &len) != TFR_OK)
            off++;
        if (off == stop) {
            q->empty = off == hi; /* else: no start within the scan (fall back) */
            q->ok = q->empty;
            q->begin = q->end = off;
            return;
        }
    }
    q->begin = off;
    while (off < hi) {
        if (tfr_check(p + off, w->size - off, &len) != TFR_OK || !part_grow(q))
            return;
        q->recoff[q->n] = off + 12;
        q->reclen[q->n] = len;
        tfr_locate(p, off, len, &q->imgoff[q->n], &q->imglen[q->n]);
        q->n++;
        off += 16 + len;
    }
    q->end = off;
    q->ok = 1;
}

/* The file's records framed by the pool's threads into w's arrays; 0 if
 * the parts do not chain (the caller then frames it sequentially). */
static int tfr_frame_parallel(ct_data_file *f)
{
    whole *w = W(f);
    int nt = ct_pool_threads(w->pool);
    if (w->nparts < nt) {
        tfr_part *np = realloc(w->parts, (size_t)nt * sizeof *np);
        if (!np)
            return 0;
        memset(np + w->nparts, 0, (size_t)(nt - w->nparts) * sizeof *np);
        w->parts = np;
        w->nparts = nt;
    }
    ct_pool_run(w->pool, tfr_frame_part, w);
    uint64_t next = 0;
    size_t n = 0;
    for (int t = 0; t < nt; t++) {
        const tfr_part *q = &w->parts[t];
        if (!q->ok)
            return 0;
        if (q->empty)
            continue;
        if (q->begin != next)
            return 0;
        next = q->end;
        n += q->n;
    }
    if (next != w->size || (n && rec_grow(w, n - 1, f->path) != CT_OK))
        return 0;
    size_t at = 0;
    for (int t = 0; t < nt; t++) {
        const tfr_part *q = &w->parts[t];
        if (q->empty || !q->n)
            continue;
        memcpy(w->recoff + at, q->recoff, q->n * sizeof *q->recoff);
        memcpy(w->reclen + at, q->reclen, q->n * sizeof *q->reclen);
        memcpy(w->imgoff + at, q->imgoff, q->n * sizeof *q->imgoff);
        memcpy(w->imglen + at, q->imglen, q->n * sizeof *q->imglen);
        at += q->n;
    }
    f->nsamples = (int64_t)n;
    return 1;
}

static ct_status tfr_open(ct_data_file *f)
{
    whole *w = W(f);
    w->idx = 0;
    char ipath[4200];
    struct stat sb;
    int known = stat(f->path, &sb) == 0;
    int small = w->whole_limit > 0 && known && (uint64_t)sb.st_size <= w->whole_limit;
    if (!small && tfr_index_path(f->path, ipath, sizeof ipath) == 0)
        return tfr_open_index(f, ipath);
    /* in parallel: each thread maps in the pages of its part */
    int par = w->pool && ct_pool_threads(w->pool) > 1 && !f->odirect && known &&
              (uint64_t)sb.st_size >= TFR_PAR_MIN;
    ct_status st = load_whole_as(f, !par);
    if (st != CT_OK)
        return st;
    if (par && w->map && w->fp == w->map->addr && tfr_frame_parallel(f))
        return CT_OK;
    /* One sequential pass: frame each record, check both its CRCs, and
     * find its "image" bytes while the record is in the cache (parsing the
     * Example later, when its sample is asked for, cost a cache miss per
     * sample: ~18% of a warm bert epoch; checking three records' CRCs in
     * lockstep was slower than this one stream: the next header is then
     * never in the cache). */
    const uint8_t *p = w->fp;
    uint64_t off = 0;
    size_t n = 0;
    while (off < w->size) {
        uint64_t len = 0;
        if ((st = tfr_frame(p + off, w->size - off, off, f->path, &len)) != CT_OK)
            return st;
        if ((st = rec_grow(w, n, f->path)) != CT_OK)
            return st;
        w->recoff[n] = off + 12;
        w->reclen[n] = len;
        tfr_locate(p, off, len, &w->imgoff[n], &w->imglen[n]);
        n++;
        off += 16 + len;
    }
    f->nsamples = (int64_t)n;
    return CT_OK;
}

/* Makes file bytes [off, off + len) present in w->file: reads them (with
 * O_DIRECT: the enclosing aligned range), extended to len << run bytes (at
 * most TFR_WINDOW) when the access continues a run of `run` sequential
 * accesses, as the kernel's read-ahead grows. Returns a pointer to byte off. */
static ct_status tfr_fetch(ct_data_file *f, uint64_t off, uint64_t len, int run,
                           const uint8_t **out)
{
    whole *w = W(f);
    if (off >= w->win_off && len <= w->win_len && off - w->win_off <= w->win_len - len) {
        *out = w->file.p + (off - w->win_off);
        return CT_OK;
    }
    uint64_t start = off, end = off + len;
    if (run > 0) {
        uint64_t win = run >= 20 ? TFR_WINDOW : len << run;
        win = win > TFR_WINDOW ? TFR_WINDOW : win;
        end = start + win < w->size ? start + win : w->size;
    }
    if (end < off + len)
        end = off + len;
    if (f->odirect) {
        start = start / ALIGN * ALIGN;
        end = (end + ALIGN - 1) / ALIGN * ALIGN;
    }
    w->win_len = 0;
    ct_status st = fbuf_reserve(&w->file, (size_t)(end - start), f->path);
    if (st != CT_OK)
        return st;
    uint64_t got = 0, want = end - start;
    while (got < want) {
        ssize_t r = pread(w->fd, w->file.p + got, (size_t)(want - got), (off_t)(start + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return ct_fail(NULL, CT_EIO, "%s: offset %llu: read failed: %s", f->path,
                           (unsigned long long)(start + got), strerror(errno));
        if (r == 0)
            break; /* end of file (aligned reads run past it) */
        got += (uint64_t)r;
    }
    f->bytes_read += got;
    w->win_off = start;
    w->win_len = got;
    if (off + len > start + got)
        return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: file shorter than its index says",
                       f->path, (unsigned long long)(start + got));
    *out = w->file.p + (off - start);
    return CT_OK;
}

static ct_status tfr_sample(ct_data_file *f, int64_t i, const uint8_t **data, size_t *len)
{
    whole *w = W(f);
    if (i < 0 || i >= f->nsamples)
        return ct_fail(NULL, CT_EINVAL, "%s: record %lld is outside [0, %lld)", f->path,
                       (long long)i, (long long)f->nsamples);
    const uint8_t *ex;
    uint64_t exoff, exlen = 0;
    if (w->idx) {
        const uint8_t *p = NULL;
        w->run = i == w->last_rec + 1 ? w->run + 1 : 0;
        w->last_rec = i;
        ct_status st = tfr_fetch(f, w->recoff[i], w->reclen[i], w->run, &p);
        if (st != CT_OK)
            return st;
        if ((st = tfr_frame(p, w->reclen[i], w->recoff[i], f->path, &exlen)) != CT_OK)
            return st;
        if (exlen + 16 != w->reclen[i])
            return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: record of %llu bytes, the index says %llu",
                           f->path, (unsigned long long)w->recoff[i], (unsigned long long)(exlen + 16),
                           (unsigned long long)w->reclen[i]);
        ex = p + 12;
        exoff = w->recoff[i] + 12;
    } else if (w->imglen[i] != UINT64_MAX) {
        *data = w->fp + w->imgoff[i];
        *len = (size_t)w->imglen[i];
        return CT_OK;
    } else {
        ex = w->fp + w->recoff[i];
        exoff = w->recoff[i];
        exlen = w->reclen[i];
    }
    ct_status st = ct_example_bytes(ex, (size_t)exlen, "image", data, len);
    if (st != CT_OK)
        return ct_fail(NULL, st, "%s: offset %llu: %s", f->path, (unsigned long long)exoff,
                       ct_errmsg());
    return CT_OK;
}

static ct_status csv_open(ct_data_file *f)
{
    ct_status st = load_whole(f);
    if (st != CT_OK)
        return st;
    whole *w = W(f);
    uint64_t n = 0;
    int header = 1;
    for (uint64_t off = 0; off < w->size;) {
        const uint8_t *nl = memchr(w->fp + off, '\n', (size_t)(w->size - off));
        uint64_t end = nl ? (uint64_t)(nl - w->fp) : w->size;
        if (!header && end > off) {
            if (n == w->rowcap) {
                size_t cap = w->rowcap ? 2 * w->rowcap : 256;
                uint64_t *a = realloc(w->rows, cap * sizeof *a);
                if (!a)
                    return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", f->path);
                w->rows = a;
                w->rowcap = cap;
            }
            w->rows[n++] = off;
        }
        header = 0;
        off = end + 1;
    }
    f->nsamples = (int64_t)n;
    return CT_OK;
}

/* Row i: the values after the index column, as uint8. */
static ct_status csv_sample(ct_data_file *f, int64_t i, const uint8_t **data, size_t *len)
{
    whole *w = W(f);
    if (i < 0 || i >= f->nsamples)
        return ct_fail(NULL, CT_EINVAL, "%s: row %lld is outside [0, %lld)", f->path, (long long)i,
                       (long long)f->nsamples);
    uint64_t off = w->rows[i];
    const uint8_t *p = w->fp + off, *e = memchr(p, '\n', (size_t)(w->size - off));
    if (!e)
        e = w->fp + w->size;
    ct_status st = fbuf_reserve(&w->scratch, (size_t)(e - p), f->path);
    if (st == CT_OK)
        st = ct_csv_row(f->path, "offset", w->fp, p, e, i, w->scratch.p, len);
    *data = w->scratch.p;
    return st;
}

ct_status ct_csv_row(const char *path, const char *what, const uint8_t *text, const uint8_t *p,
                     const uint8_t *e, int64_t row, uint8_t *out, size_t *count)
{
    size_t n = 0;
    while (p < e && *p != ',')
        p++;
    while (p < e) {
        p++; /* ',' */
        unsigned v = 0;
        int digits = 0;
        while (p < e && *p >= '0' && *p <= '9' && digits < 4) {
            v = v * 10 + (unsigned)(*p++ - '0');
            digits++;
        }
        if (p < e && *p == '\r')
            p++;
        if (!digits || v > 255 || (p < e && *p != ','))
            return ct_fail(NULL, CT_EFORMAT, "%s: %s %llu: row %lld: expected integers 0..255",
                           path, what, (unsigned long long)(p - text), (long long)row);
        out[n++] = (uint8_t)v;
    }
    *count = n;
    return CT_OK;
}

static ct_status h5_open(ct_data_file *f)
{
    whole *w = W(f);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    w->h5file = H5Fopen(f->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (w->h5file < 0)
        return ct_fail(NULL, access(f->path, R_OK) ? CT_EIO : CT_EFORMAT,
                       "cannot open HDF5 file '%s'%s", f->path,
                       access(f->path, R_OK) ? ": no such readable file" : ": not an HDF5 file");
    const char *name = "records";
    if (H5Lexists(w->h5file, name, H5P_DEFAULT) <= 0)
        name = "records_0";
    if (H5Lexists(w->h5file, name, H5P_DEFAULT) <= 0)
        return ct_fail(NULL, CT_EFORMAT, "%s: HDF5 file has no dataset 'records' (nor 'records_0')", f->path);
    w->h5ds = H5Dopen2(w->h5file, name, H5P_DEFAULT);
    if (w->h5ds < 0)
        return ct_fail(NULL, CT_EFORMAT, "%s: cannot open dataset '%s'", f->path, name);
    hid_t sp = H5Dget_space(w->h5ds);
    hsize_t dims[8];
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd < 1 || nd > 8) {
        H5Sclose(sp);
        return ct_fail(NULL, CT_EFORMAT, "%s: dataset '%s' has %d dimensions", f->path, name, nd);
    }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    f->nsamples = (int64_t)dims[0];
    w->h5d1 = 1;
    for (int k = 1; k < nd; k++)
        w->h5d1 *= (int64_t)dims[k];
    hid_t t = H5Dget_type(w->h5ds);
    w->h5d2 = (int64_t)H5Tget_size(t);
    H5Tclose(t);
    /* A contiguous dataset without external storage (DLIO's default: no
     * chunking, no compression) is its bytes at one file offset, sample
     * axis first: map the file and hand out sample i in place, the bytes
     * H5Dread returns with the file's own type (no conversion). */
    hid_t dcpl = H5Dget_create_plist(w->h5ds);
    int contiguous = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS &&
                     H5Pget_external_count(dcpl) == 0;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    haddr_t off = contiguous ? H5Dget_offset(w->h5ds) : HADDR_UNDEF;
    uint64_t size, need = (uint64_t)f->nsamples * (uint64_t)w->h5d1 * (uint64_t)w->h5d2;
    if (off != HADDR_UNDEF) {
        int fd = open_file(f->path, 0, &size);
        if (fd >= 0) {
            if ((uint64_t)off <= size && need <= size - (uint64_t)off)
                w->map = map_fd(fd, size, 0);
            close(fd);
            w->h5off = (uint64_t)off;
        }
    }
    return CT_OK;
}

static ct_status h5_sample(ct_data_file *f, int64_t i, const uint8_t **data, size_t *len)
{
    whole *w = W(f);
    if (i < 0 || i >= f->nsamples)
        return ct_fail(NULL, CT_EINVAL, "%s: sample %lld is outside [0, %lld)", f->path,
                       (long long)i, (long long)f->nsamples);
    size_t n = (size_t)(w->h5d1 * w->h5d2);
    if (w->map) {
        uint64_t off = w->h5off + (uint64_t)i * n;
        map_populate(w->map, off, n);
        f->bytes_read += n;
        *data = (const uint8_t *)w->map->addr + off;
        *len = n;
        return CT_OK;
    }
    ct_status st = fbuf_reserve(&w->scratch, n, f->path);
    if (st != CT_OK)
        return st;
    hid_t fs = H5Dget_space(w->h5ds);
    int nd = H5Sget_simple_extent_ndims(fs);
    hsize_t start[8] = {0}, count[8];
    H5Sget_simple_extent_dims(fs, count, NULL);
    start[0] = (hsize_t)i;
    count[0] = 1;
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hsize_t mcount = (hsize_t)(n / (size_t)w->h5d2);
    hid_t ms = H5Screate_simple(1, &mcount, NULL);
    hid_t t = H5Dget_type(w->h5ds);
    herr_t r = H5Dread(w->h5ds, t, ms, fs, H5P_DEFAULT, w->scratch.p);
    H5Tclose(t);
    H5Sclose(ms);
    H5Sclose(fs);
    (void)nd;
    if (r < 0)
        return ct_fail(NULL, CT_EFORMAT, "%s: reading sample %lld failed (truncated file?)", f->path,
                       (long long)i);
    f->bytes_read += n;
    *data = w->scratch.p;
    *len = n;
    return CT_OK;
}

static ct_status read_u64_file(const char *path, uint64_t **out, uint64_t *count)
{
    uint8_t *b;
    uint64_t n;
    ct_status st = ct_read_file(path, 0, &b, &n);
    if (st != CT_OK)
        return st;
    if (n % 8) {
        free(b);
        return ct_fail(NULL, CT_EFORMAT, "%s: size %llu is not a multiple of 8", path,
                       (unsigned long long)n);
    }
    uint64_t *v = malloc(n ? n : 8);
    if (!v) {
        free(b);
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", path);
    }
    for (uint64_t k = 0; k < n / 8; k++) {
        uint64_t x = 0;
        for (int i = 7; i >= 0; i--)
            x = (x << 8) | b[8 * k + (uint64_t)i];
        v[k] = x;
    }
    free(b);
    *out = v;
    *count = n / 8;
    return CT_OK;
}

static ct_status ibin_open(ct_data_file *f)
{
    whole *w = W(f);
    char p[4200];
    uint64_t no, nz;
    snprintf(p, sizeof p, "%s.off.idx", f->path);
    ct_status st = read_u64_file(p, &w->ioff, &no);
    if (st != CT_OK)
        return st;
    snprintf(p, sizeof p, "%s.sz.idx", f->path);
    if ((st = read_u64_file(p, &w->isz, &nz)) != CT_OK)
        return st;
    if (no != nz)
        return ct_fail(NULL, CT_EFORMAT, "%s: %llu offsets but %llu sizes in the index files", f->path,
                       (unsigned long long)no, (unsigned long long)nz);
    uint64_t size;
    w->fd = open_file(f->path, 0, &size);
    if (w->fd < 0)
        return ct_fail(NULL, CT_EIO, "cannot open '%s': %s", f->path, strerror(errno));
    w->size = size;
    /* mapped, not populated: a sample's pages are read when it is (see
     * ibin_sample); where mmap refuses, pread */
    w->map = map_fd(w->fd, size, 0);
    for (uint64_t k = 0; k < no; k++)
        if (w->ioff[k] > size || w->isz[k] > size - w->ioff[k])
            return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: sample %llu (%llu bytes) runs past the end",
                           f->path, (unsigned long long)w->ioff[k], (unsigned long long)k,
                           (unsigned long long)w->isz[k]);
    f->nsamples = (int64_t)no;
    return CT_OK;
}

static ct_status ibin_sample(ct_data_file *f, int64_t i, const uint8_t **data, size_t *len)
{
    whole *w = W(f);
    if (i < 0 || i >= f->nsamples)
        return ct_fail(NULL, CT_EINVAL, "%s: sample %lld is outside [0, %lld)", f->path,
                       (long long)i, (long long)f->nsamples);
    uint64_t off = w->ioff[i], n = w->isz[i];
    if (w->map) {
        /* the sample's pages read into the page cache and mapped, no copy
         * (the bytes a pread would return; ibin_open checked the range) */
        map_populate(w->map, off, n);
        f->bytes_read += n;
        *data = (const uint8_t *)w->map->addr + off;
        *len = (size_t)n;
        return CT_OK;
    }
    ct_status st = fbuf_reserve(&w->scratch, (size_t)n, f->path);
    if (st != CT_OK)
        return st;
    uint64_t got = 0;
    while (got < n) {
        ssize_t r = pread(w->fd, w->scratch.p + got, (size_t)(n - got), (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return ct_fail(NULL, CT_EIO, "%s: offset %llu: read failed", f->path,
                           (unsigned long long)(off + got));
        got += (uint64_t)r;
    }
    f->bytes_read += n;
    *data = w->scratch.p;
    *len = (size_t)n;
    return CT_OK;
}

static void whole_close(ct_data_file *f)
{
    whole *w = W(f);
    unmap_whole(w);
    if (w->h5ds > 0)
        H5Dclose(w->h5ds);
    if (w->h5file > 0)
        H5Fclose(w->h5file);
    if (w->fd > 0)
        close(w->fd);
    free(w->ioff);
    free(w->isz);
    w->h5ds = w->h5file = 0;
    w->fd = 0;
    w->ioff = w->isz = NULL;
    w->arr = NULL;
}

const ct_reader_vt ct_reader_npy = {npy_open, array_sample, whole_close};
const ct_reader_vt ct_reader_npz = {npz_open, array_sample, whole_close};
const ct_reader_vt ct_reader_tfrecord = {tfr_open, tfr_sample, whole_close};
const ct_reader_vt ct_reader_csv = {csv_open, csv_sample, whole_close};
const ct_reader_vt ct_reader_hdf5 = {h5_open, h5_sample, whole_close};
const ct_reader_vt ct_reader_ibin = {ibin_open, ibin_sample, whole_close};

static const ct_reader_vt *vt_for(int32_t fmt)
{
    switch (fmt) {
    case CT_FMT_NPY: return &ct_reader_npy;
    case CT_FMT_NPZ: return &ct_reader_npz;
    case CT_FMT_TFRECORD: return &ct_reader_tfrecord;
    case CT_FMT_CSV: return &ct_reader_csvz; /* csvz.c: compressed, else ct_reader_csv */
    case CT_FMT_HDF5: return &ct_reader_hdf5;
    case CT_FMT_JPEG: return &ct_reader_jpeg;
    case CT_FMT_PNG: return &ct_reader_png;
    case CT_FMT_INDEXED_BINARY:
    case CT_FMT_MMAP_INDEXED_BINARY: return &ct_reader_ibin;
    default: return NULL;
    }
}

ct_status ct_data_file_reopen(ct_data_file *f, const char *path)
{
    if (!f || !path)
        return ct_fail(NULL, CT_EINVAL, "ct_data_file_reopen: NULL argument");
    f->vt->close(f);
    free(f->path);
    f->path = strdup(path);
    f->nsamples = 0;
    if (!f->path)
        return ct_fail(NULL, CT_ENOMEM, "out of memory");
    ct_status st = f->vt->open(f);
    if (st != CT_OK) {
        f->vt->close(f);
        f->nsamples = 0;
    }
    return st;
}

ct_status ct_data_file_new(ct_data_file **out, int32_t fmt, int odirect)
{
    *out = NULL;
    const ct_reader_vt *vt = vt_for(fmt);
    if (!vt)
        return ct_fail(NULL, CT_EUNSUPPORTED, "no reader for format '%s' yet",
                       ct_data_format_name((ct_data_format)fmt));
    ct_data_file *f = calloc(1, sizeof *f);
    whole *w = calloc(1, sizeof *w);
    if (!f || !w) {
        free(f);
        free(w);
        return ct_fail(NULL, CT_ENOMEM, "out of memory");
    }
    f->vt = vt;
    f->impl = w;
    f->odirect = odirect;
    *out = f;
    return CT_OK;
}

ct_status ct_data_file_open(ct_data_file **out, int32_t fmt, const char *path, int odirect)
{
    if (!out || !path)
        return ct_fail(NULL, CT_EINVAL, "ct_data_file_open: NULL argument");
    ct_status st = ct_data_file_new(out, fmt, odirect);
    if (st != CT_OK)
        return st;
    if ((st = ct_data_file_reopen(*out, path)) != CT_OK) {
        ct_data_file_close(*out);
        *out = NULL;
    }
    return st;
}

void ct_data_file_close(ct_data_file *f)
{
    if (!f)
        return;
    f->vt->close(f);
    whole *w = W(f);
    free(w->file.p);
    free(w->scratch.p);
    free(w->gather.p);
    free(w->recoff);
    free(w->reclen);
    free(w->imgoff);
    free(w->imglen);
    free(w->rows);
    for (int t = 0; t < w->nparts; t++) {
        free(w->parts[t].recoff);
        free(w->parts[t].reclen);
        free(w->parts[t].imgoff);
        free(w->parts[t].imglen);
    }
    free(w->parts);
    free(w);
    free(f->path);
    free(f);
}

int64_t ct_data_file_samples(const ct_data_file *f) { return f ? f->nsamples : 0; }

void ct_data_file_set_whole_limit(ct_data_file *f, uint64_t bytes)
{
    if (f)
        W(f)->whole_limit = bytes;
}

void ct_data_file_set_pool(ct_data_file *f, ct_pool *pool)
{
    if (f)
        W(f)->pool = pool;
}

uint64_t ct_data_file_resident(const ct_data_file *f)
{
    if (!f)
        return 0;
    const whole *w = f->impl;
    /* a whole file mapped and populated (load_whole) is resident; the lazy
     * mappings of indexed_binary and hdf5 hold only what was read */
    uint64_t mapped = w->map && w->fp == w->map->addr ? (uint64_t)w->map->len : 0;
    return (uint64_t)w->file.cap + (uint64_t)w->scratch.cap + (uint64_t)w->gather.cap + mapped;
}
uint64_t ct_data_file_bytes_read(const ct_data_file *f) { return f ? f->bytes_read : 0; }

ct_status ct_data_file_sample(ct_data_file *f, int64_t i, const uint8_t **data, size_t *len)
{
    if (!f || !data || !len)
        return ct_fail(NULL, CT_EINVAL, "ct_data_file_sample: NULL argument");
    if (!f->path || (f->nsamples == 0 && i >= 0))
        return ct_fail(NULL, CT_ESTATE, "ct_data_file_sample: no file is open");
    return f->vt->sample(f, i, data, len);
}

int ct_data_map_holds(const ct_data_map *m, const uint8_t *p, size_t n)
{
    if (!m || !p)
        return 0;
    uintptr_t a = (uintptr_t)m->addr, q = (uintptr_t)p;
    return q >= a && n <= m->len && q - a <= m->len - n;
}

ct_data_map *ct_data_file_view(ct_data_file *f, const uint8_t *p, size_t n)
{
    ct_data_map *m = f ? W(f)->map : NULL;
    if (!ct_data_map_holds(m, p, n))
        return NULL;
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}
