/* ctrain tool — loss and accuracy curves as PNG (see plot.h). PNG layout
 * (ISO/IEC 15948): signature, IHDR (8-bit RGB), one IDAT holding the zlib
 * stream of the filtered rows (filter 0), IEND; each chunk with its CRC-32. */
#include "plot.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { W = 1040, H = 400, PANEL_W = 440, PANEL_H = 300, MARGIN_L = 50, MARGIN_T = 40 };

typedef struct img {
    unsigned char px[H][W][3];
} img;

static void put(img *im, int x, int y, const unsigned char c[3])
{
    if (x >= 0 && x < W && y >= 0 && y < H)
        memcpy(im->px[y][x], c, 3);
}

static void line(img *im, int x0, int y0, int x1, int y1, const unsigned char c[3], int thick)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) { /* Bresenham */
        for (int t = 0; t < thick; t++) {
            put(im, x0, y0 + t, c);
            put(im, x0 + t, y0, c);
        }
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

/* 3x5 glyphs, rows top to bottom, 3 bits each (4 = left column). */
static const struct {
    char ch;
    unsigned char rows[5];
} font[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}},
    {'3', {7, 1, 7, 1, 7}}, {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}},
    {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}}, {'8', {7, 5, 7, 5, 7}},
    {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'-', {0, 0, 7, 0, 0}},
    {'a', {0, 7, 1, 7, 7}}, {'c', {0, 7, 4, 4, 7}}, {'e', {7, 5, 7, 4, 7}},
    {'h', {4, 4, 7, 5, 5}}, {'i', {2, 0, 2, 2, 2}}, {'l', {4, 4, 4, 4, 7}},
    {'n', {0, 6, 5, 5, 5}}, {'o', {0, 7, 5, 5, 7}}, {'p', {7, 5, 7, 4, 4}},
    {'r', {0, 7, 4, 4, 4}}, {'s', {0, 7, 6, 1, 7}}, {'t', {4, 7, 4, 4, 7}},
    {'u', {0, 5, 5, 5, 7}}, {'v', {0, 5, 5, 5, 2}}, {'y', {5, 5, 7, 1, 7}},
    {'%', {5, 1, 2, 4, 5}},
};

static void text(img *im, int x, int y, const char *s, int scale, const unsigned char c[3])
{
    for (; *s; s++, x += 4 * scale) {
        for (size_t g = 0; g < sizeof font / sizeof *font; g++) {
            if (font[g].ch != *s)
                continue;
            for (int r = 0; r < 5; r++)
                for (int b = 0; b < 3; b++)
                    if (font[g].rows[r] & (4 >> b))
                        for (int dy = 0; dy < scale; dy++)
                            for (int dx = 0; dx < scale; dx++)
                                put(im, x + b * scale + dx, y + r * scale + dy, c);
        }
    }
}

static const unsigned char BLACK[3] = {40, 40, 40}, GREY[3] = {225, 225, 225},
                           BLUE[3] = {31, 119, 180}, ORANGE[3] = {255, 127, 14};

/* One panel: series a (train, blue) and b (val, orange, may be NULL). */
static void panel(img *im, int x0, const char *title, const double *a, const double *b, int n)
{
    int y0 = MARGIN_T;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (isfinite(a[i])) {
            lo = fmin(lo, a[i]);
            hi = fmax(hi, a[i]);
        }
        if (b && isfinite(b[i])) {
            lo = fmin(lo, b[i]);
            hi = fmax(hi, b[i]);
        }
    }
    if (!(hi > lo)) {
        lo = isfinite(lo) ? lo - 0.5 : 0;
        hi = lo + 1;
    }
    double pad = 0.05 * (hi - lo);
    lo -= pad;
    hi += pad;
    for (int k = 0; k <= 4; k++) { /* grid and y labels */
        int y = y0 + PANEL_H - k * PANEL_H / 4;
        line(im, x0, y, x0 + PANEL_W, y, GREY, 1);
        char lab[32];
        snprintf(lab, sizeof lab, "%.3g", lo + (hi - lo) * k / 4);
        text(im, x0 - 44, y - 5, lab, 2, BLACK);
    }
    line(im, x0, y0, x0, y0 + PANEL_H, BLACK, 1);
    line(im, x0, y0 + PANEL_H, x0 + PANEL_W, y0 + PANEL_H, BLACK, 1);
    text(im, x0 + PANEL_W / 2 - 40, 10, title, 3, BLACK);
    char lab[32];
    snprintf(lab, sizeof lab, "epoch 1-%d", n);
    text(im, x0 + PANEL_W / 2 - 36, y0 + PANEL_H + 12, lab, 2, BLACK);
    text(im, x0 + PANEL_W - 120, y0 + PANEL_H + 32, "train", 2, BLUE);
    if (b)
        text(im, x0 + PANEL_W - 50, y0 + PANEL_H + 32, "val", 2, ORANGE);
    for (int s = 0; s < (b ? 2 : 1); s++) {
        const double *v = s ? b : a;
        int px = -1, py = -1;
        for (int i = 0; i < n; i++) {
            if (!isfinite(v[i]))
                continue;
            int x = x0 + (n > 1 ? i * PANEL_W / (n - 1) : PANEL_W / 2);
            int y = y0 + PANEL_H - (int)((v[i] - lo) / (hi - lo) * PANEL_H);
            if (px >= 0)
                line(im, px, py, x, y, s ? ORANGE : BLUE, 2);
            px = x;
            py = y;
        }
    }
}

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static int chunk(FILE *f, const char *type, const unsigned char *data, size_t n)
{
    unsigned char h[8], c[4];
    be32(h, (uint32_t)n);
    memcpy(h + 4, type, 4);
    uLong crc = crc32(0, h + 4, 4);
    if (n)
        crc = crc32(crc, data, (uInt)n);
    be32(c, (uint32_t)crc);
    return fwrite(h, 1, 8, f) == 8 && (!n || fwrite(data, 1, n, f) == n) && fwrite(c, 1, 4, f) == 4
               ? 0 : -1;
}

static int write_png(const img *im, const char *path, char *err, size_t cap)
{
    size_t raw_len = (size_t)H * (1 + 3 * W);
    unsigned char *raw = malloc(raw_len);
    uLongf zlen = compressBound((uLong)raw_len);
    unsigned char *z = malloc(zlen);
    if (!raw || !z) {
        free(raw);
        free(z);
        snprintf(err, cap, "%s: out of memory", path);
        return -1;
    }
    for (int y = 0; y < H; y++) {
        raw[(size_t)y * (1 + 3 * W)] = 0;
        memcpy(raw + (size_t)y * (1 + 3 * W) + 1, im->px[y], 3 * W);
    }
    int rc = compress2(z, &zlen, raw, (uLong)raw_len, 9) == Z_OK ? 0 : -1;
    FILE *f = rc ? NULL : fopen(path, "wb");
    if (!f) {
        free(raw);
        free(z);
        snprintf(err, cap, "%s: cannot write", path);
        return -1;
    }
    unsigned char ihdr[13];
    be32(ihdr, W);
    be32(ihdr + 4, H);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* RGB */
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    rc = fwrite("\x89PNG\r\n\x1a\n", 1, 8, f) == 8 ? 0 : -1;
    rc |= chunk(f, "IHDR", ihdr, 13);
    rc |= chunk(f, "IDAT", z, zlen);
    rc |= chunk(f, "IEND", NULL, 0);
    rc |= fclose(f) ? -1 : 0;
    free(raw);
    free(z);
    if (rc)
        snprintf(err, cap, "%s: write failed", path);
    return rc;
}

int ct_plot_curves(const char *csv_path, const char *png_path, char *err, size_t cap)
{
    FILE *f = fopen(csv_path, "r");
    if (!f) {
        snprintf(err, cap, "%s: cannot open", csv_path);
        return -1;
    }
    enum { MAXE = 100000 };
    double *v = malloc(4 * MAXE * sizeof *v);
    img *im = malloc(sizeof *im);
    if (!v || !im) {
        fclose(f);
        free(v);
        free(im);
        snprintf(err, cap, "out of memory");
        return -1;
    }
    double *tl = v, *ta = v + MAXE, *vl = v + 2 * MAXE, *va = v + 3 * MAXE;
    char row[1024];
    int n = 0, has_val = 0;
    if (!fgets(row, sizeof row, f))
        row[0] = 0;
    while (n < MAXE && fgets(row, sizeof row, f)) {
        long ep;
        unsigned long long st;
        double lr, a, b, c, d, e;
        if (sscanf(row, "%ld,%llu,%lf,%lf,%lf,%lf,%lf,%lf", &ep, &st, &lr, &a, &b, &c, &d, &e) != 8)
            continue;
        tl[n] = a;
        ta[n] = 100 * b;
        vl[n] = c;
        va[n] = 100 * d;
        has_val |= c != 0 || d != 0;
        n++;
    }
    fclose(f);
    memset(im, 255, sizeof *im);
    panel(im, MARGIN_L, "loss", tl, has_val ? vl : NULL, n);
    panel(im, MARGIN_L + PANEL_W + 60, "accuracy %", ta, has_val ? va : NULL, n);
    int rc = n ? write_png(im, png_path, err, cap) : (snprintf(err, cap, "%s: no epochs", csv_path), -1);
    free(v);
    free(im);
    return rc;
}
