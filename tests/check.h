/* The C tests' one assertion: CHECK(cond, fmt, ...) counts a pass, or counts
 * a failure and prints where and why (with check_context, e.g. the optimizer
 * under test, when set). A test's main ends with check_summary(). */
#ifndef CT_TESTS_CHECK_H
#define CT_TESTS_CHECK_H

#include <stdio.h>

static int passed, failed;
static const char *check_context = "";

#define CHECK(cond, ...)                                                                         \
    do {                                                                                         \
        if (cond) {                                                                              \
            passed++;                                                                            \
        } else {                                                                                 \
            failed++;                                                                            \
            printf("FAIL %s%s%s%s:%d: ", *check_context ? "[" : "", check_context,             \
                   *check_context ? "] " : "", __FILE__, __LINE__);                              \
            printf(__VA_ARGS__);                                                                 \
            printf("\n");                                                                        \
        }                                                                                        \
    } while (0)

/* Prints the closing line ctest logs show and returns main's exit code. */
static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0 || passed == 0;
}

#endif
