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
    if (a && b && na > 10 && nb > 10 && a[0] == 0x1f && a[1] == 0x8b && b[0] == 0x1f && b[1] == 0x8b) {
        /* gzip (csv with compression): MTIME is the time of writing in
         * pandas' file and in ctrain's (written later); all else equal */
        uint32_t ta = (uint32_t)a[4] | (uint32_t)a[5] << 8 | (uint32_t)a[6] << 16 | (uint32_t)a[7] << 24;
        uint32_t tb = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
        CHECK(ta > 0 && tb >= ta, "%s: gzip MTIME %u, reference %u", other, tb, ta);
        memcpy(b + 4, a + 4, 4);
    }
    if (a && b && na == nb && na > 60 && strstr(path, ".csv") && !memcmp(a, "PK\3\4", 4) &&
        !memcmp(b, "PK\3\4", 4)) {
        /* zip (csv with compression): the DOS time and date of writing, in
         * the local header (bytes 10-13) and the central directory entry */
        size_t cd = (size_t)a[na - 6] | (size_t)a[na - 5] << 8 | (size_t)a[na - 4] << 16 |
                    (size_t)a[na - 3] << 24;
        CHECK(cd + 46 < na && !memcmp(a + cd, "PK\1\2", 4), "%s: no central directory", path);
        if (cd + 46 < na) {
            memcpy(b + 10, a + 10, 4);
            memcpy(b + cd + 12, a + cd + 12, 4);
        }
    }
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
static const char *read_ref, *read_pix; /* jpeg, png: PIL's decoded pixels */

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
        if (st == CT_OK && (read_fmt == CT_FMT_JPEG || read_fmt == CT_FMT_PNG)) {
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

static void write_bytes(const char *p, const uint8_t *b, size_t n)
{
    FILE *f = fopen(p, "wb");
    if (f) {
        fwrite(b, 1, n, f);
        fclose(f);
    }
}

/* png: truncated, garbage, flipped bytes (chunk CRCs), a CRC-consistent
 * corrupt zlib stream: errors naming the file, never a crash. */
static void test_bad_png(const char *top)
{
    char src[4200], p[4200];
    snprintf(src, sizeof src, "%s/png_small-ct/train/img_0_of_3.png", top);
    size_t n;
    uint8_t *b = slurp(src, &n);
    CHECK(b && n > 100, "%s missing", src);
    if (!b)
        return;
    ct_data_file *df;
    ct_status st;
    size_t cuts[] = {n / 2, n - 12, n - 1, 40, 8, 3};
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        snprintf(p, sizeof p, "%s/trunc%zu.png", top, k);
        write_bytes(p, b, cuts[k]);
        st = ct_data_file_open(&df, CT_FMT_PNG, p, 0);
        CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), p), "png truncated to %zu bytes: %s", cuts[k],
              ct_errmsg());
    }
    /* a flipped byte in IHDR, in IDAT, in IEND's CRC */
    size_t flips[] = {20, 60, n / 2, n - 2};
    for (size_t k = 0; k < sizeof flips / sizeof *flips; k++) {
        b[flips[k]] ^= 0x10;
        snprintf(p, sizeof p, "%s/flip%zu.png", top, k);
        write_bytes(p, b, n);
        b[flips[k]] ^= 0x10;
        st = ct_data_file_open(&df, CT_FMT_PNG, p, 0);
        CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), p) && strstr(ct_errmsg(), "CRC") &&
              strstr(ct_errmsg(), "offset"), "png byte %zu flipped: %s", flips[k], ct_errmsg());
    }
    /* corrupt deflate data with a recomputed chunk CRC: zlib's error */
    {
        uint32_t len = (uint32_t)b[33] << 24 | (uint32_t)b[34] << 16 | (uint32_t)b[35] << 8 | b[36];
        CHECK(!memcmp(b + 37, "IDAT", 4) && len > 20, "%s: no IDAT after IHDR", src);
        uint8_t *c = malloc(n);
        memcpy(c, b, n);
        memset(c + 41, 0xff, 8); /* the zlib header and the first block */
        uint32_t crc = 0xffffffffu;
        for (uint32_t i = 0; i < len + 4; i++) {
            crc ^= c[37 + i];
            for (int j = 0; j < 8; j++)
                crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
        }
        crc ^= 0xffffffffu;
        for (int i = 0; i < 4; i++)
            c[41 + len + i] = (uint8_t)(crc >> (24 - 8 * i));
        snprintf(p, sizeof p, "%s/zlib.png", top);
        write_bytes(p, c, n);
        free(c);
        st = ct_data_file_open(&df, CT_FMT_PNG, p, 0);
        CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), p) && strstr(ct_errmsg(), "corrupt"),
              "png corrupt deflate: %s", ct_errmsg());
    }
    snprintf(p, sizeof p, "%s/bad.png", top);
    write_bytes(p, b + 8, n - 8);
    st = ct_data_file_open(&df, CT_FMT_PNG, p, 0);
    CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), p) && strstr(ct_errmsg(), "signature"),
          "png without signature: %s", ct_errmsg());
    free(b);
}

/* csv with compression: DLIO's (pandas') files decompressed by the
 * system's tools (gzip, unzip, bzip2, xz) and read as plain csv give the
 * samples ctrain's reader gives for the compressed files; truncated files
 * and a flipped byte (CRC or stream error) are errors naming the file. */
static void test_csv_compressed(const char *top)
{
    static const char *const cases[4][2] = {{"csv_gzip", "gzip -dc <"}, {"csv_zip", "unzip -p"},
                                            {"csv_bz2", "bzip2 -dc <"}, {"csv_xz", "xz -dc <"}};
    for (int c = 0; c < 4; c++) {
        char src[4200], p[4200], cmd[9000];
        for (int i = 0; i < 2; i++) {
            snprintf(src, sizeof src, "%s/%s-ref/train/img_%d_of_2.csv", top, cases[c][0], i);
            snprintf(p, sizeof p, "%s/%s_plain_%d.csv", top, cases[c][0], i);
            snprintf(cmd, sizeof cmd, "%s '%s' > '%s'", cases[c][1], src, p);
            CHECK(system(cmd) == 0, "%s failed", cmd);
            CHECK(compare_samples(src, p, CT_FMT_CSV) == 0, "%s: samples differ from %s", src, cmd);
        }
        size_t n;
        uint8_t *b = slurp(src, &n);
        CHECK(b && n > 60, "%s missing", src);
        if (!b)
            continue;
        ct_data_file *df;
        size_t cuts[] = {n - 9, n / 2, 12};
        for (int k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "%s/%s_trunc%d.csv", top, cases[c][0], k);
            write_bytes(p, b, cuts[k]);
            ct_status st = ct_data_file_open(&df, CT_FMT_CSV, p, 0);
            CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), p), "%s truncated to %zu bytes: %s",
                  cases[c][0], cuts[k], ct_errmsg());
        }
        size_t at[] = {n / 2, n - 6};
        for (int k = 0; k < 2; k++) {
            b[at[k]] ^= 1;
            snprintf(p, sizeof p, "%s/%s_flip%d.csv", top, cases[c][0], k);
            write_bytes(p, b, n);
            b[at[k]] ^= 1;
            ct_status st = ct_data_file_open(&df, CT_FMT_CSV, p, 0);
            CHECK(st == CT_EFORMAT && strstr(ct_errmsg(), p), "%s byte %zu flipped: %s", cases[c][0],
                  at[k], ct_errmsg());
        }
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
    char name[256], fmt[64], gen[64], manifest_text[8192] = "";
    while (fscanf(f, "%255s %63s %63s", name, fmt, gen) == 3) {
        run_case(top, name, gen);
        size_t ml = strlen(manifest_text);
        snprintf(manifest_text + ml, sizeof manifest_text - ml, "%s %s\n", name, gen);
    }
    fclose(f);
    test_bad_files(top);
    /* png and csv+gzip references come from dlio-benchmark only (the
     * NumPy fallback writes npz/npy/indexed_binary) */
    if (strstr(manifest_text, "dlio-benchmark")) {
        CHECK(strstr(manifest_text, "png_small ") && strstr(manifest_text, "png_large ") &&
              strstr(manifest_text, "csv_gzip ") && strstr(manifest_text, "csv_zip ") &&
              strstr(manifest_text, "csv_bz2 ") && strstr(manifest_text, "csv_xz "),
              "manifest lacks png_small/png_large/csv_gzip/csv_zip/csv_bz2/csv_xz");
        test_bad_png(top);
        test_csv_compressed(top);
    }
    return check_summary();
}
