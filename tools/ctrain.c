/* ctrain — the command-line tool.
 *   ctrain --version    prints the library version
 *   ctrain demo [...]   trains a digits classifier (see `ctrain demo --help`)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctrain/ctrain.h"
#include "demo.h"
#include "train.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: ctrain --version\n"
               "       ctrain demo [options]   (ctrain demo --help lists them)\n"
               "       ctrain train CONFIG.yaml [key=value ...] [--resume] | eval RUN | predict RUN X.npy\n");
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--version")) {
        printf("ctrain %s\n", ct_version());
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "demo"))
        return ct_demo_main(argc - 1, argv + 1);
    if (argc > 1 && ct_train_handles(argv[1])) /* train, eval, predict */
        return ct_train_cmd_main(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "dlio")) {
        /* `ctrain dlio` multiplies no matrices, but libctrain links
         * OpenBLAS, whose worker threads start as it loads and then spin
         * for ~0.1 s (2^28 cycles) waiting for work: a CPU taken from the
         * data readers (bert's warm epoch on 2 CPUs: 93% of the raw read
         * loop with them, 133% without; docs/data.md). OpenBLAS reads
         * OPENBLAS_NUM_THREADS only as it loads, so the command sets it to
         * 1 and runs itself again; a value the user set is kept. If the
         * exec fails, the command runs as it is. */
        if (!getenv("OPENBLAS_NUM_THREADS") && setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0)
            execv("/proc/self/exe", argv);
        extern int ct_dlio_main(int, char **);
        return ct_dlio_main(argc - 1, argv + 1);
    }
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
                     !strcmp(argv[1], "help"))) {
        usage(stdout);
        return 0;
    }
    if (argc > 1)
        fprintf(stderr, "ctrain: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
