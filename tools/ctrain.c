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
