/* Helpers shared by the data-pipeline fuzz targets: a scratch directory
 * (under /dev/shm when it exists) laid out as a DLIO data folder, into
 * which each input is written so the real readers open it by path. */
#ifndef CT_FUZZ_DATA_IO_H
#define CT_FUZZ_DATA_IO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fzd_must(int cond, const char *target, const char *what)
{
    if (!cond) {
        fprintf(stderr, "%s: contract broken: %s\n", target, what);
        abort();
    }
}

/* The scratch root, created once per process: ROOT/train and
 * ROOT/index/train exist. */
static const char *fzd_root(void)
{
    static char root[256];
    if (!root[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(root, sizeof root, "%s/ctrain-fuzz-%d", base, (int)getpid());
        char p[300];
        mkdir(root, 0700);
        snprintf(p, sizeof p, "%s/train", root);
        mkdir(p, 0700);
        snprintf(p, sizeof p, "%s/index", root);
        mkdir(p, 0700);
        snprintf(p, sizeof p, "%s/index/train", root);
        mkdir(p, 0700);
    }
    return root;
}

/* Writes n bytes to ROOT/rel; returns 0 on success. */
static int fzd_put(const char *rel, const void *data, size_t n, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", fzd_root(), rel);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 1;
    int bad = n && fwrite(data, 1, n, f) != n;
    return fclose(f) != 0 || bad;
}

#endif
