#include "opts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int ct_opts_slots(const ct_opt_desc *d, size_t nd)
{
    int n = 0;
    for (size_t i = 0; i < nd; i++)
        if (d[i].slot + d[i].count > n)
            n = d[i].slot + d[i].count;
    return n;
}

void ct_opts_defaults(const ct_opt_desc *d, size_t nd, double *values)
{
    for (size_t i = 0; i < nd; i++)
        for (int k = 0; k < d[i].count; k++)
            values[d[i].slot + k] = d[i].def[k < 2 ? k : 1];
}

const ct_opt_desc *ct_opts_find(const ct_opt_desc *d, size_t nd, const char *key)
{
    for (size_t i = 0; i < nd; i++)
        if (strcmp(d[i].name, key) == 0)
            return &d[i];
    return NULL;
}

static void describe_range(const ct_opt_desc *d, char *buf, size_t cap)
{
    if (d->type == CT_OPT_BOOL) {
        snprintf(buf, cap, "true or false");
        return;
    }
    if (d->type == CT_OPT_ENUM) {
        size_t len = 0;
        buf[0] = 0;
        for (int i = 0; d->names[i]; i++)
            len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s",
                                    i ? ", " : "one of ", d->names[i]);
        return;
    }
    snprintf(buf, cap, "%s%s%.17g, %.17g%s", d->type == CT_OPT_INT ? "an integer in " : "",
             (d->flags & CT_OPT_LO_OPEN) ? "(" : "[", d->lo, d->hi,
             (d->flags & CT_OPT_HI_OPEN) ? ")" : "]");
}

static int in_range(const ct_opt_desc *d, double v)
{
    if (isnan(v))
        return 0;
    switch (d->type) {
    case CT_OPT_BOOL: return v == 0.0 || v == 1.0;
    case CT_OPT_ENUM: {
        int n = 0;
        while (d->names[n])
            n++;
        return v >= 0 && v < n && v == floor(v);
    }
    case CT_OPT_INT:
        if (v != floor(v))
            return 0;
        break;
    default: break;
    }
    if ((d->flags & CT_OPT_LO_OPEN) ? !(v > d->lo) : !(v >= d->lo))
        return 0;
    if ((d->flags & CT_OPT_HI_OPEN) ? !(v < d->hi) : !(v <= d->hi))
        return 0;
    return 1;
}

ct_status ct_opts_check(const ct_opt_desc *d, size_t nd, const char *what,
                        const double *values, ct_err *e)
{
    for (size_t i = 0; i < nd; i++)
        for (int k = 0; k < d[i].count; k++)
            if (!in_range(&d[i], values[d[i].slot + k])) {
                char range[256];
                describe_range(&d[i], range, sizeof range);
                return ct_fail(e, CT_EINVAL, "%s: %s=%.17g is invalid: must be %s", what,
                               d[i].name, values[d[i].slot + k], range);
            }
    return CT_OK;
}

/* Parses one value token of option d into *out. */
static ct_status parse_value(const ct_opt_desc *d, const char *what, const char *tok,
                             double *out, ct_err *e)
{
    if (d->type == CT_OPT_BOOL) {
        if (!strcasecmp(tok, "true") || !strcmp(tok, "1"))
            *out = 1.0;
        else if (!strcasecmp(tok, "false") || !strcmp(tok, "0"))
            *out = 0.0;
        else
            return ct_fail(e, CT_EINVAL, "%s: %s=%s is invalid: must be true or false", what,
                           d->name, tok);
        return CT_OK;
    }
    if (d->type == CT_OPT_ENUM) {
        for (int i = 0; d->names[i]; i++)
            if (!strcmp(tok, d->names[i])) {
                *out = (double)i;
                return CT_OK;
            }
        char range[256];
        describe_range(d, range, sizeof range);
        return ct_fail(e, CT_EINVAL, "%s: %s=%s is invalid: must be %s", what, d->name, tok,
                       range);
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(tok, &end);
    if (end == tok || *end != 0)
        return ct_fail(e, CT_EINVAL, "%s: %s=%s is not a number", what, d->name, tok);
    if (!in_range(d, v)) {
        char range[256];
        describe_range(d, range, sizeof range);
        return ct_fail(e, CT_EINVAL, "%s: %s=%s is invalid: must be %s", what, d->name, tok,
                       range);
    }
    *out = v;
    return CT_OK;
}

ct_status ct_opts_parse(const ct_opt_desc *d, size_t nd, const char *what,
                        const char *text, double *values, int *given, ct_err *e)
{
    if (!text)
        return CT_OK;
    const char *p = text;
    char key[64], tok[128];
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            return CT_OK;
        const char *k0 = p;
        while (*p && *p != '=' && !isspace((unsigned char)*p))
            p++;
        size_t klen = (size_t)(p - k0);
        if (*p != '=')
            return ct_fail(e, CT_EINVAL, "%s: option '%.*s' has no '=value'", what, (int)klen, k0);
        if (klen == 0 || klen >= sizeof key)
            return ct_fail(e, CT_EINVAL, "%s: empty or overlong option name in '%s'", what, text);
        memcpy(key, k0, klen);
        key[klen] = 0;
        p++; /* '=' */
        const ct_opt_desc *od = ct_opts_find(d, nd, key);
        if (!od) {
            size_t len = 0;
            char known[512];
            known[0] = 0;
            for (size_t i = 0; i < nd && len < sizeof known; i++)
                len += (size_t)snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "",
                                        d[i].name);
            return ct_fail(e, CT_EINVAL, "%s: unknown option '%s' (known: %s)", what, key, known);
        }
        int n = 0;
        for (;;) {
            const char *t0 = p;
            while (*p && *p != ',' && !isspace((unsigned char)*p))
                p++;
            size_t tlen = (size_t)(p - t0);
            if (tlen == 0 || tlen >= sizeof tok)
                return ct_fail(e, CT_EINVAL, "%s: option '%s' has an empty or overlong value",
                               what, key);
            if (n >= od->count)
                return ct_fail(e, CT_EINVAL, "%s: option '%s' takes at most %d value%s", what, key,
                               od->count, od->count > 1 ? "s" : "");
            memcpy(tok, t0, tlen);
            tok[tlen] = 0;
            ct_status s = parse_value(od, what, tok, &values[od->slot + n], e);
            if (s)
                return s;
            n++;
            if (*p != ',')
                break;
            p++;
        }
        if (n != od->count && !(od->flags & CT_OPT_LIST))
            return ct_fail(e, CT_EINVAL, "%s: option '%s' takes %d values, got %d", what, key,
                           od->count, n);
        if (given)
            given[od - d] = n;
    }
}
