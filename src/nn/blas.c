/* OpenBLAS through dlopen (blas.h). */
#include "blas.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>

#ifndef CT_OPENBLAS_PATH
#define CT_OPENBLAS_PATH "libopenblas.so.0"
#endif

ct_status ct_blas_open(ct_blas *b, ct_err *e)
{
    /* the soname (the system's choice of OpenBLAS build), then the file
     * the build found */
    static const char *const names[] = {"libopenblas.so.0", CT_OPENBLAS_PATH, "libopenblas.so"};
    char why[256] = "not found";
    b->lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !b->lib; i++)
        if (!(b->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL))) {
            const char *m = dlerror();
            if (m)
                snprintf(why, sizeof why, "%s", m);
        }
    if (!b->lib)
        return ct_fail(e, CT_EIO, "cannot load OpenBLAS (tried libopenblas.so.0, %s, "
                                  "libopenblas.so): %s", CT_OPENBLAS_PATH, why);
    /* POSIX's way to turn the object pointer dlsym returns into a function
     * pointer (a direct cast is not ISO C) */
    void *sg = dlsym(b->lib, "cblas_sgemm"), *st = dlsym(b->lib, "openblas_set_num_threads");
    if (!sg || !st) {
        dlclose(b->lib);
        b->lib = NULL;
        return ct_fail(e, CT_EIO, "the OpenBLAS library lacks cblas_sgemm or "
                                  "openblas_set_num_threads");
    }
    *(void **)&b->sgemm = sg;
    *(void **)&b->set_threads = st;
    return CT_OK;
}

void ct_blas_close(ct_blas *b)
{
    if (b && b->lib)
        dlclose(b->lib);
    if (b)
        b->lib = NULL;
}
