/* Data set generation, byte-identical to dlio-benchmark 2.0.0's generators
 * (dlio_benchmark/data_generator/ *.py) for one process: np.random.seed(10);
 * sizes from DataGenerator.get_dimension (legacy normal); content from
 * np.random.randint(255, dtype=uint8) calls in the same order and shapes;
 * files written as numpy.save/savez, h5py, TFRecordWriter, pandas.to_csv
 * and the indexed-binary struct.pack loops write them, JPEG and PNG as
 * Pillow does (image.c, png.c), compressed csv as pandas (csvz.c). Under
 * `size` ranks, rank r draws as DLIO's rank r does (a fresh seed-10 stream, the sizes of
 * all files, then the contents of files r, r+size, ...).
 *
 * Parallelism: the random stream is sequential (rejection sampling makes
 * each file's share data-dependent), so the caller draws the contents of a
 * group of files, then the pool's threads encode and write them. */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/pool.h"
#include "csvz.h"
#include "formats.h"
#include "nprand.h"

/* DLIO: derive_configurations */
static int64_t dlio_dimension(const ct_dlio_config *c) { return (int64_t)sqrt(c->record_length); }
static double dlio_dimension_stdev(const ct_dlio_config *c)
{
    return c->record_length_stdev / 2.0 / sqrt(c->record_length);
}

static ct_status mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return ct_fail(NULL, CT_EINVAL, "path too long: %s", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char ch = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return ct_fail(NULL, CT_EIO, "cannot create directory '%s': %s", buf, strerror(errno));
            buf[i] = ch;
        }
    }
    return CT_OK;
}

typedef struct gen_file {
    char path[4096];
    int64_t d1, d2;
    uint8_t *content;    /* drawn bytes */
    size_t content_len;
    int eval;
    int collective;      /* indexed_binary: DLIO's MPI-IO path over this many ranks (0: not) */
} gen_file;

typedef struct gen_ctx {
    const ct_dlio_config *c;
    gen_file *files;
    int nfiles;
    ct_status *status;   /* per file */
    char (*msgs)[CT_ERRMSG_CAP];
} gen_ctx;

/* ---- writers, one per format ---- */

static ct_status write_npy_like(const ct_dlio_config *c, gen_file *g)
{
    int64_t shape[3] = {g->d1, g->d2, c->num_samples_per_file};
    uint8_t hx[256];
    size_t hxl = ct_npy_header(hx, sizeof hx, "|u1", shape, 3);
    FILE *f = fopen(g->path, "wb");
    if (!f)
        return ct_fail(NULL, CT_EIO, "cannot create '%s': %s", g->path, strerror(errno));
    ct_status st;
    if (c->format == CT_FMT_NPY) {
        st = ct_write_all(f, hx, hxl, g->path);
        if (st == CT_OK)
            st = ct_write_all(f, g->content, g->content_len, g->path);
    } else {
        /* savez(x=records, y=[0] * num_samples): y is int64 */
        size_t xl = hxl + g->content_len;
        uint8_t *x = malloc(xl);
        int64_t ns = c->num_samples_per_file;
        uint8_t hy[256];
        size_t hyl = ct_npy_header(hy, sizeof hy, "<i8", &ns, 1);
        size_t yl = hyl + (size_t)ns * 8;
        uint8_t *y = calloc(1, yl);
        if (!x || !y) {
            free(x);
            free(y);
            fclose(f);
            return ct_fail(NULL, CT_ENOMEM, "out of memory writing '%s'", g->path);
        }
        memcpy(x, hx, hxl);
        memcpy(x + hxl, g->content, g->content_len);
        memcpy(y, hy, hyl);
        ct_zip_member m[2] = {{"x.npy", x, xl}, {"y.npy", y, yl}};
        st = ct_zip_write(f, g->path, m, 2, c->compression == CT_COMP_ZIP);
        free(x);
        free(y);
    }
    if (fclose(f) != 0 && st == CT_OK)
        st = ct_fail(NULL, CT_EIO, "%s: close failed: %s", g->path, strerror(errno));
    return st;
}

static ct_status write_hdf5(const ct_dlio_config *c, gen_file *g)
{
    /* records (num_samples, d1, d2) uint8 = the first min(spi, ns) drawn
     * samples, tiled; labels = [0] * ns (int64) */
    ct_status st = CT_OK;
    hid_t fcpl = H5P_DEFAULT;
    hid_t file = H5Fcreate(g->path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
    if (file < 0)
        return ct_fail(NULL, CT_EIO, "cannot create HDF5 file '%s'", g->path);
    int64_t ns = c->num_samples_per_file;
    hsize_t dims[3] = {(hsize_t)ns, (hsize_t)g->d1, (hsize_t)g->d2};
    hid_t space = H5Screate_simple(3, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0); /* h5py's default */
    if (c->enable_chunking) {
        hsize_t cd = (hsize_t)ceil(sqrt((double)c->chunk_size));
        if ((int64_t)cd > dlio_dimension(c))
            cd = (hsize_t)dlio_dimension(c);
        hsize_t chunks[3] = {1, cd ? cd : 1, cd ? cd : 1};
        H5Pset_chunk(dcpl, 3, chunks);
        if (c->compression == CT_COMP_GZIP)
            H5Pset_deflate(dcpl, (unsigned)c->compression_level);
    }
    hid_t ds = H5Dcreate2(file, "records", H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (ds < 0) {
        st = ct_fail(NULL, CT_EIO, "%s: cannot create dataset 'records'", g->path);
        goto out;
    }
    size_t sample = (size_t)(g->d1 * g->d2);
    int64_t have = (int64_t)(g->content_len / (sample ? sample : 1));
    for (int64_t w = 0; w < ns;) {
        int64_t k = ns - w < have ? ns - w : have;
        hsize_t start[3] = {(hsize_t)w, 0, 0}, count[3] = {(hsize_t)k, (hsize_t)g->d1, (hsize_t)g->d2};
        hid_t fs = H5Dget_space(ds);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
        hid_t ms = H5Screate_simple(3, count, NULL);
        herr_t r = H5Dwrite(ds, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, g->content);
        H5Sclose(ms);
        H5Sclose(fs);
        if (r < 0) {
            st = ct_fail(NULL, CT_EIO, "%s: writing 'records' failed", g->path);
            goto out;
        }
        w += k;
    }
    {
        hsize_t ld = (hsize_t)ns;
        hid_t lsp = H5Screate_simple(1, &ld, NULL);
        hid_t lcp = H5Pcreate(H5P_DATASET_CREATE);
        H5Pset_obj_track_times(lcp, 0);
        hid_t lds = H5Dcreate2(file, "labels", H5T_STD_I64LE, lsp, H5P_DEFAULT, lcp, H5P_DEFAULT);
        int64_t *zeros = calloc((size_t)ns, 8);
        if (lds < 0 || !zeros || H5Dwrite(lds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros) < 0)
            st = ct_fail(NULL, CT_EIO, "%s: writing 'labels' failed", g->path);
        free(zeros);
        if (lds >= 0)
            H5Dclose(lds);
        H5Pclose(lcp);
        H5Sclose(lsp);
    }
out:
    if (ds >= 0)
        H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (H5Fclose(file) < 0 && st == CT_OK)
        st = ct_fail(NULL, CT_EIO, "%s: closing the HDF5 file failed", g->path);
    return st;
}

static void put_u64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static ct_status write_tfrecord(const ct_dlio_config *c, gen_file *g)
{
    size_t sample = (size_t)(g->d1 * g->d2);
    size_t cap = ct_example_encode(NULL, 0, g->content, sample, dlio_dimension(c));
    uint8_t *ex = malloc(cap + 16);
    FILE *f = fopen(g->path, "wb");
    if (!ex || !f) {
        free(ex);
        if (f)
            fclose(f);
        return ct_fail(NULL, CT_EIO, "cannot create '%s': %s", g->path, strerror(errno));
    }
    /* the DALI index: {data_folder}/index/{train|valid}/{name}.idx */
    char ipath[4200];
    const char *base = strrchr(g->path, '/');
    snprintf(ipath, sizeof ipath, "%s/index/%s", c->data_folder, g->eval ? "valid" : "train");
    ct_status st = mkdir_p(ipath);
    size_t il = strlen(ipath);
    snprintf(ipath + il, sizeof ipath - il, "%s.idx", base ? base : "/x");
    FILE *fi = st == CT_OK ? fopen(ipath, "wb") : NULL;
    if (!fi && st == CT_OK)
        st = ct_fail(NULL, CT_EIO, "cannot create '%s': %s", ipath, strerror(errno));
    uint64_t off = 0;
    for (int64_t s = 0; st == CT_OK && s < c->num_samples_per_file; s++) {
        size_t n = ct_example_encode(ex, cap, g->content + (size_t)s * sample, sample, dlio_dimension(c));
        uint8_t h[12], t[4];
        put_u64le(h, n);
        uint32_t hc = ct_tfrecord_mask(ct_crc32c(0, h, 8));
        uint32_t dc = ct_tfrecord_mask(ct_crc32c(0, ex, n));
        for (int i = 0; i < 4; i++) {
            h[8 + i] = (uint8_t)(hc >> (8 * i));
            t[i] = (uint8_t)(dc >> (8 * i));
        }
        st = ct_write_all(f, h, 12, g->path);
        if (st == CT_OK)
            st = ct_write_all(f, ex, n, g->path);
        if (st == CT_OK)
            st = ct_write_all(f, t, 4, g->path);
        if (st == CT_OK && fprintf(fi, "%llu %llu\n", (unsigned long long)off,
                                   (unsigned long long)(n + 16)) < 0)
            st = ct_fail(NULL, CT_EIO, "%s: write failed", ipath);
        off += n + 16;
    }
    free(ex);
    if (fclose(f) != 0 && st == CT_OK)
        st = ct_fail(NULL, CT_EIO, "%s: close failed", g->path);
    if (fi && fclose(fi) != 0 && st == CT_OK)
        st = ct_fail(NULL, CT_EIO, "%s: close failed", ipath);
    return st;
}

/* pandas DataFrame([record] * ns).to_csv(path, compression=...): header
 * ",0,1,...", then "i,v0,v1,..." per row, '\n' line ends; compressed
 * (gzip, zip, bz2, xz) as pandas writes it (csvz.c). The name stays
 * "*.csv": DLIO's YAML path (a string compression) adds no suffix
 * (docs/data.md). */
static ct_status write_csv(const ct_dlio_config *c, gen_file *g)
{
    size_t n = g->content_len;
    ct_csv_out *f;
    ct_status st0 = ct_csv_out_open(&f, g->path, c->compression);
    if (st0 != CT_OK)
        return st0;
    size_t digits = 1; /* the header's widest column number, n - 1 */
    for (size_t v = n; v >= 10; v /= 10)
        digits++;
    char *row = malloc(n * (digits + 4) + 32);
    if (!row)
        return ct_csv_out_close(f, ct_fail(NULL, CT_ENOMEM, "out of memory writing '%s'", g->path));
    size_t p = 0;
    for (size_t i = 0; i < n; i++)
        p += (size_t)sprintf(row + p, ",%zu", i);
    row[p++] = '\n';
    ct_status st = ct_csv_out_write(f, row, p);
    /* the values part is the same for every row */
    size_t q = 0;
    for (size_t i = 0; i < n; i++)
        q += (size_t)sprintf(row + q, ",%u", g->content[i]);
    row[q++] = '\n';
    for (int64_t r = 0; st == CT_OK && r < c->num_samples_per_file; r++) {
        char idx[24];
        int il = sprintf(idx, "%lld", (long long)r);
        st = ct_csv_out_write(f, idx, (size_t)il);
        if (st == CT_OK)
            st = ct_csv_out_write(f, row, q);
    }
    free(row);
    return ct_csv_out_close(f, st);
}

/* indexed_binary_generator.py, the per-file path: the drawn buffer
 * (write_size bytes) is written repeatedly; each chunk's offsets restart
 * at 0 as DLIO writes them. */
static ct_status write_ibin(const ct_dlio_config *c, gen_file *g, int collective)
{
    uint64_t sample = (uint64_t)(g->d1 * g->d2), ns = (uint64_t)c->num_samples_per_file;
    char po[4200], ps[4200];
    snprintf(po, sizeof po, "%s.off.idx", g->path);
    snprintf(ps, sizeof ps, "%s.sz.idx", g->path);
    FILE *fd = fopen(g->path, "wb"), *fo = fopen(po, "wb"), *fs = fopen(ps, "wb");
    ct_status st = CT_OK;
    if (!fd || !fo || !fs)
        st = ct_fail(NULL, CT_EIO, "cannot create '%s' and its index files: %s", g->path, strerror(errno));
    uint8_t q[8];
    if (st == CT_OK && collective) {
        /* MPI path (total files <= ranks): the data as drawn, offsets of all
         * samples from 0 */
        st = ct_write_all(fd, g->content, g->content_len, g->path);
        for (uint64_t s = 0; st == CT_OK && s < ns; s++) {
            put_u64le(q, s * sample);
            st = ct_write_all(fo, q, 8, po);
            put_u64le(q, sample);
            if (st == CT_OK)
                st = ct_write_all(fs, q, 8, ps);
        }
    } else if (st == CT_OK) {
        uint64_t total = sample * ns, written = 0, wsz = g->content_len;
        while (st == CT_OK && written < total) {
            uint64_t dw = written + wsz <= total ? wsz : total - written;
            uint64_t k = sample ? dw / sample : 0;
            st = ct_write_all(fd, g->content, dw, g->path);
            for (uint64_t s = 0; st == CT_OK && s < k; s++) {
                put_u64le(q, s * sample);
                st = ct_write_all(fo, q, 8, po);
                put_u64le(q, sample);
                if (st == CT_OK)
                    st = ct_write_all(fs, q, 8, ps);
            }
            written += dw;
        }
    }
    if (fd && fclose(fd) != 0 && st == CT_OK)
        st = ct_fail(NULL, CT_EIO, "%s: close failed", g->path);
    if (fo)
        fclose(fo);
    if (fs)
        fclose(fs);
    return st;
}

static int ibin_collective(const ct_dlio_config *c, int size)
{
    return c->num_files_train + (c->num_files_eval > 0 ? c->num_files_eval : 0) <= size;
}

static void write_worker(void *arg, int tid, int nthreads)
{
    gen_ctx *g = arg;
    for (int i = tid; i < g->nfiles; i += nthreads) {
        gen_file *f = &g->files[i];
        ct_status st;
        switch (g->c->format) {
        case CT_FMT_NPY:
        case CT_FMT_NPZ: st = write_npy_like(g->c, f); break;
        case CT_FMT_HDF5: st = write_hdf5(g->c, f); break;
        case CT_FMT_TFRECORD: st = write_tfrecord(g->c, f); break;
        case CT_FMT_CSV: st = write_csv(g->c, f); break;
        case CT_FMT_JPEG: st = ct_jpeg_write(f->path, f->content, f->d1, f->d2); break;
        case CT_FMT_PNG: st = ct_png_write(f->path, f->content, f->d1, f->d2); break;
        default: st = write_ibin(g->c, f, f->collective); break;
        }
        g->status[i] = st;
        if (st != CT_OK)
            snprintf(g->msgs[i], CT_ERRMSG_CAP, "%s", ct_errmsg());
    }
}

/* Draws file i's content as DLIO's generator for the format does. */
static ct_status draw_content(const ct_dlio_config *c, ct_nprand *r, gen_file *g, int collective,
                              int last)
{
    uint64_t sample = (uint64_t)(g->d1 * g->d2), ns = (uint64_t)c->num_samples_per_file;
    uint64_t n = sample * ns, keep;
    switch (c->format) {
    case CT_FMT_HDF5: {
        double spi_d = floor((double)c->generation_buffer_size / c->record_length);
        uint64_t spi = spi_d < 1 ? 1 : (uint64_t)spi_d;
        n = spi * sample;
        keep = (spi < ns ? spi : ns) * sample;
        break;
    }
    case CT_FMT_CSV:
    case CT_FMT_JPEG: /* one (dim1, dim2) image per file */
    case CT_FMT_PNG:
        n = keep = sample;
        break;
    case CT_FMT_INDEXED_BINARY:
    case CT_FMT_MMAP_INDEXED_BINARY:
        if (collective) {
            uint64_t spl = sample ? (1048576u / sample) : 0;
            if (spl == 0)
                return ct_fail(NULL, CT_EUNSUPPORTED,
                               "indexed_binary with one file per rank and samples over 1 MiB: DLIO "
                               "2.0.0 fails here too (range step 0)");
            /* rank r writes write j of spl samples at r*spr + j*spl: the
             * file ends after the last rank's last write */
            uint64_t R = (uint64_t)collective, spr = (ns + ns % R) / R;
            uint64_t loops = (spr + spl - 1) / spl;
            n = keep = ((R - 1) * spr + loops * spl) * sample;
        } else {
            uint64_t total = n;
            if (total > (uint64_t)c->generation_buffer_size && sample)
                n = (uint64_t)c->generation_buffer_size - ((uint64_t)c->generation_buffer_size % sample);
            keep = n;
        }
        break;
    default:
        keep = n;
    }
    g->content = malloc(keep ? keep : 1);
    if (!g->content)
        return ct_fail(NULL, CT_ENOMEM, "out of memory generating '%s' (%llu bytes)", g->path,
                       (unsigned long long)keep);
    g->content_len = keep;
    if (c->format == CT_FMT_TFRECORD) {
        for (uint64_t s = 0; s < ns; s++) /* one randint call per record */
            ct_nprand_uint8(r, 255, g->content + s * sample, sample);
    } else if ((c->format == CT_FMT_INDEXED_BINARY || c->format == CT_FMT_MMAP_INDEXED_BINARY) &&
               collective) {
        /* indexed_binary_generator.py, files <= ranks: every rank draws
         * randint(255, size=spl*sample) per write (the same bytes on every
         * rank: all seed 10) and calls Write_at_all(offset (r*spr +
         * j*spl)*sample); the writes applied in (j, r) order, later ones
         * winning where ranks overlap (MPI leaves that undefined; ROMIO's
         * two-phase order) */
        uint64_t spl = 1048576u / sample, chunk = spl * sample;
        uint64_t R = (uint64_t)collective, spr = (ns + ns % R) / R, loops = (spr + spl - 1) / spl;
        uint8_t *w = R > 1 ? malloc(chunk) : NULL;
        if (R > 1 && !w) {
            free(g->content);
            g->content = NULL;
            return ct_fail(NULL, CT_ENOMEM, "out of memory generating '%s'", g->path);
        }
        for (uint64_t j = 0; j < loops; j++) {
            if (R == 1) {
                ct_nprand_uint8(r, 255, g->content + j * chunk, chunk);
                continue;
            }
            ct_nprand_uint8(r, 255, w, chunk);
            for (uint64_t rk = 0; rk < R; rk++)
                memcpy(g->content + (rk * spr + j * spl) * sample, w, chunk);
        }
        free(w);
    } else {
        /* the part DLIO draws but never writes (hdf5) still advances the
         * stream; after the last file nothing reads it */
        ct_nprand_u8 st = {0, 0};
        ct_nprand_uint8_cont(r, &st, 255, g->content, keep);
        if (n > keep && !last)
            ct_nprand_uint8_cont(r, &st, 255, NULL, n - keep);
    }
    return CT_OK;
}

static void progress(int on, int64_t done, int64_t total)
{
    if (!on || total <= 0)
        return;
    int w = 40, k = (int)(w * done / total);
    fprintf(stderr, "\rGenerating [%.*s%*s] %lld/%lld", k, "########################################",
            w - k, "", (long long)done, (long long)total);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

ct_status ct_dlio_generate(const ct_dlio_config *c, const ct_dlio_gen_opts *opts)
{
    if (!c || !opts)
        return ct_fail(NULL, CT_EINVAL, "ct_dlio_generate: NULL argument");
    switch (c->format) {
    case CT_FMT_NPZ: case CT_FMT_NPY: case CT_FMT_HDF5: case CT_FMT_TFRECORD: case CT_FMT_CSV:
    case CT_FMT_INDEXED_BINARY: case CT_FMT_MMAP_INDEXED_BINARY: case CT_FMT_JPEG: case CT_FMT_PNG:
        break;
    default:
        return ct_fail(NULL, CT_EUNSUPPORTED,
                       "dataset.format: generating '%s' is not supported yet (supported: npz, npy, "
                       "hdf5, tfrecord, csv, indexed_binary, mmap_indexed_binary, jpeg, png)",
                       ct_data_format_name((ct_data_format)c->format));
    }
    if (c->format == CT_FMT_NPZ && c->compression != CT_COMP_NONE && c->compression != CT_COMP_ZIP)
        return ct_fail(NULL, CT_EUNSUPPORTED, "dataset.compression: npz supports none and zip");
    int rank = opts->rank, size = opts->size < 1 ? 1 : opts->size;
    int threads = opts->threads < 1 ? 1 : opts->threads;
    if (rank < 0 || rank >= size)
        return ct_fail(NULL, CT_EINVAL, "rank %d is outside [0, %d)", rank, size);
    int64_t ntr = c->num_files_train, nev = c->num_files_eval > 0 ? c->num_files_eval : 0;
    int64_t total = ntr + nev;
    char path[4200];
    ct_status st;
    snprintf(path, sizeof path, "%s/train", c->data_folder);
    if ((st = mkdir_p(path)) != CT_OK)
        return st;
    snprintf(path, sizeof path, "%s/valid", c->data_folder);
    if ((st = mkdir_p(path)) != CT_OK)
        return st;
    for (int ev = 0; ev < 2; ev++) {
        int64_t nsub = ev ? c->num_subfolders_eval : c->num_subfolders_train;
        char w[32];
        int ws = snprintf(w, sizeof w, "%lld", (long long)nsub);
        for (int64_t k = 0; nsub > 1 && k < nsub; k++) {
            snprintf(path, sizeof path, "%s/%s/%0*lld", c->data_folder, ev ? "valid" : "train", ws,
                     (long long)k);
            if ((st = mkdir_p(path)) != CT_OK)
                return st;
        }
    }
    ct_nprand *rng = malloc(sizeof *rng);
    int64_t *dims = malloc((size_t)(2 * total + 2) * sizeof *dims);
    gen_file *files = calloc((size_t)threads, sizeof *files);
    ct_status *sts = calloc((size_t)threads, sizeof *sts);
    char(*msgs)[CT_ERRMSG_CAP] = calloc((size_t)threads, sizeof *msgs);
    ct_pool *pool = NULL;
    ct_err perr;
    if (!rng || !dims || !files || !sts || !msgs) {
        st = ct_fail(NULL, CT_ENOMEM, "out of memory generating %lld files", (long long)total);
        goto out;
    }
    if ((st = ct_pool_create(&pool, threads, &perr)) != CT_OK)
        goto out;
    ct_nprand_seed(rng, 10);
    int64_t dim = dlio_dimension(c);
    double dsd = dlio_dimension_stdev(c);
    for (int64_t k = 0; k < 2 * total; k++) {
        if (dsd > 0) {
            double d = ct_nprand_normal(rng, (double)dim, dsd);
            int64_t t = (int64_t)d; /* Python int(): toward zero */
            dims[k] = t < 1 ? 1 : t;
        } else {
            dims[k] = dim;
        }
    }
    int collective = (c->format == CT_FMT_INDEXED_BINARY || c->format == CT_FMT_MMAP_INDEXED_BINARY) &&
                             ibin_collective(c, size)
                         ? size
                         : 0;
    if (collective && rank > 0 && rank < total) {
        /* DLIO's rank r takes part in every file: before its own file r it
         * has drawn the writes of files 0 .. r-1 (ctrain's rank r writes file
         * r alone, whole) */
        for (int64_t k = 0; k < rank; k++) {
            uint64_t sample = (uint64_t)(dims[2 * k] * dims[2 * k + 1]);
            uint64_t ns = (uint64_t)c->num_samples_per_file, spl = sample ? 1048576u / sample : 0;
            uint64_t spr = (ns + ns % (uint64_t)size) / (uint64_t)size;
            uint8_t *w = spl ? malloc(spl * sample) : NULL;
            if (spl && !w) {
                st = ct_fail(NULL, CT_ENOMEM, "out of memory");
                goto out;
            }
            for (uint64_t j = 0; spl && j < (spr + spl - 1) / spl; j++)
                ct_nprand_uint8(rng, 255, w, spl * sample);
            free(w);
        }
    }
    const uint64_t budget = 1ULL << 30;
    int64_t done = 0, mine = total > rank ? (total - rank + size - 1) / size : 0;
    for (int64_t i = rank; i < total;) {
        int nf = 0;
        uint64_t bytes = 0;
        while (i < total && nf < threads && (nf == 0 || bytes < budget)) {
            gen_file *g = &files[nf];
            memset(g, 0, sizeof *g);
            g->eval = i >= ntr;
            g->collective = collective;
            ct_dlio_file_path(c, g->eval, g->eval ? i - ntr : i, g->path, sizeof g->path);
            g->d1 = dims[2 * i];
            g->d2 = dims[2 * i + 1];
            if ((st = draw_content(c, rng, g, collective, i + size >= total)) != CT_OK) {
                for (int k = 0; k <= nf; k++)
                    free(files[k].content);
                goto out;
            }
            bytes += g->content_len;
            nf++;
            i += size;
        }
        gen_ctx gc = {c, files, nf, sts, msgs};
        for (int k = 0; k < nf; k++)
            sts[k] = CT_OK;
        ct_pool_run(pool, write_worker, &gc);
        for (int k = 0; k < nf; k++)
            free(files[k].content);
        for (int k = 0; k < nf; k++)
            if (sts[k] != CT_OK) {
                st = ct_fail(NULL, sts[k], "%s", msgs[k]);
                goto out;
            }
        done += nf;
        progress(opts->progress, done, mine);
    }
out:
    ct_pool_destroy(pool);
    free(rng);
    free(dims);
    free(files);
    free(sts);
    free(msgs);
    return st;
}
