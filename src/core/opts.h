/* Table-driven "key=value key=a,b" option text, shared by optimizers,
 * schedules and the CLI. An option table describes each key once: its type,
 * how many numbers it holds, where they live in a double array, its default
 * and its allowed range; parsing, validation, messages and docs all come
 * from that one table. */
#ifndef CT_CORE_OPTS_H
#define CT_CORE_OPTS_H

#include <stddef.h>

#include "error.h"

enum ct_opt_type {
    CT_OPT_REAL = 0, /* a number in [lo, hi] */
    CT_OPT_BOOL,     /* true/false/1/0, stored as 1.0/0.0 */
    CT_OPT_INT,      /* an integer in [lo, hi] */
    CT_OPT_ENUM      /* one of names[], stored as its index */
};

enum {
    CT_OPT_LO_OPEN = 1u, /* lo itself is not allowed */
    CT_OPT_HI_OPEN = 2u, /* hi itself is not allowed */
    CT_OPT_LIST = 4u     /* 1..count values may be given */
};

typedef struct ct_opt_desc {
    const char *name;
    int type;                /* enum ct_opt_type */
    int count;               /* values the option holds (2 for "betas") */
    int slot;                /* index of its first value in the array */
    double def[2];           /* defaults of the first two values; further
                                values of a list default to def[1] */
    double lo, hi;
    unsigned flags;
    const char *const *names; /* CT_OPT_ENUM: NULL-terminated */
} ct_opt_desc;

/* Number of value slots a table needs. */
int ct_opts_slots(const ct_opt_desc *d, size_t nd);

/* Writes every default into values. */
void ct_opts_defaults(const ct_opt_desc *d, size_t nd, double *values);

/* Applies text onto values. `what` names the owner in messages ("adamw").
 * On failure values may be partly written: pass a scratch copy. given
 * (may be NULL, nd entries) receives how many values each key was given;
 * entries of keys not mentioned are left as they are. */
ct_status ct_opts_parse(const ct_opt_desc *d, size_t nd, const char *what,
                        const char *text, double *values, int *given, ct_err *e);

/* The descriptor of key, or NULL. */
const ct_opt_desc *ct_opts_find(const ct_opt_desc *d, size_t nd, const char *key);

/* Checks every value against its range (after a parse or a load). */
ct_status ct_opts_check(const ct_opt_desc *d, size_t nd, const char *what,
                        const double *values, ct_err *e);

#endif
