"""Where each stage of a run ended: its last epoch, training accuracy there and the last test accuracy measured."""
import pandas as pd

STAGE_COLUMNS = ["stage", "width", "resolution", "last_epoch", "epochs", "train_acc", "test_acc", "seconds"]


def stage_ends(metrics):
    """One row per stage of a run, from its metrics.jsonl rows (a DataFrame or a list of dicts, in epoch order).

    last_epoch: the last epoch that ended in the stage (an epoch is counted to the stage it ended in);
    epochs: how many ended there; train_acc: that epoch's training accuracy (on the stage's own images);
    test_acc: the last test accuracy measured in the stage (NaN if none was: --eval_every), always at full
    size, so low while the network trains on small images; seconds: the stage's epochs' training time.
    """
    rows = pd.DataFrame(metrics)
    if rows.empty:
        return pd.DataFrame(columns=STAGE_COLUMNS)
    out, previous_last = [], 0
    for stage, part in rows.groupby("stage", sort=True):
        last = part.iloc[-1]
        tested = part["test_acc"].dropna() if "test_acc" in part else pd.Series(dtype=float)
        out.append(dict(stage=int(stage), width=int(last["width"]), resolution=int(last["resolution"]),
                        last_epoch=int(last["epoch"]), epochs=int(last["epoch"]) - previous_last,
                        train_acc=float(last["train_acc"]),
                        test_acc=float(tested.iloc[-1]) if len(tested) else float("nan"),
                        seconds=float(part["epoch_train_s"].sum())))
        previous_last = int(last["epoch"])
    return pd.DataFrame(out, columns=STAGE_COLUMNS)
