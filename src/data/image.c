/* JPEG images as dlio-benchmark 2.0.0 writes and reads them
 * (dlio_benchmark/data_generator/jpeg_generator.py, reader/image_reader.py).
 *
 * Writing: DLIO saves each drawn uint8 (dim1, dim2) array with
 * PIL.Image.fromarray(records).save(path, format='JPEG', bits=8): a mode
 * "L" image through Pillow's JpegEncode.c, which calls libjpeg's
 * jpeg_set_defaults (quality 75, JDCT_ISLOW, JFIF 1.01 header with density
 * 1:1 and no unit, standard Huffman tables, no optimize, not progressive)
 * for JCS_GRAYSCALE input. Doing the same with libjpeg-turbo gives the same
 * bytes (checked against Pillow 13's bundled libjpeg-turbo 3.2.0 with the
 * system's 2.1.5 by tests/test_data_gen.c).
 *
 * Reading: np.asarray(Image.open(path)), decoded pixels, height x width x
 * components uint8 in row order (1 component for DLIO's grayscale files).
 * Every sample index of a file yields that one image, as DLIO's
 * ImageReader.get_sample does. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "formats.h"

/* libjpeg's default error handler exit()s: jump back instead, keeping the
 * library's message. */
typedef struct jerr {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jerr;

static void jerr_exit(j_common_ptr c)
{
    jerr *e = (jerr *)c->err;
    c->err->format_message(c, e->msg);
    longjmp(e->jb, 1);
}

/* Warnings are ignored as Pillow ignores them, except running out of data:
 * Pillow then raises "image file is truncated". */
static void jerr_warn(j_common_ptr c, int level)
{
    if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF)
        jerr_exit(c);
}

ct_status ct_jpeg_write(const char *path, const uint8_t *px, int64_t h, int64_t w)
{
    if (h < 1 || w < 1 || h > JPEG_MAX_DIMENSION || w > JPEG_MAX_DIMENSION)
        return ct_fail(NULL, CT_EINVAL, "%s: image size %lld x %lld is outside JPEG's 1..%ld", path,
                       (long long)h, (long long)w, (long)JPEG_MAX_DIMENSION);
    FILE *f = fopen(path, "wb");
    if (!f)
        return ct_fail(NULL, CT_EIO, "cannot create '%s': %s", path, strerror(errno));
    struct jpeg_compress_struct c;
    jerr e;
    c.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jerr_exit;
    e.pub.emit_message = jerr_warn;
    if (setjmp(e.jb)) {
        jpeg_destroy_compress(&c);
        fclose(f);
        return ct_fail(NULL, CT_EIO, "%s: JPEG encoding failed: %s", path, e.msg);
    }
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * (size_t)w);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    if (fclose(f) != 0)
        return ct_fail(NULL, CT_EIO, "%s: close failed: %s", path, strerror(errno));
    return CT_OK;
}

/* Decodes the n bytes at buf into im (ct_open_decoded's decode). */
static ct_status jpeg_decode(ct_data_file *f, const uint8_t *buf, uint64_t n, void *img)
{
    ct_image *im = img;
    struct jpeg_decompress_struct d;
    jerr e;
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = jerr_exit;
    e.pub.emit_message = jerr_warn;
    if (setjmp(e.jb)) {
        jpeg_destroy_decompress(&d);
        return ct_fail(NULL, CT_EFORMAT, "%s: not a readable JPEG file: %s", f->path, e.msg);
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, buf, (unsigned long)n);
    jpeg_read_header(&d, TRUE);
    jpeg_start_decompress(&d);
    size_t stride = (size_t)d.output_width * (size_t)d.output_components;
    im->len = stride * d.output_height;
    im->px = malloc(im->len ? im->len : 1);
    if (!im->px) {
        jpeg_destroy_decompress(&d);
        return ct_fail(NULL, CT_ENOMEM, "%s: out of memory for %zu pixels", f->path, im->len);
    }
    while (d.output_scanline < d.output_height) {
        JSAMPROW row = im->px + (size_t)d.output_scanline * stride;
        jpeg_read_scanlines(&d, &row, 1);
    }
    jpeg_finish_decompress(&d);
    jpeg_destroy_decompress(&d);
    f->nsamples = 1;
    return CT_OK;
}

static ct_status jpeg_open(ct_data_file *f)
{
    return ct_open_decoded(f, sizeof(ct_image), jpeg_decode);
}

const ct_reader_vt ct_reader_jpeg = {jpeg_open, ct_image_sample, ct_image_close};
