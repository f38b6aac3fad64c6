/* NumPy's legacy RandomState (MT19937), bit for bit: seeding, random
 * doubles, the legacy Gaussian, randint into uint8 and shuffle. DLIO 2.0.0
 * draws every size and every byte of its data sets from np.random after
 * np.random.seed(10); reproducing the stream makes ctrain's files identical
 * to DLIO's. Sources: numpy/random/src/mt19937/mt19937.c (genrand),
 * numpy/random/src/legacy/legacy-distributions.c (legacy_gauss),
 * numpy/random/src/distributions/distributions.c (random_bounded_uint8_fill,
 * random_interval), numpy/random/mtrand.pyx (shuffle). */
#ifndef CT_DATA_NPRAND_H
#define CT_DATA_NPRAND_H

#include <stddef.h>
#include <stdint.h>

typedef struct ct_nprand {
    uint32_t mt[624];
    int pos;
    int has_gauss;
    double gauss;
} ct_nprand;

/* np.random.seed(s) for 0 <= s < 2^32 (init_genrand). */
void ct_nprand_seed(ct_nprand *r, uint32_t s);
/* np.random.seed([k0, k1, ...]) (init_by_array). */
void ct_nprand_seed_array(ct_nprand *r, const uint32_t *key, size_t n);
uint32_t ct_nprand_u32(ct_nprand *r);
/* random_sample(): 53-bit double in [0, 1). */
double ct_nprand_double(ct_nprand *r);
/* np.random.normal(loc, scale): loc + scale * legacy_gauss. */
double ct_nprand_normal(ct_nprand *r, double loc, double scale);
/* np.random.randint(high, size=n, dtype=np.uint8) for 1 <= high <= 256:
 * values in [0, high). One call = one numpy call (the byte buffer is not
 * carried over between calls). */
void ct_nprand_uint8(ct_nprand *r, int high, uint8_t *out, size_t n);
/* The byte buffer of one randint call, so a call can be drawn in pieces:
 * ct_nprand_uint8_cont with the same state continues where the last piece
 * stopped. out == NULL draws and discards. */
typedef struct ct_nprand_u8 {
    uint32_t buf;
    int bcnt;
} ct_nprand_u8;
void ct_nprand_uint8_cont(ct_nprand *r, ct_nprand_u8 *st, int high, uint8_t *out, size_t n);
/* random_interval(max): uniform in [0, max], masked rejection. */
uint64_t ct_nprand_interval(ct_nprand *r, uint64_t max);
/* np.random.shuffle on a 1-D int64 array. */
void ct_nprand_shuffle_i64(ct_nprand *r, int64_t *x, int64_t n);

#endif
