/* Compressed csv output for the generator (csvz.c). */
#ifndef CT_DATA_CSVZ_H
#define CT_DATA_CSVZ_H

#include <stddef.h>
#include <stdint.h>

#include "formats.h"

/* A csv file being written, plain or compressed as pandas
 * DataFrame.to_csv(path, compression={"method": M}) writes it:
 * CT_COMP_GZIP = gzip.GzipFile(path, "wb") (level 9, header with the file's
 * base name and the current time as Python's gzip writes them), CT_COMP_ZIP
 * = zipfile.ZipFile(path, "w", ZIP_DEFLATED).writestr(base name, text)
 * (the local time in the headers), CT_COMP_BZIP2 = bz2.BZ2File (level 9),
 * CT_COMP_XZ = lzma.LZMAFile (preset 6, CRC-64). CT_COMP_LZF (no pandas
 * compression): CT_EUNSUPPORTED from ct_csv_out_open. */
typedef struct ct_csv_out ct_csv_out;
ct_status ct_csv_out_open(ct_csv_out **out, const char *path, int compression);
/* Appends n bytes of csv text. */
ct_status ct_csv_out_write(ct_csv_out *o, const void *p, size_t n);
/* Finishes the stream, closes and frees o (also after an error). Returns
 * the first error of the writes or of the close. */
ct_status ct_csv_out_close(ct_csv_out *o, ct_status st);

#endif
