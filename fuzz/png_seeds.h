/* Seeds of fuzz_png, written by fuzz_make_seeds into ROOT/png: a selector
 * byte (1 png, 0 csv) + the file.
 *   png  what ct_png_write writes (DLIO's grayscale, 1x1 .. 23x17) and
 *        hand-assembled images of colour types 0, 2, 3, 4, 6 (8-bit; 0 and
 *        3 also 1/2/4-bit) with every filter type 0..4 (so the unfilter paths for 1..4 bytes per pixel
 *        are reachable without fixing CRCs by chance)
 *   csv  a small csv, plain and as ct_csv_out writes it with gzip, zip,
 *        bz2 and xz (the zip member named "x.csv", as fuzz_png's file) */
#ifndef CT_FUZZ_PNG_SEEDS_H
#define CT_FUZZ_PNG_SEEDS_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#include "../src/data/csvz.h"
#include "../src/data/formats.h"

/* Prepends sel to the file at path and writes it as ROOT/png/NAME. */
static int ps_copy(const char *dir, const char *name, int sel, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 1;
    static uint8_t buf[1 << 16];
    buf[0] = (uint8_t)sel;
    size_t n = fread(buf + 1, 1, sizeof buf - 1, f);
    fclose(f);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *o = fopen(p, "wb");
    if (!o)
        return 1;
    int bad = fwrite(buf, 1, n + 1, o) != n + 1;
    return (fclose(o) != 0) | bad;
}

static void ps_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static size_t ps_chunk(uint8_t *o, const char *type, const uint8_t *d, size_t n)
{
    ps_be32(o, (uint32_t)n);
    memcpy(o + 4, type, 4);
    if (n)
        memcpy(o + 8, d, n);
    ps_be32(o + 8 + n, (uint32_t)crc32(crc32(0L, (const Bytef *)type, 4), d, (uInt)n));
    return 12 + n;
}

/* A w x h PNG of colour type ct and bit depth depth; row y uses filter
 * y % 5 (the bytes after the filter byte are arbitrary: any filtered bytes
 * decode). */
static int ps_png(const char *dir, const char *name, int ct, int depth, int w, int h)
{
    static const int ch[7] = {1, 0, 3, 1, 2, 0, 4};
    size_t stride = ((size_t)w * (size_t)ch[ct] * (size_t)depth + 7) / 8;
    size_t raw = (stride + 1) * (size_t)h;
    uint8_t rows[4096], z[8192], out[16384];
    if (raw > sizeof rows)
        return 1;
    for (int y = 0; y < h; y++) {
        rows[(size_t)y * (stride + 1)] = (uint8_t)(y % 5);
        for (size_t i = 0; i < stride; i++)
            rows[(size_t)y * (stride + 1) + 1 + i] = (uint8_t)(y * 31 + i * 7);
    }
    uLongf zl = sizeof z;
    if (compress2(z, &zl, rows, (uLong)raw, 6) != Z_OK)
        return 1;
    out[0] = 1;
    memcpy(out + 1, "\x89PNG\r\n\x1a\n", 8);
    size_t o = 9;
    uint8_t ihdr[13];
    ps_be32(ihdr, (uint32_t)w);
    ps_be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = (uint8_t)depth;
    ihdr[9] = (uint8_t)ct;
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    o += ps_chunk(out + o, "IHDR", ihdr, 13);
    if (ct == 3) {
        uint8_t pal[48];
        for (int i = 0; i < 48; i++)
            pal[i] = (uint8_t)(i * 5);
        o += ps_chunk(out + o, "PLTE", pal, 48);
    }
    size_t half = zl / 2; /* two IDAT chunks */
    o += ps_chunk(out + o, "IDAT", z, half);
    o += ps_chunk(out + o, "IDAT", z + half, zl - half);
    o += ps_chunk(out + o, "IEND", NULL, 0);
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f)
        return 1;
    int bad = fwrite(out, 1, o, f) != o;
    return (fclose(f) != 0) | bad;
}

/* Returns the number of seeds written, or -1. */
static int ps_write_all(const char *root)
{
    char dir[900], tmp[1000];
    snprintf(dir, sizeof dir, "%s/png", root);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -1;
    int bad = 0, n = 0;
    static const int sizes[][2] = {{1, 1}, {3, 5}, {23, 17}, {16, 2}};
    uint8_t px[23 * 17];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 37 + (i >> 3));
    snprintf(tmp, sizeof tmp, "%s/tmp.png", dir);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        char name[32];
        snprintf(name, sizeof name, "gray%zu", s);
        bad |= ct_png_write(tmp, px, sizes[s][0], sizes[s][1]) != CT_OK;
        bad |= ps_copy(dir, name, 1, tmp);
        n++;
    }
    static const int cts[][2] = {{0, 8}, {2, 8}, {3, 8}, {4, 8}, {6, 8}, {0, 1}, {0, 2},
                                 {0, 4}, {3, 1}, {3, 2}, {3, 4}};
    for (size_t c = 0; c < sizeof cts / sizeof *cts; c++) {
        char name[32];
        snprintf(name, sizeof name, "ct%d_%d", cts[c][0], cts[c][1]);
        bad |= ps_png(dir, name, cts[c][0], cts[c][1], 13, 10);
        n++;
    }
    static const int comps[] = {CT_COMP_NONE, CT_COMP_GZIP, CT_COMP_ZIP, CT_COMP_BZIP2, CT_COMP_XZ};
    static const char text[] = ",0,1,2,3\n0,12,0,255,7\n1,3,4,5,6\n2,200,201,202,9\n";
    snprintf(tmp, sizeof tmp, "%s/x.csv", dir);
    for (size_t c = 0; c < sizeof comps / sizeof *comps; c++) {
        ct_csv_out *o;
        ct_status st = ct_csv_out_open(&o, tmp, comps[c]);
        if (st == CT_OK)
            st = ct_csv_out_close(o, ct_csv_out_write(o, text, sizeof text - 1));
        char name[32];
        snprintf(name, sizeof name, "csv%d", comps[c]);
        bad |= st != CT_OK || ps_copy(dir, name, 0, tmp);
        n++;
    }
    remove(tmp);
    snprintf(tmp, sizeof tmp, "%s/tmp.png", dir);
    remove(tmp);
    return bad ? -1 : n;
}

#endif
