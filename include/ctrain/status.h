/* ctrain — status codes and error messages.
 *
 * Every public ctrain function that can fail returns a ct_status. CT_OK is 0;
 * every other value is a failure and nothing observable was modified by the
 * call, unless its comment says otherwise.
 *
 * Detail: each handle keeps the message of the last failure of a call on it
 * (ct_optim_errmsg, ct_sched_errmsg, ...). Every failure, with or without a
 * handle, also records its message for the calling thread (ct_errmsg), so a
 * failed constructor or a free function can be explained too.
 */
#ifndef CTRAIN_STATUS_H
#define CTRAIN_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_status {
    CT_OK = 0,
    CT_EINVAL = 1,       /* an argument is invalid (null, out of range, ...) */
    CT_ENOMEM = 2,       /* an allocation failed */
    CT_EIO = 3,          /* a file could not be opened, read or written */
    CT_EFORMAT = 4,      /* input data is truncated, corrupt or not ours */
    CT_EMISMATCH = 5,    /* input is well formed but does not fit this object */
    CT_ENONFINITE = 6,   /* a NaN or infinity was found where it is refused */
    CT_EUNSUPPORTED = 7, /* valid request that this build does not support */
    CT_ESTATE = 8        /* the call is not allowed in the object's state */
} ct_status;

/* A short static description of a status ("invalid argument"). Never NULL;
 * unknown values give "unknown status". Thread-safe. */
const char *ct_status_str(ct_status status);

/* The message of the last failed ctrain call on the calling thread, or ""
 * if none failed yet. The string stays valid until the next ctrain call on
 * this thread. */
const char *ct_errmsg(void);

/* Library version as "MAJOR.MINOR.PATCH". */
const char *ct_version(void);

#ifdef __cplusplus
}
#endif
#endif
