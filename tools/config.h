/* ctrain tool — YAML configuration trees (libyaml) with line numbers, for
 * `ctrain train`. A config is read into a tree of maps, lists and scalars;
 * the reader of each section marks the keys it uses, and whatever is left
 * unmarked is reported as "FILE:LINE: unknown key ..." — so a typo never
 * goes unnoticed. Overrides "a.b.c=value" replace or add scalars. */
#ifndef CTRAIN_TOOLS_CONFIG_H
#define CTRAIN_TOOLS_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum { CFG_SCALAR, CFG_MAP, CFG_LIST };

typedef struct cfg {
    int type;
    char *key;        /* in a map: the key; else NULL */
    char *val;        /* scalars */
    int line;         /* 1-based line of the value (0: from an override) */
    int used;
    struct cfg *kids;
    size_t n;
} cfg;

/* Parses a file; returns NULL with a message "FILE:LINE: ..." in err. */
cfg *cfg_load(const char *path, char *err, size_t errcap);
/* Parses text (for fuzzing and tests). */
cfg *cfg_parse(const char *text, size_t len, const char *what, char *err, size_t errcap);
void cfg_free(cfg *c);
/* Applies "a.b=value" (value parsed as a YAML scalar or flow list "[1, 2]").
 * Returns -1 with a message on a malformed override. */
int cfg_override(cfg *root, const char *kv, char *err, size_t errcap);
/* Child of a map by key (marks it used), or NULL. */
cfg *cfg_get(cfg *map, const char *key);
/* Writes the tree as YAML. */
void cfg_dump(const cfg *c, FILE *f, int indent);
/* The first key not marked used, depth-first, or NULL. *where receives the
 * dotted path of its parent. */
const cfg *cfg_unused(const cfg *c, char *where, size_t cap);

#endif
