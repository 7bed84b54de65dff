"""--stage_patience: the next-resolution probe, the stall rule, and a stage that ends early giving its time on."""
import contextlib
import os

import pytest
import torch

import lib.training.checkpoint as checkpoint_module
import lib.training.loop as loop_module
from lib.errors import UserError
from lib.growth.model import resnet18
from lib.records import read_jsonl
from lib.training.config import make_config, resolve_config
from lib.training.loop import train
from lib.training.probe import probe_loss, stage_has_stalled
from lib.training.runstate import weights_digest
from lib.training.schedule import cut_stage


@pytest.mark.parametrize("bounds, k, p", [
    ([0.3, 0.6, 1.0], 0, 0.1),
    ([0.3, 0.6, 1.0], 1, 0.45),
    ([0.3, 0.6, 1.0], 1, 0.3),  # at the stage's very start
    ([0.5, 1.0], 0, 0.2),
    ([0.2, 0.4, 0.7, 1.0], 2, 0.5),
])
def test_a_cut_stage_ends_where_asked_and_the_later_stages_share_the_rest_as_planned(bounds, k, p):
    out = cut_stage(bounds, k, p)
    assert len(out) == len(bounds) and out[:k] == bounds[:k] and out[k] == p and out[-1] == 1.0
    spans = [b - a for a, b in zip([p] + out[k + 1:-1], out[k + 1:])]
    planned = [b - a for a, b in zip(bounds[k:-1], bounds[k + 1:])]
    ratio = (1 - p) / (1 - bounds[k])
    assert spans == pytest.approx([s * ratio for s in planned])  # each later stage stretched alike
    assert all(b >= a for a, b in zip(out, out[1:]))


@pytest.mark.parametrize("bounds, k, p", [([0.3, 0.6, 1.0], 2, 0.8), ([0.3, 0.6, 1.0], 1, 0.2),
                                          ([0.3, 0.6, 1.0], 0, 0.7), ([0.3, 0.6, 1.0], -1, 0.5)])
def test_a_cut_outside_its_stage_or_of_the_last_stage_is_refused(bounds, k, p):
    with pytest.raises(ValueError):
        cut_stage(bounds, k, p)


@pytest.mark.parametrize("losses, patience, stalled", [
    ([2.0, 1.9, 1.95, 1.96], 0, False),  # patience 0: never
    ([2.0, 2.0], 2, False),  # too few epochs to judge
    ([2.0, 1.8, 1.6, 1.4], 1, False),  # still improving
    ([2.0, 1.8, 1.85], 1, True),  # one epoch without a better loss
    ([2.0, 1.8, 1.85, 1.79], 2, True),  # 1.79 is under 1 % below 1.8: no real gain
    ([2.0, 1.8, 1.85, 1.7], 2, False),  # a real gain within the patience
    ([2.0, 1.8, 1.85, 1.9], 3, False),  # not yet three epochs without one
    ([2.0, 1.8, 1.85, 1.9, 1.81], 3, True),
])
def test_a_stage_stalls_after_patience_epochs_without_a_one_percent_gain(losses, patience, stalled):
    assert stage_has_stalled(losses, patience) is stalled


def test_the_probe_changes_neither_weights_nor_bn_statistics():
    torch.manual_seed(0)
    model = resnet18(10, 8)
    model.eval()
    before = weights_digest(model)
    x, y = torch.randn(16, 3, 24, 24), torch.randint(0, 10, (16,))
    loss, acc = probe_loss(model, [(x, y), (x[:8], y[:8])], contextlib.nullcontext)
    assert weights_digest(model) == before and not model.training
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert loss > 0 and 0 <= acc <= 100
    with torch.no_grad():  # the loss on batch statistics, as the next stage's first steps see it
        model.train()
        out = [model(x), model(x[:8])]
        model.eval()
    expected = (torch.nn.functional.cross_entropy(out[0], y, reduction="sum")
                + torch.nn.functional.cross_entropy(out[1], y[:8], reduction="sum")).item() / 24
    assert loss == pytest.approx(expected, rel=1e-5)


def test_stage_patience_is_a_whole_number_and_applies_to_progressive_runs_only():
    with pytest.raises(UserError, match="--stage_patience must be a whole number >= 0"):
        make_config(algo="yes", stage_patience=-1)
    with pytest.raises(UserError, match="--stage_patience must be a whole number >= 0"):
        make_config(algo="yes", stage_patience=1.5)
    assert resolve_config(make_config(algo="short", budget=0.5, stage_patience=2)).stage_patience == 0
    assert resolve_config(make_config(algo="yes", stage_patience=2)).stage_patience == 2


def test_a_stage_whose_probe_stalls_ends_early_and_the_last_stage_gets_its_time(tiny_run):
    """At a learning rate too small to learn, the loss at the next resolution cannot gain 1 %: with patience 1 the
    16 px stage (planned: 5 of 10 epochs) ends after its second epoch, and full size trains the other 8."""
    kw = dict(tiny_run, algo="yes", num_epochs=10, width=4, schedule="1/0.5:0.5,1/1:0.5", lr=1e-7)
    summary = train(**kw, exp_name="stalled", stage_patience=1)
    rows = read_jsonl(os.path.join(kw["out_dir"], "stalled", "metrics.jsonl"))
    assert summary["stage_cuts"] == [dict(stage=1, progress=pytest.approx(0.2), planned_end=pytest.approx(0.5))]
    assert [r["stage"] for r in rows] == [1, 1] + [2] * 8
    assert [r["resolution"] for r in rows] == [16, 16] + [32] * 8
    assert [r.get("probe_loss") is not None for r in rows] == [True, True] + [False] * 8  # only where it decides
    assert summary["growth"][0]["progress"] == pytest.approx(0.2)
    probed = [r for r in rows if "probe_s" in r]  # its seconds are counted inside the epoch's training seconds
    assert len(probed) == 2 and all(0 < r["probe_s"] < r["epoch_train_s"] for r in probed)
    assert summary["probe_s"] == pytest.approx(sum(r["probe_s"] for r in probed))
    n = summary["stages"][0]["images"] + summary["stages"][1]["images"]
    assert summary["stages"][1]["images"] == 4 * summary["stages"][0]["images"] and n > 0
    plain = train(**kw, exp_name="plain")  # without patience the plan holds
    assert plain["stage_cuts"] == [] and plain["probe_s"] == 0 and plain["growth"][0]["progress"] == pytest.approx(0.5)
    assert all("probe_loss" not in r for r in read_jsonl(os.path.join(kw["out_dir"], "plain", "metrics.jsonl")))


def test_a_stage_that_keeps_learning_lasts_as_planned(tiny_run):
    kw = dict(tiny_run, algo="yes", num_epochs=6, width=8, schedule="1/0.5:0.5,1/1:0.5")
    summary = train(**kw, exp_name="patient", stage_patience=100)
    rows = read_jsonl(os.path.join(kw["out_dir"], "patient", "metrics.jsonl"))
    assert summary["stage_cuts"] == [] and [r["stage"] for r in rows] == [1, 1, 1, 2, 2, 2]
    assert [r.get("probe_loss") is not None for r in rows] == [True] * 3 + [False] * 3


class Crash(Exception):
    pass


def stall_once():
    """A stall rule for one run: the first stage to probe twice stalls, no later one does."""
    done = []

    def stalled(losses, patience):
        if len(losses) >= 2 and not done:
            done.append(True)
            return True
        return False
    return stalled


def test_a_run_resumed_after_an_early_end_keeps_the_shifted_stages(tiny_run, monkeypatch):
    """Three stages; the first ends early (the stall rule made deterministic here): a crash right after the growth
    checkpoint resumes into the same shifted stages as an uninterrupted run."""
    monkeypatch.setattr(loop_module, "stage_has_stalled", stall_once())
    kw = dict(tiny_run, algo="yes", num_epochs=8, width=8, schedule="1/0.5:0.5,1/0.75:0.25,1/1:0.25",
              stage_patience=1)
    reference = train(**kw, exp_name="ref")
    assert reference["stage_cuts"][0]["progress"] == pytest.approx(0.25)
    assert [g["progress"] for g in reference["growth"]] == pytest.approx([0.25, 0.625])  # 0.25 + 0.25 * 1.5
    real_save = checkpoint_module.save_checkpoint

    def save_then_crash(path, state):
        real_save(path, state)
        if state["partial"] is not None:  # a growth checkpoint
            raise Crash

    monkeypatch.setattr(checkpoint_module, "save_checkpoint", save_then_crash)
    monkeypatch.setattr(loop_module, "stage_has_stalled", stall_once())
    with pytest.raises(Crash):
        train(**kw, exp_name="crash")
    monkeypatch.setattr(checkpoint_module, "save_checkpoint", real_save)
    resumed = train(**kw, exp_name="crash", resume=True)  # stage 2 does not stall (the rule stalled once)
    assert resumed["stage_cuts"] == reference["stage_cuts"]
    assert resumed["weights_sha1"] == reference["weights_sha1"]
    assert [g["progress"] for g in resumed["growth"]] == pytest.approx([0.25, 0.625])
