"""Checks a `mpirun -np R ctrain dlio run` output against DLIO 2.0.0's own
code (called by tests/test_dlio_mpi.sh).

usage: check_dlio_run.py OUT CKPT RANKS EPOCHS STEPS_PER_EPOCH BATCH MODEL_SIZE
                         OPT_GROUPS LAYER_PARAMS NUM_LAYERS PIPELINE STEPS_BETWEEN
       check_dlio_run.py tf CKPT RANKS EPOCHS STEPS_PER_EPOCH MODEL_SIZE
                         OPT_GROUPS LAYER_PARAMS NUM_LAYERS PIPELINE STEPS_BETWEEN

1. summary.json equals the ranks' {rank}_output.json reduced as DLIO's
   StatsCounter.end_run does (train_au = sum over ranks / ranks, throughput
   = sum), each rank's epoch AU/throughput equals the steps-weighted mean of
   the blocks in its DLIO-shaped epoch object (StatsCounter.end_train), and
   every block has one load/proc/compute entry per step.
2. The checkpoint files are the ones dlio_benchmark's PyTorchCheckpointing
   (checkpointing/pytorch_checkpointing.py, run here for each rank with
   checkpoint.type all_ranks) writes for DLIO's checkpoint schedule
   (main.py _train: next_checkpoint_step restarts every epoch): same names,
   same sizes, the same bytes except the first 20 digits of
   .data/serialization_id and that record's CRC-32, and torch.load gives
   equal states.
3. (tf) The files of a framework: tensorflow run are byte for byte the ones
   dlio_benchmark's TFCheckpointing writes (tf.train.Checkpoint.save).
"""
import json
import os
import sys
import tempfile
import zipfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_data_refs import install_dftracer_shim  # noqa: E402

fails = 0


def check(cond, msg):
    global fails
    if not cond:
        fails += 1
        print("FAIL", msg)


def close(a, b):
    return abs(a - b) <= 1e-12 * max(abs(a), abs(b), 1e-300)


def check_summary(out, ranks, epochs, steps, batch):
    s = json.load(open(os.path.join(out, "summary.json")))
    per = [json.load(open(os.path.join(out, f"{r}_output.json"))) for r in range(ranks)]
    m = s["metric"]
    check(s["num_accelerators"] == ranks and s["epochs"] == epochs, "accelerators and epochs")
    for e in range(epochs):
        for r, o in enumerate(per):
            eo = o[str(e + 1)]
            blocks = [b for b in eo["proc"] if b != "eval"]  # end_train runs before the evaluation
            n = [len(eo["proc"][b]) for b in blocks]
            check(sum(n) == steps, f"rank {r} epoch {e + 1}: {sum(n)} steps in the blocks, expected {steps}")
            for b in blocks:
                check(len(eo["load"][b]) == len(eo["proc"][b]) == len(eo["compute"][b]),
                      f"rank {r} epoch {e + 1} {b}: one load/proc/compute per step")
            au = sum(eo["au"][b] * k for b, k in zip(blocks, n)) / sum(n)
            tp = sum(eo["throughput"][b] * k for b, k in zip(blocks, n)) / sum(n)
            check(close(au, o["au"][e]) and close(tp, o["throughput"][e]),
                  f"rank {r} epoch {e + 1}: AU/throughput = blocks weighted by steps (end_train)")
        au = sum(o["au"][e] for o in per) / ranks
        tp = sum(o["throughput"][e] for o in per)
        check(close(m["train_au_percentage"][e], au),
              f"epoch {e + 1}: summary AU {m['train_au_percentage'][e]} != ranks' mean {au}")
        check(close(m["train_throughput_samples_per_second"][e], tp),
              f"epoch {e + 1}: summary throughput {m['train_throughput_samples_per_second'][e]} != sum {tp}")
    nev = len(per[0].get("eval_au", []))
    check(nev == len(m.get("eval_au_percentage", [])), "one eval entry per evaluation")
    for k in range(nev):  # end_run: eval_au = allreduce / size, eval_throughput = allreduce
        au = sum(o["eval_au"][k] for o in per) / ranks
        tp = sum(o["eval_throughput"][k] for o in per)
        check(close(m["eval_au_percentage"][k], au) and close(m["eval_throughput_samples_per_second"][k], tp),
              f"evaluation {k + 1}: summary = the ranks' eval AU mean and throughput sum")
    x = s["ctrain"]
    check(x["bytes_read"] == sum(o["bytes_read"] for o in per), "bytes_read = the ranks' sum")
    check(x["steps"] == ranks * epochs * steps, "steps = ranks x epochs x steps")
    check([r["rank"] for r in x["ranks"]] == list(range(ranks)), "rank 0 gathered every rank")
    return s, per


def dlio_checkpoints(ckpt, ranks, epochs, steps, model_size, groups, layers, num_layers, pipeline, between,
                     tf=False):
    """DLIO's own checkpoint writer, for each rank, on DLIO's schedule."""
    install_dftracer_shim()
    from dlio_benchmark.utils.utility import DLIOMPI
    DLIOMPI.get_instance().initialize()
    from dlio_benchmark.common.enumerations import CheckpointLocationType, FrameworkType
    from dlio_benchmark.utils.config import ConfigArguments
    if tf:
        from dlio_benchmark.checkpointing.tf_checkpointing import TFCheckpointing as PyTorchCheckpointing
    else:
        from dlio_benchmark.checkpointing.pytorch_checkpointing import PyTorchCheckpointing
    args = ConfigArguments.get_instance()
    args.checkpoint_folder = ckpt
    args.framework = FrameworkType.TENSORFLOW if tf else FrameworkType.PYTORCH
    args.checkpoint_type = CheckpointLocationType.ALL_RANKS
    args.model_size = model_size
    args.optimization_groups = groups
    args.layer_parameters = layers
    args.num_layers = num_layers
    args.pipeline_parallelism = pipeline
    for r in range(ranks):
        DLIOMPI.get_instance().mpi_rank = r
        args.my_rank = r
        ck = PyTorchCheckpointing()
        for epoch in range(1, epochs + 1):       # main.py _train
            nxt = between
            for step in range(1, steps + 1):
                if step == nxt:
                    ck.checkpoint(epoch, step)
                    nxt += between


def id_record(path):
    z = zipfile.ZipFile(path)
    info = z.getinfo("archive/.data/serialization_id")
    raw = open(path, "rb").read()
    nl, xl = int.from_bytes(raw[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(raw[info.header_offset + 28:info.header_offset + 30], "little")
    data = info.header_offset + 30 + nl + xl
    cd = raw.rfind(b"PK\x01\x02\x00\x00\x00\x00\x08\x08", 0, len(raw))  # last CD entry = the id's
    return raw, data, cd


def compare_files(ours, theirs):
    a, da, cda = id_record(ours)
    b, db, cdb = id_record(theirs)
    check(len(a) == len(b), f"{os.path.basename(ours)}: {len(a)} bytes, DLIO's {len(b)}")
    if len(a) != len(b):
        return
    allowed = set(range(da, da + 20)) | set(range(da + 44, da + 48)) | set(range(cda + 16, cda + 20))
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    check(da == db and cda == cdb and set(diff) <= allowed,
          f"{os.path.basename(ours)}: bytes differ outside the serialization id's name hash: "
          f"{[i for i in diff if i not in allowed][:8]}")
    check(a[da + 20:da + 40] == b[db + 20:db + 40], f"{os.path.basename(ours)}: torch's combined CRC digits")
    x, y = torch.load(ours), torch.load(theirs)

    def same(p, q):
        if torch.is_tensor(q):
            return torch.is_tensor(p) and p.dtype == q.dtype and p.shape == q.shape and torch.equal(p, q)
        return isinstance(p, dict) and list(p) == list(q) and all(same(p[k], q[k]) for k in q)
    check(same(x, y), f"{os.path.basename(ours)}: torch.load differs from DLIO's state")


def main_tf():
    ckpt, ranks, epochs, steps, model_size, groups, layers, num_layers, pipeline, between = sys.argv[2:12]
    with tempfile.TemporaryDirectory() as ref:
        dlio_checkpoints(ref, int(ranks), int(epochs), int(steps), int(model_size), json.loads(groups),
                         json.loads(layers), int(num_layers), int(pipeline), int(between), tf=True)
        ours, theirs = sorted(os.listdir(ckpt)), sorted(os.listdir(ref))
        check(ours == theirs, f"checkpoint files {ours[:6]}... != DLIO's {theirs[:6]}...")
        for name in sorted(set(ours) & set(theirs)):
            a = open(os.path.join(ckpt, name), "rb").read()
            b = open(os.path.join(ref, name), "rb").read()
            check(a == b, f"{name}: {len(a)} bytes differ from DLIO's TFCheckpointing file ({len(b)} bytes)")
        print(f"{len(theirs)} TensorFlow checkpoint files compared with DLIO's TFCheckpointing")
    print("check_dlio_run tf:", "FAIL" if fails else "ok")
    sys.exit(1 if fails else 0)


def main():
    if sys.argv[1] == "tf":
        return main_tf()
    (out, ckpt, ranks, epochs, steps, batch, model_size, groups, layers, num_layers, pipeline,
     between) = sys.argv[1:13]
    ranks, epochs, steps, batch = int(ranks), int(epochs), int(steps), int(batch)
    groups = json.loads(groups)
    layers = json.loads(layers)
    check_summary(out, ranks, epochs, steps, batch)
    with tempfile.TemporaryDirectory() as ref:
        dlio_checkpoints(ref, ranks, epochs, steps, int(model_size), groups, layers, int(num_layers),
                         int(pipeline), int(between))
        ours, theirs = sorted(os.listdir(ckpt)), sorted(os.listdir(ref))
        check(ours == theirs, f"checkpoint files {ours} != DLIO's {theirs}")
        for name in sorted(set(ours) & set(theirs)):
            compare_files(os.path.join(ckpt, name), os.path.join(ref, name))
        print(f"{len(theirs)} checkpoint files compared with DLIO's PyTorchCheckpointing")
    print("check_dlio_run:", "FAIL" if fails else "ok")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
