/* Reader efficiency and reader robustness (docs/data.md, "Readers"):
 *  - with sample_shuffle and many samples per file, the loader reads every
 *    npz file once per epoch (its shared file cache) for 1..3 reader
 *    threads, bytes read = the files' sizes (stat) x epochs; so for
 *    tfrecord files the cache holds (read whole); larger tfrecord files are
 *    read record by record through the DALI .idx: in order exactly the
 *    file's bytes plus its index, scattered at most 25% more (the old
 *    readers re-read a whole file whenever the sample's file changed);
 *  - the delivered order is still ct_sampler_epoch's (itself checked
 *    against NumPy in test_data_sampler) and every sample's bytes equal
 *    those of a fresh, uncached ct_data_file_open;
 *  - fuzz_npy's findings: an npz member claiming more bytes than deflate
 *    can produce is refused with the file and offset, before allocating;
 *    a stored member whose sizes differ is refused (its CRC check read
 *    past the buffer).
 * argv[1]: a scratch directory (the refs directory). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctrain/data.h"
#include "data/formats.h"

#include "check.h"

/* 207 bytes written by fuzz_npy (artifact oom-9d679fab): a deflated x.npy
 * whose Zip64 sizes claim about 1.9 GB uncompressed from 79 bytes. */
static const unsigned char bomb[] = {
  0x50, 0x4b, 0x03, 0x04, 0x2d, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,
  0x21, 0x00, 0x92, 0xe3, 0x23, 0x58, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x78, 0x2e, 0x6e, 0x70, 0x79, 0x01,
  0x00, 0x10, 0x00, 0x86, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4f,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x9b, 0xec, 0x17, 0xea, 0x1b,
  0x10, 0xc9, 0xc8, 0x50, 0xc6, 0x50, 0xad, 0x9e, 0x92, 0x5a, 0x9c, 0x5c,
  0xa4, 0x6e, 0xa5, 0xa0, 0x5e, 0x53, 0x6a, 0xa8, 0xae, 0xa3, 0xa0, 0x9e,
  0x96, 0x5f, 0x54, 0x52, 0x94, 0x98, 0x17, 0x9f, 0x5f, 0x94, 0x92, 0x0a,
  0x12, 0x77, 0x4b, 0xcc, 0x29, 0x4e, 0x05, 0x8a, 0x17, 0x67, 0x24, 0x16,
  0xa4, 0x02, 0xf9, 0x1a, 0x46, 0x3a, 0x0a, 0xc6, 0x3a, 0x0a, 0x86, 0x9a,
  0x3a, 0x0a, 0xb5, 0x0a, 0xe4, 0x01, 0x2e, 0x6e, 0x83, 0xd0, 0xaa, 0xf9,
  0x47, 0x00, 0x50, 0x4b, 0x01, 0x02, 0x2d, 0x03, 0x2d, 0x00, 0x00, 0x00,
  0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0x92, 0xe3, 0x23, 0x58, 0x4f, 0x00,
  0x00, 0x00, 0x27, 0x66, 0x6f, 0x72, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00,
  0x78, 0x2e, 0x6e, 0x70, 0x79, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00,
  0x00, 0x01, 0x00, 0x01, 0x00, 0x33, 0x00, 0x00, 0x00, 0x86, 0x00, 0x00,
  0x00, 0x00, 0x00
};

/* 262 bytes written by fuzz_npy (artifact crash-0aec6b7f): a stored x.npy
 * of 134 bytes whose Zip64 extra claims far more uncompressed bytes; the
 * CRC-32 check then read past the file's buffer. */
static const unsigned char stored_lie[] = {
  0x50, 0x4b, 0x03, 0x04, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x21, 0x00, 0x92, 0xe3, 0x23, 0x58, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xff, 0xff, 0x05, 0x00, 0x14, 0x00, 0x78, 0x2e, 0x6e, 0x70, 0x79, 0x01,
  0x00, 0x10, 0x00, 0x86, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x86,
  0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x93, 0x4e, 0x55, 0x4d, 0x50,
  0x59, 0x01, 0x00, 0x76, 0x00, 0x7b, 0x27, 0x64, 0x65, 0x73, 0x63, 0x72,
  0x27, 0x3a, 0x20, 0x27, 0x7c, 0x75, 0x31, 0x27, 0x2c, 0x20, 0x27, 0x66,
  0x6f, 0x72, 0x74, 0x72, 0x61, 0x6e, 0x5f, 0x6f, 0x72, 0x64, 0x65, 0x72,
  0x27, 0x3a, 0x20, 0x46, 0x61, 0x6c, 0x73, 0x65, 0x2c, 0x20, 0x27, 0x73,
  0x68, 0x61, 0x70, 0x65, 0x27, 0x3a, 0x20, 0x28, 0x32, 0x2c, 0x20, 0x33,
  0x2c, 0x20, 0x31, 0x29, 0x2c, 0x20, 0x7d, 0x20, 0x20, 0x20, 0x20, 0x20,
  0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
  0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
  0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
  0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0x20,
  0x20, 0x20, 0x0a, 0x0b, 0x30, 0x55, 0x7a, 0x9f, 0xc4, 0x50, 0x4b, 0x01,
  0x02, 0x2d, 0x03, 0x2d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x21,
  0x00, 0x92, 0xe3, 0x23, 0x58, 0x86, 0x00, 0x00, 0x00, 0x7a, 0xff, 0xf6,
  0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x78, 0x2e, 0x6e, 0x70, 0x79,
  0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
  0x33, 0x00, 0x00, 0x00, 0xbd, 0x00, 0x00, 0x00, 0x00, 0x00
};

static uint64_t file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* A config for a data set under dir; extra: more YAML lines of dataset. */
static int make_config(ct_dlio_config *c, const char *dir, const char *fmt, int nfiles, int spf,
                       int record, int batch)
{
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "framework: %s\nworkflow:\n  generate_data: True\n  train: True\n"
             "dataset:\n  data_folder: %s\n  format: %s\n  num_files_train: %d\n"
             "  num_samples_per_file: %d\n  record_length_bytes: %d\n"
             "reader:\n  batch_size: %d\n  file_shuffle: seed\n  sample_shuffle: seed\n"
             "  shuffle_size: 0\ntrain:\n  seed: 7\n",
             strcmp(fmt, "tfrecord") ? "pytorch" : "tensorflow", dir, fmt, nfiles, spf, record,
             batch);
    if (ct_dlio_config_init(c) != CT_OK)
        return 1;
    return ct_dlio_config_load(c, NULL, yaml, NULL, 0, NULL, NULL) != CT_OK;
}

/* One epoch through the loader: order = sampler's, bytes = fresh reader's.
 * Returns the bytes the loader read. */
static uint64_t run_epochs(ct_dlio_config *c, int threads, int epochs, const char *what)
{
    c->read_threads = threads;
    c->prefetch_size = 2;
    ct_loader *l;
    ct_status st = ct_loader_create(&l, c, 0, 0, 1);
    CHECK(st == CT_OK, "%s: loader: %s", what, ct_errmsg());
    if (st != CT_OK)
        return 0;
    ct_sampler_opts so = {c->num_files_train, c->num_samples_per_file, c->file_shuffle,
                          c->sample_shuffle, c->shuffle_size, c->seed, c->seed_change_epoch,
                          0, 1, c->batch_size, c->drop_last};
    int64_t cap = c->num_files_train * c->num_samples_per_file, n;
    int64_t *ids = malloc((size_t)cap * sizeof *ids);
    ct_data_file *fresh = NULL;
    int order_ok = 1, bytes_ok = 1;
    for (int e = 0; e < epochs; e++) {
        CHECK(ct_sampler_epoch(&so, e, ids, cap, &n) == CT_OK, "sampler");
        CHECK(ct_loader_start_epoch(l, e) == CT_OK, "%s: start: %s", what, ct_loader_errmsg(l));
        int64_t k = 0;
        for (;;) {
            ct_batch b;
            int done;
            if (ct_loader_next(l, &b, &done) != CT_OK) {
                CHECK(0, "%s: next: %s", what, ct_loader_errmsg(l));
                break;
            }
            if (done)
                break;
            for (int64_t j = 0; j < b.count; j++, k++) {
                if (k >= n || b.ids[j] != ids[k]) {
                    order_ok = 0;
                    continue;
                }
                int64_t fi = ids[k] / c->num_samples_per_file, si = ids[k] % c->num_samples_per_file;
                char p[4096];
                ct_dlio_file_path(c, 0, fi, p, sizeof p);
                const uint8_t *d;
                size_t len;
                if (ct_data_file_open(&fresh, c->format, p, 0) != CT_OK ||
                    ct_data_file_sample(fresh, si, &d, &len) != CT_OK || len != b.lengths[j] ||
                    memcmp(d, b.data + b.offsets[j], len))
                    bytes_ok = 0;
                ct_data_file_close(fresh);
                fresh = NULL;
            }
        }
        CHECK(k == n, "%s: epoch %d delivered %lld of %lld samples", what, e, (long long)k,
              (long long)n);
    }
    CHECK(order_ok, "%s: the loader's order differs from ct_sampler_epoch's", what);
    CHECK(bytes_ok, "%s: a sample differs from a fresh reader's", what);
    uint64_t bytes = ct_loader_bytes_read(l);
    ct_loader_destroy(l);
    free(ids);
    return bytes;
}

static uint64_t data_set_bytes(const ct_dlio_config *c, int with_index)
{
    uint64_t total = 0;
    for (int64_t i = 0; i < c->num_files_train; i++) {
        char p[4096], q[4200];
        ct_dlio_file_path(c, 0, i, p, sizeof p);
        total += file_size(p);
        if (with_index) {
            const char *name = strrchr(p, '/');
            snprintf(q, sizeof q, "%s/index/train%s.idx", c->data_folder, name);
            uint64_t s = file_size(q);
            CHECK(s > 0, "no index file %s", q);
            total += s;
        }
    }
    return total;
}

int main(int argc, char **argv)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/data/readers", argc > 1 ? argv[1] : "/tmp");
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0, "cannot prepare %s", dir);
    ct_dlio_gen_opts go = {2, 0, 1, 0};

    /* npz: 6 files x 24 samples of 1 KiB, full shuffle: before, ~every
     * sample re-read its whole file */
    ct_dlio_config c;
    char d1[1100];
    snprintf(d1, sizeof d1, "%s/npz", dir);
    CHECK(make_config(&c, d1, "npz", 6, 24, 1024, 4) == 0, "npz config: %s", ct_errmsg());
    CHECK(ct_dlio_generate(&c, &go) == CT_OK, "generate: %s", ct_errmsg());
    uint64_t size = data_set_bytes(&c, 0);
    for (int t = 1; t <= 3; t++) {
        char what[64];
        snprintf(what, sizeof what, "npz, %d thread(s)", t);
        uint64_t b = run_epochs(&c, t, 2, what);
        CHECK(b == 2 * size, "%s: read %llu bytes in 2 epochs, the files have %llu", what,
              (unsigned long long)b, (unsigned long long)size);
    }
    ct_dlio_config_free(&c);

    /* tfrecord: 4 files x 40 records of ~3 KB */
    char d2[1100];
    snprintf(d2, sizeof d2, "%s/tfr", dir);
    CHECK(make_config(&c, d2, "tfrecord", 4, 40, 3000, 8) == 0, "tfrecord config: %s", ct_errmsg());
    CHECK(ct_dlio_generate(&c, &go) == CT_OK, "generate: %s", ct_errmsg());
    /* through the loader: files its cache holds are read whole, once */
    size = data_set_bytes(&c, 0);
    for (int t = 1; t <= 3; t += 2)
        for (int od = 0; od < 2; od++) {
            char what[64];
            snprintf(what, sizeof what, "tfrecord, %d thread(s)%s", t, od ? ", O_DIRECT" : "");
            c.odirect = od;
            uint64_t b = run_epochs(&c, t, 1, what);
            CHECK(b == size, "%s: read %llu bytes, the files have %llu", what, (unsigned long long)b,
                  (unsigned long long)size);
        }
    c.odirect = 0;
    /* record by record through the index (a reader without a whole-file
     * limit, as for files larger than the loader's cache): every record
     * equal to the whole-file reader's; in order exactly file + index
     * bytes, in a scattered order at most 25% more */
    for (int od = 0; od < 2; od++)
        for (int64_t i = 0; i < c.num_files_train; i++) {
            char p[4096], q[4200];
            ct_dlio_file_path(&c, 0, i, p, sizeof p);
            snprintf(q, sizeof q, "%s/index/train%s.idx", c.data_folder, strrchr(p, '/'));
            uint64_t exact = file_size(p) + file_size(q);
            /* O_DIRECT reads whole 4 KiB blocks: at most each record's
             * aligned span (from the index) plus the index */
            uint64_t spans = file_size(q);
            FILE *ix = fopen(q, "r");
            unsigned long long ro, rl;
            while (ix && fscanf(ix, "%llu %llu", &ro, &rl) == 2)
                spans += (ro + rl + 4095) / 4096 * 4096 - ro / 4096 * 4096;
            if (ix)
                fclose(ix);
            for (int scattered = 0; scattered < 2; scattered++) {
                ct_data_file *rec = NULL, *all = NULL;
                CHECK(ct_data_file_open(&rec, CT_FMT_TFRECORD, p, od) == CT_OK, "open %s: %s", p, ct_errmsg());
                CHECK(ct_data_file_new(&all, CT_FMT_TFRECORD, 0) == CT_OK, "new");
                if (!rec || !all) {
                    ct_data_file_close(rec);
                    ct_data_file_close(all);
                    continue;
                }
                ct_data_file_set_whole_limit(all, 1u << 30);
                CHECK(ct_data_file_reopen(all, p) == CT_OK, "whole %s: %s", p, ct_errmsg());
                int64_t n = ct_data_file_samples(rec);
                CHECK(n == c.num_samples_per_file && ct_data_file_samples(all) == n, "%s: %lld records",
                      p, (long long)n);
                int same = 1;
                for (int64_t k = 0; k < n; k++) {
                    int64_t r = scattered ? (k * 17 + 5) % n : k; /* 17 and 40 coprime */
                    const uint8_t *a, *b;
                    size_t la, lb;
                    if (ct_data_file_sample(rec, r, &a, &la) != CT_OK) {
                        same = 0;
                        break;
                    }
                    uint8_t tmp[8192];
                    if (la > sizeof tmp) {
                        same = 0;
                        break;
                    }
                    memcpy(tmp, a, la);
                    if (ct_data_file_sample(all, r, &b, &lb) != CT_OK || la != lb || memcmp(tmp, b, la))
                        same = 0;
                }
                CHECK(same, "%s: per-record and whole-file records differ", p);
                uint64_t got = ct_data_file_bytes_read(rec);
                if (od)
                    CHECK(got >= exact && got <= spans, "%s%s O_DIRECT: read %llu bytes, file + index "
                          "%llu, aligned spans %llu", p, scattered ? " scattered" : "",
                          (unsigned long long)got, (unsigned long long)exact, (unsigned long long)spans);
                else if (scattered)
                    CHECK(got >= exact && got <= exact + exact / 4,
                          "%s scattered: read %llu bytes, file + index %llu", p, (unsigned long long)got,
                          (unsigned long long)exact);
                else
                    CHECK(got == exact, "%s in order: read %llu bytes, file + index %llu", p,
                          (unsigned long long)got, (unsigned long long)exact);
                ct_data_file_close(rec);
                ct_data_file_close(all);
            }
        }
    /* a stale index (one record's length off by one) is an error naming
     * the file and offset, not a crash */
    char p[4096], q[4200];
    ct_dlio_file_path(&c, 0, 1, p, sizeof p);
    snprintf(q, sizeof q, "%s/index/train%s.idx", c.data_folder, strrchr(p, '/'));
    FILE *fi = fopen(q, "r+");
    char line[64];
    CHECK(fi && fgets(line, sizeof line, fi), "read %s", q);
    if (fi) {
        unsigned long long off, len;
        sscanf(line, "%llu %llu", &off, &len);
        rewind(fi);
        fprintf(fi, "%llu %llu", off, len - 1); /* same width: "...9" or shorter + space */
        fclose(fi);
        ct_data_file *f;
        const uint8_t *d;
        size_t l;
        ct_status st = ct_data_file_open(&f, CT_FMT_TFRECORD, p, 0);
        if (st == CT_OK) {
            st = ct_data_file_sample(f, 0, &d, &l);
            ct_data_file_close(f);
        }
        CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), p) && strstr(ct_errmsg(), "offset"),
              "stale index: status %d, '%s'", st, ct_errmsg());
    }
    ct_dlio_config_free(&c);

    /* the npz bomb */
    char bp[1200];
    snprintf(bp, sizeof bp, "%s/bomb.npz", dir);
    FILE *f = fopen(bp, "wb");
    CHECK(f && fwrite(bomb, 1, sizeof bomb, f) == sizeof bomb, "write %s", bp);
    if (f)
        fclose(f);
    ct_data_file *h = NULL;
    ct_status st = ct_data_file_open(&h, CT_FMT_NPZ, bp, 0);
    CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), bp) && strstr(ct_errmsg(), "claims") &&
              strstr(ct_errmsg(), "offset"),
          "npz bomb: status %d, '%s'", st, ct_errmsg());
    ct_data_file_close(h);
    h = NULL;
    f = fopen(bp, "wb");
    CHECK(f && fwrite(stored_lie, 1, sizeof stored_lie, f) == sizeof stored_lie, "write %s", bp);
    if (f)
        fclose(f);
    st = ct_data_file_open(&h, CT_FMT_NPZ, bp, 0);
    CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), bp) && strstr(ct_errmsg(), "stored member") &&
              strstr(ct_errmsg(), "offset"),
          "stored member with a false size: status %d, '%s'", st, ct_errmsg());
    ct_data_file_close(h);

    /* png and compressed csv (src/data/png.c, csvz.c) through the loader:
     * the sampler's order, every sample equal to a fresh reader's, each
     * file read once per epoch; one csv handle reopened across plain,
     * gzip, zip, bz2 and xz files of the same draws gives the same rows */
    {
        enum { NC = 5 };
        static const int comps[NC] = {CT_COMP_NONE, CT_COMP_GZIP, CT_COMP_ZIP, CT_COMP_BZIP2, CT_COMP_XZ};
        static const char *const cname[NC] = {"plain", "gzip", "zip", "bz2", "xz"};
        ct_dlio_config cc[NC];
        for (int k = 0; k < NC; k++) {
            char dk[1100];
            snprintf(dk, sizeof dk, "%s/csv_%s", dir, cname[k]);
            CHECK(make_config(&cc[k], dk, "csv", 3, 5, 700, 4) == 0, "csv config: %s", ct_errmsg());
            cc[k].compression = comps[k];
            CHECK(ct_dlio_generate(&cc[k], &go) == CT_OK, "generate csv %s: %s", cname[k], ct_errmsg());
            for (int t = 1; t <= 3; t += 2) {
                char what[64];
                snprintf(what, sizeof what, "csv %s, %d thread(s)", cname[k], t);
                uint64_t b = run_epochs(&cc[k], t, 2, what);
                uint64_t sz = data_set_bytes(&cc[k], 0);
                CHECK(b == 2 * sz, "%s: read %llu bytes in 2 epochs, the files have %llu", what,
                      (unsigned long long)b, (unsigned long long)sz);
            }
        }
        ct_data_file *ref = NULL, *any = NULL;
        CHECK(ct_data_file_new(&ref, CT_FMT_CSV, 0) == CT_OK && ct_data_file_new(&any, CT_FMT_CSV, 0) == CT_OK,
              "csv handles");
        static const int seq[][2] = {{0, 1}, {1, 1}, {2, 0}, {0, 2}, {3, 0}, {1, 0}, {4, 2},
                                     {2, 2}, {4, 1}, {1, 2}, {3, 1}, {0, 0}};
        int same = ref && any;
        for (size_t s = 0; same && s < sizeof seq / sizeof *seq; s++) {
            char pr[4096], pa[4096];
            ct_dlio_file_path(&cc[0], 0, seq[s][1], pr, sizeof pr);
            ct_dlio_file_path(&cc[seq[s][0]], 0, seq[s][1], pa, sizeof pa);
            if (ct_data_file_reopen(ref, pr) != CT_OK || ct_data_file_reopen(any, pa) != CT_OK ||
                ct_data_file_samples(any) != 5 || ct_data_file_samples(ref) != 5) {
                CHECK(0, "csv reopen %s: %s", pa, ct_errmsg());
                same = 0;
                break;
            }
            for (int64_t r = 0; r < 5; r++) {
                const uint8_t *a, *b;
                size_t la, lb;
                if (ct_data_file_sample(ref, r, &a, &la) != CT_OK ||
                    ct_data_file_sample(any, r, &b, &lb) != CT_OK || la != lb || la < 600 ||
                    memcmp(a, b, la))
                    same = 0;
            }
            CHECK(same, "csv %s row differs from the plain file's", pa);
        }
        ct_data_file_close(ref);
        ct_data_file_close(any);
        for (int k = 0; k < NC; k++)
            ct_dlio_config_free(&cc[k]);
        char dp[1100];
        snprintf(dp, sizeof dp, "%s/png", dir);
        CHECK(make_config(&c, dp, "png", 6, 1, 3000, 2) == 0, "png config: %s", ct_errmsg());
        CHECK(ct_dlio_generate(&c, &go) == CT_OK, "generate png: %s", ct_errmsg());
        for (int t = 1; t <= 3; t += 2) {
            char what[64];
            snprintf(what, sizeof what, "png, %d thread(s)", t);
            uint64_t b = run_epochs(&c, t, 2, what);
            uint64_t sz = data_set_bytes(&c, 0);
            CHECK(b == 2 * sz, "%s: read %llu bytes in 2 epochs, the files have %llu", what,
                  (unsigned long long)b, (unsigned long long)sz);
        }
        ct_dlio_config_free(&c);
    }
    return check_summary();
}
