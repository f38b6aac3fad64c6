#include <stdio.h>
#include <string.h>

#include "ctrain/ctrain.h"

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--version")) {
        printf("ctrain %s\n", ct_version());
        return 0;
    }
    fprintf(stderr, "usage: ctrain --version\n");
    return 2;
}
