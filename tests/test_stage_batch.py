"""A larger batch at low resolution (--stage_batch): grouped loader batches, the multiples, the loop and the plan.

Resuming at the growth out of a filled stage: tests/test_resume.py."""
import os

import pytest
import torch

import lib.training.loop as loop_module
import lib.training.runstate as runstate_module
from lib.data.loader import DeviceLoader
from lib.errors import UserError
from lib.records import read_jsonl
from lib.training.config import make_config, resolve_config, saved_config
from lib.training.loop import train
from lib.training.runstate import AUTO_BATCH_GAIN
from lib.training.schedule import batch_multiple, stage_batch_multiples

RES2 = "1/0.5:0.5,1/1:0.5"  # 16 px (4 batches per step when filled), then 32 px


def _loader(n=22, batch=4, rank=0, world=1):
    x = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1)  # image i holds the value i
    return DeviceLoader(x, torch.arange(n), batch, torch.device("cpu"), seed=3, rank=rank, world_size=world)


def test_grouped_batches_are_consecutive_batches_joined_and_drop_an_incomplete_group():
    loader = _loader()  # 22 images in batches of 4: 5 batches per epoch
    single = [y for _, y in loader.batches(epoch=1)]
    pairs = [y for _, y in loader.batches(epoch=1, group=2)]
    assert [len(y) for y in pairs] == [8, 8]  # batches 0+1, 2+3; batch 4 cannot make a pair
    assert torch.equal(pairs[0], torch.cat(single[:2])) and torch.equal(pairs[1], torch.cat(single[2:4]))
    later = [y for _, y in loader.batches(epoch=1, start=1, group=2)]  # resuming at batch 1
    assert torch.equal(later[0], torch.cat(single[1:3])) and torch.equal(later[1], torch.cat(single[3:5]))
    x, y = next(loader.batches(epoch=1, group=2))
    assert torch.equal(x.view(-1).long(), y)  # images travel with their labels
    assert list(loader.batches(epoch=1, group=6)) == []  # a group larger than the epoch yields nothing


def test_grouped_batches_split_over_processes_like_single_ones():
    whole = [y for _, y in _loader(n=24).batches(epoch=0, group=3)]
    parts = [[y for _, y in _loader(n=24, rank=r, world=2).batches(epoch=0, group=3)] for r in (0, 1)]
    for k, y in enumerate(whole):
        assert sorted(torch.cat([parts[0][k], parts[1][k]]).tolist()) == sorted(y.tolist())
        assert len(parts[0][k]) == len(parts[1][k]) == 6


def test_the_stream_runs_epoch_after_epoch_numbering_batches_of_batch_size():
    loader = _loader()  # 5 batches of 4 per epoch
    stream = loader.stream(epoch=1, start=1, group=2)  # resuming at batch 1 of epoch 1
    got = [next(stream) for _ in range(4)]
    assert [(e, i) for e, (i, _, _) in got] == [(1, 1), (1, 3), (2, 0), (2, 2)]  # batch 5 of epoch 1 makes no pair
    pairs = [y for _, y in loader.batches(epoch=2, group=2)]
    assert torch.equal(got[2][1][2], pairs[0]) and torch.equal(got[3][1][2], pairs[1])


@pytest.mark.parametrize("group", [0, -1, 1.5, True])
def test_a_bad_group_is_refused(group):
    with pytest.raises(ValueError, match="group"):
        next(_loader().batches(group=group))


@pytest.mark.parametrize("res, full, most, expected", [
    (16, 32, None, 4), (24, 32, None, 1), (8, 32, None, 16), (32, 32, None, 1), (16, 28, None, 3),
    (48, 64, None, 1), (32, 64, None, 4), (8, 32, 5, 5), (16, 32, 2, 2), (16, 32, 0, 1)])
def test_batch_multiple_keeps_a_step_within_a_full_size_steps_pixels(res, full, most, expected):
    m = batch_multiple(res, full, most)
    assert m == expected
    assert m * res * res <= full * full or m == 1


def test_stage_batch_multiples_by_mode():
    sizes = [(8, 16), (8, 24), (8, 32)]
    assert stage_batch_multiples("pixels", sizes, 32) == [4, 1, 1]
    assert stage_batch_multiples("fixed", sizes, 32) == [1, 1, 1]
    assert stage_batch_multiples("auto", sizes, 32) == [1, 1, 1]  # auto decides from a calibration only


def test_config_checks_and_records_stage_batch():
    with pytest.raises(UserError, match="unknown --stage_batch 'huge'; choose one of fixed, pixels, auto"):
        make_config(stage_batch="huge")
    with pytest.raises(UserError, match="unknown --stage_batch_lr 'cube'; choose one of none, sqrt, linear"):
        make_config(stage_batch_lr="cube")
    assert resolve_config(make_config(algo="short", budget=0.5, stage_batch="pixels")).stage_batch == "fixed"
    assert resolve_config(make_config(algo="yes", stage_batch="pixels")).stage_batch == "pixels"
    assert saved_config({"algo": "yes"})["stage_batch"] == "fixed"  # a run recorded before the flag


def _record_steps(monkeypatch):
    """[(images, px, lr)] of every training step the loop takes (the untimed device warm-up's left out)."""
    seen, real = [], loop_module.StageStep
    monkeypatch.setattr(loop_module._Run, "_warm_up", lambda self: 0.0)

    class Recording(real):
        def __call__(self, x, y, lr):
            seen.append((len(y), x.shape[-1], lr))
            return super().__call__(x, y, lr)

    monkeypatch.setattr(loop_module, "StageStep", Recording)
    return seen


@pytest.mark.parametrize("rule, factor", [("sqrt", 2.0), ("linear", 4.0), ("none", 1.0)])
def test_pixels_mode_steps_on_four_batches_at_half_resolution_with_the_lr_scaled(tiny_run, monkeypatch, rule, factor):
    seen = _record_steps(monkeypatch)
    kw = dict(tiny_run, algo="yes", num_epochs=4, width=8, schedule=RES2)  # 400 images, 10 batches of 40
    summary = train(**kw, exp_name="pix", stage_batch="pixels", stage_batch_lr=rule)
    low = [s for s in seen if s[1] == 16]
    full = [s for s in seen if s[1] == 32]
    assert low and full and {s[0] for s in low} == {160} and {s[0] for s in full} == {40}
    peak = max(lr for _, _, lr in low) / factor  # the unscaled schedule peaks at --lr after the warm-up
    assert 0.8 * kw["lr"] < peak <= kw["lr"] + 1e-12
    assert all(lr <= kw["lr"] + 1e-12 for _, _, lr in full)
    rows = read_jsonl(os.path.join(kw["out_dir"], "pix", "metrics.jsonl"))
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]  # every epoch recorded once, across the regrouping
    assert summary["stages"][0]["images"] == 160 * len(low) and summary["stages"][1]["images"] == 40 * len(full)
    seen.clear()
    train(**kw, exp_name="fixed")  # the default keeps one batch size and the plain learning rate
    assert {s[0] for s in seen} == {40} and max(lr for _, _, lr in seen) <= kw["lr"] + 1e-12


@pytest.mark.parametrize("gain, chosen", [(2.0, [4, 1]), (AUTO_BATCH_GAIN - 0.05, [1, 1])])
def test_auto_fills_a_stage_only_where_the_calibration_measured_it_faster(tiny_run, monkeypatch, gain, chosen):
    """The choice follows the measured throughputs (faked here: 1,000 images/s at a batch of 40)."""
    timed = []

    def fake_measure(make_step, keys, batches, steps, device):
        timed.extend(keys)
        table = {k: 1000.0 * (gain if k[2] > 1 else 1.0) for k in keys}
        return table, {k: 0.0 for k in keys}, 0.01, len(keys)

    monkeypatch.setattr(runstate_module, "measure_throughput", fake_measure)
    seen = _record_steps(monkeypatch)
    summary = train(**dict(tiny_run, algo="yes", num_epochs=4, width=8, schedule=RES2, budget=0.5,
                           stage_batch="auto", exp_name="auto"))
    plan = summary["plan"]
    assert set(timed) == {(8, 16, 1), (8, 16, 4), (8, 32, 1)}
    assert plan["batch_multiples"] == chosen
    assert plan["batch_multiple_gains"][0] == pytest.approx(gain) and plan["batch_multiple_gains"][1] is None
    assert plan["images_per_s"][0] == pytest.approx(1000.0 * (gain if chosen[0] > 1 else 1.0))
    assert {s[0] for s in seen if s[1] == 16} == {40 * chosen[0]}


def test_pixels_calibration_times_the_filled_step(tiny_run, monkeypatch):
    timed = []
    real = runstate_module.measure_throughput

    def spy(make_step, keys, batches, steps, device):
        timed.extend(keys)
        for k in keys:
            x, y = next(batches(k[2]))
            assert len(y) == 40 * k[2]  # each key is timed on batches of its own size
        return real(make_step, keys, batches, steps, device)

    monkeypatch.setattr(runstate_module, "measure_throughput", spy)
    summary = train(**dict(tiny_run, algo="yes", num_epochs=4, width=8, schedule=RES2, budget=0.5,
                           stage_batch="pixels", calibration_steps=2, exp_name="pix_budget"))
    assert timed == [(8, 16, 4), (8, 32, 1), (8, 32, 1)]  # the full-size reference is the last stage's key
    assert summary["plan"]["batch_multiples"] == [4, 1] and summary["plan"]["batch_multiple_gains"] == [None, None]
