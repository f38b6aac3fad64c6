/* ctrain tool — YAML configuration trees on libyaml's document loader. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static void free_kids(cfg *c);

static int convert(yaml_document_t *doc, yaml_node_t *node, cfg *out, int depth, char *err,
                   size_t cap, const char *what)
{
    memset(out, 0, sizeof *out);
    out->line = (int)node->start_mark.line + 1;
    if (depth > 32) {
        snprintf(err, cap, "%s:%d: nested too deeply", what, out->line);
        return -1;
    }
    switch (node->type) {
    case YAML_SCALAR_NODE:
        out->type = CFG_SCALAR;
        out->val = dup_n((const char *)node->data.scalar.value, node->data.scalar.length);
        return out->val ? 0 : -1;
    case YAML_SEQUENCE_NODE: {
        out->type = CFG_LIST;
        size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
        out->kids = calloc(n + 1, sizeof *out->kids);
        if (!out->kids)
            return -1;
        for (size_t i = 0; i < n; i++) {
            yaml_node_t *k = yaml_document_get_node(doc, node->data.sequence.items.start[i]);
            if (!k)
                return -1;
            if (convert(doc, k, &out->kids[i], depth + 1, err, cap, what)) {
                free_kids(&out->kids[i]); /* the part it converted */
                return -1;
            }
            out->n++;
        }
        return 0;
    }
    case YAML_MAPPING_NODE: {
        out->type = CFG_MAP;
        size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
        out->kids = calloc(n + 1, sizeof *out->kids);
        if (!out->kids)
            return -1;
        for (size_t i = 0; i < n; i++) {
            yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
            yaml_node_t *k = yaml_document_get_node(doc, p->key),
                        *v = yaml_document_get_node(doc, p->value);
            if (!k || !v || k->type != YAML_SCALAR_NODE) {
                snprintf(err, cap, "%s:%d: map keys must be plain words", what,
                         k ? (int)k->start_mark.line + 1 : out->line);
                return -1;
            }
            for (size_t j = 0; j < out->n; j++)
                if (!strcmp(out->kids[j].key, (const char *)k->data.scalar.value)) {
                    snprintf(err, cap, "%s:%d: duplicate key '%s'", what,
                             (int)k->start_mark.line + 1, (const char *)k->data.scalar.value);
                    return -1;
                }
            if (convert(doc, v, &out->kids[i], depth + 1, err, cap, what)) {
                free_kids(&out->kids[i]);
                return -1;
            }
            out->n++;
            out->kids[i].key = dup_n((const char *)k->data.scalar.value, k->data.scalar.length);
            if (!out->kids[i].key)
                return -1;
        }
        return 0;
    }
    default:
        snprintf(err, cap, "%s:%d: empty value", what, out->line);
        return -1;
    }
}

static void free_kids(cfg *c)
{
    for (size_t i = 0; i < c->n; i++)
        free_kids(&c->kids[i]);
    free(c->kids);
    free(c->key);
    free(c->val);
}

void cfg_free(cfg *c)
{
    if (!c)
        return;
    free_kids(c);
    free(c);
}

cfg *cfg_parse(const char *text, size_t len, const char *what, char *err, size_t cap)
{
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, cap, "%s: out of memory", what);
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    cfg *c = NULL;
    if (!yaml_parser_load(&p, &doc)) {
        snprintf(err, cap, "%s:%d: %s", what, (int)p.problem_mark.line + 1,
                 p.problem ? p.problem : "YAML syntax error");
        yaml_parser_delete(&p);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        snprintf(err, cap, "%s:1: the config must be a map of sections (model:, data:, ...)",
                 what);
    } else {
        c = calloc(1, sizeof *c);
        err[0] = 0;
        if (c && convert(&doc, root, c, 0, err, cap, what)) {
            if (!err[0])
                snprintf(err, cap, "%s: out of memory", what);
            free_kids(c);
            free(c);
            c = NULL;
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return c;
}

cfg *cfg_load(const char *path, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, cap, "%s: cannot open", path);
        return NULL;
    }
    size_t n = 0, c = 4096;
    char *buf = malloc(c);
    size_t r;
    while (buf && (r = fread(buf + n, 1, c - n, f)) > 0) {
        n += r;
        if (n == c) {
            char *nb = c < (16u << 20) ? realloc(buf, 2 * c) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            c *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        snprintf(err, cap, "%s: too large or out of memory", path);
        return NULL;
    }
    cfg *t = cfg_parse(buf, n, path, err, cap);
    free(buf);
    return t;
}

cfg *cfg_get(cfg *map, const char *key)
{
    if (!map || map->type != CFG_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (!strcmp(map->kids[i].key, key)) {
            map->kids[i].used = 1;
            return &map->kids[i];
        }
    return NULL;
}

static cfg *add_kid(cfg *map, const char *key, size_t klen)
{
    cfg *k = realloc(map->kids, (map->n + 1) * sizeof *k);
    if (!k)
        return NULL;
    map->kids = k;
    cfg *c = &map->kids[map->n++];
    memset(c, 0, sizeof *c);
    c->type = CFG_MAP;
    c->key = dup_n(key, klen);
    return c->key ? c : NULL;
}

/* Values from overrides have no line in the file. */
static void zero_lines(cfg *c)
{
    c->line = 0;
    for (size_t i = 0; i < c->n; i++)
        zero_lines(&c->kids[i]);
}

int cfg_override(cfg *root, const char *kv, char *err, size_t cap)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        snprintf(err, cap, "override '%s': expected key.path=value", kv);
        return -1;
    }
    cfg *node = root;
    const char *p = kv;
    while (p < eq) {
        const char *dot = memchr(p, '.', (size_t)(eq - p));
        size_t len = (size_t)((dot ? dot : eq) - p);
        if (!len) {
            snprintf(err, cap, "override '%s': empty key", kv);
            return -1;
        }
        if (node->type != CFG_MAP) {
            snprintf(err, cap, "override '%s': '%.*s' is inside a value that is not a map", kv,
                     (int)(p - kv), kv);
            return -1;
        }
        cfg *next = NULL;
        for (size_t i = 0; i < node->n; i++)
            if (strlen(node->kids[i].key) == len && !strncmp(node->kids[i].key, p, len))
                next = &node->kids[i];
        if (!next && !(next = add_kid(node, p, len))) {
            snprintf(err, cap, "out of memory");
            return -1;
        }
        node = next;
        p = dot ? dot + 1 : eq;
    }
    /* the value: parse "k: VALUE" as YAML so lists and numbers work alike */
    size_t vl = strlen(eq + 1);
    char *doc = malloc(vl + 8);
    if (!doc)
        return -1;
    snprintf(doc, vl + 8, "v: %s\n", eq + 1);
    char e2[256];
    cfg *t = cfg_parse(doc, strlen(doc), "override", e2, sizeof e2);
    free(doc);
    if (!t) {
        snprintf(err, cap, "override '%s': bad value", kv);
        return -1;
    }
    cfg v = t->kids[0]; /* take the value over from t */
    memset(&t->kids[0], 0, sizeof t->kids[0]);
    char *key = node->key;
    node->key = NULL;
    free_kids(node);
    free(v.key);
    *node = v;
    node->key = key;
    zero_lines(node);
    cfg_free(t);
    return 0;
}

/* Plain only for words, numbers and paths; everything else is written
 * double-quoted with escapes, which reads back as the same string. */
static int needs_quotes(const char *s)
{
    size_t n = strlen(s);
    if (!n || s[0] == ' ' || s[n - 1] == ' ' || (s[0] == '-' && !(s[1] >= '0' && s[1] <= '9')))
        return 1;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              strchr("_./+- ", ch)))
            return 1;
    }
    return 0;
}

static void put_scalar(const char *s, FILE *f)
{
    if (!needs_quotes(s)) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static int all_scalars(const cfg *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->kids[i].type != CFG_SCALAR)
            return 0;
    return 1;
}

static void dump_flow(const cfg *c, FILE *f)
{
    if (c->type == CFG_SCALAR) {
        put_scalar(c->val, f);
        return;
    }
    fputc(c->type == CFG_MAP ? '{' : '[', f);
    for (size_t i = 0; i < c->n; i++) {
        if (i)
            fputs(", ", f);
        if (c->type == CFG_MAP) {
            put_scalar(c->kids[i].key, f);
            fputs(": ", f);
        }
        dump_flow(&c->kids[i], f);
    }
    fputc(c->type == CFG_MAP ? '}' : ']', f);
}

/* YAML's simple keys are limited to 1024 characters (libyaml refuses
 * longer ones): such keys are written as explicit "? key" in block style. */
#define LONG_KEY 512

static int flow_ok(const cfg *c)
{
    for (size_t i = 0; i < c->n; i++)
        if ((c->type == CFG_MAP && strlen(c->kids[i].key) > LONG_KEY) || !flow_ok(&c->kids[i]))
            return 0;
    return 1;
}

void cfg_dump(const cfg *c, FILE *f, int indent)
{
    if (!c->n && !indent) { /* an empty document would not read back as a map */
        fputs(c->type == CFG_LIST ? "[]\n" : "{}\n", f);
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        const cfg *k = &c->kids[i];
        fprintf(f, "%*s", indent, "");
        if (c->type == CFG_MAP && strlen(k->key) > LONG_KEY) {
            fputs("? ", f);
            put_scalar(k->key, f);
            fprintf(f, "\n%*s:", indent, "");
        } else if (c->type == CFG_MAP) {
            put_scalar(k->key, f);
            fputc(':', f);
        } else {
            fputc('-', f);
        }
        int small = k->type == CFG_SCALAR || (k->n && all_scalars(k)) ||
                    (k->type == CFG_MAP && k->n == 1 && all_scalars(&k->kids[0]));
        if (small && flow_ok(k)) {
            fputc(' ', f);
            dump_flow(k, f);
            fputc('\n', f);
        } else if (!k->n) {
            fputs(k->type == CFG_MAP ? " {}\n" : " []\n", f);
        } else {
            fputc('\n', f);
            cfg_dump(k, f, indent + 2);
        }
    }
}

const cfg *cfg_unused(const cfg *c, char *where, size_t cap)
{
    if (c->type == CFG_SCALAR)
        return NULL;
    for (size_t i = 0; i < c->n; i++) {
        const cfg *k = &c->kids[i];
        if (c->type == CFG_MAP && !k->used) {
            return k;
        }
        size_t len = strlen(where);
        if (c->type == CFG_MAP)
            snprintf(where + len, cap > len ? cap - len : 0, "%s%s", len ? "." : "", k->key);
        else
            snprintf(where + len, cap > len ? cap - len : 0, "[%zu]", i);
        const cfg *u = cfg_unused(k, where, cap);
        if (u)
            return u;
        where[len] = 0;
    }
    return NULL;
}
