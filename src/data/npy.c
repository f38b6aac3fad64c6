/* The .npy format (numpy/lib/format.py): magic "\x93NUMPY", version,
 * little-endian header length, a Python dict literal padded with spaces so
 * the data starts at a multiple of 64, then the raw array. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"

size_t ct_npy_header(uint8_t *buf, size_t cap, const char *descr, const int64_t *shape, int ndim)
{
    char dict[512], shp[256];
    size_t used = 0;
    shp[0] = 0;
    used += (size_t)snprintf(shp, sizeof shp, "(");
    for (int i = 0; i < ndim; i++)
        used += (size_t)snprintf(shp + used, sizeof shp - used, "%s%lld", i ? ", " : "",
                                 (long long)shape[i]);
    snprintf(shp + used, sizeof shp - used, "%s)", ndim == 1 ? "," : "");
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                       descr, shp);
    /* format._write_array_header: room to grow the first axis in place */
    if (ndim > 0) {
        char first[32];
        int fl = snprintf(first, sizeof first, "%lld", (long long)shape[0]);
        for (int i = 0; i < 21 - fl; i++)
            dict[len++] = ' ';
        dict[len] = 0;
    }
    /* format._wrap_header, version 1.0 */
    size_t hlen = (size_t)len + 1;
    size_t pad = 64 - ((8 + 2 + hlen) % 64);
    size_t total = 10 + (size_t)len + pad + 1;
    if (total > cap || hlen + pad > 65535)
        return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)((hlen + pad) & 0xff);
    buf[9] = (uint8_t)((hlen + pad) >> 8);
    memcpy(buf + 10, dict, (size_t)len);
    memset(buf + 10 + len, ' ', pad);
    buf[total - 1] = '\n';
    return total;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

ct_status ct_npy_parse(const uint8_t *buf, size_t n, ct_npy_info *info, const char *what,
                       uint64_t base)
{
    memset(info, 0, sizeof *info);
    if (n < 10 || memcmp(buf, "\x93NUMPY", 6))
        return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: not a .npy array (bad magic)", what,
                       (unsigned long long)base);
    int major = buf[6];
    size_t hl, start;
    if (major == 1) {
        hl = (size_t)buf[8] | ((size_t)buf[9] << 8);
        start = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12)
            return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: truncated .npy header", what,
                           (unsigned long long)base);
        hl = (size_t)buf[8] | ((size_t)buf[9] << 8) | ((size_t)buf[10] << 16) | ((size_t)buf[11] << 24);
        start = 12;
    } else {
        return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: unsupported .npy version %d", what,
                       (unsigned long long)base + 6, major);
    }
    if (hl > n - start || hl > (1u << 20))
        return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: .npy header length %zu exceeds the data",
                       what, (unsigned long long)base + 8, hl);
    const char *h = (const char *)buf + start, *end = h + hl;
    /* descr */
    const char *d = NULL, *fo = NULL, *sh = NULL;
    for (const char *p = h; p + 8 < end; p++) {
        if (!d && !strncmp(p, "'descr'", 7))
            d = p + 7;
        else if (!fo && p + 15 < end && !strncmp(p, "'fortran_order'", 15))
            fo = p + 15;
        else if (!sh && !strncmp(p, "'shape'", 7))
            sh = p + 7;
    }
    if (!d || !fo || !sh || *h != '{')
        return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: .npy header lacks descr, fortran_order or shape",
                       what, (unsigned long long)base + start);
    d = skip_ws(d, end);
    if (d >= end || *d != ':')
        goto bad;
    d = skip_ws(d + 1, end);
    if (d >= end || (*d != '\'' && *d != '"'))
        goto bad;
    char q = *d++;
    size_t dl = 0;
    while (d < end && *d != q && dl + 1 < sizeof info->descr)
        info->descr[dl++] = *d++;
    if (d >= end || *d != q)
        goto bad;
    fo = skip_ws(fo, end);
    if (fo >= end || *fo != ':')
        goto bad;
    fo = skip_ws(fo + 1, end);
    if (end - fo >= 4 && !strncmp(fo, "True", 4))
        info->fortran = 1;
    else if (!(end - fo >= 5 && !strncmp(fo, "False", 5)))
        goto bad;
    sh = skip_ws(sh, end);
    if (sh >= end || *sh != ':')
        goto bad;
    sh = skip_ws(sh + 1, end);
    if (sh >= end || *sh != '(')
        goto bad;
    sh++;
    for (;;) {
        sh = skip_ws(sh, end);
        if (sh >= end)
            goto bad;
        if (*sh == ')')
            break;
        if (*sh < '0' || *sh > '9' || info->ndim >= 8)
            goto bad;
        long long v = 0;
        while (sh < end && *sh >= '0' && *sh <= '9') {
            if (v > (1LL << 50))
                goto bad;
            v = v * 10 + (*sh++ - '0');
        }
        info->shape[info->ndim++] = v;
        sh = skip_ws(sh, end);
        if (sh < end && *sh == ',')
            sh++;
    }
    /* item size from descr: [<>|=]?[a-zA-Z]digits */
    const char *t = info->descr;
    if (*t == '<' || *t == '>' || *t == '|' || *t == '=')
        t++;
    if (!*t || !t[1])
        goto bad;
    if (info->descr[0] == '>' && strcmp(t, "u1") && strcmp(t, "i1") && strcmp(t, "b1"))
        return ct_fail(NULL, CT_EUNSUPPORTED, "%s: big-endian dtype '%s' is not supported", what,
                       info->descr);
    info->itemsize = (size_t)atoi(t + 1);
    if (info->itemsize == 0 || info->itemsize > 16 || strchr("uifcb", t[0]) == NULL)
        return ct_fail(NULL, CT_EUNSUPPORTED, "%s: dtype '%s' is not supported", what, info->descr);
    info->header_len = start + hl;
    return CT_OK;
bad:
    return ct_fail(NULL, CT_EFORMAT, "%s: offset %llu: corrupt .npy header", what,
                   (unsigned long long)base + start);
}

uint64_t ct_npy_data_bytes(const ct_npy_info *info)
{
    uint64_t n = info->itemsize;
    for (int i = 0; i < info->ndim; i++) {
        if (info->shape[i] && n > UINT64_MAX / (uint64_t)info->shape[i])
            return UINT64_MAX;
        n *= (uint64_t)info->shape[i];
    }
    return n;
}
