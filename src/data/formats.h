/* Internal pieces of the data pipeline shared between its files: the .npy
 * header, the .npz (zip) container, TFRecord framing and tf.train.Example,
 * the reader vtable. */
#ifndef CT_DATA_FORMATS_H
#define CT_DATA_FORMATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/error.h"
#include "ctrain/data.h"

/* ---- .npy (numpy/lib/format.py) ---- */

typedef struct ct_npy_info {
    char descr[16];     /* "|u1", "<i8", "<f4", ... */
    int fortran;
    int ndim;
    int64_t shape[8];
    size_t header_len;  /* bytes before the data */
    size_t itemsize;
} ct_npy_info;

/* Writes numpy's exact .npy header (version 1.0, as format.write_array:
 * sorted dict, growth padding, 64-byte alignment) for a C-order array.
 * Returns the header length, or 0 if cap is too small. */
size_t ct_npy_header(uint8_t *buf, size_t cap, const char *descr, const int64_t *shape, int ndim);
/* Parses a header from the first n bytes of buf. `what` and `base` name
 * the file and the offset of buf in it for messages. */
ct_status ct_npy_parse(const uint8_t *buf, size_t n, ct_npy_info *info, const char *what,
                       uint64_t base);
uint64_t ct_npy_data_bytes(const ct_npy_info *info);

/* ---- .npz (zip, as numpy.savez / savez_compressed through zipfile) ---- */

typedef struct ct_zip_member {
    const char *name;     /* "x.npy" */
    const uint8_t *data;  /* uncompressed bytes */
    size_t len;
} ct_zip_member;

/* Writes a zip archive byte-identical to numpy.savez (deflate = 0) or
 * savez_compressed (deflate = 1): zipfile entries opened with
 * force_zip64=True, dated 1980-01-01, mode 0600. */
ct_status ct_zip_write(FILE *f, const char *path, const ct_zip_member *m, int n, int deflate);

/* Locates member `name` of the zip archive in [buf, buf + n): its method
 * (0 stored, 8 deflate), data offset, compressed and uncompressed size and
 * CRC-32. Handles Zip64 records. */
typedef struct ct_zip_entry {
    int method;
    uint64_t data_off, csize, usize;
    uint32_t crc;
} ct_zip_entry;
ct_status ct_zip_find_mem(const uint8_t *buf, uint64_t n, const char *name, ct_zip_entry *e,
                          const char *what);
/* The bytes of member e of the archive in buf, its CRC-32 verified: in
 * place for a stored member, else inflated into out (e->usize + 1 bytes).
 * `what` and `name` name the file and the member in messages. */
ct_status ct_zip_extract(const uint8_t *buf, const ct_zip_entry *e, uint8_t *out,
                         const uint8_t **data, const char *what, const char *name);
/* The same on an open file descriptor of size fsize. */
ct_status ct_zip_find_fd(int fd, uint64_t fsize, const char *name, ct_zip_entry *e, const char *what);

/* ---- TFRecord ---- */

uint32_t ct_crc32c(uint32_t crc, const void *data, size_t n);
static inline uint32_t ct_tfrecord_mask(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }
/* Serializes tf.train.Example{image: bytes, size: int64} as TensorFlow
 * does (map entries in key order). Returns the length, or the length
 * needed if cap is too small. */
size_t ct_example_encode(uint8_t *buf, size_t cap, const uint8_t *img, size_t img_len, int64_t size);
/* Finds the bytes of feature `key` (bytes_list, first value) in a
 * serialized Example. */
ct_status ct_example_bytes(const uint8_t *ex, size_t n, const char *key, const uint8_t **val,
                           size_t *len);

/* ---- readers ---- */

typedef struct ct_reader_vt ct_reader_vt;
struct ct_data_file {
    const ct_reader_vt *vt;
    char *path;
    int odirect;
    int64_t nsamples;
    uint64_t bytes_read;
    void *impl;
    void *img;  /* image.c: the decoded image of the open jpeg file */
};
struct ct_reader_vt {
    ct_status (*open)(ct_data_file *f);
    ct_status (*sample)(ct_data_file *f, int64_t i, const uint8_t **data, size_t *len);
    void (*close)(ct_data_file *f);
};

/* Bytes of buffers a reader handle holds (its file and scratch buffers):
 * what keeping it open costs, for the loader's file cache. */
uint64_t ct_data_file_resident(const ct_data_file *f);
/* TFRecord files of at most `bytes` are read whole (one sequential read,
 * every record's CRCs checked) even when an index exists; larger ones
 * record by record through the index. 0 (the default): always by record. */
void ct_data_file_set_whole_limit(ct_data_file *f, uint64_t bytes);
/* Reads the whole file at path into a buffer (aligned to 4096 when
 * odirect, read with O_DIRECT then). *buf is freed by the caller. */
ct_status ct_read_file(const char *path, int odirect, uint8_t **buf, uint64_t *len);
/* Writes len bytes; names the file in the message on failure. */
ct_status ct_write_all(FILE *f, const void *p, size_t len, const char *path);

extern const ct_reader_vt ct_reader_npy, ct_reader_npz, ct_reader_hdf5, ct_reader_tfrecord,
    ct_reader_ibin, ct_reader_csv;

/* image.c: JPEG as DLIO writes it (PIL "L" image saved as JPEG: libjpeg
 * jpeg_set_defaults, grayscale, h rows of w bytes) and reads it
 * (np.asarray(Image.open(path)), one sample per file). */
ct_status ct_jpeg_write(const char *path, const uint8_t *px, int64_t h, int64_t w);
extern const ct_reader_vt ct_reader_jpeg;

#endif
