/* Error recording shared by every ctrain module. */
#ifndef CT_CORE_ERROR_H
#define CT_CORE_ERROR_H

#include "ctrain/status.h"

#define CT_ERRMSG_CAP 512

/* Per-handle detail of the last failure. */
typedef struct ct_err {
    char msg[CT_ERRMSG_CAP];
} ct_err;

/* Formats a message into e (if not NULL) and into the calling thread's
 * message (ct_errmsg), and returns status, so a failure path reads
 *   return ct_fail(&o->err, CT_EINVAL, "lr=%g must be >= 0", lr); */
ct_status ct_fail(ct_err *e, ct_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies a thread message (set by a lower layer) into a handle's record. */
ct_status ct_fail_keep(ct_err *e, ct_status status);

#endif
