"""Reads the TensorBoard event files of a ctrain run with TensorBoard's own
reader (EventAccumulator) and checks every scalar against the run's log.csv.

Usage: check_nn_events.py RUN_DIR
"""
import csv
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main():
    run = sys.argv[1]
    ea = EventAccumulator(run, size_guidance={"scalars": 0})
    ea.Reload()
    tags = set(ea.Tags()["scalars"])
    want = {"train/loss": "train_loss", "train/accuracy": "train_acc", "val/loss": "val_loss",
            "val/accuracy": "val_acc", "val/f1": "val_f1", "lr": "lr"}
    assert set(want) <= tags, f"missing tags: {set(want) - tags}"
    rows = list(csv.DictReader(open(f"{run}/log.csv")))
    for tag, col in want.items():
        ev = ea.Scalars(tag)
        assert len(ev) == len(rows), f"{tag}: {len(ev)} events, {len(rows)} csv rows"
        for e, r in zip(ev, rows):
            assert e.step == int(r["step"]), (tag, e.step, r["step"])
            ref = float(r[col])
            assert abs(e.value - ref) <= 1e-6 * max(1.0, abs(ref)), (tag, e.value, ref)
    print(f"tensorboard: {len(want)} scalar tags x {len(rows)} epochs read back")


if __name__ == "__main__":
    main()
