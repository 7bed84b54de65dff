"""Run bookkeeping around the loop: budget calibration, resuming, random states, and the final summary."""
import hashlib
import itertools
import math
import os
import random

import numpy as np
import torch

from .budget import baseline_seconds, check_time_budget, measure_throughput, plan_budget, speed_vs_plan, speed_warning
from .checkpoint import CHECKPOINT_NAME, check_same_config, load_checkpoint
from .config import DEFAULT_EARLY_CAP, parse_duration
from ..errors import UserError
from ..growth.flops import TRAIN_FLOPS_MULTIPLIER, flops_per_image
from ..records import rewrite_jsonl
from .stability import instability_warning
from .schedule import epochs_to_progress, stage_batch_multiples, stage_bounds, stage_epochs
from .rundir import METRICS_NAME

AUTO_BATCH_GAIN = 1.25  # --stage_batch auto fills a stage's step only if that buys >= 25 % more images/s


def weights_digest(model):
    """SHA-1 of all parameters and buffers: equal digests mean bit-identical models."""
    h = hashlib.sha1()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def compilations():
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def forward_flops(sizes, spec):
    """Forward FLOPs per image of each (width, resolution) for a dataset's channels and classes."""
    return [flops_per_image(w, r, spec.in_channels, spec.num_classes) for w, r in sizes]


def calibrate_budget(cfg, stages, sizes, loader, make_step, spec, info, device):
    """Measure each stage's images/s with the step it will run, then plan stage lengths to fit the budget.

    The calibration's own time, and each stage's measured capture time (spent again when the stage
    builds its step), count against the budget. With --stage_batch auto, a low-resolution stage
    steps on a full-size step's pixels only where that measured >= AUTO_BATCH_GAIN times its
    images/s at --batch_size; the plan records the choice (batch_multiples) and the gains.
    """
    full = (cfg.width, spec.resolution, 1)
    filled = stage_batch_multiples("pixels", sizes, spec.resolution, len(loader))
    if cfg.stage_batch == "fixed":
        keys = [(w, r, 1) for w, r in sizes]
    elif cfg.stage_batch == "pixels":
        keys = [(w, r, m) for (w, r), m in zip(sizes, filled)]
    else:  # auto: both, then choose
        keys = [(w, r, 1) for w, r in sizes] + [(w, r, m) for (w, r), m in zip(sizes, filled) if m > 1]
    steps = cfg.calibration_steps
    pools = {g: itertools.cycle(list(itertools.islice(loader.batches(0, group=g), math.ceil(steps / g) + 2)))
             for g in {k[2] for k in keys + [full]}}
    table, capture, calib_s, timed = measure_throughput(make_step, keys + [full], pools.__getitem__, steps, device)
    gains = [table[(w, r, m)] / table[(w, r, 1)] if (w, r, 1) in table and (w, r, m) in table and m > 1 else None
             for (w, r), m in zip(sizes, filled)]
    if cfg.stage_batch == "auto":
        groups = [m if gain is not None and gain >= AUTO_BATCH_GAIN else 1 for m, gain in zip(filled, gains)]
    else:
        groups = [k[2] for k in keys]
    chosen = [(w, r, g) for (w, r), g in zip(sizes, groups)]
    ips = [table[k] * info.world_size for k in chosen]
    n_train = len(loader) * cfg.batch_size
    base_s = baseline_seconds(cfg.num_epochs, n_train, table[full] * info.world_size) + capture[full]
    total_s = cfg.budget * base_s if cfg.budget else parse_duration(cfg.time_budget)
    check_time_budget(total_s, calib_s, min(n_train / x for x in ips), base_s if cfg.budget else None,
                      cfg.calibration_steps)
    overhead = [capture[k] for k in chosen]
    cap_s = early_cap_seconds(cfg.early_cap, stages, ips, n_train, base_s, calib_s, overhead,
                              required=cfg.early_cap != DEFAULT_EARLY_CAP)
    plan = plan_budget(stages, ips, n_train, total_s - calib_s, overhead, cap_s)
    return plan | dict(early_cap_s=cap_s, images_per_s=ips, capture_s=overhead, calibration_s=calib_s,
                       calibration_steps=timed, budget_s=total_s, train_budget_s=total_s - calib_s,
                       baseline_predicted_s=base_s,
                       sizes=[list(s) for s in sizes], predicted_saving=1 - total_s / base_s,
                       forward_flops_per_image=forward_flops(sizes, spec), batch_multiples=groups,
                       batch_multiple_gains=gains)


def early_cap_seconds(early_cap, stages, ips, n_train, base_s, calib_s, overhead, required=True):
    """Training seconds the stages before the last get under a budget of early_cap x the baseline's predicted
    seconds (base_s), the cap --early_cap puts on them at larger budgets; None for no cap (0).

    Where calibration and step capture alone take that budget (a tiny run), the early stages would get no time
    at it: a UserError when the cap was asked for (required), else None, no cap (the default's cap is for
    budgets that leave time to train)."""
    if not early_cap or len(stages) < 2:
        return None
    if early_cap * base_s - calib_s <= sum(overhead):
        if not required:
            return None
        raise UserError(f"--early_cap {early_cap:g} is {early_cap * base_s:.1f} s of the baseline's predicted "
                        f"{base_s:.1f} s, no more than calibration and step capture ({calib_s + sum(overhead):.1f} s): "
                        "the early stages would get no time; give a larger --early_cap (e.g. 0.45) or none")
    at_cap = plan_budget(stages, ips, n_train, early_cap * base_s - calib_s, overhead)
    return sum(at_cap["seconds"][:-1]) - sum(overhead[:-1])


def new_state(n_stages):
    """The loop's position and records, as checkpointed (plain values only)."""
    return dict(epoch=0, batch=0, step=0, spent_s=0.0, epoch_start_s=0.0, stage=0, stage_start_s=0.0, rows=[],
                growth=[], stage_s=[0.0] * n_stages, stage_images=[0] * n_stages, capture_s=[0.0] * n_stages,
                plan=None, partial=None, checkpoint_epoch=None, data_sha1=None, bounds=None, probe=[], cuts=[],
                rebase=None)


def progress_plan(cfg, stages, steps_per_epoch, plan):
    """How progress maps to stages and learning rate: a pure function of the config and the budget plan.

    Progress is steps / total_steps for epoch runs, seconds / budget_s for budget runs. Warm-ups
    are in epochs of images: at a stage's own speed, so one epoch of warm-up at 16 px covers one
    epoch of images, not the seconds of one full-size epoch. Returns {"bounds", "total_steps",
    "budget_s", "run_epochs", "warmup_frac", "rewarm_fracs"} (one re-warm-up fraction per stage).
    """
    if plan is not None:  # a budget run: stages last the planned seconds
        epochs, lengths, total_steps, budget_s = plan["epochs"], plan["seconds"], None, plan["train_budget_s"]
    elif cfg.algo == "short":  # full size for the budget's share of the baseline's steps
        total_steps = max(1, round(cfg.budget * cfg.num_epochs * steps_per_epoch))
        epochs, lengths, budget_s = [total_steps / steps_per_epoch], [1.0], None
    else:
        epochs = stage_epochs(stages, cfg.num_epochs)
        lengths, total_steps, budget_s = epochs, cfg.num_epochs * steps_per_epoch, None
    bounds = stage_bounds(lengths)
    rewarm = [0.0] + [min(0.5, epochs_to_progress(sum(epochs[:k]) + cfg.growth_warmup, epochs, lengths) - bounds[k - 1])
                      for k in range(1, len(epochs))]
    return dict(bounds=bounds, total_steps=total_steps, budget_s=budget_s, run_epochs=sum(epochs),
                warmup_frac=min(0.5, epochs_to_progress(cfg.warmup_epochs, epochs, lengths)), rewarm_fracs=rewarm)


def resume_state(cfg, run_dir, state, new_model, info):
    """Rebuild model, optimizer, loop state and RNG states from the run's checkpoint (same config, data and
    number of processes only).

    state["data_sha1"] is the digest of the data loaded now; a checkpoint made on other data is refused. The
    config is compared first: a changed --seed or --train_subset also changes the data, and the flag is the fix.
    """
    saved = load_checkpoint(os.path.join(run_dir, CHECKPOINT_NAME))
    check_same_config(saved["config"], cfg, run_dir)
    if saved.get("data_sha1") not in (None, state["data_sha1"]):
        raise UserError(f"checkpoint in {run_dir} was made on other data than {cfg.dataset} under --data_root "
                        f"{cfg.data_root} holds now (data sha1 {saved['data_sha1'][:12]}, now "
                        f"{state['data_sha1'][:12]}); point --data_root at the data it started on, or start over "
                        "with --overwrite")
    if saved.get("world_size", info.world_size) != info.world_size:  # each process's data shard and partial epoch
        raise UserError(f"checkpoint in {run_dir} was made by {saved['world_size']} process(es), and this run has "
                        f"{info.world_size}; resume with the same number (torchrun --nproc_per_node "
                        f"{saved['world_size']}; plain python for 1), or start over with --overwrite")
    model, optimizer = new_model(saved["width"])
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    for key in state:
        state[key] = saved.get(key, state[key])
    set_rng_states(saved["rng"])
    if info.is_main:
        rewrite_jsonl(os.path.join(run_dir, METRICS_NAME), state["rows"])  # drop epochs after the checkpoint
    return model, optimizer


def rng_states():
    """All global random states (torch CPU/CUDA, numpy, python), for checkpoints: tensors and plain values only.

    numpy's state (name, uint32 key [624], pos, has_gauss, cached_gaussian) is stored with its key as an
    int64 tensor, since weights-only loading refuses numpy arrays.
    """
    name, key, pos, has_gauss, cached_gaussian = np.random.get_state()
    numpy_state = dict(name=str(name), key=torch.from_numpy(key.astype(np.int64)), pos=int(pos),
                       has_gauss=int(has_gauss), cached_gaussian=float(cached_gaussian))
    return dict(torch=torch.get_rng_state(), numpy=numpy_state, python=random.getstate(),
                cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)


def set_rng_states(s):
    n = s["numpy"]
    np.random.set_state((n["name"], n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(s["torch"]), random.setstate(s["python"])
    if s.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def summarize(cfg, state, stages, sizes, spec, plan, total_s, info, device, n_train):
    """summary.json of a finished run: accuracy, times, FLOPs, per-stage seconds, plan and growth events."""
    rows = state["rows"]
    per_stage = [dict(width=w, resolution=r, share=s.share, seconds=t, capture_s=c, images=n,
                      forward_flops_per_image=f, train_flops=TRAIN_FLOPS_MULTIPLIER * f * n) for (w, r), s, t, c, n, f in
                 zip(sizes, stages, state["stage_s"], state["capture_s"], state["stage_images"],
                     forward_flops(sizes, spec))]
    calib_s = (plan or {}).get("calibration_s", 0.0)
    train_s = state["spent_s"] + calib_s
    out = dict(dataset=cfg.dataset, algo=cfg.algo, exp_name=cfg.resolved_exp_name(), seed=cfg.seed,
               test_acc=rows[-1]["test_acc"] if rows else None, val_acc=rows[-1].get("val_acc") if rows else None,
               train_time_s=train_s, total_time_s=total_s, epochs=len(rows),
               epochs_equivalent=sum(state["stage_images"]) / n_train, final_width=rows[-1]["width"] if rows else None,
               final_resolution=rows[-1]["resolution"] if rows else None, train_flops=sum(p["train_flops"] for p in per_stage),
               stages=per_stage, growth=state["growth"], stage_cuts=state["cuts"],
               probe_s=sum(r.get("seconds", 0.0) for r in state["probe"]), plan=plan, world_size=info.world_size,
               device=str(device), num_epochs=cfg.num_epochs, width=cfg.width,
               compilations=state["rows"][-1].get("compilations") if cfg.compile and rows else None,
               data_sha1=state["data_sha1"], num_classes=spec.num_classes, warnings=[])
    unstable = instability_warning(rows, spec.num_classes)
    out["warnings"] += [unstable] if unstable else []
    if plan:
        out["speed_vs_plan"] = speed_vs_plan(plan["images_per_s"], per_stage)
        warning = speed_warning(out["speed_vs_plan"], train_s, plan["baseline_predicted_s"] if cfg.budget else None)
        out["warnings"] += [warning] if warning else []
        out["predicted_train_s"] = plan["budget_s"]
        out["predicted_saving"] = plan["predicted_saving"]
        out["measured_saving_vs_predicted_baseline"] = 1 - train_s / plan["baseline_predicted_s"]
        out["rebase"] = state["rebase"]  # --budget_base trained: the baseline's time re-estimated in training
    return out
