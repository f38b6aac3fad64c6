/* Generation and reading against dlio-benchmark: for each case that
 * tests/ref/gen_data_refs.py wrote (REFS/data/manifest.txt), ctrain
 * generates the same workload and every file must equal the reference
 * byte for byte (HDF5: sample for sample); ctrain's readers must read the
 * reference files; corrupt files must fail with the file and offset. */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ctrain/data.h"

#include "check.h"

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* nftw has no context argument: the walk state lives here, per process
 * (this test is single-threaded). */
static const char *walk_ref, *walk_ct;
static int walk_files, walk_hdf5;

static int compare_samples(const char *a, const char *b, int32_t fmt)
{
    ct_data_file *fa, *fb;
    if (ct_data_file_open(&fa, fmt, a, 0) != CT_OK)
        return -1;
    if (ct_data_file_open(&fb, fmt, b, 0) != CT_OK) {
        ct_data_file_close(fa);
        return -1;
    }
    int ok = ct_data_file_samples(fa) == ct_data_file_samples(fb) && ct_data_file_samples(fa) > 0;
    for (int64_t i = 0; ok && i < ct_data_file_samples(fa); i++) {
        const uint8_t *pa, *pb;
        size_t la, lb;
        ok = ct_data_file_sample(fa, i, &pa, &la) == CT_OK;
        uint8_t *copy = ok ? malloc(la) : NULL;
        if (copy)
            memcpy(copy, pa, la);
        ok = ok && copy && ct_data_file_sample(fb, i, &pb, &lb) == CT_OK && la == lb &&
             !memcmp(copy, pb, la);
        free(copy);
    }
    ct_data_file_close(fa);
    ct_data_file_close(fb);
    return ok ? 0 : 1;
}

static int visit(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type != FTW_F)
        return 0;
    char other[4200];
    snprintf(other, sizeof other, "%s%s", walk_ct, path + strlen(walk_ref));
    walk_files++;
    if (walk_hdf5 && strstr(path, ".hdf5")) {
        CHECK(compare_samples(path, other, CT_FMT_HDF5) == 0, "%s: samples differ from %s", other, path);
        return 0;
    }
    size_t na, nb;
    uint8_t *a = slurp(path, &na), *b = slurp(other, &nb);
    CHECK(b != NULL, "%s is missing (reference %s)", other, path);
    if (a && b) {
        size_t k = 0;
        while (k < na && k < nb && a[k] == b[k])
            k++;
        CHECK(na == nb && k == na, "%s differs from %s at byte %zu (sizes %zu, %zu)", other, path, k,
              nb, na);
    }
    free(a);
    free(b);
    return 0;
}

static int visit_read(const char *path, const struct stat *sb, int type, struct FTW *ftw);
static int32_t read_fmt;
static int64_t read_spf;
static const char *read_ref, *read_pix; /* jpeg: PIL's decoded pixels */

static int visit_read(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type != FTW_F || strstr(path, ".idx") || strstr(path, "/index/"))
        return 0;
    ct_data_file *f;
    ct_status st = ct_data_file_open(&f, read_fmt, path, 0);
    CHECK(st == CT_OK, "reading DLIO's %s: %s", path, ct_errmsg());
    if (st != CT_OK)
        return 0;
    CHECK(ct_data_file_samples(f) == read_spf, "%s: %lld samples, expected %lld", path,
          (long long)ct_data_file_samples(f), (long long)read_spf);
    for (int64_t i = 0; i < ct_data_file_samples(f); i++) {
        const uint8_t *p;
        size_t n;
        st = ct_data_file_sample(f, i, &p, &n);
        CHECK(st == CT_OK && n > 0, "%s sample %lld: %s", path, (long long)i, ct_errmsg());
        if (st == CT_OK && read_fmt == CT_FMT_JPEG) {
            char pp[4200];
            snprintf(pp, sizeof pp, "%s%s.raw", read_pix, path + strlen(read_ref));
            size_t np;
            uint8_t *px = slurp(pp, &np);
            CHECK(px && np == n && !memcmp(px, p, n), "%s: pixels differ from PIL's (%s)", path, pp);
            free(px);
        }
    }
    ct_data_file_close(f);
    return 0;
}

static void run_case(const char *top, const char *name, const char *gen)
{
    char yaml[4200], ref[4200], ct[4200];
    snprintf(yaml, sizeof yaml, "%s/%s.yaml", top, name);
    snprintf(ref, sizeof ref, "%s/%s-ref", top, name);
    snprintf(ct, sizeof ct, "%s/%s-ct", top, name);
    ct_dlio_config c;
    ct_dlio_config_init(&c);
    ct_status st = ct_dlio_config_load(&c, yaml, NULL, NULL, 0, NULL, NULL);
    CHECK(st == CT_OK, "%s: %s", yaml, ct_errmsg());
    if (st != CT_OK) {
        ct_dlio_config_free(&c);
        return;
    }
    for (int threads = 1; threads <= 3; threads += 2) {
        char cmd[8500];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", ct);
        if (system(cmd) != 0)
            printf("note: %s failed\n", cmd);
        ct_dlio_gen_opts o = {threads, 0, 1, 0};
        st = ct_dlio_generate(&c, &o);
        CHECK(st == CT_OK, "%s: generate: %s", name, ct_errmsg());
        walk_ref = ref;
        walk_ct = ct;
        walk_files = 0;
        walk_hdf5 = c.format == CT_FMT_HDF5;
        nftw(ref, visit, 16, FTW_PHYS);
        CHECK(walk_files > 0, "%s: no reference files", name);
    }
    read_fmt = c.format;
    read_spf = c.num_samples_per_file;
    char pix[4200];
    snprintf(pix, sizeof pix, "%s/%s-pix", top, name);
    read_ref = ref;
    read_pix = pix;
    nftw(ref, visit_read, 16, FTW_PHYS);
    printf("%-16s %-20s %d files identical to %s\n", name, ct_data_format_name(c.format), walk_files, gen);
    ct_dlio_config_free(&c);
}

/* Corrupt inputs: errors name the file (and offset), never crash. */
static void test_bad_files(const char *top)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/bad.npz", top);
    FILE *f = fopen(p, "wb");
    fputs("PK\x03\x04 not really a zip", f);
    fclose(f);
    ct_data_file *df;
    ct_status st = ct_data_file_open(&df, CT_FMT_NPZ, p, 0);
    CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), "bad.npz"), "bad npz: %s", ct_errmsg());
    st = ct_data_file_open(&df, CT_FMT_NPY, "/nonexistent/x.npy", 0);
    CHECK(st == CT_EIO && strstr(ct_errmsg(), "/nonexistent/x.npy"), "missing file: %s", ct_errmsg());
    snprintf(p, sizeof p, "%s/bad.npy", top);
    f = fopen(p, "wb");
    fwrite("\x93NUMPY\x01\x00\x20\x00{'descr': '|u1', 'shape': (9,9)}   \n", 1, 42, f);
    fclose(f);
    st = ct_data_file_open(&df, CT_FMT_NPY, p, 0);
    CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), "bad.npy") && strstr(ct_errmsg(), "offset"),
          "bad npy header: %s", ct_errmsg());
    /* truncate a real npz / flip a byte of a real tfrecord */
    char src[4200];
    snprintf(src, sizeof src, "%s/npz_small-ct/train/img_0_of_3.npz", top);
    size_t n;
    uint8_t *b = slurp(src, &n);
    if (b) {
        snprintf(p, sizeof p, "%s/trunc.npz", top);
        f = fopen(p, "wb");
        fwrite(b, 1, n / 2, f);
        fclose(f);
        st = ct_data_file_open(&df, CT_FMT_NPZ, p, 0);
        CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), "trunc.npz"), "truncated npz: %s", ct_errmsg());
        b[200] ^= 0x55;
        snprintf(p, sizeof p, "%s/flip.npz", top);
        f = fopen(p, "wb");
        fwrite(b, 1, n, f);
        fclose(f);
        st = ct_data_file_open(&df, CT_FMT_NPZ, p, 0);
        CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), "CRC"), "npz CRC: %s", ct_errmsg());
        free(b);
    }
    snprintf(src, sizeof src, "%s/tfrecord_small-ct/train/img_0_of_2.tfrecord", top);
    b = slurp(src, &n);
    if (b) {
        b[n - 40] ^= 1;
        snprintf(p, sizeof p, "%s/flip.tfrecord", top);
        f = fopen(p, "wb");
        fwrite(b, 1, n, f);
        fclose(f);
        st = ct_data_file_open(&df, CT_FMT_TFRECORD, p, 0);
        CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), "CRC") && strstr(ct_errmsg(), "offset"),
              "tfrecord CRC: %s", ct_errmsg());
        free(b);
    }
    /* jpeg: garbage and a truncated file (PIL: "image file is truncated") */
    snprintf(src, sizeof src, "%s/jpeg_small-ct/train/img_0_of_3.jpeg", top);
    b = slurp(src, &n);
    if (b) {
        snprintf(p, sizeof p, "%s/trunc.jpeg", top);
        f = fopen(p, "wb");
        fwrite(b, 1, n / 2, f);
        fclose(f);
        st = ct_data_file_open(&df, CT_FMT_JPEG, p, 0);
        CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), "trunc.jpeg"), "truncated jpeg: %s", ct_errmsg());
        snprintf(p, sizeof p, "%s/bad.jpeg", top);
        f = fopen(p, "wb");
        fwrite(b + 100, 1, 200, f);
        fclose(f);
        st = ct_data_file_open(&df, CT_FMT_JPEG, p, 0);
        CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), "bad.jpeg"), "bad jpeg: %s", ct_errmsg());
        free(b);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: test_data_gen REFS_DIR\n");
        return 2;
    }
    char top[1024], man[4200];
    snprintf(top, sizeof top, "%s/data", argv[1]);
    snprintf(man, sizeof man, "%s/manifest.txt", top);
    FILE *f = fopen(man, "r");
    if (!f) {
        printf("no %s (run tests/ref/gen_data_refs.py): skipped\n0 passed, 0 failed\n", man);
        return 0;
    }
    char name[256], fmt[64], gen[64];
    while (fscanf(f, "%255s %63s %63s", name, fmt, gen) == 3)
        run_case(top, name, gen);
    fclose(f);
    test_bad_files(top);
    return check_summary();
}
