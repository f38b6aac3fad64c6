/* The sampler against NumPy (REFS/data/sampler.txt, written by
 * tests/ref/gen_data_refs.py with RandomState as docs/data.md specifies),
 * plus its invariants: every sample exactly once per epoch over all ranks
 * (without drop_last), same seed same order, other seed other order; and
 * the loader delivers the sampler's order for any read_threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrain/data.h"

#include "check.h"

static void test_numpy_refs(const char *refs)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/data/sampler.txt", refs);
    FILE *f = fopen(p, "r");
    if (!f) {
        printf("no %s: NumPy comparison skipped\n", p);
        return;
    }
    char line[65536];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        long long v[12];
        int used = 0;
        if (sscanf(line, "%lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld :%n", &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &used) != 12)
            continue;
        ct_sampler_opts o = {v[0], v[1], (int32_t)v[2], (int32_t)v[3], v[4], v[5], (int32_t)v[6],
                             (int32_t)v[11], (int32_t)v[7], v[8], (int32_t)v[9]};
        int64_t expect[4096], got[4096], n = 0, m = 0;
        char *s = line + used, *end;
        while (m < 4096) {
            long long x = strtoll(s, &end, 10);
            if (end == s)
                break;
            expect[m++] = x;
            s = end;
        }
        ct_status st = ct_sampler_epoch(&o, (int32_t)v[10], got, 4096, &n);
        int same = st == CT_OK && n == m && !memcmp(got, expect, (size_t)n * sizeof *got);
        CHECK(same, "sampler differs from NumPy for: %.60s", line);
        CHECK(ct_sampler_count(&o) == m, "count");
        lines++;
    }
    fclose(f);
    printf("%d sampler orders equal NumPy's\n", lines);
}

static void test_invariants(void)
{
    for (int size = 1; size <= 5; size++) {
        for (int drop = 0; drop <= 1; drop++) {
            ct_sampler_opts o = {13, 7, CT_SHUFFLE_SEED, CT_SHUFFLE_SEED, 10, 123, 1, 0, size, 4, drop};
            int seen[91];
            memset(seen, 0, sizeof seen);
            int64_t total = 0;
            for (int r = 0; r < size; r++) {
                o.rank = r;
                int64_t ids[91], n;
                CHECK(ct_sampler_epoch(&o, 2, ids, 91, &n) == CT_OK, "epoch");
                for (int64_t i = 0; i < n; i++)
                    seen[ids[i]]++;
                total += n;
                if (drop)
                    CHECK(n % 4 == 0, "drop_last keeps whole batches");
            }
            int dup = 0, lost = 0;
            for (int i = 0; i < 91; i++) {
                dup += seen[i] > 1;
                lost += seen[i] == 0;
            }
            CHECK(dup == 0, "size %d: %d samples duplicated", size, dup);
            if (!drop)
                CHECK(lost == 0 && total == 91, "size %d: %d samples lost", size, lost);
        }
    }
    ct_sampler_opts a = {20, 5, CT_SHUFFLE_SEED, CT_SHUFFLE_SEED, 0, 123, 1, 0, 1, 1, 0};
    ct_sampler_opts b = a;
    b.seed = 124;
    int64_t x[100], y[100], z[100], n;
    ct_sampler_epoch(&a, 0, x, 100, &n);
    ct_sampler_epoch(&a, 0, y, 100, &n);
    ct_sampler_epoch(&b, 0, z, 100, &n);
    CHECK(!memcmp(x, y, sizeof x), "same seed, same order");
    CHECK(memcmp(x, z, sizeof x) != 0, "other seed, other order");
    ct_sampler_epoch(&a, 1, z, 100, &n);
    CHECK(memcmp(x, z, sizeof x) != 0, "seed_change_epoch changes the order");
    a.seed_change_epoch = 0;
    ct_sampler_epoch(&a, 0, y, 100, &n);
    ct_sampler_epoch(&a, 1, z, 100, &n);
    CHECK(!memcmp(y, z, sizeof y), "without seed_change_epoch every epoch is the same");
}

/* The loader hands out the sampler's order, in batches, for any number of
 * reader threads and prefetch depth. */
static void test_loader(const char *refs)
{
    char yaml[4200];
    snprintf(yaml, sizeof yaml, "%s/data/npz_stdev.yaml", refs);
    ct_dlio_config c;
    ct_dlio_config_init(&c);
    if (ct_dlio_config_load(&c, yaml, NULL, NULL, 0, NULL, NULL) != CT_OK) {
        printf("no %s: loader test skipped\n", yaml);
        ct_dlio_config_free(&c);
        return;
    }
    ct_dlio_gen_opts go = {2, 0, 1, 0};
    CHECK(ct_dlio_generate(&c, &go) == CT_OK, "generate: %s", ct_errmsg());
    c.file_shuffle = CT_SHUFFLE_SEED;
    c.sample_shuffle = CT_SHUFFLE_SEED;
    c.batch_size = 2;
    c.drop_last = 0;
    ct_sampler_opts so = {c.num_files_train, c.num_samples_per_file, c.file_shuffle, c.sample_shuffle,
                          c.shuffle_size, c.seed, c.seed_change_epoch, 0, 1, c.batch_size, c.drop_last};
    for (int epoch = 0; epoch < 2; epoch++) {
        int64_t expect[64], n;
        ct_sampler_epoch(&so, epoch, expect, 64, &n);
        for (int threads = 1; threads <= 4; threads++) {
            c.read_threads = threads;
            c.prefetch_size = threads == 3 ? 1 : 3;
            ct_loader *l;
            ct_status st = ct_loader_create(&l, &c, 0, 0, 1);
            CHECK(st == CT_OK, "loader: %s", ct_errmsg());
            if (st != CT_OK)
                continue;
            CHECK(ct_loader_start_epoch(l, epoch) == CT_OK, "start: %s", ct_loader_errmsg(l));
            int64_t got[64], m = 0, batches = 0;
            for (;;) {
                ct_batch b;
                int done = 0;
                st = ct_loader_next(l, &b, &done);
                if (st != CT_OK || done)
                    break;
                for (int64_t k = 0; k < b.count && m < 64; k++) {
                    got[m++] = b.ids[k];
                    CHECK(b.lengths[k] > 0, "sample length");
                }
                batches++;
            }
            CHECK(st == CT_OK, "next: %s", ct_loader_errmsg(l));
            CHECK(m == n && !memcmp(got, expect, (size_t)n * sizeof *got),
                  "loader order with %d threads, epoch %d", threads, epoch);
            CHECK(batches == ct_loader_batches(l), "batch count");
            CHECK(ct_loader_bytes_read(l) > 0, "bytes read");
            ct_loader_destroy(l);
        }
    }
    ct_dlio_config_free(&c);
}

int main(int argc, char **argv)
{
    const char *refs = argc > 1 ? argv[1] : ".";
    test_numpy_refs(refs);
    test_invariants();
    test_loader(refs);
    return check_summary();
}
