/* ctrain tool — .npy arrays for `ctrain train` data and `ctrain predict`
 * output, on top of the data pipeline's .npy header parser and writer
 * (src/data/npy.c), converted to float (and int64 for integral dtypes). */
#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/formats.h"

/* Reads path, or member NAME.npy of the archive for "FILE.npz:NAME", into
 * *file (to free) and points *arr and *len at the .npy bytes. */
static int load_npy_bytes(const char *path, uint8_t **file, uint8_t **inflated,
                          const uint8_t **arr, uint64_t *len, char *err, size_t errcap)
{
    char fname[4096], member[256];
    const char *colon = strstr(path, ".npz:");
    size_t fl = colon ? (size_t)(colon - path) + 4 : strlen(path);
    if (fl >= sizeof fname || (colon && strlen(colon + 5) + 5 > sizeof member)) {
        snprintf(err, errcap, "%s: path too long", path);
        return -1;
    }
    memcpy(fname, path, fl);
    fname[fl] = 0;
    if (!colon && fl > 4 && !strcmp(path + fl - 4, ".npz")) {
        snprintf(err, errcap, "%s: name the array in the archive: %s:NAME (e.g. %s:x)", path,
                 path, path);
        return -1;
    }
    uint64_t flen = 0;
    if (ct_read_file(fname, 0, file, &flen)) {
        snprintf(err, errcap, "%s", ct_errmsg());
        return -1;
    }
    if (!colon) {
        *arr = *file;
        *len = flen;
        return 0;
    }
    snprintf(member, sizeof member, "%s.npy", colon + 5);
    ct_zip_entry e;
    if (ct_zip_find_mem(*file, flen, member, &e, fname)) {
        snprintf(err, errcap, "%s", ct_errmsg());
        return -1;
    }
    if (e.method == 8 && !(*inflated = malloc(e.usize + 1))) {
        snprintf(err, errcap, "%s: out of memory for %s", fname, member);
        return -1;
    }
    if (ct_zip_extract(*file, &e, *inflated, arr, fname, member)) {
        snprintf(err, errcap, "%s", ct_errmsg());
        return -1;
    }
    *len = e.usize;
    return 0;
}

int ct_npy_read(const char *path, ct_npy *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    uint8_t *file = NULL, *inflated = NULL;
    const uint8_t *buf = NULL;
    uint64_t len = 0;
    ct_npy_info info;
    if (load_npy_bytes(path, &file, &inflated, &buf, &len, err, errcap))
        goto fail_early;
    if (ct_npy_parse(buf, (size_t)len, &info, path, 0)) {
        snprintf(err, errcap, "%s", ct_errmsg());
        goto fail_early;
    }
    const char *t = info.descr;
    static const char *const ok[] = {"<f4", "<f8", "<i8", "<i4", "|u1", "|b1"};
    int known = 0;
    for (size_t k = 0; k < sizeof ok / sizeof *ok; k++)
        known |= !strcmp(t, ok[k]);
    int rc = -1;
    if (!known) {
        snprintf(err, errcap, "%s: dtype %s is not supported (float32, float64, int64, int32, "
                 "uint8, bool)", path, t);
        goto done;
    }
    if (info.fortran) {
        snprintf(err, errcap, "%s: Fortran-order arrays are not supported (save C order)", path);
        goto done;
    }
    if (len - info.header_len != ct_npy_data_bytes(&info)) {
        snprintf(err, errcap, "%s: %llu data bytes, the header describes %llu (truncated?)", path,
                 (unsigned long long)(len - info.header_len),
                 (unsigned long long)ct_npy_data_bytes(&info));
        goto done;
    }
    memcpy(out->dtype, t, 4); /* one of ok[]: 3 characters and NUL */
    out->ndim = info.ndim;
    out->numel = 1;
    for (int d = 0; d < info.ndim; d++) {
        out->shape[d] = info.shape[d];
        out->numel *= (size_t)info.shape[d];
    }
    out->f = malloc(out->numel * sizeof(float) + 1);
    int integral = t[1] == 'i' || t[1] == 'u' || t[1] == 'b';
    if (integral)
        out->i = malloc(out->numel * sizeof(int64_t) + 1);
    if (!out->f || (integral && !out->i)) {
        snprintf(err, errcap, "%s: out of memory", path);
        goto done;
    }
    const uint8_t *raw = buf + info.header_len;
    for (size_t k = 0; k < out->numel; k++) {
        double v;
        int64_t iv = 0;
        if (!strcmp(t, "<f4")) {
            float x;
            memcpy(&x, raw + 4 * k, 4);
            v = x;
        } else if (!strcmp(t, "<f8")) {
            memcpy(&v, raw + 8 * k, 8);
        } else if (!strcmp(t, "<i8")) {
            memcpy(&iv, raw + 8 * k, 8);
            v = (double)iv;
        } else if (!strcmp(t, "<i4")) {
            int32_t x;
            memcpy(&x, raw + 4 * k, 4);
            iv = x;
            v = x;
        } else {
            iv = raw[k];
            v = (double)iv;
        }
        out->f[k] = (float)v;
        if (out->i)
            out->i[k] = iv;
    }
    rc = 0;
done:
    if (rc)
        ct_npy_free(out);
    free(inflated);
    free(file);
    return rc;
fail_early:
    free(inflated);
    free(file);
    return -1;
}

void ct_npy_free(ct_npy *a)
{
    free(a->f);
    free(a->i);
    a->f = NULL;
    a->i = NULL;
}

int ct_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape,
                     char *err, size_t errcap)
{
    uint8_t hdr[512];
    size_t hl = ct_npy_header(hdr, sizeof hdr, "<f4", shape, ndim);
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    FILE *fp = hl ? fopen(path, "wb") : NULL;
    if (!fp) {
        snprintf(err, errcap, "%s: cannot create", path);
        return -1;
    }
    int bad = ct_write_all(fp, hdr, hl, path) || ct_write_all(fp, data, n * sizeof *data, path);
    if (fclose(fp) || bad) {
        snprintf(err, errcap, "%s: write failed", path);
        return -1;
    }
    return 0;
}
