/* The loader's zero-copy mode (ct_loader_set_zero_copy, docs/data.md
 * "Zero-copy batches") against its copy mode, for every format it reads:
 *  - the same batches: sample ids in ct_sampler_epoch's order (itself
 *    checked against NumPy in test_data_sampler) and, sample by sample,
 *    exactly the bytes of the copy path (which test_data_gen and
 *    test_data_readers compare with DLIO's files and a fresh reader), for
 *    1 and 3 reader threads over 2 epochs; the same bytes read from files;
 *  - views where the format stores the sample contiguous and uncompressed
 *    (npz stored with one sample per file, npy, TFRecord, hdf5,
 *    indexed_binary, mmap_indexed_binary: every sample a view, the batch
 *    without data/offsets), copies where it does not (npz with samples
 *    strided along the last axis, deflated npz, csv, O_DIRECT): no view, a
 *    contiguous batch with samples[k] = data + offsets[k];
 *  - copy mode: the P batch buffers are the loader's pool, reused batch
 *    after batch and epoch after epoch (at most P distinct buffers over
 *    many batches) without changing a delivered sample;
 *  - a held view stays valid and mapped after the loader's only reader
 *    handle has moved on to other files (waited for by the bytes the loader
 *    has read, not by time), and the mappings are gone once the batches are
 *    released and the loader destroyed (/proc/self/maps).
 * argv[1]: a scratch directory (the refs directory). */
#define _GNU_SOURCE
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctrain/data.h"
#include "data/formats.h"

#include "check.h"

typedef struct epoch_rec {
    int64_t n;
    int64_t *ids;
    uint64_t *lens;
    uint8_t **bytes;
} epoch_rec;

static void rec_free(epoch_rec *r)
{
    for (int64_t k = 0; k < r->n; k++)
        free(r->bytes[k]);
    free(r->ids);
    free(r->lens);
    free(r->bytes);
    memset(r, 0, sizeof *r);
}

static int make_config(ct_dlio_config *c, const char *dir, const char *fmt, int nfiles, int spf,
                       int record, int stdev, int batch, const char *extra)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "framework: %s\nworkflow:\n  generate_data: True\n  train: True\n"
             "dataset:\n  data_folder: %s\n  format: %s\n  num_files_train: %d\n"
             "  num_samples_per_file: %d\n  record_length_bytes: %d\n"
             "  record_length_bytes_stdev: %d\n%s"
             "reader:\n  batch_size: %d\n  file_shuffle: seed\n  sample_shuffle: seed\n"
             "  drop_last: False\ntrain:\n  seed: 11\n",
             strcmp(fmt, "tfrecord") ? "pytorch" : "tensorflow", dir, fmt, nfiles, spf, record,
             stdev, extra, batch);
    if (ct_dlio_config_init(c) != CT_OK)
        return 1;
    return ct_dlio_config_load(c, NULL, yaml, NULL, 0, NULL, NULL) != CT_OK;
}

/* Reads `epochs` epochs (recorded into rec[e]) with threads readers;
 * checks the batch layout of the mode. Returns the bytes read; *views
 * gets the samples delivered as views, *bufs the distinct batch buffers. */
static uint64_t read_epochs(const ct_dlio_config *c0, int threads, int zero_copy, int epochs,
                            epoch_rec *rec, uint64_t *views, int *bufs, const char *what)
{
    ct_dlio_config c = *c0;
    c.read_threads = threads;
    c.prefetch_size = 2;
    ct_loader *l;
    *views = 0;
    *bufs = 0;
    if (ct_loader_create(&l, &c, 0, 0, 1) != CT_OK) {
        CHECK(0, "%s: loader: %s", what, ct_errmsg());
        return 0;
    }
    CHECK(ct_loader_set_zero_copy(l, zero_copy) == CT_OK, "%s: set_zero_copy", what);
    ct_sampler_opts so = {c.num_files_train, c.num_samples_per_file, c.file_shuffle,
                          c.sample_shuffle, c.shuffle_size, c.seed, c.seed_change_epoch,
                          0, 1, c.batch_size, c.drop_last};
    int64_t cap = c.num_files_train * c.num_samples_per_file + 1;
    int64_t *want = malloc((size_t)cap * sizeof *want), n = 0;
    const uint8_t *seen[64];
    int layout_ok = 1, order_ok = 1;
    for (int e = 0; e < epochs; e++) {
        epoch_rec *r = &rec[e];
        r->ids = calloc((size_t)cap, sizeof *r->ids);
        r->lens = calloc((size_t)cap, sizeof *r->lens);
        r->bytes = calloc((size_t)cap, sizeof *r->bytes);
        CHECK(ct_sampler_epoch(&so, e, want, cap, &n) == CT_OK, "sampler");
        CHECK(ct_loader_start_epoch(l, e) == CT_OK, "%s: start: %s", what, ct_loader_errmsg(l));
        for (;;) {
            ct_batch b;
            int done;
            if (ct_loader_next(l, &b, &done) != CT_OK) {
                CHECK(0, "%s: next: %s", what, ct_loader_errmsg(l));
                break;
            }
            if (done)
                break;
            int has_views = 0;
            for (int64_t j = 0; j < b.count; j++) {
                if (!b.data || b.samples[j] != b.data + b.offsets[j])
                    has_views = 1;
                if (r->n >= cap || r->n >= n || b.ids[j] != want[r->n])
                    order_ok = 0;
                if (r->n >= cap)
                    continue;
                r->ids[r->n] = b.ids[j];
                r->lens[r->n] = b.lengths[j];
                r->bytes[r->n] = malloc(b.lengths[j] ? b.lengths[j] : 1);
                memcpy(r->bytes[r->n], b.samples[j], b.lengths[j]);
                r->n++;
            }
            if (has_views != (b.data == NULL))
                layout_ok = 0;
            if (!zero_copy && !b.data)
                layout_ok = 0;
            if (b.data) {
                int k = 0;
                while (k < *bufs && seen[k] != b.data)
                    k++;
                if (k == *bufs && *bufs < 64)
                    seen[(*bufs)++] = b.data;
            }
        }
        CHECK(r->n == n, "%s: epoch %d delivered %lld of %lld samples", what, e, (long long)r->n,
              (long long)n);
    }
    CHECK(order_ok, "%s: the order differs from ct_sampler_epoch's", what);
    CHECK(layout_ok, "%s: batch layout: data/offsets must be set exactly when no sample is a "
          "view, samples[k] = data + offsets[k]", what);
    *views = ct_loader_view_count(l);
    uint64_t bytes = ct_loader_bytes_read(l);
    ct_loader_destroy(l);
    free(want);
    return bytes;
}

/* Mappings of files under dir in this process. */
static int mapped_under(const char *dir)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    char line[4608];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, dir))
            n++;
    fclose(f);
    return n;
}

static uint64_t file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* One reader, one handle (one sample per file), batches of one sample:
 * while batch b is held the reader reopens its handle on the file of batch
 * b + 1; once it has (the loader's bytes read include that file), batch b's
 * view must still hold its file's bytes. */
static void held_view(const ct_dlio_config *c0, const epoch_rec *ref, const char *what)
{
    ct_dlio_config c = *c0;
    c.read_threads = 1;
    c.prefetch_size = 2;
    c.batch_size = 1;
    ct_loader *l;
    if (ct_loader_create(&l, &c, 0, 0, 1) != CT_OK) {
        CHECK(0, "%s: loader: %s", what, ct_errmsg());
        return;
    }
    ct_loader_set_zero_copy(l, 1);
    CHECK(ct_loader_start_epoch(l, 0) == CT_OK, "%s: start", what);
    uint64_t expect = 0;
    int ok = 1, held_mapped = 1;
    for (int64_t k = 0; k < ref->n; k++) {
        ct_batch b;
        int done;
        if (ct_loader_next(l, &b, &done) != CT_OK || done || b.count != 1 || b.ids[0] != ref->ids[k]) {
            ok = 0;
            break;
        }
        char p[4096];
        ct_dlio_file_path(&c, 0, b.ids[0] / c.num_samples_per_file, p, sizeof p);
        expect += file_size(p);
        if (k + 1 < ref->n) {
            ct_dlio_file_path(&c, 0, ref->ids[k + 1] / c.num_samples_per_file, p, sizeof p);
            uint64_t next = expect + file_size(p);
            while (ct_loader_bytes_read(l) < next) /* the reader has opened the next file */
                sched_yield();
        }
        if (b.lengths[0] != ref->lens[k] || memcmp(b.samples[0], ref->bytes[k], ref->lens[k]))
            ok = 0;
        if (!b.data && mapped_under(c.data_folder) < 1)
            held_mapped = 0;
    }
    CHECK(ok, "%s: a held view changed after the reader moved on", what);
    CHECK(held_mapped, "%s: a held view's file is not mapped", what);
    CHECK(ct_loader_view_count(l) == (uint64_t)ref->n, "%s: %llu views of %lld samples", what,
          (unsigned long long)ct_loader_view_count(l), (long long)ref->n);
    ct_loader_destroy(l);
    CHECK(mapped_under(c.data_folder) == 0, "%s: %d mappings left after destroy", what,
          mapped_under(c.data_folder));
}

typedef struct fcase {
    const char *name, *fmt;
    int nfiles, spf, record, stdev, batch;
    const char *extra;   /* more dataset keys */
    int odirect;
    int views;           /* zero-copy mode delivers views */
} fcase;

int main(int argc, char **argv)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data/zerocopy", argc > 1 ? argv[1] : "/tmp");
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0, "cannot prepare %s", dir);
    char real[PATH_MAX];
    if (realpath(dir, real) && strlen(real) < sizeof dir) /* as /proc/self/maps names files */
        memcpy(dir, real, strlen(real) + 1);
    ct_dlio_gen_opts go = {2, 0, 1, 0};
    const fcase cases[] = {
        {"npz", "npz", 9, 1, 20000, 5000, 2, "", 0, 1},
        {"npz-spf4", "npz", 4, 4, 3000, 0, 3, "", 0, 0},
        {"npz-zip", "npz", 6, 1, 9000, 0, 2, "  compression: zip\n", 0, 0},
        {"npz-odirect", "npz", 6, 1, 9000, 0, 2, "", 1, 0},
        {"npy", "npy", 7, 1, 10000, 3000, 3, "", 0, 1},
        {"npy-spf3", "npy", 4, 3, 4000, 0, 2, "", 0, 0},
        {"tfrecord", "tfrecord", 4, 12, 3000, 500, 5, "", 0, 1},
        {"tfrecord-odirect", "tfrecord", 3, 8, 3000, 0, 4, "", 1, 0},
        {"hdf5", "hdf5", 4, 6, 2048, 0, 5, "  generation_buffer_size: 65536\n", 0, 1},
        {"indexed_binary", "indexed_binary", 4, 6, 3000, 700, 4, "", 0, 1},
        {"mmap_indexed_binary", "mmap_indexed_binary", 3, 5, 2000, 0, 4, "", 0, 1},
        {"csv", "csv", 3, 5, 400, 0, 4, "", 0, 0},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const fcase *fc = &cases[ci];
        char d[1200];
        snprintf(d, sizeof d, "%s/%s", dir, fc->name);
        ct_dlio_config c;
        if (make_config(&c, d, fc->fmt, fc->nfiles, fc->spf, fc->record, fc->stdev, fc->batch,
                        fc->extra)) {
            CHECK(0, "%s: config: %s", fc->name, ct_errmsg());
            continue;
        }
        c.odirect = fc->odirect;
        CHECK(ct_dlio_generate(&c, &go) == CT_OK, "%s: generate: %s", fc->name, ct_errmsg());
        int64_t total = c.num_files_train * c.num_samples_per_file;
        for (int t = 1; t <= 3; t += 2) {
            char what[128];
            epoch_rec copy[2] = {{0}}, zc[2] = {{0}};
            uint64_t vcopy, vzc;
            int bcopy, bzc;
            snprintf(what, sizeof what, "%s, %d thread(s), copy", fc->name, t);
            uint64_t rb_copy = read_epochs(&c, t, 0, 2, copy, &vcopy, &bcopy, what);
            CHECK(vcopy == 0, "%s: %llu views in copy mode", what, (unsigned long long)vcopy);
            /* 2 epochs of ceil(total / batch) batches through P = max(2, t) buffers */
            int64_t nb = 2 * ((total + c.batch_size - 1) / c.batch_size), P = t > 2 ? t : 2;
            CHECK(bcopy <= P && nb > P, "%s: %d distinct batch buffers for %lld batches, pool of %lld",
                  what, bcopy, (long long)nb, (long long)P);
            snprintf(what, sizeof what, "%s, %d thread(s), zero-copy", fc->name, t);
            uint64_t rb_zc = read_epochs(&c, t, 1, 2, zc, &vzc, &bzc, what);
            CHECK(rb_zc == rb_copy, "%s: read %llu bytes, copy mode %llu", what,
                  (unsigned long long)rb_zc, (unsigned long long)rb_copy);
            if (fc->views)
                CHECK(vzc == (uint64_t)(copy[0].n + copy[1].n), "%s: %llu views of %lld samples",
                      what, (unsigned long long)vzc, (long long)(copy[0].n + copy[1].n));
            else
                CHECK(vzc == 0, "%s: %llu views where the format needs a copy", what,
                      (unsigned long long)vzc);
            int same = 1;
            for (int e = 0; e < 2; e++) {
                if (copy[e].n != zc[e].n || copy[e].n == 0)
                    same = 0;
                for (int64_t k = 0; same && k < copy[e].n; k++)
                    if (copy[e].ids[k] != zc[e].ids[k] || copy[e].lens[k] != zc[e].lens[k] ||
                        memcmp(copy[e].bytes[k], zc[e].bytes[k], copy[e].lens[k]))
                        same = 0;
            }
            CHECK(same, "%s: samples differ from the copy path's", what);
            if (t == 1 && fc->views && c.num_samples_per_file == 1)
                held_view(&c, &copy[0], fc->name);
            for (int e = 0; e < 2; e++) {
                rec_free(&copy[e]);
                rec_free(&zc[e]);
            }
        }
        ct_dlio_config_free(&c);
    }
    CHECK(mapped_under(dir) == 0, "mappings left under %s", dir);
    return check_summary();
}
