/* `ctrain dlio ...` (tools/dlio.c). */
#ifndef CT_TOOLS_DLIO_H
#define CT_TOOLS_DLIO_H
int ct_dlio_main(int argc, char **argv);
#endif
