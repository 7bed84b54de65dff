"""Resuming after a width growth: interrupted at the growth checkpoint or one epoch later, same run as without."""
import os

import pytest

import lib.training.checkpoint as checkpoint_module
import lib.training.loop as loop_module
from lib.training.checkpoint import CheckpointWriter
from lib.training.loop import train
from lib.records import read_jsonl

TIMING_KEYS = {"epoch_train_s", "elapsed_train_s", "images_per_s", "eval_s"}
WIDENING = "0.5/0.5:0.34,0.75/0.75:0.33,1/1:0.33"  # width 4 -> 8 at the first growth


class Crash(Exception):
    pass


def _rows(kw, name):
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS}
            for r in read_jsonl(os.path.join(kw["out_dir"], name, "metrics.jsonl"))]


@pytest.mark.parametrize("crash_at,background", [("growth", False), ("epoch_after_growth", False),
                                                 ("growth", True)])  # True: checkpoints written on a thread (CUDA's way)
def test_resume_after_a_width_growth_matches_an_uninterrupted_run(tiny_run, monkeypatch, crash_at, background):
    kw = dict(tiny_run, algo="yes", num_epochs=3, width=8, schedule=WIDENING)
    reference = train(**kw, exp_name="ref")
    if background:  # the crash inside the write surfaces at the next save, after more training: resume must drop it
        monkeypatch.setattr(loop_module, "CheckpointWriter", lambda background: CheckpointWriter(background=True))
    assert reference["growth"][0]["width"] == 8 and _rows(kw, "ref")[0]["width"] == 4
    real_save = checkpoint_module.save_checkpoint
    seen = []

    def save_then_crash(path, state):
        real_save(path, state)
        seen.append(state["partial"] is not None)
        grown = state["width"] == 8
        if grown and (crash_at == "growth" and state["partial"] is not None
                      or crash_at == "epoch_after_growth" and state["partial"] is None):
            raise Crash

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", save_then_crash)
    with pytest.raises(Crash):
        train(**kw, exp_name="crash")
    monkeypatch.setattr(checkpoint_module, "save_checkpoint", real_save)
    resumed = train(**kw, exp_name="crash", resume=True)
    assert resumed["weights_sha1"] == reference["weights_sha1"]
    assert _rows(kw, "crash") == _rows(kw, "ref")
    assert resumed["growth"] == [dict(g, seconds=r["seconds"]) for g, r in zip(reference["growth"], resumed["growth"])]
