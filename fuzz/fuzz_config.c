/* libFuzzer target: the YAML config reader of `ctrain train` (tools/config.c)
 * and the model builder it feeds (ct_model_add on every layer of a model:
 * list). Never a crash; an accepted config dumps to YAML that parses again
 * into the same dump; an override on it either applies or is refused with a
 * message. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/config.h"
#include "ctrain/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_config: contract broken: %s\n", what);
        abort();
    }
}

static char *dump(const cfg *c, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    must(f != NULL, "open_memstream");
    cfg_dump(c, f, 0);
    fclose(f);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    cfg *c = cfg_parse((const char *)data, size, "fuzz", err, sizeof err);
    if (!c) {
        must(err[0] != 0, "a refused config without a message");
        return 0;
    }
    size_t l1, l2;
    char *d1 = dump(c, &l1);
    cfg *c2 = cfg_parse(d1, l1, "dump", err, sizeof err);
    if (!c2) {
        fprintf(stderr, "dump does not parse: %s\n%s", err, d1);
        must(0, "the dump of an accepted config does not parse");
    }
    char *d2 = dump(c2, &l2);
    must(l1 == l2 && !memcmp(d1, d2, l1), "dump -> parse -> dump changed the config");
    if (cfg_override(c, "train.epochs=3", err, sizeof err))
        must(err[0] != 0, "a refused override without a message");
    /* layers of a model: list, as ctrain train builds them */
    cfg *ml = cfg_get(c, "model");
    int64_t in[3] = {1, 8, 8};
    ct_model *m;
    if (ml && ml->type == CFG_LIST && !ct_model_create(&m, 3, in)) {
        for (size_t i = 0; i < ml->n && i < 16; i++) {
            const cfg *it = &ml->kids[i];
            if (it->type == CFG_SCALAR)
                ct_model_add(m, it->val, "");
            else if (it->type == CFG_MAP && it->n == 1 && it->kids[0].type == CFG_MAP) {
                char opts[512] = "";
                size_t len = 0;
                const cfg *o = &it->kids[0];
                for (size_t k = 0; k < o->n && len < sizeof opts; k++)
                    if (o->kids[k].type == CFG_SCALAR)
                        len += (size_t)snprintf(opts + len, sizeof opts - len, "%s=%s ",
                                                o->kids[k].key, o->kids[k].val);
                ct_model_add(m, it->kids[0].key, opts);
            }
        }
        int64_t out[8];
        ct_model_output_shape(m, out);
        /* building allocates the parameters: only for small models */
        ct_model_destroy(m);
    }
    free(d1);
    free(d2);
    cfg_free(c2);
    cfg_free(c);
    return 0;
}
