/* What the CPU can run: the SIMD levels of the optimizer kernels. */
#ifndef CT_CORE_CPU_H
#define CT_CORE_CPU_H

/* Levels, as ct_optim_set_simd takes them (include/ctrain/optim.h). */
enum { CT_CPU_SCALAR = 0, CT_CPU_AVX2 = 1, CT_CPU_AVX512 = 2, CT_CPU_LEVELS = 3 };

/* Does this CPU (and its OS) support the level? AVX2 needs AVX2 and FMA;
 * AVX-512 needs AVX-512F (and AVX2, FMA). Scalar is always supported. */
int ct_cpu_supports(int level);

/* The highest supported level. */
int ct_cpu_best(void);

/* "scalar", "avx2", "avx512"; NULL for an unknown level. */
const char *ct_cpu_level_name(int level);

/* The level named by s (as above), or -1. */
int ct_cpu_level_parse(const char *s);

#endif
