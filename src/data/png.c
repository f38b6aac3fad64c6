/* PNG images as dlio-benchmark 2.0.0 writes and reads them
 * (dlio_benchmark/data_generator/png_generator.py, reader/image_reader.py).
 *
 * Writing: DLIO saves each drawn uint8 (dim1, dim2) array with
 * PIL.Image.fromarray(records).save(path, format='PNG', bits=8): a mode "L"
 * image (8-bit grayscale, colour type 0; `bits` only matters for modes P
 * and L with bits != 8). Pillow 13's PngImagePlugin._save writes the
 * signature, IHDR, then (no icc/dpi/info/exif given) the encoder's output
 * through ImageFile._save into IDAT chunks of at most
 * bufsize = max(65536, 4 * width) bytes (one chunk per encode(bufsize)
 * call of the "zip" encoder), then an empty IEND. The encoder is Pillow's
 * ZipEncode.c in ZIP_PNG mode with its defaults (optimize False,
 * compress_level -1, compress_type -1): deflateInit2(level
 * Z_DEFAULT_COMPRESSION, Z_DEFLATED, windowBits 15, memLevel 9,
 * Z_FILTERED), and per row an adaptive filter, libpng's heuristic: the
 * filter with the least sum of |byte| (bytes read as signed) among none,
 * up, sub ("prior") and Paeth, tried in that order, a later one taken
 * only when strictly smaller, stopping at a sum of 0 (average is tried
 * only with optimize). ct_png_write does the same rows, calls and buffer
 * splits (png_encode mirrors ZipEncode's state machine), so with the same
 * zlib the bytes are the same: Pillow's wheel links the system libz.so.1
 * at run time (it reports "compiled for zlib-ng 2.3.3" from its headers,
 * "loaded 1.2.13"), which ctrain links too.
 *
 * Reading: np.asarray(Image.open(path)): the decoded pixels, height x
 * width x channels uint8 in row order. Non-interlaced PNGs of colour types
 * 0 (L; 1-bit: mode "1", 0/1; 2/4-bit scaled to 0..255), 2 (RGB), 3 (P:
 * the palette indices, as Pillow's mode "P" array; 1/2/4/8-bit), 4 (LA)
 * and 6 (RGBA), 8-bit unless said; 16-bit and Adam7 are refused with a
 * message. Every chunk's CRC-32 is checked (ISO 3309, zlib's crc32), the
 * zlib stream must end (and its Adler-32 match) exactly with the last
 * row, and the file must end with IEND. One image per file: every sample
 * index yields it, as DLIO's ImageReader.get_sample does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "formats.h"

static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* PngImagePlugin.putchunk: length, type, data, CRC-32 of type + data. */
static ct_status put_chunk(FILE *f, const char *type, const uint8_t *data, size_t n, const char *path)
{
    uint8_t h[8], t[4];
    put_be32(h, (uint32_t)n);
    memcpy(h + 4, type, 4);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (n)
        crc = crc32(crc, data, (uInt)n);
    put_be32(t, (uint32_t)crc);
    ct_status st = ct_write_all(f, h, 8, path);
    if (st == CT_OK && n)
        st = ct_write_all(f, data, n, path);
    if (st == CT_OK)
        st = ct_write_all(f, t, 4, path);
    return st;
}

/* |v| of a filtered byte read as signed, ZipEncode's "distance from zero". */
static inline int dist(uint8_t v) { return v < 128 ? v : 256 - v; }

/* ZipEncode.c's state between encode() calls (ZIP_PNG, optimize off). Each
 * row buffer has the filter-type byte at [0]. */
typedef struct png_enc {
    z_stream z;
    const uint8_t *px;
    int64_t w, h, y;
    int state;  /* 1 rows, 2 finishing, 3 done */
    uint8_t *buffer, *previous, *prior, *up, *paeth;
} png_enc;

/* Filters row y into one of the buffers (libpng's heuristic as ZipEncode
 * does it, bpp 1) and returns it. */
static uint8_t *png_filter_row(png_enc *e)
{
    size_t n = (size_t)e->w;
    uint8_t *cur = e->buffer, *prev = e->previous;
    memcpy(cur + 1, e->px + (size_t)e->y * n, n);
    cur[0] = 0;
    uint8_t *out = cur;
    long sum = 0, s;
    for (size_t i = 1; i <= n; i++) /* 0. none */
        sum += dist(cur[i]);
    if (sum > 0) { /* 2. up */
        s = 0;
        for (size_t i = 1; i <= n; i++) {
            uint8_t v = (uint8_t)(cur[i] - prev[i]);
            e->up[i] = v;
            s += dist(v);
        }
        if (s < sum) {
            out = e->up;
            sum = s;
        }
    }
    if (sum > 0) { /* 1. sub ("prior") */
        uint8_t v = cur[1];
        e->prior[1] = v;
        s = dist(v);
        for (size_t i = 2; i <= n; i++) {
            v = (uint8_t)(cur[i] - cur[i - 1]);
            e->prior[i] = v;
            s += dist(v);
        }
        if (s < sum) {
            out = e->prior;
            sum = s;
        }
    }
    if (sum > 0) { /* 4. Paeth */
        uint8_t v = (uint8_t)(cur[1] - prev[1]);
        e->paeth[1] = v;
        s = dist(v);
        for (size_t i = 2; i <= n; i++) {
            int a = cur[i - 1], b = prev[i], c = prev[i - 1];
            int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
            v = (uint8_t)(cur[i] - ((pa <= pb && pa <= pc) ? a : (pb <= pc) ? b : c));
            e->paeth[i] = v;
            s += dist(v);
        }
        if (s < sum)
            out = e->paeth;
    }
    return out;
}

/* One ZipEncode encode(buf, bytes) call: fills buf as far as it gets;
 * returns the bytes produced, *end set once the stream ended. */
static size_t png_encode(png_enc *e, uint8_t *buf, size_t bytes, int *end, int *zerr)
{
    e->z.next_out = buf;
    e->z.avail_out = (uInt)bytes;
    *end = 0;
    *zerr = Z_OK;
    if (e->z.next_in && e->z.avail_in > 0) {
        int err = deflate(&e->z, Z_NO_FLUSH);
        if (err < 0) {
            *zerr = err;
            return 0;
        }
    }
    if (e->state == 1) {
        while (e->z.avail_out > 0) {
            if (e->y >= e->h) {
                e->state = 2;
                break;
            }
            uint8_t *out = png_filter_row(e);
            e->y++;
            e->z.next_in = out;
            e->z.avail_in = (uInt)(e->w + 1);
            int err = deflate(&e->z, Z_NO_FLUSH);
            if (err < 0) {
                *zerr = err;
                return 0;
            }
            uint8_t *t = e->buffer;
            e->buffer = e->previous;
            e->previous = t;
        }
        if (e->z.avail_out == 0)
            return bytes;
    }
    while (e->z.avail_out > 0) { /* state 2 */
        int err = deflate(&e->z, Z_FINISH);
        if (err == Z_STREAM_END) {
            e->state = 3;
            *end = 1;
            break;
        }
        if (err < 0) {
            *zerr = err;
            return 0;
        }
    }
    return bytes - e->z.avail_out;
}

ct_status ct_png_write(const char *path, const uint8_t *px, int64_t h, int64_t w)
{
    if (h < 1 || w < 1 || h > 0x7fffffff || w > (1 << 28))
        return ct_fail(NULL, CT_EINVAL, "%s: image size %lld x %lld is outside PNG's range", path,
                       (long long)h, (long long)w);
    size_t row = (size_t)w + 1;
    size_t bufsize = (size_t)(4 * w) > 65536 ? (size_t)(4 * w) : 65536; /* ImageFile._save */
    png_enc e;
    memset(&e, 0, sizeof e);
    e.px = px;
    e.w = w;
    e.h = h;
    e.state = 1;
    uint8_t *mem = calloc(5 * row + bufsize, 1);
    if (!mem)
        return ct_fail(NULL, CT_ENOMEM, "out of memory writing '%s'", path);
    e.buffer = mem;
    e.previous = mem + row; /* black: all zero */
    e.prior = mem + 2 * row;
    e.up = mem + 3 * row;
    e.paeth = mem + 4 * row;
    e.prior[0] = 1;
    e.up[0] = 2;
    e.paeth[0] = 4;
    uint8_t *out = mem + 5 * row;
    if (deflateInit2(&e.z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15, 9, Z_FILTERED) != Z_OK) {
        free(mem);
        return ct_fail(NULL, CT_ENOMEM, "%s: deflateInit2 failed", path);
    }
    FILE *f = fopen(path, "wb");
    ct_status st = CT_OK;
    if (!f)
        st = ct_fail(NULL, CT_EIO, "cannot create '%s': %s", path, strerror(errno));
    uint8_t ihdr[13];
    put_be32(ihdr, (uint32_t)w);
    put_be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 0;  /* grayscale */
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    if (st == CT_OK)
        st = ct_write_all(f, png_sig, 8, path);
    if (st == CT_OK)
        st = put_chunk(f, "IHDR", ihdr, 13, path);
    for (int end = 0; st == CT_OK && !end;) {
        int zerr;
        size_t n = png_encode(&e, out, bufsize, &end, &zerr);
        if (zerr != Z_OK)
            st = ct_fail(NULL, CT_EIO, "%s: deflate failed (%d)", path, zerr);
        else /* Python writes every encode() result, even an empty one */
            st = put_chunk(f, "IDAT", out, n, path);
    }
    if (st == CT_OK)
        st = put_chunk(f, "IEND", NULL, 0, path);
    deflateEnd(&e.z);
    free(mem);
    if (f && fclose(f) != 0 && st == CT_OK)
        st = ct_fail(NULL, CT_EIO, "%s: close failed: %s", path, strerror(errno));
    return st;
}

/* ---- reader ---- */

static inline uint8_t paeth(int a, int b, int c)
{
    int pa = abs(b - c), pb = abs(a - c), pc = abs(a + b - 2 * c);
    return (uint8_t)((pa <= pb && pa <= pc) ? a : (pb <= pc) ? b : c);
}

/* Undoes the filter of one row in place (PNG spec 9.2-9.4); prev is the
 * previous decoded row (zeros for the first). */
static int png_unfilter(uint8_t type, uint8_t *cur, const uint8_t *prev, size_t n, size_t bpp)
{
    switch (type) {
    case 0: break;
    case 1:
        for (size_t i = bpp; i < n; i++)
            cur[i] = (uint8_t)(cur[i] + cur[i - bpp]);
        break;
    case 2:
        for (size_t i = 0; i < n; i++)
            cur[i] = (uint8_t)(cur[i] + prev[i]);
        break;
    case 3:
        for (size_t i = 0; i < n; i++)
            cur[i] = (uint8_t)(cur[i] + (((i >= bpp ? cur[i - bpp] : 0) + prev[i]) >> 1));
        break;
    case 4:
        for (size_t i = 0; i < n; i++)
            cur[i] = (uint8_t)(cur[i] + paeth(i >= bpp ? cur[i - bpp] : 0, prev[i],
                                              i >= bpp ? prev[i - bpp] : 0));
        break;
    default: return -1;
    }
    return 0;
}

/* Sub-byte samples (MSB first) to one byte each, as Pillow's modes: palette
 * indices as they are ("P"), grayscale 1-bit as 0/1 (mode "1", which
 * np.asarray gives as bool), 2- and 4-bit scaled to 0..255 (x 85, x 17:
 * rawmodes "L;2", "L;4"). */
static void png_unpack(uint8_t *out, const uint8_t *in, size_t n, unsigned depth, unsigned gray)
{
    unsigned per = 8 / depth, mask = (1u << depth) - 1;
    unsigned scale = !gray || depth == 1 ? 1 : 255 / mask;
    for (size_t i = 0; i < n; i++) {
        unsigned shift = 8 - depth * (unsigned)(i % per + 1);
        out[i] = (uint8_t)(((in[i / per] >> shift) & mask) * scale);
    }
}

/* Decodes the n bytes at b into img, a ct_image (ct_open_decoded's decode). */
static ct_status png_decode(ct_data_file *f, const uint8_t *b, uint64_t n, void *img)
{
    ct_image *im = img;
    const char *p = f->path;
    if (n < 8 || memcmp(b, png_sig, 8) != 0)
        return ct_fail(NULL, CT_EFORMAT, "%s: not a PNG file (no PNG signature)", p);
    uint64_t off = 8;
    uint32_t w = 0, h = 0;
    size_t ch = 0, stride = 0, outw = 0, bpp = 1; /* filtered row bytes, output row bytes */
    unsigned depth = 8, gray = 0;
    int have_ihdr = 0, zinit = 0, zend = 0, iend = 0;
    uint64_t y = 0;
    size_t rowpos = 0;  /* bytes of the current filtered row received */
    uint8_t *row = NULL, *prevrow = NULL;
    z_stream z;
    memset(&z, 0, sizeof z);
    ct_status st = CT_OK;
    while (st == CT_OK && !iend) {
        if (n - off < 12) {
            st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: truncated PNG (file ends before %s)", p,
                         (unsigned long long)off, have_ihdr ? "IEND" : "IHDR");
            break;
        }
        uint32_t len = get_be32(b + off);
        const uint8_t *type = b + off + 4, *data = b + off + 8;
        if (len > 0x7fffffffu || (uint64_t)len > n - off - 12) {
            st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: truncated PNG (chunk '%.4s' of %lu bytes "
                         "runs past the end of the %llu-byte file)", p, (unsigned long long)off,
                         (const char *)type, (unsigned long)len, (unsigned long long)n);
            break;
        }
        uLong crc = crc32(crc32(0L, type, 4), data, len);
        if ((uint32_t)crc != get_be32(data + len)) {
            st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: CRC-32 mismatch in chunk '%.4s' (stored "
                         "%08x, computed %08lx)", p, (unsigned long long)off, (const char *)type,
                         get_be32(data + len), crc);
            break;
        }
        if (!have_ihdr) {
            if (memcmp(type, "IHDR", 4) != 0 || len != 13) {
                st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: PNG does not start with IHDR", p,
                             (unsigned long long)off);
                break;
            }
            w = get_be32(data);
            h = get_be32(data + 4);
            uint8_t ct = data[9];
            depth = data[8];
            gray = ct == 0;
            static const size_t channels[7] = {1, 0, 3, 1, 2, 0, 4};
            ch = ct <= 6 ? channels[ct] : 0;
            if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu || ch == 0 || data[10] ||
                data[11]) {
                st = ct_fail(NULL, CT_EFORMAT, "%s: invalid PNG header (%lu x %lu, colour type %u, "
                             "compression %u, filter %u)", p, (unsigned long)w, (unsigned long)h, ct,
                             data[10], data[11]);
                break;
            }
            int low = (ct == 0 || ct == 3) && (depth == 1 || depth == 2 || depth == 4);
            if ((depth != 8 && !low) || data[12]) {
                st = ct_fail(NULL, CT_EUNSUPPORTED, "%s: PNG with bit depth %u, colour type %u%s: "
                             "only 8-bit images (and 1/2/4-bit grayscale or palette), not "
                             "interlaced, are read (DLIO writes 8-bit grayscale)", p, depth, ct,
                             data[12] ? ", interlaced" : "");
                break;
            }
            outw = (size_t)w * ch;
            stride = low ? ((size_t)w * depth + 7) / 8 : outw;
            bpp = low ? 1 : ch;
            if ((uint64_t)outw * h > ((uint64_t)1 << 40)) {
                st = ct_fail(NULL, CT_EFORMAT, "%s: PNG of %lu x %lu is too large", p,
                             (unsigned long)w, (unsigned long)h);
                break;
            }
            im->len = outw * h;
            im->px = malloc(im->len);
            row = malloc(stride + 1);
            prevrow = calloc(stride, 1);
            if (!im->px || !row || !prevrow) {
                st = ct_fail(NULL, CT_ENOMEM, "%s: out of memory for %zu pixels", p, im->len);
                break;
            }
            if (inflateInit(&z) != Z_OK) {
                st = ct_fail(NULL, CT_ENOMEM, "%s: inflateInit failed", p);
                break;
            }
            zinit = 1;
            have_ihdr = 1;
        } else if (memcmp(type, "IDAT", 4) == 0) {
            if (zend) {
                if (len) {
                    st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: image data after the end of "
                                 "the zlib stream", p, (unsigned long long)off);
                    break;
                }
            }
            z.next_in = (Bytef *)data;
            z.avail_in = len;
            /* inflate until this chunk is used up and no whole row is
             * pending (a row can complete from zlib's window alone) */
            while (!zend) {
                z.next_out = row + rowpos;
                z.avail_out = (uInt)(stride + 1 - rowpos);
                int r = inflate(&z, Z_NO_FLUSH);
                if (r == Z_BUF_ERROR)
                    break; /* no input left */
                if (r != Z_OK && r != Z_STREAM_END) {
                    st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: corrupt image data (zlib: %s)", p,
                                 (unsigned long long)(off + 8 + len - z.avail_in),
                                 z.msg ? z.msg : "invalid stream");
                    break;
                }
                rowpos = stride + 1 - z.avail_out;
                if (rowpos == stride + 1) {
                    if (y >= h) {
                        st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: more image data than %lu "
                                     "rows", p, (unsigned long long)off, (unsigned long)h);
                        break;
                    }
                    if (png_unfilter(row[0], row + 1, prevrow, stride, bpp) != 0) {
                        st = ct_fail(NULL, CT_EFORMAT, "%s: row %llu: unknown filter type %u", p,
                                     (unsigned long long)y, row[0]);
                        break;
                    }
                    if (depth == 8)
                        memcpy(im->px + y * outw, row + 1, outw);
                    else
                        png_unpack(im->px + y * outw, row + 1, outw, depth, gray);
                    memcpy(prevrow, row + 1, stride);
                    y++;
                    rowpos = 0;
                }
                if (r == Z_STREAM_END)
                    zend = 1;
                else if (z.avail_out > 0)
                    break; /* input used up mid-row */
            }
            if (st == CT_OK && zend && (y != h || rowpos != 0 || z.avail_in > 0)) {
                st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: the zlib stream holds %llu of %lu "
                             "rows%s", p, (unsigned long long)off, (unsigned long long)y,
                             (unsigned long)h, z.avail_in > 0 ? " and data after its end" : "");
            }
        } else if (memcmp(type, "IEND", 4) == 0) {
            iend = 1;
        } else if (!(type[0] & 0x20)) {
            /* critical chunks other than IHDR/IDAT/IEND: PLTE needs nothing
             * for the index array; anything else is unknown */
            if (memcmp(type, "PLTE", 4) != 0) {
                st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: unknown critical chunk '%.4s'", p,
                             (unsigned long long)off, (const char *)type);
                break;
            }
        }
        off += 12 + (uint64_t)len;
    }
    if (st == CT_OK && (!zend || y != h))
        st = ct_fail(NULL, CT_EFORMAT, "%s: truncated PNG: image data ends after %llu of %lu rows", p,
                     (unsigned long long)y, (unsigned long)h);
    if (zinit)
        inflateEnd(&z);
    free(row);
    free(prevrow);
    return st;
}

static ct_status png_open(ct_data_file *f)
{
    ct_status st = ct_open_decoded(f, sizeof(ct_image), png_decode);
    if (st == CT_OK)
        f->nsamples = 1;
    return st;
}

const ct_reader_vt ct_reader_png = {png_open, ct_image_sample, ct_image_close};
