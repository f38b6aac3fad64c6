/* torch.save's zip format for DLIO's checkpoints.
 *
 * Reference: torch/serialization.py _save (torch 2.x: data.pkl, then
 * .format_version "1", .storage_alignment "64", byteorder "little", one
 * data/KEY record per storage in first-use order, then at
 * PyTorchStreamWriter::writeEndOfFile "version" ("3\n") and
 * .data/serialization_id), caffe2/serialize/inline_container.cc (every
 * record's data 64-byte aligned by an extra field "FB" + length + 'Z'
 * padding; local headers with flag 0x0808 and zero sizes followed by a data
 * descriptor; a Zip64 end record always), and CPython's pickle protocol 2
 * (Modules/_pickle.c: save_dict, save_tuple, save_reduce, memoization) for
 * the object torch pickles: {key: tensor} where a tensor reduces to
 * torch._utils._rebuild_tensor_v2((persistent id ('storage',
 * torch.CharStorage, KEY, 'cpu', numel)), 0, (numel,), (1,), False,
 * collections.OrderedDict()).
 *
 * The state dicts are DLIO's (checkpointing/base_checkpointing.py): int8
 * tensors of zeros (torch.randint(high=1, dtype=torch.int8)). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../core/error.h"
#include "ckpt.h"
#include "formats.h"

#define PKL_CAP (1 << 16)
#define MEMO_CAP 256

typedef struct pkl {
    uint8_t b[PKL_CAP];
    size_t n;
    int overflow;
    int next_memo;
    /* memo of strings and globals by content (CPython memoizes by object;
     * the strings here are literals or one-character str(int), which
     * CPython shares) */
    char memo_key[MEMO_CAP][48];
    int memo_id[MEMO_CAP];
    int nmemo;
} pkl;

static void put(pkl *p, const void *d, size_t n)
{
    if (p->n + n > PKL_CAP) {
        p->overflow = 1;
        return;
    }
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void op(pkl *p, uint8_t c) { put(p, &c, 1); }


static void memo_put(pkl *p)
{
    int id = p->next_memo++;
    if (id < 256) {
        uint8_t b[2] = {'q', (uint8_t)id};
        put(p, b, 2);
    } else {
        uint8_t b[5] = {'r'};
        ct_le32(b + 1, (uint32_t)id);
        put(p, b, 5);
    }
}

static void memo_get(pkl *p, int id)
{
    if (id < 256) {
        uint8_t b[2] = {'h', (uint8_t)id};
        put(p, b, 2);
    } else {
        uint8_t b[5] = {'j'};
        ct_le32(b + 1, (uint32_t)id);
        put(p, b, 5);
    }
}

static int memo_find(const pkl *p, const char *key)
{
    for (int i = 0; i < p->nmemo; i++)
        if (!strcmp(p->memo_key[i], key))
            return p->memo_id[i];
    return -1;
}

static void memo_add(pkl *p, const char *key)
{
    if (p->nmemo < MEMO_CAP) {
        snprintf(p->memo_key[p->nmemo], sizeof p->memo_key[0], "%s", key);
        p->memo_id[p->nmemo++] = p->next_memo;
    }
    memo_put(p);
}

/* A str: BINUNICODE. Shared (memoized by content) unless it is a number,
 * which torch (storage keys) and DLIO (dict keys) make with str(int) afresh
 * each time: memoized, never found again. */
static void str(pkl *p, const char *s)
{
    size_t n = strlen(s);
    int fresh = n >= 1 && strspn(s, "0123456789") == n;
    char key[48];
    snprintf(key, sizeof key, "s:%s", s);
    int id = fresh ? -1 : memo_find(p, key);
    if (id >= 0) {
        memo_get(p, id);
        return;
    }
    uint8_t h[5] = {'X'};
    ct_le32(h + 1, (uint32_t)n);
    put(p, h, 5);
    put(p, s, n);
    if (fresh)
        memo_put(p);
    else
        memo_add(p, key);
}

static void global(pkl *p, const char *module, const char *name)
{
    char key[48];
    snprintf(key, sizeof key, "g:%s.%s", module, name);
    int id = memo_find(p, key);
    if (id >= 0) {
        memo_get(p, id);
        return;
    }
    op(p, 'c');
    put(p, module, strlen(module));
    op(p, '\n');
    put(p, name, strlen(name));
    op(p, '\n');
    memo_add(p, key);
}

static void integer(pkl *p, int64_t v)
{
    uint8_t b[10];
    if (v >= 0 && v < 256) {
        b[0] = 'K';
        b[1] = (uint8_t)v;
        put(p, b, 2);
    } else if (v >= 0 && v < 65536) {
        b[0] = 'M';
        b[1] = (uint8_t)v;
        b[2] = (uint8_t)(v >> 8);
        put(p, b, 3);
    } else if (v >= -2147483648LL && v < 2147483648LL) {
        b[0] = 'J';
        ct_le32(b + 1, (uint32_t)v);
        put(p, b, 5);
    } else { /* LONG1: little-endian two's complement, shortest */
        uint8_t d[8];
        int k = 0;
        for (int i = 0; i < 8; i++)
            d[i] = (uint8_t)((uint64_t)v >> (8 * i));
        for (k = 8; k > 1; k--) {
            int top = d[k - 1], sign = d[k - 2] & 0x80;
            if (!((top == 0 && !sign) || (top == 0xff && sign)))
                break;
        }
        b[0] = 0x8a;
        b[1] = (uint8_t)k;
        put(p, b, 2);
        put(p, d, (size_t)k);
    }
}

/* One int8 tensor whose storage is key. */
static void tensor(pkl *p, const char *key, int64_t numel)
{
    global(p, "torch._utils", "_rebuild_tensor_v2");
    op(p, '(');           /* MARK: args */
    op(p, '(');           /* MARK: persistent id */
    str(p, "storage");
    global(p, "torch", "CharStorage");
    str(p, key);
    str(p, "cpu");
    integer(p, numel);
    op(p, 't');
    memo_put(p);
    op(p, 'Q');           /* BINPERSID */
    integer(p, 0);        /* storage offset */
    integer(p, numel);
    op(p, 0x85);          /* TUPLE1: size */
    memo_put(p);
    integer(p, 1);
    op(p, 0x85);          /* stride */
    memo_put(p);
    op(p, 0x89);          /* NEWFALSE: requires_grad */
    global(p, "collections", "OrderedDict");
    op(p, ')');
    op(p, 'R');           /* OrderedDict() */
    memo_put(p);
    op(p, 't');
    memo_put(p);
    op(p, 'R');
    memo_put(p);
}

typedef struct rec {
    char name[48];
    int64_t len;
    const uint8_t *data; /* NULL: len zeros */
    uint32_t crc;
    uint64_t off;
} rec;

static uint32_t crc_zeros(int64_t n)
{
    static const uint8_t z[1 << 16];
    uLong c = crc32(0, Z_NULL, 0);
    while (n > 0) {
        uInt k = n > (int64_t)sizeof z ? (uInt)sizeof z : (uInt)n;
        c = crc32(c, z, k);
        n -= k;
    }
    return (uint32_t)c;
}


/* c10::hash_combine */
static uint64_t hash_combine(uint64_t seed, uint64_t v)
{
    return seed ^ (v + 0x9e3779b9ULL + (seed << 6) + (seed >> 2));
}

static ct_status write_rec(FILE *f, const char *path, rec *r, uint64_t *pos)
{
    static const uint8_t zeros[1 << 16];
    char full[64];
    snprintf(full, sizeof full, "archive/%s", r->name);
    size_t nl = strlen(full);
    uint64_t start = *pos + 30 + nl + 4;
    size_t pad = (size_t)((64 - start % 64) % 64);
    uint8_t h[30 + 64 + 4 + 64];
    memset(h, 0, sizeof h);
    ct_le32(h, 0x04034b50);
    ct_le16(h + 4, 0);      /* version needed (as miniz writes it for torch) */
    ct_le16(h + 6, 0x0808); /* data descriptor follows; UTF-8 names */
    ct_le16(h + 26, (uint32_t)nl);
    ct_le16(h + 28, (uint32_t)(4 + pad));
    memcpy(h + 30, full, nl);
    h[30 + nl] = 'F';
    h[31 + nl] = 'B';
    ct_le16(h + 32 + nl, (uint32_t)pad);
    memset(h + 34 + nl, 'Z', pad);
    r->off = *pos;
    ct_status st = ct_write_all(f, h, 34 + nl + pad, path);
    if (st != CT_OK)
        return st;
    if (r->data) {
        st = ct_write_all(f, r->data, (size_t)r->len, path);
    } else {
        for (int64_t left = r->len; left > 0 && st == CT_OK;) {
            size_t k = left > (int64_t)sizeof zeros ? sizeof zeros : (size_t)left;
            st = ct_write_all(f, zeros, k, path);
            left -= (int64_t)k;
        }
    }
    if (st != CT_OK)
        return st;
    uint8_t d[16];
    ct_le32(d, 0x08074b50);
    ct_le32(d + 4, r->crc);
    ct_le32(d + 8, (uint32_t)r->len);
    ct_le32(d + 12, (uint32_t)r->len);
    *pos += 34 + nl + pad + (uint64_t)r->len + 16;
    return ct_write_all(f, d, 16, path);
}

ct_status ct_pt_write(const char *path, const ct_pt_item *items, int n)
{
    if (n < 1 || n > 200)
        return ct_fail(NULL, CT_EINVAL, "%s: a checkpoint state has 1..200 entries, not %d", path, n);
    pkl *p = calloc(1, sizeof *p);
    rec *recs = calloc((size_t)(2 * n + 8), sizeof *recs);
    if (!p || !recs) {
        free(p);
        free(recs);
        return ct_fail(NULL, CT_ENOMEM, "out of memory writing %s", path);
    }
    int nr = 0, nstor = 0;
    rec *storages = recs + 4; /* after data.pkl, .format_version, .storage_alignment, byteorder */
    /* the pickle: PROTO 2, then save_dict */
    uint8_t proto[2] = {0x80, 2};
    put(p, proto, 2);
    op(p, '}');
    memo_put(p);
    if (n > 1)
        op(p, '(');
    for (int i = 0; i < n; i++) {
        str(p, items[i].key);
        if (items[i].pair) {
            op(p, '}');
            memo_put(p);
            op(p, '(');
            for (int k = 0; k < 2; k++) {
                str(p, k ? "b" : "a");
                snprintf(storages[nstor].name, sizeof storages[0].name, "%d", nstor);
                tensor(p, storages[nstor].name, items[i].numel);
                storages[nstor++].len = items[i].numel;
            }
            op(p, 'u');
        } else {
            snprintf(storages[nstor].name, sizeof storages[0].name, "%d", nstor);
            tensor(p, storages[nstor].name, items[i].numel);
            storages[nstor++].len = items[i].numel;
        }
    }
    op(p, n > 1 ? 'u' : 's');
    op(p, '.');
    ct_status st = CT_OK;
    if (p->overflow)
        st = ct_fail(NULL, CT_EUNSUPPORTED, "%s: checkpoint state too large to pickle", path);
    for (int i = 0; i < nstor && st == CT_OK; i++) {
        if (storages[i].len < 0 || storages[i].len >= 0xffffffffLL)
            st = ct_fail(NULL, CT_EUNSUPPORTED, "%s: a tensor of %lld bytes (ctrain writes < 4 GiB per tensor)",
                         path, (long long)storages[i].len);
        snprintf(storages[i].name, sizeof storages[i].name, "data/%d", i); /* the pickled key was "%d" */
        storages[i].crc = crc_zeros(storages[i].len);
    }
    static const char fmt_version[] = "1", alignment[] = "64", byteorder[] = "little", version[] = "3\n";
    snprintf(recs[0].name, sizeof recs[0].name, "data.pkl");
    recs[0].data = p->b;
    recs[0].len = (int64_t)p->n;
    snprintf(recs[1].name, sizeof recs[1].name, ".format_version");
    recs[1].data = (const uint8_t *)fmt_version;
    recs[1].len = 1;
    snprintf(recs[2].name, sizeof recs[2].name, ".storage_alignment");
    recs[2].data = (const uint8_t *)alignment;
    recs[2].len = 2;
    snprintf(recs[3].name, sizeof recs[3].name, "byteorder");
    recs[3].data = (const uint8_t *)byteorder;
    recs[3].len = 6;
    nr = 4 + nstor;
    rec *ver = &recs[nr++], *sid = &recs[nr++];
    snprintf(ver->name, sizeof ver->name, "version");
    ver->data = (const uint8_t *)version;
    ver->len = 2;
    for (int i = 0; i < 4; i++)
        recs[i].crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), recs[i].data, (uInt)recs[i].len);
    ver->crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), ver->data, 2);
    /* serialization id: 20 digits of a hash of the record names (torch
     * combines c10::hash of each name in unordered_set order; here FNV-1a
     * in write order), then 20 digits of torch's combined CRC-32s of the
     * records in write order (inline_container.cc: hash_combine over each
     * data descriptor's CRC) */
    uint64_t names = 0, crcs = 0;
    for (int i = 0; i < nr - 1; i++) {
        uint64_t h = 1469598103934665603ULL;
        for (const char *s = recs[i].name; *s; s++)
            h = (h ^ (uint8_t)*s) * 1099511628211ULL;
        names = hash_combine(names, h);
        crcs = hash_combine(crcs, recs[i].crc);
    }
    char idbuf[48];
    snprintf(idbuf, sizeof idbuf, "%020llu%020llu", (unsigned long long)names, (unsigned long long)crcs);
    snprintf(sid->name, sizeof sid->name, ".data/serialization_id");
    sid->data = (const uint8_t *)idbuf;
    sid->len = 40;
    sid->crc = (uint32_t)crc32(crc32(0, Z_NULL, 0), sid->data, 40);
    FILE *f = st == CT_OK ? fopen(path, "wb") : NULL;
    if (st == CT_OK && !f)
        st = ct_fail(NULL, CT_EIO, "cannot create checkpoint '%s': %s", path, strerror(errno));
    uint64_t pos = 0;
    for (int i = 0; i < nr && st == CT_OK; i++)
        st = write_rec(f, path, &recs[i], &pos);
    /* central directory */
    uint64_t cd_start = pos;
    for (int i = 0; i < nr && st == CT_OK; i++) {
        char full[64];
        snprintf(full, sizeof full, "archive/%s", recs[i].name);
        size_t nl = strlen(full);
        uint8_t h[46 + 64];
        memset(h, 0, sizeof h);
        ct_le32(h, 0x02014b50);
        ct_le16(h + 8, 0x0808);
        ct_le32(h + 16, recs[i].crc);
        ct_le32(h + 20, (uint32_t)recs[i].len);
        ct_le32(h + 24, (uint32_t)recs[i].len);
        ct_le16(h + 28, (uint32_t)nl);
        ct_le32(h + 42, (uint32_t)recs[i].off);
        memcpy(h + 46, full, nl);
        if (recs[i].off >= 0xffffffffULL)
            st = ct_fail(NULL, CT_EUNSUPPORTED, "%s: checkpoint larger than 4 GiB", path);
        else
            st = ct_write_all(f, h, 46 + nl, path);
        pos += 46 + nl;
    }
    if (st == CT_OK) {
        /* made by: Unix, 3.0 (miniz, as torch.save) */
        st = ct_zip_write_end(f, path, (uint64_t)nr, cd_start, pos - cd_start, 1, 0x031e, 0x2d);
    }
    if (f && fclose(f) != 0 && st == CT_OK)
        st = ct_fail(NULL, CT_EIO, "%s: close failed: %s", path, strerror(errno));
    free(p);
    free(recs);
    return st;
}

/* ---- TensorFlow: tf.train.Checkpoint().save(NAME) of DLIO's state ----
 *
 * DLIO's TFCheckpointing (checkpointing/tf_checkpointing.py) sets
 * `checkpoint.mapped = state` and saves. The state's leaves are
 * tf.Tensors, which are not trackable: TensorFlow (2.21) saves only the
 * object graph and the checkpoint's save_counter (int64 1). The graph
 * (TrackableObjectGraph, trackable_object_graph.proto) lists the root
 * (children "mapped" and "save_counter", has_checkpoint_values true),
 * "mapped" (one child per nested dict of the state, in insertion order),
 * save_counter's VARIABLE_VALUE attribute, then one empty node per nested
 * dict. Files (tensorflow/core/util/tensor_bundle/tensor_bundle.cc):
 *   NAME-1.data-00000-of-00001: save_counter's 8 bytes at 0, then the
 *     string tensor _CHECKPOINTABLE_OBJECT_GRAPH (varint length, masked
 *     CRC-32C of the length as uint32, the bytes);
 *   NAME-1.index: a LevelDB table (one data block: "" -> BundleHeaderProto,
 *     then each tensor's BundleEntryProto; an empty meta-index block; an
 *     index block with the data block's handle under "t", the successor of
 *     the last key; blocks end in type 0 and a masked CRC-32C; a 48-byte
 *     footer with the table magic). */

typedef struct pbuf {
    uint8_t b[8192];
    size_t n;
} pbuf;

static void pb_put(pbuf *p, const void *d, size_t n)
{
    if (n && p->n + n <= sizeof p->b) {
        memcpy(p->b + p->n, d, n);
        p->n += n;
    }
}

static void pb_varint(pbuf *p, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    do {
        b[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    pb_put(p, b, n);
}

static void pb_bytes(pbuf *p, int field, const void *d, size_t n)
{
    pb_varint(p, (uint64_t)field << 3 | 2);
    pb_varint(p, n);
    pb_put(p, d, n);
}

static void pb_str(pbuf *p, int field, const char *s) { pb_bytes(p, field, s, strlen(s)); }

static void pb_uint(pbuf *p, int field, uint64_t v)
{
    pb_varint(p, (uint64_t)field << 3);
    pb_varint(p, v);
}

static void pb_fixed32(pbuf *p, int field, uint32_t v)
{
    uint8_t b[4];
    pb_varint(p, (uint64_t)field << 3 | 5);
    ct_le32(b, v);
    pb_put(p, b, 4);
}

static uint32_t crc32c_mask(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

static void child_ref(pbuf *node, uint64_t id, const char *name)
{
    pbuf r = {.n = 0};
    pb_uint(&r, 1, id);
    pb_str(&r, 2, name);
    pb_bytes(node, 1, r.b, r.n);
}

static void leveldb_entry(pbuf *blk, const char *key, const pbuf *value)
{
    pb_varint(blk, 0); /* shared: these keys share no prefix */
    pb_varint(blk, strlen(key));
    pb_varint(blk, value->n);
    pb_put(blk, key, strlen(key));
    pb_put(blk, value->b, value->n);
}

/* Appends restart array (one restart at 0), type 0 and the masked CRC. */
static void leveldb_finish(pbuf *file, pbuf *blk)
{
    uint8_t r[8];
    ct_le32(r, 0);
    ct_le32(r + 4, 1);
    pb_put(blk, r, 8);
    pb_put(file, blk->b, blk->n);
    uint8_t t[5] = {0};
    uint32_t crc = ct_crc32c(ct_crc32c(0, blk->b, blk->n), t, 1);
    ct_le32(t + 1, crc32c_mask(crc));
    pb_put(file, t, 5);
}

ct_status ct_tf_write(const char *folder, const char *name, const char *const *dicts, int ndicts)
{
    const char *ckey = "save_counter/.ATTRIBUTES/VARIABLE_VALUE";
    pbuf *graph = calloc(1, sizeof *graph), *node = calloc(1, sizeof *node), *idx = calloc(1, sizeof *idx);
    pbuf *blk = calloc(1, sizeof *blk), *val = calloc(1, sizeof *val), *data = calloc(1, sizeof *data);
    ct_status st = CT_OK;
    if (!graph || !node || !idx || !blk || !val || !data) {
        st = ct_fail(NULL, CT_ENOMEM, "out of memory writing checkpoint %s", name);
        goto out;
    }
    static const uint8_t has_values[] = {0x08, 0x01}; /* BoolValue{value: true} */
    /* node 0: the root */
    node->n = 0;
    child_ref(node, 1, "mapped");
    child_ref(node, 2, "save_counter");
    pb_bytes(node, 5, has_values, 2);
    pb_bytes(graph, 1, node->b, node->n);
    /* node 1: mapped */
    node->n = 0;
    for (int i = 0; i < ndicts; i++)
        child_ref(node, 3 + (uint64_t)i, dicts[i]);
    pb_bytes(node, 5, NULL, 0);
    pb_bytes(graph, 1, node->b, node->n);
    /* node 2: save_counter */
    node->n = 0;
    val->n = 0;
    pb_str(val, 1, "VARIABLE_VALUE");
    pb_str(val, 2, "save_counter");
    pb_str(val, 3, ckey);
    pb_bytes(node, 2, val->b, val->n);
    pb_bytes(node, 5, has_values, 2);
    pb_bytes(graph, 1, node->b, node->n);
    for (int i = 0; i < ndicts; i++) { /* the nested dicts: no children, no values */
        node->n = 0;
        pb_bytes(node, 5, NULL, 0);
        pb_bytes(graph, 1, node->b, node->n);
    }
    if (graph->n >= sizeof graph->b - 16) {
        st = ct_fail(NULL, CT_EUNSUPPORTED, "checkpoint %s: object graph too large", name);
        goto out;
    }
    /* the data file */
    uint8_t one[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    pb_put(data, one, 8);
    /* WriteStringTensor: the CRC-32C covers each length as a uint32 (not
     * its varint), then the masked length checksum, then the bytes */
    size_t gstart = data->n;
    pb_varint(data, graph->n);
    uint8_t len32[4], m[4];
    ct_le32(len32, (uint32_t)graph->n);
    uint32_t gcrc = ct_crc32c(0, len32, 4);
    ct_le32(m, crc32c_mask(gcrc));
    pb_put(data, m, 4);
    pb_put(data, graph->b, graph->n);
    size_t gsize = data->n - gstart;
    gcrc = ct_crc32c(ct_crc32c(gcrc, m, 4), graph->b, graph->n);
    /* the index: data block */
    val->n = 0;
    pb_uint(val, 1, 1);              /* BundleHeaderProto.num_shards */
    pb_bytes(val, 3, "\x08\x01", 2); /* version {producer: 1} */
    leveldb_entry(blk, "", val);
    val->n = 0;
    pb_uint(val, 1, 7); /* DT_STRING */
    pb_bytes(val, 2, NULL, 0);
    pb_uint(val, 4, gstart);
    pb_uint(val, 5, gsize);
    pb_fixed32(val, 6, crc32c_mask(gcrc)); /* BundleEntryProto.crc32c is masked */
    leveldb_entry(blk, "_CHECKPOINTABLE_OBJECT_GRAPH", val);
    val->n = 0;
    pb_uint(val, 1, 9); /* DT_INT64, offset 0 */
    pb_bytes(val, 2, NULL, 0);
    pb_uint(val, 5, 8);
    pb_fixed32(val, 6, crc32c_mask(ct_crc32c(0, one, 8)));
    leveldb_entry(blk, ckey, val);
    leveldb_finish(idx, blk);
    uint64_t dsize = blk->n, moff = idx->n;
    blk->n = 0;
    leveldb_finish(idx, blk); /* meta-index: empty */
    uint64_t msize = blk->n, ioff = idx->n;
    blk->n = 0;
    val->n = 0;
    pb_varint(val, 0);
    pb_varint(val, dsize);
    leveldb_entry(blk, "t", val);
    leveldb_finish(idx, blk);
    uint64_t isize = blk->n;
    uint8_t footer[48];
    memset(footer, 0, sizeof footer);
    pbuf *fh = blk;
    fh->n = 0;
    pb_varint(fh, moff);
    pb_varint(fh, msize);
    pb_varint(fh, ioff);
    pb_varint(fh, isize);
    memcpy(footer, fh->b, fh->n);
    static const uint8_t magic[8] = {0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb};
    memcpy(footer + 40, magic, 8);
    pb_put(idx, footer, 48);
    /* the files */
    const char *ext[2] = {"data-00000-of-00001", "index"};
    const pbuf *body[2] = {data, idx};
    for (int k = 0; k < 2 && st == CT_OK; k++) {
        char p[4400];
        snprintf(p, sizeof p, "%s/%s-1.%s", folder, name, ext[k]);
        FILE *f = fopen(p, "wb");
        if (!f) {
            st = ct_fail(NULL, CT_EIO, "cannot create checkpoint '%s': %s", p, strerror(errno));
            break;
        }
        st = ct_write_all(f, body[k]->b, body[k]->n, p);
        if (fclose(f) != 0 && st == CT_OK)
            st = ct_fail(NULL, CT_EIO, "%s: close failed", p);
    }
    if (st == CT_OK) { /* the CheckpointState file naming the latest save */
        char p[4400];
        snprintf(p, sizeof p, "%s/checkpoint", folder);
        FILE *f = fopen(p, "wb");
        if (!f)
            st = ct_fail(NULL, CT_EIO, "cannot create '%s': %s", p, strerror(errno));
        else {
            if (fprintf(f, "model_checkpoint_path: \"%s-1\"\nall_model_checkpoint_paths: \"%s-1\"\n", name, name) < 0)
                st = ct_fail(NULL, CT_EIO, "%s: write failed", p);
            if (fclose(f) != 0 && st == CT_OK)
                st = ct_fail(NULL, CT_EIO, "%s: close failed", p);
        }
    }
out:
    free(graph);
    free(node);
    free(idx);
    free(blk);
    free(val);
    free(data);
    return st;
}
