#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const dtype_names[CT_ST_NDTYPES] = {
    "F32", "F64", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
static const size_t dtype_sizes[CT_ST_NDTYPES] = {4, 8, 2, 2, 8, 4, 2, 1, 1, 1};

int ct_st_dtype_parse(const char *s)
{
    for (int i = 0; i < CT_ST_NDTYPES; i++)
        if (!strcmp(s, dtype_names[i]))
            return i;
    return -1;
}
const char *ct_st_dtype_name(ct_st_dtype d) { return dtype_names[d]; }
size_t ct_st_dtype_size(ct_st_dtype d) { return dtype_sizes[d]; }

void ct_st_free(ct_st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->tensors[i].name);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_vals);
    free(f->owned);
    memset(f, 0, sizeof *f);
}

/* A JSON number that is a non-negative integer below 2^53. */
static int json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j))
        return 0;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || v != floor(v))
        return 0;
    *out = (uint64_t)v;
    return 1;
}

static int cmp_begin(const void *a, const void *b)
{
    const ct_st_tensor *x = *(ct_st_tensor *const *)a, *y = *(ct_st_tensor *const *)b;
    const char *xa = x->data, *ya = y->data;
    return xa < ya ? -1 : xa > ya;
}

ct_status ct_st_parse(const void *buf, size_t len, const char *what, ct_st_file *f, ct_err *e)
{
    memset(f, 0, sizeof *f);
    const unsigned char *b = buf;
    if (!buf || len < 8)
        return ct_fail(e, CT_EFORMAT, "%s: not a safetensors file: %zu bytes, need at least 8",
                       what, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | b[i];
    if (n > CT_ST_MAX_HEADER)
        return ct_fail(e, CT_EFORMAT, "%s: header size %llu at byte 0 exceeds the %u-byte limit",
                       what, (unsigned long long)n, CT_ST_MAX_HEADER);
    if (n > len - 8)
        return ct_fail(e, CT_EFORMAT,
                       "%s: truncated: header of %llu bytes announced, only %zu bytes follow",
                       what, (unsigned long long)n, len - 8);
    if (n < 2 || b[8] != '{')
        return ct_fail(e, CT_EFORMAT, "%s: header at byte 8 is not a JSON object", what);
    const char *hdr = (const char *)b + 8;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)n, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        size_t at = end ? (size_t)(end - hdr) : 0;
        const char *err = cJSON_GetErrorPtr();
        if (err && err >= hdr && err < hdr + n)
            at = (size_t)(err - hdr);
        cJSON_Delete(root);
        return ct_fail(e, CT_EFORMAT, "%s: header JSON is invalid near byte %zu", what, 8 + at);
    }
    for (const char *p = end; p < hdr + n; p++)
        if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != 0) {
            cJSON_Delete(root);
            return ct_fail(e, CT_EFORMAT, "%s: unexpected bytes after the header JSON at byte %zu",
                           what, (size_t)(8 + (p - hdr)));
        }
    const unsigned char *data = b + 8 + n;
    size_t data_len = len - 8 - (size_t)n;
    size_t count = (size_t)cJSON_GetArraySize(root);
    ct_status st = CT_OK;
    ct_st_tensor **order = NULL;
    f->tensors = calloc(count ? count : 1, sizeof *f->tensors);
    f->meta_keys = calloc(count ? count : 1, sizeof(char *));
    f->meta_vals = calloc(count ? count : 1, sizeof(char *));
    order = calloc(count ? count : 1, sizeof *order);
    if (!f->tensors || !f->meta_keys || !f->meta_vals || !order) {
        st = ct_fail(e, CT_ENOMEM, "%s: out of memory reading the header", what);
        goto out;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        const char *key = item->string;
        if (!strcmp(key, "__metadata__")) {
            if (!cJSON_IsObject(item)) {
                st = ct_fail(e, CT_EFORMAT, "%s: __metadata__ is not an object", what);
                goto out;
            }
            const cJSON *m;
            cJSON_ArrayForEach(m, item)
            {
                if (!cJSON_IsString(m)) {
                    st = ct_fail(e, CT_EFORMAT, "%s: __metadata__ value '%s' is not a string", what,
                                 m->string);
                    goto out;
                }
                if (f->n_meta == count) { /* more metadata than members: realloc */
                    size_t c2 = f->n_meta * 2;
                    char **k2 = realloc(f->meta_keys, c2 * sizeof *k2);
                    if (k2)
                        f->meta_keys = k2;
                    char **v2 = realloc(f->meta_vals, c2 * sizeof *v2);
                    if (v2)
                        f->meta_vals = v2;
                    if (!k2 || !v2) {
                        st = ct_fail(e, CT_ENOMEM, "%s: out of memory reading metadata", what);
                        goto out;
                    }
                    count = c2;
                }
                f->meta_keys[f->n_meta] = strdup(m->string);
                f->meta_vals[f->n_meta] = strdup(m->valuestring);
                f->n_meta++;
                if (!f->meta_keys[f->n_meta - 1] || !f->meta_vals[f->n_meta - 1]) {
                    st = ct_fail(e, CT_ENOMEM, "%s: out of memory reading metadata", what);
                    goto out;
                }
            }
            continue;
        }
        if (ct_st_find(f, key)) {
            st = ct_fail(e, CT_EFORMAT, "%s: tensor '%s' appears twice", what, key);
            goto out;
        }
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(item, "dtype");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(item, "shape");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
        if (!cJSON_IsObject(item) || !cJSON_IsString(jd) || !cJSON_IsArray(js) ||
            !cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2) {
            st = ct_fail(e, CT_EFORMAT,
                         "%s: tensor '%s' lacks dtype, shape or data_offsets [begin, end]", what,
                         key);
            goto out;
        }
        ct_st_tensor *t = &f->tensors[f->n];
        int dt = ct_st_dtype_parse(jd->valuestring);
        if (dt < 0) {
            st = ct_fail(e, CT_EFORMAT, "%s: tensor '%s' has unknown dtype '%s'", what, key,
                         jd->valuestring);
            goto out;
        }
        t->dtype = (ct_st_dtype)dt;
        int nd = cJSON_GetArraySize(js);
        if (nd > CT_ST_MAX_DIMS) {
            st = ct_fail(e, CT_EFORMAT, "%s: tensor '%s' has %d dimensions, at most %d supported",
                         what, key, nd, CT_ST_MAX_DIMS);
            goto out;
        }
        t->ndim = nd;
        uint64_t numel = 1;
        for (int d = 0; d < nd; d++) {
            uint64_t v;
            if (!json_uint(cJSON_GetArrayItem(js, d), &v)) {
                st = ct_fail(e, CT_EFORMAT, "%s: tensor '%s' has an invalid shape", what, key);
                goto out;
            }
            t->shape[d] = (int64_t)v;
            if (v && numel > UINT64_MAX / v / 8) {
                st = ct_fail(e, CT_EFORMAT, "%s: tensor '%s' shape overflows", what, key);
                goto out;
            }
            numel *= v;
        }
        uint64_t o0, o1;
        if (!json_uint(cJSON_GetArrayItem(jo, 0), &o0) ||
            !json_uint(cJSON_GetArrayItem(jo, 1), &o1) || o0 > o1 || o1 > data_len) {
            st = ct_fail(e, CT_EFORMAT,
                         "%s: tensor '%s' data_offsets are invalid or past the end of the "
                         "%zu-byte data buffer",
                         what, key, data_len);
            goto out;
        }
        if (o1 - o0 != numel * dtype_sizes[dt]) {
            st = ct_fail(e, CT_EFORMAT,
                         "%s: tensor '%s' spans %llu bytes but its shape and dtype need %llu",
                         what, key, (unsigned long long)(o1 - o0),
                         (unsigned long long)(numel * dtype_sizes[dt]));
            goto out;
        }
        t->numel = (size_t)numel;
        t->nbytes = (size_t)(o1 - o0);
        t->data = data + o0;
        t->name = strdup(key);
        if (!t->name) {
            st = ct_fail(e, CT_ENOMEM, "%s: out of memory reading the header", what);
            goto out;
        }
        order[f->n] = t;
        f->n++;
    }
    /* No overlaps and no holes: sorted by offset, each tensor starts where the
     * previous ended and the last ends at the end of the file. */
    qsort(order, f->n, sizeof *order, cmp_begin);
    size_t at = 0;
    for (size_t i = 0; i < f->n; i++) {
        size_t o0 = (size_t)((const unsigned char *)order[i]->data - data);
        if (o0 != at) {
            st = ct_fail(e, CT_EFORMAT, "%s: tensor '%s' at data offset %zu %s", what,
                         order[i]->name, o0, o0 < at ? "overlaps another" : "leaves a hole");
            goto out;
        }
        at += order[i]->nbytes;
    }
    if (at != data_len)
        st = ct_fail(e, CT_EFORMAT, "%s: %zu bytes after the last tensor (file size mismatch)",
                     what, data_len - at);
out:
    free(order);
    cJSON_Delete(root);
    if (st)
        ct_st_free(f);
    return st;
}

ct_status ct_read_whole_file(const char *path, void **buf, size_t *len, ct_err *e)
{
    *buf = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return ct_fail(e, CT_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(fp);
        return ct_fail(e, CT_EIO, "%s: not a regular file", path);
    }
    size_t n = (size_t)sb.st_size;
    void *p = malloc(n ? n : 1);
    if (!p) {
        fclose(fp);
        return ct_fail(e, CT_ENOMEM, "%s: out of memory for %zu bytes", path, n);
    }
    if (n && fread(p, 1, n, fp) != n) {
        free(p);
        fclose(fp);
        return ct_fail(e, CT_EIO, "%s: read failed", path);
    }
    fclose(fp);
    *buf = p;
    *len = n;
    return CT_OK;
}

ct_status ct_st_read_file(const char *path, ct_st_file *f, ct_err *e)
{
    void *buf;
    size_t len;
    memset(f, 0, sizeof *f);
    ct_status st = ct_read_whole_file(path, &buf, &len, e);
    if (st)
        return st;
    st = ct_st_parse(buf, len, path, f, e);
    if (st) {
        free(buf);
        return st;
    }
    f->owned = buf;
    return CT_OK;
}

const ct_st_tensor *ct_st_find(const ct_st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->tensors[i].name, name))
            return &f->tensors[i];
    return NULL;
}

const char *ct_st_meta(const ct_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key))
            return f->meta_vals[i];
    return NULL;
}

ct_status ct_st_add(ct_st_writer *w, const char *name, ct_st_dtype dtype, int ndim,
                    const int64_t *shape, const void *data, ct_err *e)
{
    if (ndim < 0 || ndim > CT_ST_MAX_DIMS)
        return ct_fail(e, CT_EINVAL, "safetensors: tensor '%s' has %d dimensions", name, ndim);
    if (w->n == w->cap) {
        size_t c = w->cap ? 2 * w->cap : 16;
        ct_st_tensor *t = realloc(w->tensors, c * sizeof *t);
        if (!t)
            return ct_fail(e, CT_ENOMEM, "safetensors: out of memory");
        w->tensors = t;
        w->cap = c;
    }
    ct_st_tensor *t = &w->tensors[w->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        return ct_fail(e, CT_ENOMEM, "safetensors: out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->numel *= (size_t)shape[d];
    }
    t->nbytes = t->numel * dtype_sizes[dtype];
    t->data = data;
    w->n++;
    return CT_OK;
}

ct_status ct_st_add_meta(ct_st_writer *w, const char *key, const char *val, ct_err *e)
{
    if (w->n_meta == w->meta_cap) {
        size_t c = w->meta_cap ? 2 * w->meta_cap : 8;
        char **k = realloc(w->meta_keys, c * sizeof *k);
        if (k)
            w->meta_keys = k;
        char **v = realloc(w->meta_vals, c * sizeof *v);
        if (v)
            w->meta_vals = v;
        if (!k || !v)
            return ct_fail(e, CT_ENOMEM, "safetensors: out of memory");
        w->meta_cap = c;
    }
    w->meta_keys[w->n_meta] = strdup(key);
    w->meta_vals[w->n_meta] = strdup(val);
    w->n_meta++;
    if (!w->meta_keys[w->n_meta - 1] || !w->meta_vals[w->n_meta - 1])
        return ct_fail(e, CT_ENOMEM, "safetensors: out of memory");
    return CT_OK;
}

void ct_st_writer_free(ct_st_writer *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->tensors[i].name);
    for (size_t i = 0; i < w->n_meta; i++) {
        free(w->meta_keys[i]);
        free(w->meta_vals[i]);
    }
    free(w->tensors);
    free(w->meta_keys);
    free(w->meta_vals);
    memset(w, 0, sizeof *w);
}

ct_status ct_st_serialize(const ct_st_writer *w, void **buf, size_t *len, ct_err *e)
{
    *buf = NULL;
    *len = 0;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return ct_fail(e, CT_ENOMEM, "safetensors: out of memory");
    if (w->n_meta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (size_t i = 0; m && i < w->n_meta; i++)
            if (!cJSON_AddStringToObject(m, w->meta_keys[i], w->meta_vals[i]))
                m = NULL;
        if (!m) {
            cJSON_Delete(root);
            return ct_fail(e, CT_ENOMEM, "safetensors: out of memory");
        }
    }
    size_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const ct_st_tensor *t = &w->tensors[i];
        cJSON *o = cJSON_AddObjectToObject(root, t->name);
        cJSON *shape = o ? cJSON_AddArrayToObject(o, "shape") : NULL;
        cJSON *offs = NULL;
        int ok = o && cJSON_AddStringToObject(o, "dtype", dtype_names[t->dtype]) && shape;
        for (int d = 0; ok && d < t->ndim; d++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        if (ok)
            offs = cJSON_AddArrayToObject(o, "data_offsets");
        ok = ok && offs && cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off)) &&
             cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + t->nbytes)));
        if (!ok) {
            cJSON_Delete(root);
            return ct_fail(e, CT_ENOMEM, "safetensors: out of memory");
        }
        off += t->nbytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json)
        return ct_fail(e, CT_ENOMEM, "safetensors: out of memory");
    size_t hl = strlen(json);
    size_t padded = (hl + 7) & ~(size_t)7; /* data starts 8-byte aligned */
    size_t total = 8 + padded + off;
    unsigned char *out = malloc(total);
    if (!out) {
        free(json);
        return ct_fail(e, CT_ENOMEM, "safetensors: out of memory for %zu bytes", total);
    }
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(out + 8, json, hl);
    memset(out + 8 + hl, ' ', padded - hl);
    free(json);
    unsigned char *d = out + 8 + padded;
    for (size_t i = 0; i < w->n; i++) {
        if (w->tensors[i].nbytes)
            memcpy(d, w->tensors[i].data, w->tensors[i].nbytes);
        d += w->tensors[i].nbytes;
    }
    *buf = out;
    *len = total;
    return CT_OK;
}

ct_status ct_write_file_atomic(const char *path, const void *buf, size_t len, ct_err *e)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp)
        return ct_fail(e, CT_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        ct_status st = ct_fail(e, CT_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return st;
    }
    const char *p = buf;
    size_t left = len;
    while (left) {
        ssize_t k = write(fd, p, left);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            ct_status st = ct_fail(e, CT_EIO, "%s: write failed: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return st;
        }
        p += k;
        left -= (size_t)k;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        ct_status st = ct_fail(e, CT_EIO, "%s: fsync/close failed: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return st;
    }
    if (rename(tmp, path) != 0) {
        ct_status st = ct_fail(e, CT_EIO, "%s: rename failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return CT_OK;
}

ct_status ct_st_write_file(const ct_st_writer *w, const char *path, ct_err *e)
{
    void *buf;
    size_t len;
    ct_status st = ct_st_serialize(w, &buf, &len, e);
    if (st)
        return st;
    st = ct_write_file_atomic(path, buf, len, e);
    free(buf);
    return st;
}
