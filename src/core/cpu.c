/* CPU feature detection with the compiler's __builtin_cpu_supports, which
 * also checks that the OS saves the wide registers (XCR0). */
#include "cpu.h"

#include <string.h>

int ct_cpu_supports(int level)
{
#if defined(__x86_64__) || defined(__i386__)
    switch (level) {
    case CT_CPU_SCALAR:
        return 1;
    case CT_CPU_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CT_CPU_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
    default:
        return 0;
    }
#else
    return level == CT_CPU_SCALAR;
#endif
}

int ct_cpu_best(void)
{
    for (int l = CT_CPU_LEVELS - 1; l > 0; l--)
        if (ct_cpu_supports(l))
            return l;
    return CT_CPU_SCALAR;
}

static const char *const names[CT_CPU_LEVELS] = {"scalar", "avx2", "avx512"};

const char *ct_cpu_level_name(int level)
{
    return level >= 0 && level < CT_CPU_LEVELS ? names[level] : NULL;
}

int ct_cpu_level_parse(const char *s)
{
    for (int l = 0; s && l < CT_CPU_LEVELS; l++)
        if (!strcmp(s, names[l]))
            return l;
    return -1;
}
