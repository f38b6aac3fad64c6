/* ctrain tool — minimal .npy (NumPy format 1.0-3.0) reading and writing for
 * `ctrain train` data and `ctrain predict` output. C-order arrays of
 * little-endian f4, f8, i8, i4, u1 are read (converted to float or int64);
 * anything else is refused with a message naming the file. */
#ifndef CTRAIN_TOOLS_NPY_H
#define CTRAIN_TOOLS_NPY_H

#include <stddef.h>
#include <stdint.h>

typedef struct ct_npy {
    int ndim;
    int64_t shape[8];
    size_t numel;
    float *f;   /* values as float (always set) */
    int64_t *i; /* values as int64 when the dtype is integral, else NULL */
    char dtype[8];
} ct_npy;

/* Returns 0, or -1 with a message in err. */
int ct_npy_read(const char *path, ct_npy *out, char *err, size_t errcap);
void ct_npy_free(ct_npy *a);
/* Writes a float32 array (atomically is not needed: an output file). */
int ct_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape,
                     char *err, size_t errcap);

#endif
