/* DLIO 2.0.0's checkpoint files (dlio_benchmark/checkpointing/): what
 * BaseCheckpointing.checkpoint writes through PyTorchCheckpointing
 * (torch.save of dicts of int8 zero tensors) — see ckpt.c. */
#ifndef CT_DATA_CKPT_H
#define CT_DATA_CKPT_H

#include <stdint.h>

#include "ctrain/data.h"

/* A state DLIO saves: a dict whose values are int8 tensors of numel
 * elements (sub == NULL) or dicts {"a": numel, "b": numel} (sub != NULL,
 * DLIO's optimizer groups: both tensors of numel elements). */
typedef struct ct_pt_item {
    char key[32];
    int64_t numel;
    int pair; /* 1: value is {"a": tensor(numel), "b": tensor(numel)} */
} ct_pt_item;

/* Writes path as torch.save(state, f) does with torch 2.x (zip format:
 * data.pkl pickled with protocol 2, .format_version, .storage_alignment,
 * byteorder, data/N, version, .data/serialization_id; records 64-byte
 * aligned), state = {items[i].key: tensor or pair} with torch.int8 zeros
 * (DLIO's torch.randint(high=1, ...)). Equal byte for byte to torch's file
 * except the first 20 digits of .data/serialization_id (a hash of the
 * record names in libstdc++'s unordered_set order) and that record's
 * CRC-32 (the last 20 digits, torch's combined CRC-32 of the records, are
 * equal). Each tensor must be < 4 GiB (torch's Zip64 records are not
 * written). */
ct_status ct_pt_write(const char *path, const ct_pt_item *items, int n);

/* Writes what DLIO's TFCheckpointing writes for a state (TF 2.21's
 * tf.train.Checkpoint.save of {"mapped": state} where only nested dicts are
 * trackable): folder/NAME-1.data-00000-of-00001, folder/NAME-1.index and
 * folder/checkpoint, byte-identical. name: "model-E-S-R.pb"; dicts: the
 * keys of the state's nested dicts in order (DLIO's optimizer groups), n of
 * them. */
ct_status ct_tf_write(const char *folder, const char *name, const char *const *dicts, int ndicts);

#endif
