#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The per-thread message: not shared between threads, so not global
 * mutable state in the sense that matters (no locks, no races). */
static _Thread_local char thread_msg[CT_ERRMSG_CAP];

const char *ct_status_str(ct_status s)
{
    switch (s) {
    case CT_OK: return "ok";
    case CT_EINVAL: return "invalid argument";
    case CT_ENOMEM: return "out of memory";
    case CT_EIO: return "input/output error";
    case CT_EFORMAT: return "corrupt or foreign data";
    case CT_EMISMATCH: return "data does not match this object";
    case CT_ENONFINITE: return "non-finite value";
    case CT_EUNSUPPORTED: return "not supported";
    case CT_ESTATE: return "not allowed in the current state";
    }
    return "unknown status";
}

const char *ct_errmsg(void) { return thread_msg; }

const char *ct_version(void) { return CT_VERSION_STRING; }

ct_status ct_fail(ct_err *e, ct_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(thread_msg, sizeof thread_msg, fmt, ap);
    va_end(ap);
    if (e)
        memcpy(e->msg, thread_msg, sizeof e->msg);
    return status;
}

ct_status ct_fail_keep(ct_err *e, ct_status status)
{
    if (e)
        memcpy(e->msg, thread_msg, sizeof e->msg);
    return status;
}
