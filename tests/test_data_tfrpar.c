/* A whole TFRecord file framed by the threads of a pool (readers.c,
 * tfr_frame_parallel; the loader gives its one reader thread such a pool):
 *  - for 2..7 threads the records, and every sample's bytes, are the ones
 *    written (each an Example whose "image" the test knows), the same as
 *    the one-thread pass's;
 *  - files the split cannot frame fall back to the one-thread pass and
 *    give its result: a record inside another's payload that frames on
 *    its own, found where a part begins (the parts then do not chain);
 *    records longer than the scan for a part's first record; parts in
 *    which no record starts (7 threads, 1 MiB records);
 *  - a bad file gives the one-thread pass's error, word for word: a data
 *    CRC in the second half, a length CRC in the first, a truncated last
 *    record.
 * argv[1]: a scratch directory (the refs directory). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "data/formats.h"

#include "check.h"

typedef struct rec {
    size_t img_len;
    uint8_t seed;
} rec;

/* The image bytes of record k: a pattern of its seed. */
static void image_of(const rec *r, uint8_t *img)
{
    for (size_t j = 0; j < r->img_len; j++)
        img[j] = (uint8_t)(r->seed * 31u + j * 7u + (j >> 8));
}

/* Appends the framing of payload[0..n) (TFRecord: length, its masked
 * CRC-32C, the payload, its masked CRC-32C) at out; returns its size. */
static size_t frame(uint8_t *out, const uint8_t *payload, size_t n)
{
    ct_le64(out, n);
    ct_le32(out + 8, ct_tfrecord_mask(ct_crc32c(0, out, 8)));
    memcpy(out + 12, payload, n);
    ct_le32(out + 12 + n, ct_tfrecord_mask(ct_crc32c(0, payload, n)));
    return 16 + n;
}

/* Sets the 4 bytes at m + at so that ct_crc32c(0, m, n) == want: CRC-32C
 * is affine in the message bits (flipping one bit changes the CRC by a
 * vector that depends on the bit only), so the 32 bits' vectors are
 * solved for by elimination over GF(2). 0 if they do not span. */
static int forge(uint8_t *m, size_t n, size_t at, uint32_t want)
{
    uint32_t base = ct_crc32c(0, m, n), basis[32] = {0}, comb[32] = {0};
    for (int i = 0; i < 32; i++) {
        m[at + i / 8] ^= (uint8_t)(1u << (i % 8));
        uint32_t v = ct_crc32c(0, m, n) ^ base, c = 1u << i;
        m[at + i / 8] ^= (uint8_t)(1u << (i % 8));
        for (int bit = 31; bit >= 0 && v; bit--)
            if ((v >> bit & 1) && basis[bit]) {
                v ^= basis[bit];
                c ^= comb[bit];
            }
        for (int bit = 31; bit >= 0 && v; bit--)
            if (v >> bit & 1) {
                basis[bit] = v;
                comb[bit] = c;
                break;
            }
    }
    uint32_t d = base ^ want, flips = 0;
    for (int bit = 31; bit >= 0; bit--)
        if (d >> bit & 1) {
            if (!basis[bit])
                return 0;
            d ^= basis[bit];
            flips ^= comb[bit];
        }
    for (int i = 0; i < 32; i++)
        if (flips >> i & 1)
            m[at + i / 8] ^= (uint8_t)(1u << (i % 8));
    return ct_crc32c(0, m, n) == want;
}

/* 1 if a whole record frames at p (avail bytes), its length in *len. */
static int tfr_check_bytes(const uint8_t *p, size_t avail, uint64_t *len)
{
    if (avail < 16)
        return 0;
    uint64_t l = 0;
    for (int i = 7; i >= 0; i--)
        l = l << 8 | p[i];
    *len = l;
    uint32_t c1 = (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
    if (ct_tfrecord_mask(ct_crc32c(0, p, 8)) != c1 || l > avail - 16)
        return 0;
    const uint8_t *q = p + 12 + l;
    uint32_t c2 = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
    return ct_tfrecord_mask(ct_crc32c(0, p + 12, (size_t)l)) == c2;
}

/* The largest image of records r[0..n). */
static size_t max_image(const rec *r, size_t n)
{
    size_t cap = 0;
    for (size_t k = 0; k < n; k++)
        cap = r[k].img_len > cap ? r[k].img_len : cap;
    return cap;
}

/* Writes records r[0..n) as Examples to path; returns the file size. */
static size_t write_records(const char *path, const rec *r, size_t n)
{
    FILE *f = fopen(path, "wb");
    size_t total = 0, cap = max_image(r, n);
    uint8_t *img = malloc(cap + 1), *ex = malloc(cap + 64), *out = malloc(cap + 96);
    for (size_t k = 0; f && img && ex && out && k < n; k++) {
        image_of(&r[k], img);
        size_t el = ct_example_encode(ex, cap + 64, img, r[k].img_len, (int64_t)r[k].img_len);
        size_t fl = frame(out, ex, el);
        total += fwrite(out, 1, fl, f);
    }
    free(img);
    free(ex);
    free(out);
    if (f)
        fclose(f);
    return total;
}

/* Opens path into *f, framed with pool's threads (NULL: the caller alone). */
static ct_status open_with(ct_data_file **f, const char *path, ct_pool *pool)
{
    ct_status st = ct_data_file_new(f, CT_FMT_TFRECORD, 0);
    if (st != CT_OK)
        return st;
    ct_data_file_set_pool(*f, pool);
    return ct_data_file_reopen(*f, path);
}

/* Every sample of path read with pool equals the records written. */
static void check_file(const char *path, const rec *r, size_t n, ct_pool *pool, const char *what)
{
    ct_data_file *f = NULL;
    ct_status st = open_with(&f, path, pool);
    CHECK(st == CT_OK, "%s: open: %s", what, ct_errmsg());
    if (st != CT_OK) {
        ct_data_file_close(f);
        return;
    }
    CHECK(ct_data_file_samples(f) == (int64_t)n, "%s: %lld records, %zu written", what,
          (long long)ct_data_file_samples(f), n);
    size_t bad = 0;
    uint8_t *img = malloc(max_image(r, n) + 1);
    for (size_t k = 0; img && k < n && (int64_t)k < ct_data_file_samples(f); k++) {
        const uint8_t *d = NULL;
        size_t len = 0;
        image_of(&r[k], img);
        if (ct_data_file_sample(f, (int64_t)k, &d, &len) != CT_OK || len != r[k].img_len ||
            memcmp(d, img, len) != 0)
            bad++;
    }
    CHECK(bad == 0, "%s: %zu of %zu samples differ from the records written", what, bad, n);
    free(img);
    ct_data_file_close(f);
}

/* Opening path fails with the same message with pool as without. */
static void check_error(const char *path, ct_pool *pool, const char *what)
{
    char want[CT_ERRMSG_CAP];
    ct_data_file *f = NULL;
    ct_status s1 = open_with(&f, path, NULL);
    snprintf(want, sizeof want, "%s", ct_errmsg());
    ct_data_file_close(f);
    f = NULL;
    ct_status s2 = open_with(&f, path, pool);
    CHECK(s1 == CT_EFORMAT && s2 == s1, "%s: status %d one thread, %d pooled", what, s1, s2);
    CHECK(!strcmp(ct_errmsg(), want), "%s: '%s' pooled, '%s' one thread", what, ct_errmsg(), want);
    ct_data_file_close(f);
}

static void flip(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    if (!f)
        return;
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);
}

int main(int argc, char **argv)
{
    char dir[1024], path[1200], cmd[2600];
    snprintf(dir, sizeof dir, "%s/data/tfrpar", argc > 1 ? argv[1] : "/tmp");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0, "cannot prepare %s", dir);
    ct_pool *pools[8] = {NULL};
    for (int t = 2; t <= 7; t++)
        CHECK(ct_pool_create(&pools[t], t, NULL) == CT_OK, "pool of %d: %s", t, ct_errmsg());

    /* 2,400 records of 1.5-3.5 KB (~6 MB) */
    size_t n = 2400;
    rec *r = malloc(n * sizeof *r);
    for (size_t k = 0; k < n; k++)
        r[k] = (rec){1500 + (k * 7919) % 2000, (uint8_t)k};
    snprintf(path, sizeof path, "%s/small.tfrecord", dir);
    size_t size = write_records(path, r, n);
    CHECK(size > ((size_t)4 << 20), "%zu bytes: below the parallel threshold", size);
    char what[128];
    check_file(path, r, n, NULL, "small records, one thread");
    for (int t = 2; t <= 7; t++) {
        snprintf(what, sizeof what, "small records, %d threads", t);
        check_file(path, r, n, pools[t], what);
    }

    /* bad files: each the one-thread pass's error */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/bad.tfrecord'", path, dir);
    snprintf(path, sizeof path, "%s/bad.tfrecord", dir);
    CHECK(system(cmd) == 0, "copy");
    flip(path, (long)(size * 3 / 4)); /* a payload byte in the last quarter */
    check_error(path, pools[2], "data CRC in the second half");
    check_error(path, pools[5], "data CRC, 5 threads");
    CHECK(system(cmd) == 0, "copy");
    flip(path, 3); /* the first record's length */
    check_error(path, pools[2], "length CRC of the first record");
    CHECK(system(cmd) == 0, "copy");
    snprintf(cmd, sizeof cmd, "truncate -s %zu '%s'", size - 9, path);
    CHECK(system(cmd) == 0, "truncate");
    check_error(path, pools[2], "truncated last record");
    check_error(path, pools[7], "truncated last record, 7 threads");

    /* a record inside another's payload that frames on its own (both CRCs
     * right) and ends where the next real record starts, found where the
     * second half begins: A (small records) + B (one record of zeros whose
     * payload ends with the inner record; 4 bytes of B's zeros are set so
     * that B's own CRC is the inner record's) + A again. The halves frame
     * without error but do not chain. */
    size_t na = 900;
    snprintf(path, sizeof path, "%s/a.tfrecord", dir);
    size_t alen = write_records(path, r, na);
    size_t blen = 256 << 10; /* B's payload */
    uint8_t *b = calloc(1, blen), *bf = malloc(blen + 16);
    size_t total = 2 * alen + 16 + blen, mid = total / 2;
    size_t f0 = mid + 64 - (alen + 12); /* the inner record in B's payload */
    size_t inner_len = blen - f0 - 12;  /* to the end of B's payload */
    for (size_t j = f0 + 12; j < blen; j++)
        b[j] = (uint8_t)(j * 13 + 1);
    ct_le64(b + f0, inner_len);
    ct_le32(b + f0 + 8, ct_tfrecord_mask(ct_crc32c(0, b + f0, 8)));
    CHECK(forge(b, blen, 16, ct_crc32c(0, b + f0 + 12, inner_len)),
          "no 4 bytes give B the inner record's CRC");
    size_t bl = frame(bf, b, blen);
    char fake[1200];
    snprintf(fake, sizeof fake, "%s/fake.tfrecord", dir);
    FILE *ff = fopen(fake, "wb"), *fa = fopen(path, "rb");
    uint8_t *abuf = malloc(alen);
    size_t got = fa ? fread(abuf, 1, alen, fa) : 0;
    if (ff && got == alen) {
        fwrite(abuf, 1, alen, ff);
        fwrite(bf, 1, bl, ff);
        fwrite(abuf, 1, alen, ff);
    }
    if (fa)
        fclose(fa);
    if (ff)
        fclose(ff);
    {
        /* the inner record frames, and its end is the next record's start */
        uint64_t l = 0;
        CHECK(tfr_check_bytes(bf + 12 + f0, bl - 12 - f0, &l) && 12 + f0 + 16 + l == bl,
              "the inner record does not frame to B's end");
    }
    {
        ct_data_file *f1 = NULL, *f2 = NULL;
        CHECK(open_with(&f1, fake, NULL) == CT_OK, "fake: one thread: %s", ct_errmsg());
        CHECK(open_with(&f2, fake, pools[2]) == CT_OK, "fake: 2 threads: %s", ct_errmsg());
        CHECK(ct_data_file_samples(f1) == (int64_t)(2 * na + 1) &&
                  ct_data_file_samples(f2) == ct_data_file_samples(f1),
              "fake: %lld records one thread, %lld with 2, %zu written",
              (long long)ct_data_file_samples(f1), (long long)ct_data_file_samples(f2), 2 * na + 1);
        size_t differ = 0;
        for (int64_t k = 0; k < ct_data_file_samples(f1) && k < ct_data_file_samples(f2); k++) {
            const uint8_t *d1 = NULL, *d2 = NULL;
            size_t l1 = 0, l2 = 0;
            ct_status s1 = ct_data_file_sample(f1, k, &d1, &l1);
            ct_status s2 = ct_data_file_sample(f2, k, &d2, &l2);
            if (s1 != s2 || l1 != l2 || (s1 == CT_OK && memcmp(d1, d2, l1)))
                differ++;
        }
        CHECK(differ == 0, "fake: %zu records differ between one and 2 threads", differ);
        ct_data_file_close(f1);
        ct_data_file_close(f2);
    }

    /* 5 records of 1.2 MiB: longer than the scan (2 threads), and parts
     * without a record start (7 threads) */
    rec big[5];
    for (int k = 0; k < 5; k++)
        big[k] = (rec){(size_t)(1200 << 10) + (size_t)k * 777, (uint8_t)(100 + k)};
    snprintf(path, sizeof path, "%s/big.tfrecord", dir);
    write_records(path, big, 5);
    for (int t = 2; t <= 7; t += 5) {
        snprintf(what, sizeof what, "1.2 MiB records, %d threads", t);
        check_file(path, big, 5, pools[t], what);
    }

    free(abuf);
    free(b);
    free(bf);
    free(r);
    for (int t = 2; t <= 7; t++)
        ct_pool_destroy(pools[t]);
    return check_summary();
}
