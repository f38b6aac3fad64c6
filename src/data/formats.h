/* Internal pieces of the data pipeline shared between its files: the .npy
 * header, the .npz (zip) container, TFRecord framing and tf.train.Example,
 * the reader vtable. */
#ifndef CT_DATA_FORMATS_H
#define CT_DATA_FORMATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/error.h"
#include "../core/pool.h"
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

/* CRC-32 of zip (polynomial 0xEDB88320), chainable as zlib's crc32(crc,
 * buf, len): VPCLMULQDQ or PCLMULQDQ folding where the CPU has it, else
 * zlib's crc32 (crc32.c). ct_crc32_accelerated: the path ct_crc32 takes
 * (2 VPCLMULQDQ, 1 PCLMULQDQ, 0 zlib); ct_crc32_path: the same CRC by path
 * `path` (at most the CPU's best; -1 the best), for tests. */
uint32_t ct_crc32(uint32_t crc, const void *data, size_t n);
int ct_crc32_accelerated(void);
uint32_t ct_crc32_path(int path, uint32_t crc, const void *data, size_t n);
/* CRC-32C (Castagnoli) of the first n & ~15 bytes by AVX-512 VPCLMULQDQ
 * folding, *crc updated as ct_crc32c(*crc, data, that many) would; returns
 * that many bytes, or 0 (nothing done) if n < 256 or the CPU lacks it. */
size_t ct_crc32c_fold512(uint32_t *crc, const void *data, size_t n);

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
    void *img;  /* a decoding reader's object (ct_open_decoded): jpeg, png, compressed csv */
};
struct ct_reader_vt {
    ct_status (*open)(ct_data_file *f);
    ct_status (*sample)(ct_data_file *f, int64_t i, const uint8_t **data, size_t *len);
    void (*close)(ct_data_file *f);
};

/* A read-only mapping of a data file, reference counted (readers.c). */
typedef struct ct_data_map ct_data_map;
/* If the n bytes at p (a sample f just returned) lie inside the file
 * mapping f currently holds, that mapping with one more reference (the
 * bytes stay valid until ct_data_map_release, whatever f does meanwhile:
 * reopen, close), else NULL (the bytes are in f's buffers: copy them).
 * Mapped: npy, stored npz (one sample per file, or Fortran order), whole
 * TFRecord files, indexed_binary, contiguous hdf5; never with O_DIRECT. */
ct_data_map *ct_data_file_view(ct_data_file *f, const uint8_t *p, size_t n);
void ct_data_map_release(ct_data_map *m);
/* 1 if the n bytes at p lie inside mapping m. */
int ct_data_map_holds(const ct_data_map *m, const uint8_t *p, size_t n);

/* Samples a loader has delivered as views (zero-copy mode) since creation. */
uint64_t ct_loader_view_count(const ct_loader *l);

/* Bytes of buffers a reader handle holds (its file and scratch buffers):
 * what keeping it open costs, for the loader's file cache. */
uint64_t ct_data_file_resident(const ct_data_file *f);
/* TFRecord files of at most `bytes` are read whole (one sequential read,
 * every record's CRCs checked) even when an index exists; larger ones
 * record by record through the index. 0 (the default): always by record. */
void ct_data_file_set_whole_limit(ct_data_file *f, uint64_t bytes);
/* A pool whose threads frame whole TFRecord files of at least 4 MiB
 * together (NULL: the calling thread alone, the default). The pool is
 * the caller's: it must outlive f, and only one thread may open files on
 * handles that share it at a time. Same records either way. */
void ct_data_file_set_pool(ct_data_file *f, ct_pool *pool);
/* For readers that decode a whole file when they open it (jpeg, png,
 * compressed csv): reads f whole (counted in f->bytes_read), gives f->img
 * a zeroed object of img_size bytes, calls decode(f, bytes, n, f->img) and
 * frees the bytes. Whatever decode returns, f->img stays for the reader's
 * close. */
ct_status ct_open_decoded(ct_data_file *f, size_t img_size,
                          ct_status (*decode)(ct_data_file *f, const uint8_t *b, uint64_t n,
                                              void *img));
/* The values after the index column of the csv row [p, e) (DLIO's
 * records: pandas' to_csv of uint8 values) into out, which has room for
 * e - p values; *count their number. text is where the file's text starts
 * and what names it ("offset", "decompressed offset") in messages. */
ct_status ct_csv_row(const char *path, const char *what, const uint8_t *text, const uint8_t *p,
                     const uint8_t *e, int64_t row, uint8_t *out, size_t *count);
/* A decoded single-image file (jpeg, png): its one sample. */
typedef struct ct_image {
    uint8_t *px;
    size_t len;
} ct_image;
ct_status ct_image_sample(ct_data_file *f, int64_t i, const uint8_t **data, size_t *len);
void ct_image_close(ct_data_file *f);
/* Reads the whole file at path into a buffer (aligned to 4096 when
 * odirect, read with O_DIRECT then). *buf is freed by the caller. */
ct_status ct_read_file(const char *path, int odirect, uint8_t **buf, uint64_t *len);
/* Little-endian stores of the zip, pickle and checkpoint writers. */
static inline void ct_le16(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}
static inline void ct_le32(uint8_t *b, uint32_t v)
{
    ct_le16(b, v & 0xffff);
    ct_le16(b + 2, v >> 16);
}
static inline void ct_le64(uint8_t *b, uint64_t v)
{
    ct_le32(b, (uint32_t)v);
    ct_le32(b + 4, (uint32_t)(v >> 32));
}
/* The end of a zip file after its central directory (n entries, cd_size
 * bytes at offset cd_start): with zip64 set, first the zip64 end record
 * (made_by and needed its version fields) and its locator, then the end
 * record, its sizes clamped to 0xffffffff as zip64 readers expect. */
ct_status ct_zip_write_end(FILE *f, const char *path, uint64_t n, uint64_t cd_start,
                           uint64_t cd_size, int zip64, uint32_t made_by, uint32_t needed);
/* Writes len bytes; names the file in the message on failure. */
ct_status ct_write_all(FILE *f, const void *p, size_t len, const char *path);

extern const ct_reader_vt ct_reader_npy, ct_reader_npz, ct_reader_hdf5, ct_reader_tfrecord,
    ct_reader_ibin, ct_reader_csv;

/* image.c: JPEG as DLIO writes it (PIL "L" image saved as JPEG: libjpeg
 * jpeg_set_defaults, grayscale, h rows of w bytes) and reads it
 * (np.asarray(Image.open(path)), one sample per file). */
ct_status ct_jpeg_write(const char *path, const uint8_t *px, int64_t h, int64_t w);
extern const ct_reader_vt ct_reader_jpeg;
/* png.c: PNG as DLIO writes it (PIL "L" image saved as PNG: Pillow's
 * ZipEncode row filters, zlib level 6 / memLevel 9 / Z_FILTERED, IDAT
 * chunks of max(65536, 4 w) bytes) and reads it as np.asarray(Image.open)
 * (8-bit images, 1/2/4-bit gray and palette; every chunk CRC checked; one
 * sample per file). */
ct_status ct_png_write(const char *path, const uint8_t *px, int64_t h, int64_t w);
extern const ct_reader_vt ct_reader_png;
/* csvz.c: csv files whose content is gzip/bz2/xz/zip compressed (as
 * pandas to_csv(compression=...) writes them), found by their magic
 * bytes; plain csv goes to ct_reader_csv. */
extern const ct_reader_vt ct_reader_csvz;

#endif
