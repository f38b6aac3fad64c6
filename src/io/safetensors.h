/* safetensors: an 8-byte little-endian header size N, N bytes of JSON
 * describing each tensor (dtype, shape, data_offsets relative to the data
 * buffer) and an optional "__metadata__" map of strings, then the data.
 * The reader checks everything a hostile file could get wrong; the writer
 * writes atomically (temporary file, fsync, rename). */
#ifndef CT_IO_SAFETENSORS_H
#define CT_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

#define CT_ST_MAX_DIMS 8
#define CT_ST_MAX_HEADER (100u << 20) /* as the reference reader: 100 MB */

typedef enum ct_st_dtype {
    CT_ST_F32, CT_ST_F64, CT_ST_F16, CT_ST_BF16, CT_ST_I64, CT_ST_I32,
    CT_ST_I16, CT_ST_I8, CT_ST_U8, CT_ST_BOOL, CT_ST_NDTYPES
} ct_st_dtype;

/* "F32" -> CT_ST_F32, or -1 if unknown; size in bytes of one element. */
int ct_st_dtype_parse(const char *s);
const char *ct_st_dtype_name(ct_st_dtype d);
size_t ct_st_dtype_size(ct_st_dtype d);

typedef struct ct_st_tensor {
    char *name;
    ct_st_dtype dtype;
    int ndim;
    int64_t shape[CT_ST_MAX_DIMS];
    size_t numel;
    const void *data; /* into the parsed buffer (reader) or the caller's (writer) */
    size_t nbytes;
} ct_st_tensor;

typedef struct ct_st_file {
    ct_st_tensor *tensors;
    size_t n;
    char **meta_keys, **meta_vals;
    size_t n_meta;
    void *owned; /* the file's bytes when read by ct_st_read_file */
} ct_st_file;

/* Parses buf (kept, not copied: tensors point into it). `what` names the
 * source in messages. On failure *f is empty and the message says what is
 * wrong and at which byte. */
ct_status ct_st_parse(const void *buf, size_t len, const char *what, ct_st_file *f, ct_err *e);
/* Reads a whole file and parses it; the bytes are owned by f. */
ct_status ct_st_read_file(const char *path, ct_st_file *f, ct_err *e);
void ct_st_free(ct_st_file *f);

const ct_st_tensor *ct_st_find(const ct_st_file *f, const char *name);
const char *ct_st_meta(const ct_st_file *f, const char *key);

/* Building a file: add tensors (data is referenced until written) and
 * metadata, then serialise. */
typedef struct ct_st_writer {
    ct_st_tensor *tensors;
    size_t n, cap;
    char **meta_keys, **meta_vals;
    size_t n_meta, meta_cap;
} ct_st_writer;

ct_status ct_st_add(ct_st_writer *w, const char *name, ct_st_dtype dtype, int ndim,
                    const int64_t *shape, const void *data, ct_err *e);
ct_status ct_st_add_meta(ct_st_writer *w, const char *key, const char *val, ct_err *e);
/* Serialises into a malloc'ed buffer. */
ct_status ct_st_serialize(const ct_st_writer *w, void **buf, size_t *len, ct_err *e);
/* Writes path atomically: path.tmp.PID, fsync, rename. */
ct_status ct_st_write_file(const ct_st_writer *w, const char *path, ct_err *e);
void ct_st_writer_free(ct_st_writer *w);

/* Reads a whole file into a malloc'ed buffer. */
ct_status ct_read_whole_file(const char *path, void **buf, size_t *len, ct_err *e);
/* Writes bytes to path atomically (temporary file, fsync, rename). */
ct_status ct_write_file_atomic(const char *path, const void *buf, size_t len, ct_err *e);

#endif
