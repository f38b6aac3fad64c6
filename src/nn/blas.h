/* OpenBLAS, loaded when the first graph is created (dlopen), not when
 * libctrain loads: OpenBLAS starts its worker threads as it loads and they
 * spin for ~0.1 s waiting for work, a CPU taken from programs that use only
 * the optimizer engine or the data pipeline (docs/data.md). Each graph holds
 * its own reference; the library itself is process-wide, as OpenBLAS is. */
#ifndef CTRAIN_NN_BLAS_H
#define CTRAIN_NN_BLAS_H

#include <cblas.h>

#include "../core/error.h"

typedef void (*ct_sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
                            const enum CBLAS_TRANSPOSE, const blasint, const blasint,
                            const blasint, const float, const float *, const blasint,
                            const float *, const blasint, const float, float *, const blasint);

typedef struct ct_blas {
    void *lib;                  /* dlopen handle */
    ct_sgemm_fn sgemm;          /* cblas_sgemm */
    void (*set_threads)(int);   /* openblas_set_num_threads */
} ct_blas;

/* Loads OpenBLAS (the library the build found, else libopenblas.so.0) and
 * resolves its symbols; CT_EIO with the loader's message if it cannot. */
ct_status ct_blas_open(ct_blas *b, ct_err *e);
void ct_blas_close(ct_blas *b);

#endif
