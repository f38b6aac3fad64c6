/* Compressed csv files as dlio-benchmark 2.0.0 writes and reads them
 * (dlio_benchmark/data_generator/csv_generator.py, reader/csv_reader.py).
 *
 * Writing: with dataset.compression set DLIO calls
 * DataFrame.to_csv(path, compression={"method": str(compression)}); pandas
 * (io/common.py get_handle) opens gzip.GzipFile(filename=path, mode="wb")
 * for "gzip": Python's gzip header (RFC 1952: magic, CM 8, FLG FNAME when
 * the base name, minus a ".gz" suffix, is non-empty Latin-1, MTIME =
 * int(time.time()), XFL 2 for compresslevel 9, OS 255, the name and a
 * NUL), raw deflate from zlib.compressobj(9, DEFLATED, -15, 8, 0) with
 * one Z_SYNC_FLUSH before the end (pandas writes through a TextIOWrapper
 * whose close() flushes it, and GzipFile.flush() is a sync flush: an empty
 * stored block), then Z_FINISH, CRC-32 and ISIZE. The csv text is what
 * the plain writer produces (generate.c), so with the same zlib the files
 * differ from pandas' only in the 4 MTIME bytes (the time of writing).
 * For "zip" pandas' _BytesZipFile collects the text and at close calls zipfile.ZipFile(path, "w",
 * ZIP_DEFLATED).writestr(name, text): name = the file's base name minus
 * ".zip"; a local header (versions 20, flags 0, method 8, DOS time and date
 * of time.localtime() at close, CRC-32 and sizes written back after the
 * data), raw deflate from zlib.compressobj(Z_DEFAULT_COMPRESSION,
 * DEFLATED, -15), one central directory entry (made by 20 on Unix,
 * external attributes 0600 << 16) and the end record: equal to zipfile's
 * but for the 4 date/time bytes in each header. "bz2": bz2.BZ2File(path,
 * "wb") = BZ2_bzCompressInit(9, 0, 0), BZ_RUN, BZ_FINISH; "xz":
 * lzma.LZMAFile(path, "wb") = lzma_easy_encoder(6, LZMA_CHECK_CRC64),
 * LZMA_RUN, LZMA_FINISH: no time in either, the same bytes with the same
 * libbz2/liblzma (Python's _bz2/_lzma load the system's). "lzf" is no
 * pandas compression: CT_EUNSUPPORTED.
 *
 * Reading: pandas.read_csv(path, compression="infer").to_numpy() as DLIO's
 * CSVReader; the compression is found from the content's magic bytes (gzip
 * 1f 8b, zip "PK\3\4" with the one member named as the file minus ".zip",
 * bz2 "BZh1".."BZh9", xz fd "7zXZ" 00; concatenated gzip/bz2/xz streams
 * as Python reads them) rather than the name, so the ".csv" files DLIO's
 * YAML path writes (see docs/data.md) are read too. Plain csv goes to ct_reader_csv. Rows: the
 * values after the index column as uint8, as readers.c's csv reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>

#include "csvz.h"

/* ---- writer ---- */

struct ct_csv_out {
    FILE *f;
    char path[4096];
    int comp;
    int zinit;
    z_stream z;
    uLong crc;
    uint32_t isize;
    uint64_t total, csize;  /* zip: csv bytes in, deflate bytes out */
    bz_stream bz;           /* bz2 */
    lzma_stream xz;         /* xz */
    char name[1024];        /* zip: the member name */
    uint8_t buf[65536];
};

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* zipfile.ZipInfo.FileHeader (local header, no zip64, no extra) for
 * ZIP_DEFLATED: versions 20, flags 0 (0x800 for a non-ASCII name). */
static size_t zip_local_header(const ct_csv_out *o, uint8_t *h, unsigned dtime, unsigned ddate)
{
    size_t nl = strlen(o->name);
    unsigned flags = 0;
    for (size_t i = 0; i < nl; i++)
        if ((uint8_t)o->name[i] >= 0x80)
            flags = 0x800;
    put32(h, 0x04034b50u);
    put16(h + 4, 20);
    put16(h + 6, flags);
    put16(h + 8, 8);
    put16(h + 10, dtime);
    put16(h + 12, ddate);
    put32(h + 14, (uint32_t)o->crc);
    put32(h + 18, (uint32_t)o->csize);
    put32(h + 22, (uint32_t)o->total);
    put16(h + 26, (unsigned)nl);
    put16(h + 28, 0);
    memcpy(h + 30, o->name, nl);
    return 30 + nl;
}

/* Python's gzip FNAME: os.path.basename(name) encoded as Latin-1 (empty
 * when a character is above U+00FF; the path's bytes read as UTF-8), minus
 * a ".gz" suffix. Returns the length written to out (cap >= strlen(path)). */
static size_t gzip_fname(const char *path, uint8_t *out)
{
    const char *b = strrchr(path, '/');
    const uint8_t *s = (const uint8_t *)(b ? b + 1 : path);
    size_t n = 0;
    while (*s) {
        if (*s < 0x80) {
            out[n++] = *s++;
        } else if ((s[0] == 0xc2 || s[0] == 0xc3) && (s[1] & 0xc0) == 0x80) {
            out[n++] = (uint8_t)(((s[0] & 0x1f) << 6) | (s[1] & 0x3f));
            s += 2;
        } else {
            return 0;
        }
    }
    if (n >= 3 && memcmp(out + n - 3, ".gz", 3) == 0)
        n -= 3;
    return n;
}

static ct_status gz_drain(ct_csv_out *o, int flush)
{
    for (;;) {
        o->z.next_out = o->buf;
        o->z.avail_out = sizeof o->buf;
        int r = deflate(&o->z, flush);
        if (r == Z_STREAM_ERROR)
            return ct_fail(NULL, CT_EIO, "%s: deflate failed", o->path);
        size_t have = sizeof o->buf - o->z.avail_out;
        o->csize += have;
        if (have) {
            ct_status st = ct_write_all(o->f, o->buf, have, o->path);
            if (st != CT_OK)
                return st;
        }
        if (flush == Z_FINISH ? r == Z_STREAM_END : o->z.avail_out != 0)
            return CT_OK;
    }
}

ct_status ct_csv_out_open(ct_csv_out **out, const char *path, int compression)
{
    *out = NULL;
    if (compression == CT_COMP_LZF)
        return ct_fail(NULL, CT_EUNSUPPORTED,
                       "dataset.compression: lzf is not a pandas compression (DLIO's to_csv fails "
                       "too); csv supports none, gzip, bz2, zip and xz");
    ct_csv_out *o = calloc(1, sizeof *o);
    if (!o)
        return ct_fail(NULL, CT_ENOMEM, "out of memory writing '%s'", path);
    snprintf(o->path, sizeof o->path, "%s", path);
    o->comp = compression;
    o->f = fopen(path, "wb");
    if (!o->f) {
        free(o);
        return ct_fail(NULL, CT_EIO, "cannot create '%s': %s", path, strerror(errno));
    }
    *out = o;
    if (compression == CT_COMP_NONE)
        return CT_OK;
    o->crc = crc32(0L, Z_NULL, 0);
    if (compression == CT_COMP_BZIP2) {
        /* bz2.BZ2File(path, "wb"): BZ2Compressor(9) =
         * BZ2_bzCompressInit(9, verbosity 0, workFactor 0) */
        if (BZ2_bzCompressInit(&o->bz, 9, 0, 0) != BZ_OK)
            return ct_fail(NULL, CT_ENOMEM, "%s: BZ2_bzCompressInit failed", path);
        o->zinit = 1;
        return CT_OK;
    }
    if (compression == CT_COMP_XZ) {
        /* lzma.LZMAFile(path, "wb"): LZMACompressor(FORMAT_XZ, check -1 =
         * CHECK_CRC64, preset None = 6) = lzma_easy_encoder */
        lzma_stream init = LZMA_STREAM_INIT;
        o->xz = init;
        if (lzma_easy_encoder(&o->xz, LZMA_PRESET_DEFAULT, LZMA_CHECK_CRC64) != LZMA_OK)
            return ct_fail(NULL, CT_ENOMEM, "%s: lzma_easy_encoder failed", path);
        o->zinit = 1;
        return CT_OK;
    }
    if (compression == CT_COMP_ZIP) {
        /* pandas' archive name: the file's name, minus a ".zip" suffix */
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        size_t bl = strlen(b);
        if (bl >= sizeof o->name || bl == 0)
            return ct_fail(NULL, CT_EINVAL, "%s: file name too long for a zip member", path);
        memcpy(o->name, b, bl + 1);
        if (bl > 4 && strcmp(o->name + bl - 4, ".zip") == 0)
            o->name[bl - 4] = 0;
        size_t hl = zip_local_header(o, o->buf, 0, 0); /* rewritten at the end */
        ct_status st = ct_write_all(o->f, o->buf, hl, path);
        if (st != CT_OK)
            return st;
        if (deflateInit2(&o->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return ct_fail(NULL, CT_ENOMEM, "%s: deflateInit2 failed", path);
        o->zinit = 1;
        return CT_OK;
    }
    uint8_t *h = o->buf;
    size_t fl = gzip_fname(path, h + 10);
    uint32_t mtime = (uint32_t)time(NULL);
    h[0] = 0x1f;
    h[1] = 0x8b;
    h[2] = 8;
    h[3] = fl ? 8 : 0; /* FNAME */
    for (int i = 0; i < 4; i++)
        h[4 + i] = (uint8_t)(mtime >> (8 * i));
    h[8] = 2;    /* XFL: compresslevel 9 */
    h[9] = 255;  /* OS: unknown */
    size_t hl = 10;
    if (fl) {
        hl += fl;
        h[hl++] = 0;
    }
    ct_status st = ct_write_all(o->f, h, hl, path);
    if (st != CT_OK)
        return st;
    if (deflateInit2(&o->z, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return ct_fail(NULL, CT_ENOMEM, "%s: deflateInit2 failed", path);
    o->zinit = 1;
    return CT_OK;
}

/* Runs the bz2 or xz encoder over its pending input (finish: to the end
 * of the stream), writing what it produces. */
static ct_status bx_drain(ct_csv_out *o, int finish)
{
    for (;;) {
        size_t have;
        int end = 0;
        if (o->comp == CT_COMP_BZIP2) {
            o->bz.next_out = (char *)o->buf;
            o->bz.avail_out = sizeof o->buf;
            int r = BZ2_bzCompress(&o->bz, finish ? BZ_FINISH : BZ_RUN);
            if (r != BZ_RUN_OK && r != BZ_FINISH_OK && r != BZ_STREAM_END)
                return ct_fail(NULL, CT_EIO, "%s: BZ2_bzCompress failed (%d)", o->path, r);
            have = sizeof o->buf - o->bz.avail_out;
            end = finish ? r == BZ_STREAM_END : o->bz.avail_in == 0;
        } else {
            o->xz.next_out = o->buf;
            o->xz.avail_out = sizeof o->buf;
            lzma_ret r = lzma_code(&o->xz, finish ? LZMA_FINISH : LZMA_RUN);
            if (r != LZMA_OK && r != LZMA_STREAM_END)
                return ct_fail(NULL, CT_EIO, "%s: lzma_code failed (%d)", o->path, (int)r);
            have = sizeof o->buf - o->xz.avail_out;
            end = finish ? r == LZMA_STREAM_END : o->xz.avail_in == 0;
        }
        if (have) {
            ct_status st = ct_write_all(o->f, o->buf, have, o->path);
            if (st != CT_OK)
                return st;
        }
        if (end)
            return CT_OK;
    }
}

ct_status ct_csv_out_write(ct_csv_out *o, const void *p, size_t n)
{
    if (o->comp == CT_COMP_NONE)
        return ct_write_all(o->f, p, n, o->path);
    if (o->comp == CT_COMP_BZIP2 || o->comp == CT_COMP_XZ) {
        const uint8_t *s = p;
        while (n > 0) {
            unsigned k = n > (1u << 30) ? (1u << 30) : (unsigned)n;
            if (o->comp == CT_COMP_BZIP2) {
                o->bz.next_in = (char *)s;
                o->bz.avail_in = k;
            } else {
                o->xz.next_in = s;
                o->xz.avail_in = k;
            }
            ct_status st = bx_drain(o, 0);
            if (st != CT_OK)
                return st;
            s += k;
            n -= k;
        }
        return CT_OK;
    }
    const uint8_t *s = p;
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        o->crc = crc32(o->crc, s, k);
        o->isize += (uint32_t)k;
        o->total += k;
        o->z.next_in = (Bytef *)s;
        o->z.avail_in = k;
        ct_status st = gz_drain(o, Z_NO_FLUSH);
        if (st != CT_OK)
            return st;
        s += k;
        n -= k;
    }
    return CT_OK;
}

ct_status ct_csv_out_close(ct_csv_out *o, ct_status st)
{
    if (!o)
        return st;
    if (o->comp == CT_COMP_BZIP2 || o->comp == CT_COMP_XZ) {
        if (st == CT_OK && o->zinit)
            st = bx_drain(o, 1);
        if (o->zinit && o->comp == CT_COMP_BZIP2)
            BZ2_bzCompressEnd(&o->bz);
        if (o->zinit && o->comp == CT_COMP_XZ)
            lzma_end(&o->xz);
        o->zinit = 0;
    } else if (st == CT_OK && o->zinit && o->comp == CT_COMP_ZIP) {
        o->z.next_in = NULL;
        o->z.avail_in = 0;
        st = gz_drain(o, Z_FINISH);
        uint64_t hl = 30 + strlen(o->name);
        if (st == CT_OK && (o->total * 1.05 > 0x7fffffff || o->csize > 0x7fffffff))
            st = ct_fail(NULL, CT_EUNSUPPORTED, "%s: zip-compressed csv over 2 GiB (zipfile would "
                         "write Zip64 records)", o->path);
        if (st == CT_OK) {
            /* writestr's ZipInfo: date_time = time.localtime(time.time()) */
            time_t now = time(NULL);
            struct tm tm;
            localtime_r(&now, &tm);
            unsigned dtime = (unsigned)(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
            unsigned ddate = (unsigned)((tm.tm_year + 1900 - 1980) << 9 | (tm.tm_mon + 1) << 5 | tm.tm_mday);
            uint8_t *h = o->buf;
            size_t l = zip_local_header(o, h, dtime, ddate);
            if (fseek(o->f, 0, SEEK_SET) != 0)
                st = ct_fail(NULL, CT_EIO, "%s: seek failed: %s", o->path, strerror(errno));
            if (st == CT_OK)
                st = ct_write_all(o->f, h, l, o->path);
            if (st == CT_OK && fseek(o->f, 0, SEEK_END) != 0)
                st = ct_fail(NULL, CT_EIO, "%s: seek failed: %s", o->path, strerror(errno));
            /* central directory (create 20 on Unix = 3, external 0600 << 16)
             * and the end record */
            uint8_t *c = o->buf + 2048;
            size_t nl = strlen(o->name);
            put32(c, 0x02014b50u);
            c[4] = 20;
            c[5] = 3;
            put16(c + 6, 20);
            memcpy(c + 8, h + 6, 22); /* flags .. name length: as the local header */
            put16(c + 30, 0);         /* extra */
            put16(c + 32, 0);         /* comment */
            put16(c + 34, 0);         /* disk */
            put16(c + 36, 0);         /* internal attributes */
            put32(c + 38, 0600u << 16);
            put32(c + 42, 0);         /* local header offset */
            memcpy(c + 46, o->name, nl);
            size_t cl = 46 + nl;
            uint8_t *e = c + cl;
            put32(e, 0x06054b50u);
            put16(e + 4, 0);
            put16(e + 6, 0);
            put16(e + 8, 1);
            put16(e + 10, 1);
            put32(e + 12, (uint32_t)cl);
            put32(e + 16, (uint32_t)(hl + o->csize));
            put16(e + 20, 0);
            if (st == CT_OK)
                st = ct_write_all(o->f, c, cl + 22, o->path);
        }
    } else if (st == CT_OK && o->zinit) {
        o->z.next_in = NULL;
        o->z.avail_in = 0;
        st = gz_drain(o, Z_SYNC_FLUSH);
        if (st == CT_OK)
            st = gz_drain(o, Z_FINISH);
        uint8_t t[8];
        for (int i = 0; i < 4; i++) {
            t[i] = (uint8_t)(o->crc >> (8 * i));
            t[4 + i] = (uint8_t)(o->isize >> (8 * i));
        }
        if (st == CT_OK)
            st = ct_write_all(o->f, t, 8, o->path);
    }
    if (o->zinit)
        deflateEnd(&o->z);
    if (fclose(o->f) != 0 && st == CT_OK)
        st = ct_fail(NULL, CT_EIO, "%s: close failed: %s", o->path, strerror(errno));
    free(o);
    return st;
}

/* ---- reader ---- */

typedef struct csvz {
    uint8_t *text;     /* decompressed csv */
    size_t len;
    uint64_t *rows;    /* row starts (after the header) */
    size_t nrows;
    uint8_t *sample;   /* the last sample's bytes */
} csvz;

static void csvz_close(ct_data_file *f)
{
    ct_reader_csv.close(f);
    csvz *z = f->img;
    if (z) {
        free(z->text);
        free(z->rows);
        free(z->sample);
    }
    free(z);
    f->img = NULL;
}

/* gzip members (RFC 1952) one after another, zero padding between
 * allowed as Python's gzip reader does. */
static ct_status gunzip(const char *path, const uint8_t *b, uint64_t n, csvz *c)
{
    /* the last member's ISIZE as the first guess, trusted no further than
     * deflate can expand (1032:1); the buffer grows as needed */
    size_t cap = n >= 4 ? (size_t)(b[n - 4] | b[n - 3] << 8 | b[n - 2] << 16 | (uint32_t)b[n - 1] << 24) : 0;
    if (cap > 1032 * n + 4096)
        cap = (size_t)(1032 * n + 4096);
    cap = cap < 4096 ? 4096 : cap + 1;
    c->text = malloc(cap);
    if (!c->text)
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", path);
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return ct_fail(NULL, CT_ENOMEM, "%s: inflateInit2 failed", path);
    uint64_t off = 0;
    ct_status st = CT_OK;
    while (st == CT_OK) {
        while (off < n && b[off] == 0)
            off++;
        if (off == n)
            break;
        if (n - off < 2 || b[off] != 0x1f || b[off + 1] != 0x8b) {
            st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: not a gzip member", path,
                         (unsigned long long)off);
            break;
        }
        inflateReset(&z);
        for (;;) {
            if (c->len == cap) {
                uint8_t *t = realloc(c->text, cap * 2);
                if (!t) {
                    st = ct_fail(NULL, CT_ENOMEM, "%s: out of memory", path);
                    break;
                }
                c->text = t;
                cap *= 2;
            }
            uint64_t left = n - off;
            z.next_in = (Bytef *)(b + off);
            z.avail_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
            z.next_out = c->text + c->len;
            z.avail_out = (uInt)(cap - c->len > (1u << 30) ? (1u << 30) : cap - c->len);
            uInt in0 = z.avail_in, out0 = z.avail_out;
            int r = inflate(&z, Z_NO_FLUSH);
            off += in0 - z.avail_in;
            c->len += out0 - z.avail_out;
            if (r == Z_STREAM_END)
                break;
            if (r == Z_BUF_ERROR && off == n) {
                st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: truncated gzip stream", path,
                             (unsigned long long)off);
                break;
            }
            if (r != Z_OK && r != Z_BUF_ERROR) {
                st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: corrupt gzip data (zlib: %s)", path,
                             (unsigned long long)off, z.msg ? z.msg : "invalid stream");
                break;
            }
        }
    }
    inflateEnd(&z);
    return st;
}

/* Grows c->text to at least one more byte of room. */
static ct_status text_room(const char *path, csvz *c, size_t *cap)
{
    if (c->len < *cap)
        return CT_OK;
    size_t nc = *cap ? 2 * *cap : 65536;
    uint8_t *t = realloc(c->text, nc);
    if (!t)
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", path);
    c->text = t;
    *cap = nc;
    return CT_OK;
}

/* bz2 streams one after another (Python's bz2 reads concatenated streams). */
static ct_status bunzip(const char *path, const uint8_t *b, uint64_t n, csvz *c)
{
    size_t cap = 0;
    uint64_t off = 0;
    ct_status st = CT_OK;
    while (st == CT_OK && off < n) {
        bz_stream bz;
        memset(&bz, 0, sizeof bz);
        if (BZ2_bzDecompressInit(&bz, 0, 0) != BZ_OK)
            return ct_fail(NULL, CT_ENOMEM, "%s: BZ2_bzDecompressInit failed", path);
        for (;;) {
            if ((st = text_room(path, c, &cap)) != CT_OK)
                break;
            uint64_t left = n - off;
            bz.next_in = (char *)(b + off);
            bz.avail_in = left > (1u << 30) ? (1u << 30) : (unsigned)left;
            bz.next_out = (char *)c->text + c->len;
            bz.avail_out = cap - c->len > (1u << 30) ? (1u << 30) : (unsigned)(cap - c->len);
            unsigned in0 = bz.avail_in, out0 = bz.avail_out;
            int r = BZ2_bzDecompress(&bz);
            off += in0 - bz.avail_in;
            c->len += out0 - bz.avail_out;
            if (r == BZ_STREAM_END)
                break;
            if (r != BZ_OK) {
                st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: corrupt bz2 data (libbz2 error %d)",
                             path, (unsigned long long)off, r);
                break;
            }
            if (off == n && bz.avail_out > 0) {
                st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: truncated bz2 stream", path,
                             (unsigned long long)off);
                break;
            }
        }
        BZ2_bzDecompressEnd(&bz);
    }
    return st;
}

/* xz streams (concatenated, with padding, as Python's lzma reads them). */
static ct_status unxz(const char *path, const uint8_t *b, uint64_t n, csvz *c)
{
    lzma_stream xz = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&xz, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
        return ct_fail(NULL, CT_ENOMEM, "%s: lzma_stream_decoder failed", path);
    size_t cap = 0;
    ct_status st = CT_OK;
    xz.next_in = b;
    xz.avail_in = (size_t)n;
    for (;;) {
        if ((st = text_room(path, c, &cap)) != CT_OK)
            break;
        xz.next_out = c->text + c->len;
        xz.avail_out = cap - c->len;
        size_t out0 = xz.avail_out;
        lzma_ret r = lzma_code(&xz, xz.avail_in ? LZMA_RUN : LZMA_FINISH);
        c->len += out0 - xz.avail_out;
        if (r == LZMA_STREAM_END)
            break;
        if (r != LZMA_OK) {
            st = ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: %s xz data (liblzma error %d)", path,
                         (unsigned long long)(n - xz.avail_in),
                         r == LZMA_BUF_ERROR ? "truncated" : "corrupt", (int)r);
            break;
        }
    }
    lzma_end(&xz);
    return st;
}

static ct_status unzip_member(ct_data_file *f, const uint8_t *b, uint64_t n, csvz *c)
{
    const char *base = strrchr(f->path, '/');
    base = base ? base + 1 : f->path;
    char name[1024];
    size_t bl = strlen(base);
    if (bl >= sizeof name)
        return ct_fail(NULL, CT_EINVAL, "%s: name too long", f->path);
    memcpy(name, base, bl + 1);
    if (bl > 4 && strcmp(name + bl - 4, ".zip") == 0)
        name[bl - 4] = 0;
    ct_zip_entry e;
    ct_status st = ct_zip_find_mem(b, n, name, &e, f->path);
    if (st != CT_OK)
        return st;
    /* refused before allocating: more than deflate can produce (1032:1)
     * or a stored member whose sizes differ */
    if ((e.method == 8 && e.usize > e.csize * 1032 + 1024) || (e.method == 0 && e.usize != e.csize) ||
        e.usize > ((uint64_t)1 << 40))
        return ct_fail(NULL, CT_EFORMAT, "%s: zip member '%s' claims %llu bytes from %llu", f->path,
                       name, (unsigned long long)e.usize, (unsigned long long)e.csize);
    c->text = malloc((size_t)e.usize + 1);
    if (!c->text)
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", f->path);
    const uint8_t *data;
    if ((st = ct_zip_extract(b, &e, c->text, &data, f->path, name)) != CT_OK)
        return st;
    if (data != c->text)
        memcpy(c->text, data, (size_t)e.usize);
    c->len = (size_t)e.usize;
    return CT_OK;
}

static ct_status csvz_index(const char *path, csvz *c)
{
    size_t cap = 0;
    int header = 1;
    for (size_t off = 0; off < c->len;) {
        const uint8_t *nl = memchr(c->text + off, '\n', c->len - off);
        size_t end = nl ? (size_t)(nl - c->text) : c->len;
        if (!header && end > off) {
            if (c->nrows == cap) {
                cap = cap ? 2 * cap : 256;
                uint64_t *a = realloc(c->rows, cap * sizeof *a);
                if (!a)
                    return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", path);
                c->rows = a;
            }
            c->rows[c->nrows++] = off;
        }
        header = 0;
        off = end + 1;
    }
    return CT_OK;
}

/* The compression of a file from its first bytes: 0 none (plain csv),
 * 1 gzip, 2 zip, 3 bz2, 4 xz. */
static int csvz_kind(const uint8_t *m, size_t got)
{
    if (got >= 2 && m[0] == 0x1f && m[1] == 0x8b)
        return 1;
    if (got >= 4 && memcmp(m, "PK\3\4", 4) == 0)
        return 2;
    if (got >= 4 && memcmp(m, "BZh", 3) == 0 && m[3] >= '1' && m[3] <= '9')
        return 3;
    if (got >= 6 && memcmp(m, "\xfd" "7zXZ", 6) == 0)
        return 4;
    return 0;
}

/* Decompresses and indexes the n bytes at buf (ct_open_decoded's decode). */
static ct_status csvz_decode(ct_data_file *f, const uint8_t *buf, uint64_t n, void *img)
{
    csvz *c = img;
    int kind = csvz_kind(buf, n);
    ct_status st = kind == 1 ? gunzip(f->path, buf, n, c)
                 : kind == 2 ? unzip_member(f, buf, n, c)
                 : kind == 3 ? bunzip(f->path, buf, n, c)
                 : kind == 4 ? unxz(f->path, buf, n, c)
                             : ct_fail(NULL, CT_EFORMAT, "%s: changed while opening", f->path);
    if (st == CT_OK)
        st = csvz_index(f->path, c);
    if (st == CT_OK) {
        size_t longest = 0;
        for (size_t i = 0; i < c->nrows; i++) {
            size_t e = i + 1 < c->nrows ? (size_t)c->rows[i + 1] : c->len;
            if (e - (size_t)c->rows[i] > longest)
                longest = e - (size_t)c->rows[i];
        }
        c->sample = malloc(longest + 1);
        if (!c->sample)
            st = ct_fail(NULL, CT_ENOMEM, "%s: out of memory", f->path);
    }
    if (st != CT_OK)
        return st;
    f->nsamples = (int64_t)c->nrows;
    return CT_OK;
}

static ct_status csvz_open(ct_data_file *f)
{
    uint8_t magic[6] = {0};
    int fd = open(f->path, O_RDONLY);
    if (fd < 0)
        return ct_fail(NULL, CT_EIO, "cannot open '%s': %s", f->path, strerror(errno));
    ssize_t got = pread(fd, magic, sizeof magic, 0);
    close(fd);
    if (!csvz_kind(magic, got > 0 ? (size_t)got : 0))
        return ct_reader_csv.open(f);
    return ct_open_decoded(f, sizeof(csvz), csvz_decode);
}

/* Row i: the values after the index column, as uint8. */
static ct_status csvz_sample(ct_data_file *f, int64_t i, const uint8_t **data, size_t *len)
{
    csvz *c = f->img;
    if (!c)
        return ct_reader_csv.sample(f, i, data, len);
    if (i < 0 || i >= f->nsamples)
        return ct_fail(NULL, CT_EINVAL, "%s: row %lld is outside [0, %lld)", f->path, (long long)i,
                       (long long)f->nsamples);
    const uint8_t *p = c->text + c->rows[i], *e = memchr(p, '\n', c->len - (size_t)c->rows[i]);
    if (!e)
        e = c->text + c->len;
    *data = c->sample;
    return ct_csv_row(f->path, "decompressed offset", c->text, p, e, i, c->sample, len);
}

const ct_reader_vt ct_reader_csvz = {csvz_open, csvz_sample, csvz_close};
