/* Compiles a kind's SIMD kernel for every level from its one source.
 *
 * A kind file holds its scalar reference and tables under
 * `#ifndef CT_SIMD_LEVEL` and its SIMD kernel, written with simd.h's
 * macros, under `#else`. Before its kind table it does
 *     #define CT_SIMD_SELF "adam.c"
 *     #include "simd_each.h"
 * which includes the file again once per level (CT_SIMD_LEVEL 1, 2), each
 * time with that level's macros, so `CT_V(adam_k)` becomes adam_k_avx2 and
 * adam_k_avx512. CT_SIMD_KERNELS(adam_k) then names both for the table
 * (NULL, NULL where the target has no x86 SIMD).                           */
#ifndef CT_SIMD_SELF
#error "define CT_SIMD_SELF as the kind's file name before including simd_each.h"
#endif

#if defined(__x86_64__)
#define CT_SIMD_LEVEL 1
#include "simd.h"
#include CT_SIMD_SELF
#include "simd_end.h"
#undef CT_SIMD_LEVEL
#define CT_SIMD_LEVEL 2
#include "simd.h"
#include CT_SIMD_SELF
#include "simd_end.h"
#undef CT_SIMD_LEVEL
#define CT_SIMD_KERNELS(name) {name##_avx2, name##_avx512}
#else
#define CT_SIMD_KERNELS(name) {NULL, NULL}
#endif
#undef CT_SIMD_SELF
