"""The per-stage step: eager fallback equals the plain step, CUDA capture equals eager, NaN checks, planning."""
import json
import os
import time

import pytest
import torch
from torch import nn

from lib.training.budget import plan_budget
from lib.training.config import make_config
from lib.errors import UserError
from lib.training.loop import train
from lib.growth.model import resnet18
from lib.training.runstate import progress_plan
from lib.training.schedule import DEFAULT_SCHEDULE, epochs_to_progress, format_schedule, parse_schedule
from lib.growth.grow import widen
from lib.training.step import (GRAPH_WARMUP_STEPS, FiniteCheck, StageStep, make_optimizer, match_state_layout,
                                precision_for, train_step)

CUDA = torch.cuda.is_available()


def _model_and_batches(device, width=8, res=16, steps=6, seed=0):
    torch.manual_seed(seed)
    fmt, amp = precision_for(device)
    model = resnet18(10, width).to(device, memory_format=fmt)
    g = torch.Generator().manual_seed(seed + 1)
    batches = [(torch.randn(16, 3, res, res, generator=g).to(device).contiguous(memory_format=fmt),
                torch.randint(0, 10, (16,), generator=g).to(device)) for _ in range(steps)]
    return model, batches, amp


def _run(device, capture, width=8, res=16, steps=6):
    model, batches, amp = _model_and_batches(device, width, res, steps)
    opt = make_optimizer(model, make_config())
    step = StageStep(model, opt, nn.CrossEntropyLoss(label_smoothing=0.1), amp, capture=capture)
    losses = [step(x, y, 0.05)[0].float().item() for x, y in batches]
    return losses, model, step


def test_eager_stage_step_matches_the_plain_step_exactly():
    device = torch.device("cpu")
    losses, model, step = _run(device, capture=False)
    ref_model, batches, amp = _model_and_batches(device)
    opt = make_optimizer(ref_model, make_config())
    for group in opt.param_groups:
        group["lr"] = 0.05
    ref = [train_step(ref_model, opt, x, y, nn.CrossEntropyLoss(label_smoothing=0.1), amp)[0].item() for x, y in batches]
    assert losses == ref
    for a, b in zip(model.state_dict().values(), ref_model.state_dict().values()):
        assert torch.equal(a, b)
    assert step.capture_s == 0 and step.graph is None and step.warmup_calls == 0


def test_stage_step_sets_the_learning_rate_it_is_given():
    model, batches, amp = _model_and_batches(torch.device("cpu"), steps=1)
    opt = make_optimizer(model, make_config())
    StageStep(model, opt, nn.CrossEntropyLoss(), amp)(*batches[0], lr=0.0123)
    assert {g["lr"] for g in opt.param_groups} == {0.0123}


def test_a_compiled_step_times_its_first_call_as_its_one_time_cost(monkeypatch):
    """Under --compile the first call compiles: calibration runs it untimed and counts it as the stage's capture
    (the plan subtracts it from the budget, as the stage compiles again when it starts); later calls add nothing."""
    import lib.training.step as step_module

    model, batches, amp = _model_and_batches(torch.device("cpu"), steps=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    real_step = step_module.train_step

    def slow_first(*args):  # a compilation: seconds once, then the plain step
        if not slow_first.done:
            slow_first.done = True
            time.sleep(0.2)
        return real_step(*args)

    slow_first.done = False
    monkeypatch.setattr(step_module, "train_step", slow_first)
    step = StageStep(model, opt, nn.CrossEntropyLoss(), amp, compiled=True)
    assert step.warmup_calls == 1 and StageStep(model, opt, nn.CrossEntropyLoss(), amp).warmup_calls == 0
    step(*batches[0], lr=0.1)
    first = step.capture_s
    assert first >= 0.2
    step(*batches[1], lr=0.1), step(*batches[2], lr=0.1)
    assert step.capture_s == first


def test_finite_check_flags_nan_on_cpu_every_n_steps():
    check = FiniteCheck(torch.device("cpu"), every=3)
    nan = torch.tensor(float("nan"))
    assert check(nan) and check(nan)  # calls 1, 2: not a check step, nothing is read
    assert not check(nan)  # call 3
    assert check(torch.tensor(1.0)) and check(torch.tensor(1.0)) and check(torch.tensor(1.0))  # 4, 5, 6
    assert check(nan) and check(nan) and not check(nan)  # 7, 8, 9


def test_widened_optimizer_state_takes_its_params_layout():
    # CUDA's fused SGD refuses a momentum buffer whose strides differ from its param's; a widened model
    # is moved to channels_last after its momentum was carried over contiguous
    # The gradients are drawn, not computed: a CPU backward through a width-4 channels_last model runs
    # oneDNN's 1x1 stride-2 kernel on 4 input channels, which with torch 2.14.1 on AVX2 corrupts the heap or
    # hangs (lib/training/step.py: compile_net; upstream: oneDNN issue 6035, "1x1 convolution backward_weights
    # writes past the rtus workspace (nhwc, IC < ic_block)"). The step itself only needs a momentum buffer per param.
    torch.manual_seed(0)
    model = resnet18(10, 4).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for p in model.parameters():
        p.grad = torch.randn_like(p)  # keeps the param's channels_last strides
    opt.step()
    assert all(opt.state[p]["momentum_buffer"].stride() == p.stride() for p in model.parameters())
    wide = widen(model, 8, rule="fresh", optimizer=opt).to(memory_format=torch.channels_last)

    def mismatched():
        return [n for n, p in wide.named_parameters() if opt.state[p]["momentum_buffer"].stride() != p.stride()]

    assert mismatched()  # the conv weights: what the helper is for
    before = {n: opt.state[p]["momentum_buffer"].clone() for n, p in wide.named_parameters()}
    match_state_layout(opt)
    assert mismatched() == []
    for n, p in wide.named_parameters():
        assert torch.equal(opt.state[p]["momentum_buffer"], before[n]), n  # same values, new strides


@pytest.mark.skipif(not CUDA, reason="CUDA graph capture needs a CUDA GPU")
def test_captured_step_matches_eager_within_bf16_tolerance():
    device = torch.device("cuda")
    eager, m_eager, _ = _run(device, capture=False, steps=GRAPH_WARMUP_STEPS + 4)
    captured, m_graph, step = _run(device, capture=True, steps=GRAPH_WARMUP_STEPS + 4)
    assert step.graph is not None and step.capture_s > 0
    assert captured == pytest.approx(eager, rel=0.05, abs=0.05)
    for (name, a), b in zip(m_eager.state_dict().items(), m_graph.state_dict().values()):
        if a.is_floating_point():
            assert torch.allclose(a, b, rtol=0.05, atol=0.02), name


@pytest.mark.skipif(not CUDA, reason="CUDA graph capture needs a CUDA GPU")
def test_width_and_resolution_changes_each_recapture(tiny_run):
    run = dict(tiny_run, device="cuda", width=8, num_epochs=6)
    summary = train(**run, algo="yes", exp_name="graphs", schedule="0.5/0.5:0.34,0.5/1:0.33,1/1:0.33")
    assert [s["capture_s"] > 0 for s in summary["stages"]] == [True, True, True]
    off = train(**run, algo="yes", exp_name="eager", schedule="0.5/0.5:0.34,0.5/1:0.33,1/1:0.33", cuda_graphs="off")
    assert all(s["capture_s"] == 0 for s in off["stages"])
    assert abs(summary["test_acc"] - off["test_acc"]) < 30  # same recipe: both learn


def test_plan_counts_capture_overhead_against_the_budget():
    stages = parse_schedule("1/0.5:0.5,1/1:0.5")
    plan = plan_budget(stages, [2000.0, 1000.0], 10_000, 100.0, overhead_s=[3.0, 5.0])
    assert sum(plan["seconds"]) == pytest.approx(100.0)
    train_s = [s - o for s, o in zip(plan["seconds"], [3.0, 5.0])]
    assert [e * 10_000 / t for e, t in zip(plan["epochs"], train_s)] == pytest.approx([2000.0, 1000.0])
    with pytest.raises(UserError, match="step capture"):
        plan_budget(stages, [2000.0, 1000.0], 10_000, 7.0, overhead_s=[3.0, 5.0])


def test_epochs_to_progress_follows_each_stage_speed():
    # 2 epochs in 10 s, then 2 epochs in 30 s: epoch 1 ends at 5/40, epoch 3 at 25/40
    assert epochs_to_progress(1, [2, 2], [10, 30]) == pytest.approx(5 / 40)
    assert epochs_to_progress(3, [2, 2], [10, 30]) == pytest.approx(25 / 40)
    assert epochs_to_progress(9, [2, 2], [10, 30]) == 1.0
    assert epochs_to_progress(0, [2, 2], [10, 30]) == 0.0


def test_warmup_is_in_epochs_of_images_in_budget_runs():
    cfg = make_config(algo="yes", budget=0.5, warmup_epochs=1.0, growth_warmup=1.0)
    stages = parse_schedule("1/0.5:0.5,1/1:0.5")
    # the low-resolution stage trains 3x faster: 6 epochs in 20 s, then 6 epochs in 60 s
    plan = dict(epochs=[6.0, 6.0], seconds=[20.0, 60.0], train_budget_s=80.0)
    sched = progress_plan(cfg, stages, 10, plan)
    assert sched["warmup_frac"] == pytest.approx((20 / 6) / 80)  # one epoch at the first stage's speed
    assert sched["rewarm_fracs"][1] == pytest.approx((60 / 6) / 80)  # one epoch at the second stage's speed
    assert sched["bounds"] == pytest.approx([0.25, 1.0]) and sched["total_steps"] is None
    epochs = progress_plan(make_config(algo="yes", num_epochs=10, warmup_epochs=2.0), stages, 10, None)
    assert epochs["warmup_frac"] == pytest.approx(0.2) and epochs["total_steps"] == 100


def test_config_json_records_the_resolved_schedule_and_name(tiny_run):
    train(**tiny_run, algo="yes")
    run_dir = os.path.join(tiny_run["out_dir"], "cifar10_yes_w4_e3_s0")
    cfg = json.load(open(os.path.join(run_dir, "config.json")))
    assert cfg["exp_name"] == "cifar10_yes_w4_e3_s0"
    assert cfg["schedule"] == format_schedule(parse_schedule(DEFAULT_SCHEDULE)) != ""


def test_unknown_cuda_graphs_value_is_refused():
    with pytest.raises(UserError, match="--cuda_graphs"):
        make_config(cuda_graphs="maybe")
