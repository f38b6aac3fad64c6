/* Reduced precision in the optimizer engine: bf16 / fp16 numbers, the
 * blockwise 8-bit state quantizer, the counter-based RNG of stochastic
 * rounding. Used by optim.c's converted pass (precision.c) and by
 * state_io.c; the kinds never see any of it (they update fp32 scratch).   */
#ifndef CT_OPTIM_PRECISION_H
#define CT_OPTIM_PRECISION_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Storage of a state buffer (ct_slot.sdt). */
enum {
    CT_SDT_F32 = 0,  /* float32 */
    CT_SDT_BF16 = 1, /* bfloat16, round to nearest even (or stochastic) */
    CT_SDT_Q8S = 2,  /* 8-bit codes of the signed dynamic map, absmax per block */
    CT_SDT_Q8U = 3   /* 8-bit codes of the unsigned dynamic map, absmax per block */
};

#define CT_QBLOCK 256 /* elements per quantization block (Dettmers et al. 2022) */
/* elements per converted sub-chunk: a multiple of CT_QBLOCK. 256 keeps the
 * scratch in L1 and the buffers' streams interleaved finely (measured:
 * 128-256 best, 1,024-2,048 about half the speed on the bf16 rows) */
#define CT_SUB 256

/* Engine option slots, after every kind's own (see optim.c engine_opts). */
enum { CT_HP_SDT = 26, CT_HP_MIN8, CT_HP_MASTER, CT_HP_SR, CT_HP_SEED };
enum { CT_STATE_DTYPE_F32 = 0, CT_STATE_DTYPE_BF16 = 1, CT_STATE_DTYPE_INT8 = 2 };

static inline uint32_t ct_f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float ct_u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* bfloat16 <-> float32. To bf16: round to nearest, ties to even (what
 * torch's float.to(torch.bfloat16) does); NaN stays a quiet NaN. */
static inline float ct_bf16_to_f32(uint16_t h) { return ct_u2f((uint32_t)h << 16); }
static inline uint16_t ct_f32_to_bf16(float f)
{
    uint32_t u = ct_f2u(f);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, q = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? q : r); /* a select: vectorizes */
}
/* Stochastic rounding to bf16: adds 16 random low bits r before truncating,
 * so f rounds up with probability (its distance to the lower bf16) / ulp. */
static inline uint16_t ct_f32_to_bf16_sr(float f, uint32_t r)
{
    uint32_t u = ct_f2u(f);
    if ((u & 0x7f800000u) == 0x7f800000u) /* inf and NaN: as nearest */
        return ct_f32_to_bf16(f);
    uint32_t t = u + (r & 0xffffu);
    if ((t & 0x7f800000u) == 0x7f800000u) /* would carry into inf: truncate */
        t = u;
    return (uint16_t)(t >> 16);
}

/* IEEE binary16 <-> float32; to f16 rounds to nearest even, overflow gives
 * infinity (F. Giesen's float_to_half_fast3_rtne, public domain). */
static inline float ct_f16_to_f32(uint16_t h)
{
    uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
        float v = (float)m * 0x1p-24f; /* exact: m < 2^10 */
        return ct_u2f(ct_f2u(v) | s);
    }
    if (e == 31)
        return ct_u2f(s | 0x7f800000u | (m << 13));
    return ct_u2f(s | ((e + 112u) << 23) | (m << 13));
}
static inline uint16_t ct_f32_to_f16(float f)
{
    uint32_t u = ct_f2u(f), sign = u & 0x80000000u, o;
    u ^= sign;
    if (u >= (127u + 16u) << 23) {
        o = u > 0x7f800000u ? 0x7e00u : 0x7c00u;
    } else if (u < (113u << 23)) { /* subnormal or zero half */
        const uint32_t magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
        o = ct_f2u(ct_u2f(u) + ct_u2f(magic)) - magic;
    } else {
        uint32_t odd = (u >> 13) & 1u;
        u += ((uint32_t)(15 - 127) << 23) + 0xfffu;
        u += odd;
        o = u >> 13;
    }
    return (uint16_t)(o | (sign >> 16));
}

/* The counter-based RNG of stochastic rounding: 32 bits that depend only
 * on (seed, key, index), so every thread count gives the same bits
 * (SplitMix64's finalizer, Steele et al. 2014, applied to a mixed key).  */
static inline uint32_t ct_rng32(uint64_t seed, uint64_t key, uint64_t index)
{
    uint64_t z = seed * 0x9e3779b97f4a7c15ull ^ (key + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull;
    z += index * 0x94d049bb133111ebull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (uint32_t)(z >> 32);
}

/* The 256-entry dynamic quantization map (sorted ascending), its 255
 * decision thresholds (padded to 256 with +inf) and the code of 0. */
#define CT_QLUT_SHIFT 18 /* float bits >> 18: sign, exponent, 5 mantissa bits */
#define CT_QT_CBITS 18                  /* qt: the count's shift */
#define CT_QT_FIELD (1u << 17)          /* qt: "no threshold in this bucket" */
#define CT_QT_MAX 3200                  /* qt: entries, at most */
typedef struct ct_qmap {
    float v[256];
    float mid[256 + 4]; /* + infinities: the lookups past the last threshold */
    /* lut[bits >> CT_QLUT_SHIFT]: the number of thresholds below every float
     * of that bucket, so the code of x is lut[...] plus the few thresholds
     * of its bucket that are below x (the same count, found faster) */
    uint8_t lut[1u << (32 - CT_QLUT_SHIFT)];
    uint8_t zero;
    int steps; /* the most thresholds in one bucket: the steps up from lut */
    /* The SIMD coder's table (precision_simd.h). For a value q of the
     * block normalized by its absmax (|q| <= 1) with bits a = |q|'s,
     * d = max(a, qt_lo) - qt_lo: bucket d >> qt_shift holds at most one of
     * the thresholds above 0 (ct_qmap_build checks), and
     * qt[d >> qt_shift] = (the number of those thresholds below the
     * bucket) << CT_QT_CBITS | (that threshold's bits - the bucket's first
     * float's, or CT_QT_FIELD if the bucket holds none); qt_lo is a power
     * of two below every threshold above 0. The code follows by symmetry
     * of the signed map (its thresholds below 0 are those above, negated). */
    uint32_t qt_lo;
    int qt_shift;
    uint32_t qt[CT_QT_MAX];
    /* The AVX-512 coder's binary search (gather-free: register permutes)
     * over the thresholds above 0, mid[zero..254], padded with +inf to
     * 2^bs_levels: level L's 2^L keys at bs[2^L - 1 + j] are the
     * thresholds t[j * 2s + s - 1], s = 2^(bs_levels - 1 - L), which
     * counts those among t[0 .. 2^bs_levels - 2]; bs_top is the one after
     * (the signed map's 128th, compared on its own; else +inf). */
    int bs_levels;
    float bs_top;
    float bs[256];
    /* byte b of v[k]'s bits at vbytes[b][k]: the AVX-512 VBMI dequantizer
     * looks up the four bytes of 64 codes at a time with byte permutes;
     * vbmi: the CPU has AVX-512 VBMI and BW (checked once, at build) */
    uint8_t vbytes[4][256];
    int vbmi;
} ct_qmap;

/* Builds the dynamic map of Dettmers et al. 2022 ("8-bit Optimizers via
 * Block-wise Quantization", section 2.2 and appendix; bitsandbytes'
 * create_dynamic_map(signed, max_exponent_bits=7, total_bits=8)):
 * for i = 0..6, the midpoints of linspace(0.1, 1, n_i + 1) scaled by
 * 10^(i - 6), with n_i = 2^i entries per sign (signed) or 2^(i+1)
 * (unsigned, non-negative only); plus 0 and 1; sorted. Values are computed
 * in double and rounded once to float; each threshold is the float nearest
 * to the double midpoint of two neighbours. */
void ct_qmap_build(ct_qmap *m, int is_signed);

/* Quantizes x[0..n) (n <= CT_QBLOCK), one block: absmax = max |x|;
 * code[j] = the number of thresholds t with t < x[j] / absmax (float
 * division), i.e. the nearest map entry, the lower one on a tie at a
 * threshold, except that a nonzero value whose nearest entry is 0 takes the
 * entry of its own sign next to 0 (none below 0 in the unsigned map: 0
 * stays); absmax 0 gives the code of 0, and so does a block holding an
 * infinity or NaN (whose absmax is then that inf or NaN). Returns absmax. */
float ct_q8_block(const ct_qmap *m, const float *x, size_t n, uint8_t *code);

/* ct_q8_block, ct_dq8_block and the bf16 conversions of n elements as the
 * converted pass runs them at SIMD level lvl (CT_SIMD_SCALAR, _AVX2 or
 * _AVX512; the caller checks the CPU has it): the same bits at every level.
 * For the tests, which compare each level with a reference. */
float ct_q8_block_at(int lvl, const ct_qmap *m, const float *x, size_t n, uint8_t *code);
/* For the tests, lvl CT_PREC_AVX512_NO_VBMI: the AVX-512 dequantizer the
 * pass takes on CPUs without AVX-512 VBMI (with it, the pass looks the
 * codes up by byte permutes). */
#define CT_PREC_AVX512_NO_VBMI 3
void ct_dq8_block_at(int lvl, const ct_qmap *m, const uint8_t *code, size_t n, float absmax,
                     float *x);
void ct_bf16_to_f32_at(int lvl, const uint16_t *h, float *x, size_t n);
void ct_f32_to_bf16_at(int lvl, const float *x, uint16_t *h, size_t n);

/* x[j] = map[code[j]] * absmax (float multiply). */
static inline void ct_dq8_block(const ct_qmap *m, const uint8_t *code, size_t n, float absmax,
                                float *x)
{
    for (size_t j = 0; j < n; j++)
        x[j] = m->v[code[j]] * absmax;
}

#endif
