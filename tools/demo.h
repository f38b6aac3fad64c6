/* ctrain tool — `ctrain demo`: trains a softmax-regression classifier on the
 * 8x8 handwritten digits of data/digits.csv.gz with the ctrain optimizer
 * engine and prints its test accuracy. */
#ifndef CTRAIN_TOOLS_DEMO_H
#define CTRAIN_TOOLS_DEMO_H

/* argv[0] is "demo"; the options follow. Returns the process exit status:
 * 0 on success, 1 on any error (message on stderr). */
int ct_demo_main(int argc, char **argv);

#endif
