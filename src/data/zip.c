/* The zip container of .npz files, as Python's zipfile writes it for
 * numpy.savez / savez_compressed (numpy/lib/_npyio_impl.py, _savez: each
 * member opened with force_zip64=True; zipfile.py: FileHeader,
 * _write_end_record, ZIP64_LIMIT = 2**31 - 1), and a reader for any zip
 * with stored or deflated members, Zip64 included. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "formats.h"

#define ZIP64_LIMIT ((1ULL << 31) - 1)

static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (get16(p + 2) << 16); }
static uint64_t get64(const uint8_t *p) { return get32(p) | ((uint64_t)get32(p + 4) << 32); }

/* zlib's crc32 of the whole buffer, PCLMULQDQ-folded where the CPU can
 * (crc32.c) */
static uint32_t crc32_big(const uint8_t *p, size_t n) { return ct_crc32(0, p, n); }

/* Deflates as zlib.compressobj(Z_DEFAULT_COMPRESSION, DEFLATED, -15). */
static ct_status deflate_raw(const uint8_t *in, size_t n, uint8_t **out, size_t *olen, const char *path)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return ct_fail(NULL, CT_ENOMEM, "%s: cannot start deflate", path);
    size_t cap = deflateBound(&z, n > 0xffffffffu ? 0xffffffffu : (uLong)n) + 64;
    if (n > 0xffffffffu)
        cap = n + n / 100 + 4096;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory compressing", path);
    }
    size_t done_in = 0;
    z.next_out = buf;
    z.avail_out = (uInt)(cap > 0xffffffffu ? 0xffffffffu : cap);
    int r;
    do {
        size_t chunk = n - done_in > (1u << 30) ? (1u << 30) : n - done_in;
        z.next_in = (Bytef *)(in + done_in);
        z.avail_in = (uInt)chunk;
        int flush = done_in + chunk == n ? Z_FINISH : Z_NO_FLUSH;
        r = deflate(&z, flush);
        done_in += chunk - z.avail_in;
        if (r == Z_STREAM_ERROR || r == Z_BUF_ERROR) {
            free(buf);
            deflateEnd(&z);
            return ct_fail(NULL, CT_EFORMAT, "%s: deflate failed", path);
        }
    } while (r != Z_STREAM_END);
    *olen = z.total_out;
    deflateEnd(&z);
    *out = buf;
    return CT_OK;
}

ct_status ct_write_all(FILE *f, const void *p, size_t len, const char *path)
{
    if (len && fwrite(p, 1, len, f) != len)
        return ct_fail(NULL, CT_EIO, "%s: write failed", path);
    return CT_OK;
}

ct_status ct_zip_write(FILE *f, const char *path, const ct_zip_member *m, int n, int deflate)
{
    uint64_t off = 0;
    uint64_t offs[8], csz[8];
    uint32_t crcs[8];
    ct_status st = CT_OK;
    if (n > 8)
        return ct_fail(NULL, CT_EINVAL, "%s: too many zip members", path);
    for (int i = 0; i < n; i++) {
        uint8_t *comp = NULL;
        size_t clen = m[i].len;
        const uint8_t *payload = m[i].data;
        if (deflate) {
            if ((st = deflate_raw(m[i].data, m[i].len, &comp, &clen, path)) != CT_OK)
                return st;
            payload = comp;
        }
        crcs[i] = crc32_big(m[i].data, m[i].len);
        csz[i] = clen;
        offs[i] = off;
        size_t nl = strlen(m[i].name);
        uint8_t h[30 + 64 + 20];
        ct_le32(h, 0x04034b50);
        h[4] = 45;                 /* extract_version: ZIP64_VERSION */
        h[5] = 0;
        ct_le16(h + 6, 0);           /* flag bits */
        ct_le16(h + 8, deflate ? 8 : 0);
        ct_le16(h + 10, 0);          /* 00:00:00 */
        ct_le16(h + 12, 0x21);       /* 1980-01-01 */
        ct_le32(h + 14, crcs[i]);
        ct_le32(h + 18, 0xffffffffu);
        ct_le32(h + 22, 0xffffffffu);
        ct_le16(h + 26, (uint32_t)nl);
        ct_le16(h + 28, 20);
        memcpy(h + 30, m[i].name, nl);
        ct_le16(h + 30 + nl, 1);
        ct_le16(h + 32 + nl, 16);
        ct_le64(h + 34 + nl, m[i].len);
        ct_le64(h + 42 + nl, clen);
        st = ct_write_all(f, h, 50 + nl, path);
        if (st == CT_OK)
            st = ct_write_all(f, payload, clen, path);
        free(comp);
        if (st != CT_OK)
            return st;
        off += 50 + nl + clen;
    }
    uint64_t cd_start = off;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(m[i].name);
        uint8_t h[46 + 64 + 28];
        uint64_t extra[3];
        int ne = 0;
        uint32_t fsz32 = (uint32_t)m[i].len, csz32 = (uint32_t)csz[i], off32 = (uint32_t)offs[i];
        if (m[i].len > ZIP64_LIMIT || csz[i] > ZIP64_LIMIT) {
            extra[ne++] = m[i].len;
            extra[ne++] = csz[i];
            fsz32 = csz32 = 0xffffffffu;
        }
        if (offs[i] > ZIP64_LIMIT) {
            extra[ne++] = offs[i];
            off32 = 0xffffffffu;
        }
        ct_le32(h, 0x02014b50);
        h[4] = 45;   /* create_version */
        h[5] = 3;    /* create_system: Unix */
        h[6] = 45;   /* extract_version */
        h[7] = 0;
        ct_le16(h + 8, 0);
        ct_le16(h + 10, deflate ? 8 : 0);
        ct_le16(h + 12, 0);
        ct_le16(h + 14, 0x21);
        ct_le32(h + 16, crcs[i]);
        ct_le32(h + 20, csz32);
        ct_le32(h + 24, fsz32);
        ct_le16(h + 28, (uint32_t)nl);
        ct_le16(h + 30, ne ? 4 + 8 * (uint32_t)ne : 0);
        ct_le16(h + 32, 0);
        ct_le16(h + 34, 0);
        ct_le16(h + 36, 0);
        ct_le32(h + 38, 0600u << 16); /* ?rw------- */
        ct_le32(h + 42, off32);
        memcpy(h + 46, m[i].name, nl);
        size_t hl = 46 + nl;
        if (ne) {
            ct_le16(h + hl, 1);
            ct_le16(h + hl + 2, 8 * (uint32_t)ne);
            for (int k = 0; k < ne; k++)
                ct_le64(h + hl + 4 + 8 * k, extra[k]);
            hl += 4 + 8 * (size_t)ne;
        }
        if ((st = ct_write_all(f, h, hl, path)) != CT_OK)
            return st;
        off += hl;
    }
    return ct_zip_write_end(f, path, (uint64_t)n, cd_start, off - cd_start,
                            cd_start > ZIP64_LIMIT || off - cd_start > ZIP64_LIMIT, 45, 45);
}

ct_status ct_zip_write_end(FILE *f, const char *path, uint64_t n, uint64_t cd_start,
                           uint64_t cd_size, int zip64, uint32_t made_by, uint32_t needed)
{
    uint8_t e[56 + 20 + 22];
    size_t el = 0;
    if (zip64) {
        ct_le32(e, 0x06064b50);
        ct_le64(e + 4, 44);
        ct_le16(e + 12, made_by);
        ct_le16(e + 14, needed);
        ct_le32(e + 16, 0);
        ct_le32(e + 20, 0);
        ct_le64(e + 24, n);
        ct_le64(e + 32, n);
        ct_le64(e + 40, cd_size);
        ct_le64(e + 48, cd_start);
        ct_le32(e + 56, 0x07064b50);
        ct_le32(e + 60, 0);
        ct_le64(e + 64, cd_start + cd_size);
        ct_le32(e + 72, 1);
        el = 76;
    }
    ct_le32(e + el, 0x06054b50);
    ct_le16(e + el + 4, 0);
    ct_le16(e + el + 6, 0);
    ct_le16(e + el + 8, (uint32_t)n);
    ct_le16(e + el + 10, (uint32_t)n);
    ct_le32(e + el + 12, cd_size > 0xffffffffu ? 0xffffffffu : (uint32_t)cd_size);
    ct_le32(e + el + 16, cd_start > 0xffffffffu ? 0xffffffffu : (uint32_t)cd_start);
    ct_le16(e + el + 20, 0);
    return ct_write_all(f, e, el + 22, path);
}

/* ---- reading ---- */

typedef struct zsrc {
    const uint8_t *mem;
    int fd;
    uint64_t size;
} zsrc;

static ct_status zread(const zsrc *s, uint64_t off, void *dst, size_t n, const char *what)
{
    if (off > s->size || n > s->size - off)
        return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: zip structure runs past the end of the file",
                       what, (unsigned long long)off);
    if (s->mem) {
        memcpy(dst, s->mem + off, n);
        return CT_OK;
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(s->fd, (uint8_t *)dst + got, n - got, (off_t)(off + got));
        if (r <= 0)
            return ct_fail(NULL, CT_EIO, "%s: offset %llu: read failed", what,
                           (unsigned long long)(off + got));
        got += (size_t)r;
    }
    return CT_OK;
}

static ct_status zip_find(const zsrc *s, const char *name, ct_zip_entry *e, const char *what)
{
    ct_status st;
    uint64_t tail = s->size < 65557 ? s->size : 65557;
    if (s->size < 22)
        return ct_fail(NULL, CT_EFORMAT, "%s: %llu bytes is too short for a zip archive", what,
                       (unsigned long long)s->size);
    uint8_t *t = malloc(tail);
    if (!t)
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", what);
    if ((st = zread(s, s->size - tail, t, tail, what)) != CT_OK) {
        free(t);
        return st;
    }
    int64_t eo = -1;
    for (int64_t i = (int64_t)tail - 22; i >= 0; i--)
        if (get32(t + i) == 0x06054b50) {
            eo = i;
            break;
        }
    if (eo < 0) {
        free(t);
        return ct_fail(NULL, CT_EFORMAT, "%s: no zip end-of-central-directory record (not an npz?)", what);
    }
    uint64_t eocd = s->size - tail + (uint64_t)eo;
    uint64_t count = get16(t + eo + 10), cd_size = get32(t + eo + 12), cd_off = get32(t + eo + 16);
    free(t);
    if (count == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        uint8_t loc[20], z64[56];
        if (eocd < 20 || (st = zread(s, eocd - 20, loc, 20, what)) != CT_OK || get32(loc) != 0x07064b50)
            return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: missing Zip64 locator", what,
                           (unsigned long long)(eocd >= 20 ? eocd - 20 : 0));
        uint64_t z = get64(loc + 8);
        if ((st = zread(s, z, z64, 56, what)) != CT_OK)
            return st;
        if (get32(z64) != 0x06064b50)
            return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: bad Zip64 end record", what,
                           (unsigned long long)z);
        count = get64(z64 + 32);
        cd_size = get64(z64 + 40);
        cd_off = get64(z64 + 48);
    }
    if (cd_off > s->size || cd_size > s->size - cd_off || count > cd_size / 46)
        return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: central directory out of range", what,
                       (unsigned long long)cd_off);
    uint8_t *cd = malloc(cd_size ? cd_size : 1);
    if (!cd)
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory", what);
    if ((st = zread(s, cd_off, cd, cd_size, what)) != CT_OK) {
        free(cd);
        return st;
    }
    size_t nl = strlen(name);
    uint64_t p = 0;
    int found = 0;
    for (uint64_t i = 0; i < count; i++) {
        if (p + 46 > cd_size || get32(cd + p) != 0x02014b50) {
            free(cd);
            return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: corrupt central directory entry", what,
                           (unsigned long long)(cd_off + p));
        }
        uint32_t fl = get16(cd + p + 28), xl = get16(cd + p + 30), cl = get16(cd + p + 32);
        if (p + 46 + fl + xl + cl > cd_size) {
            free(cd);
            return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: central directory entry overruns", what,
                           (unsigned long long)(cd_off + p));
        }
        if (fl == nl && !memcmp(cd + p + 46, name, nl)) {
            e->method = (int)get16(cd + p + 10);
            e->crc = get32(cd + p + 16);
            e->csize = get32(cd + p + 20);
            e->usize = get32(cd + p + 24);
            uint64_t lho = get32(cd + p + 42);
            /* Zip64 extra: the fields that are 0xffffffff, in order */
            const uint8_t *x = cd + p + 46 + fl, *xe = x + xl;
            while (x + 4 <= xe) {
                uint32_t id = get16(x), sz = get16(x + 2);
                if (x + 4 + sz > xe)
                    break;
                if (id == 1) {
                    const uint8_t *q = x + 4, *qe = q + sz;
                    if (e->usize == 0xffffffffu && q + 8 <= qe) { e->usize = get64(q); q += 8; }
                    if (e->csize == 0xffffffffu && q + 8 <= qe) { e->csize = get64(q); q += 8; }
                    if (lho == 0xffffffffu && q + 8 <= qe) { lho = get64(q); q += 8; }
                }
                x += 4 + sz;
            }
            uint8_t lh[30];
            if ((st = zread(s, lho, lh, 30, what)) != CT_OK) {
                free(cd);
                return st;
            }
            if (get32(lh) != 0x04034b50) {
                free(cd);
                return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: bad local header of '%s'", what,
                               (unsigned long long)lho, name);
            }
            e->data_off = lho + 30 + get16(lh + 26) + get16(lh + 28);
            found = 1;
            break;
        }
        p += 46 + fl + xl + cl;
    }
    free(cd);
    if (!found)
        return ct_fail(NULL, CT_EFORMAT, "%s: the archive has no member '%s'", what, name);
    if (e->method != 0 && e->method != 8)
        return ct_fail(NULL, CT_EUNSUPPORTED, "%s: member '%s' uses zip method %d (only stored and deflate)",
                       what, name, e->method);
    if (e->data_off > s->size || e->csize > s->size - e->data_off)
        return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: member '%s' is truncated (%llu bytes expected)",
                       what, (unsigned long long)e->data_off, name, (unsigned long long)e->csize);
    /* a stored member is its bytes: sizes that differ would make readers
     * run past the buffer (found by fuzz_npy) */
    if (e->method == 0 && e->usize != e->csize)
        return ct_fail(NULL, CT_EFORMAT,
                       "%s: offset %llu: stored member '%s' has %llu bytes but claims %llu uncompressed",
                       what, (unsigned long long)e->data_off, name, (unsigned long long)e->csize,
                       (unsigned long long)e->usize);
    return CT_OK;
}

ct_status ct_zip_find_mem(const uint8_t *buf, uint64_t n, const char *name, ct_zip_entry *e,
                          const char *what)
{
    zsrc s = {buf, -1, n};
    return zip_find(&s, name, e, what);
}

ct_status ct_zip_find_fd(int fd, uint64_t fsize, const char *name, ct_zip_entry *e, const char *what)
{
    zsrc s = {NULL, fd, fsize};
    return zip_find(&s, name, e, what);
}

ct_status ct_zip_extract(const uint8_t *buf, const ct_zip_entry *e, uint8_t *out,
                         const uint8_t **data, const char *what, const char *name)
{
    const uint8_t *m = buf + e->data_off;
    uint64_t in_done = 0;
    if (e->method == 8) {
        z_stream z;
        memset(&z, 0, sizeof z);
        if (inflateInit2(&z, -15) != Z_OK)
            return ct_fail(NULL, CT_ENOMEM, "%s: cannot start inflate", what);
        uint64_t out_done = 0;
        int r = Z_OK;
        while (r == Z_OK) {
            uInt ai = (uInt)(e->csize - in_done > (1u << 30) ? (1u << 30) : e->csize - in_done);
            uInt ao = (uInt)(e->usize + 1 - out_done > (1u << 30) ? (1u << 30)
                                                                 : e->usize + 1 - out_done);
            z.next_in = (Bytef *)(m + in_done);
            z.avail_in = ai;
            z.next_out = out + out_done;
            z.avail_out = ao;
            r = inflate(&z, Z_NO_FLUSH);
            in_done += ai - z.avail_in;
            out_done += ao - z.avail_out;
            if (r == Z_BUF_ERROR && (ai == 0 || ao == 0))
                break;
        }
        inflateEnd(&z);
        if (r != Z_STREAM_END || out_done != e->usize)
            return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: corrupt deflate data in %s", what,
                           (unsigned long long)(e->data_off + in_done), name);
        m = out;
    }
    /* the pass that reads every byte of the member, as Python's zipfile
     * checks it; PCLMULQDQ folding (crc32.c: zlib's crc32 took ~13% of a
     * warm unet3d epoch) */
    uint32_t crc = ct_crc32(0, m, (size_t)e->usize);
    if (crc != e->crc)
        return ct_fail(NULL, CT_EFORMAT,
                       "%s: offset %llu: CRC-32 mismatch in %s (stored %08x, computed %08x)", what,
                       (unsigned long long)e->data_off, name, e->crc, crc);
    *data = m;
    return CT_OK;
}
