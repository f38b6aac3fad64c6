/* ctrain tool — labelled CSV reader (plain or gzip, through zlib's gz*
 * functions, which read uncompressed files transparently). */
#include "digits.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define LINE_CAP 8192

static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && cap)
        vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return 0;
    return 1;
}

static const char *skip_space(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Parses one line into x[0..nfeat) and *y. Returns 0, or -1 with a message
 * (without file and line: the caller adds them). */
static int parse_line(const char *line, size_t nfeat, int nclass, float *x, int *y, char *msg,
                      size_t cap)
{
    const char *s = line;
    for (size_t col = 0; col <= nfeat; col++) {
        s = skip_space(s);
        char *end;
        errno = 0;
        if (col < nfeat) {
            double v = strtod(s, &end);
            if (end == s || errno == ERANGE || !isfinite(v)) {
                set_err(msg, cap, "column %zu: expected a finite number", col + 1);
                return -1;
            }
            x[col] = (float)v;
        } else {
            long v = strtol(s, &end, 10);
            if (end == s || errno == ERANGE) {
                set_err(msg, cap, "column %zu: expected an integer class label", col + 1);
                return -1;
            }
            if (v < 0 || v >= nclass) {
                set_err(msg, cap, "column %zu: class label %ld is outside 0..%d", col + 1, v,
                        nclass - 1);
                return -1;
            }
            *y = (int)v;
        }
        s = skip_space(end);
        if (col < nfeat) {
            if (*s != ',') {
                set_err(msg, cap, "expected %zu comma-separated columns, found %zu", nfeat + 1,
                        col + 1);
                return -1;
            }
            s++;
        }
    }
    while (*s == '\r' || *s == '\n' || *s == ' ' || *s == '\t')
        s++;
    if (*s) {
        set_err(msg, cap, "expected %zu comma-separated columns, found more", nfeat + 1);
        return -1;
    }
    return 0;
}

void ct_dataset_free(ct_dataset *d)
{
    if (!d)
        return;
    free(d->x);
    free(d->y);
    memset(d, 0, sizeof *d);
}

int ct_dataset_load(ct_dataset *out, const char *path, size_t nfeat, int nclass, char *err,
                    size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (nfeat == 0 || nclass < 1) {
        set_err(err, errcap, "%s: invalid data set shape", path);
        return -1;
    }
    gzFile f = gzopen(path, "rb");
    if (!f) {
        set_err(err, errcap, "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
        return -1;
    }
    char *line = malloc(LINE_CAP);
    size_t cap = 0, n = 0, lineno = 0, first_blank = 0;
    float *x = NULL;
    int *y = NULL;
    char msg[160];
    int rc = -1;
    if (!line) {
        set_err(err, errcap, "%s: out of memory", path);
        goto done;
    }
    for (;;) {
        char *got = gzgets(f, line, LINE_CAP);
        int zerr;
        const char *zmsg = gzerror(f, &zerr);
        if (zerr == Z_ERRNO) {
            set_err(err, errcap, "%s: line %zu: read error: %s", path, lineno + 1,
                    strerror(errno));
            goto done;
        }
        if (zerr != Z_OK && zerr != Z_STREAM_END) {
            /* zlib's message is "PATH: what"; keep the what */
            size_t plen = strlen(path);
            if (!strncmp(zmsg, path, plen) && !strncmp(zmsg + plen, ": ", 2))
                zmsg += plen + 2;
            set_err(err, errcap, "%s: line %zu: corrupt or truncated data (%s)", path, lineno + 1,
                    zmsg);
            goto done;
        }
        if (!got)
            break;
        lineno++;
        size_t len = strlen(line);
        if (len == LINE_CAP - 1 && line[len - 1] != '\n' && !gzeof(f)) {
            set_err(err, errcap, "%s: line %zu: longer than %d bytes", path, lineno, LINE_CAP - 2);
            goto done;
        }
        if (is_blank(line)) {
            if (!first_blank)
                first_blank = lineno;
            continue;
        }
        if (first_blank) {
            set_err(err, errcap, "%s: line %zu: blank line inside the data", path, first_blank);
            goto done;
        }
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 1024;
            float *nx = realloc(x, ncap * nfeat * sizeof *x);
            if (nx)
                x = nx;
            int *ny = realloc(y, ncap * sizeof *y);
            if (ny)
                y = ny;
            if (!nx || !ny) {
                set_err(err, errcap, "%s: line %zu: out of memory", path, lineno);
                goto done;
            }
            cap = ncap;
        }
        if (parse_line(line, nfeat, nclass, x + n * nfeat, y + n, msg, sizeof msg)) {
            set_err(err, errcap, "%s: line %zu: %s", path, lineno, msg);
            goto done;
        }
        n++;
    }
    if (n == 0) {
        set_err(err, errcap, "%s: line %zu: no samples in the file", path, lineno + 1);
        goto done;
    }
    out->n = n;
    out->nfeat = nfeat;
    out->nclass = nclass;
    out->x = x;
    out->y = y;
    x = NULL;
    y = NULL;
    rc = 0;
done:
    free(x);
    free(y);
    free(line);
    gzclose(f);
    return rc;
}
