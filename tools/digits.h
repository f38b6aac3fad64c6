/* ctrain tool — a reader for small labelled CSV data sets (optionally
 * gzip-compressed), as data/digits.csv.gz: one sample a line, nfeat integer
 * or decimal feature columns, then an integer class label. Independent of
 * the library (it is the tool's, not ctrain's). */
#ifndef CTRAIN_TOOLS_DIGITS_H
#define CTRAIN_TOOLS_DIGITS_H

#include <stddef.h>

typedef struct ct_dataset {
    size_t n;        /* samples */
    size_t nfeat;    /* features per sample */
    int nclass;      /* labels are 0..nclass-1 */
    float *x;        /* n * nfeat, row-major */
    int *y;          /* n labels */
} ct_dataset;

/* Reads path (plain or gzip CSV, no header) with exactly nfeat + 1 columns
 * per line; every label must be an integer in [0, nclass). Blank lines are
 * refused, except trailing ones at the end of the file. On failure returns
 * -1 and writes a message naming the file (and the line, where there is
 * one) into err; *out is left empty. */
int ct_dataset_load(ct_dataset *out, const char *path, size_t nfeat, int nclass, char *err,
                    size_t errcap);

void ct_dataset_free(ct_dataset *d);

#endif
