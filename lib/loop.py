"""The training loop: one function runs the baseline, progressive growth and budgeted runs."""
import contextlib
import dataclasses
import itertools
import math
import os
import random
import sys
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed as dist
from .augment import augment_batch
from .bnstats import recalibrate_bn
from .checkpoint import CHECKPOINT_NAME, save_checkpoint
from .config import TrainConfig, make_config
from .errors import UserError
from .grow import widen
from .loader import DeviceLoader, epoch_seed
from .model import resnet18
from .records import append_jsonl, env_info, write_json
from .rundir import METRICS_NAME, SUMMARY_NAME, load_run_data, prepare_run_dir
from .runstate import calibrate_budget, compilations, resume_state, rng_states, summarize, weights_digest
from .schedule import (BASELINE_SCHEDULE, DEFAULT_SCHEDULE, lr_at, parse_schedule, restrict_growth, stage_at,
                       stage_bounds, stage_epochs, stage_sizes)

NAN_CHECK_EVERY = {"cpu": 1, "cuda": 25}  # steps between finite-loss checks (each one syncs a GPU)
EVAL_BATCH = 1024  # images per evaluation batch


def train(cfg=None, **kwargs):
    """Train one run described by a TrainConfig (or its fields as keywords); returns the summary dict.

    Writes out_dir/exp_name/{config.json, env.json, metrics.jsonl (per epoch, as it goes),
    checkpoint.pt (every epoch and growth), summary.json (only once the run has finished)}.
    """
    cfg = cfg if isinstance(cfg, TrainConfig) else make_config(**{**(cfg or {}), **kwargs})
    t_start = time.perf_counter()
    device = _pick_device(cfg.device)
    info = dist.setup(device.type)
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
    try:
        return _run(cfg, device, info, t_start)
    finally:
        dist.teardown(info)


def _run(cfg, device, info, t_start):
    torch.manual_seed(cfg.seed), np.random.seed(cfg.seed % 2**32), random.seed(cfg.seed)
    run_dir = prepare_run_dir(cfg, info.is_main)
    train_x, train_y, test_x, test_y, spec, val_x, val_y = load_run_data(cfg)
    stages = parse_schedule(cfg.schedule or DEFAULT_SCHEDULE) if cfg.algo == "yes" else parse_schedule(BASELINE_SCHEDULE)
    stages = restrict_growth(stages, cfg.grow)
    sizes = stage_sizes(stages, cfg.width, spec.resolution)
    if cfg.batch_size % info.world_size:
        raise UserError(f"--batch_size {cfg.batch_size} does not split over {info.world_size} processes; "
                        f"give a multiple of {info.world_size}")
    loader = DeviceLoader(train_x, train_y, cfg.batch_size, device, cfg.seed, True, info.rank, info.world_size)
    test_loader = DeviceLoader(test_x, test_y, EVAL_BATCH, device, train=False, rank=info.rank,
                               world_size=info.world_size)
    val_loader = None if val_x is None else DeviceLoader(val_x, val_y, EVAL_BATCH, device, train=False,
                                                         rank=info.rank, world_size=info.world_size)
    cuda = device.type == "cuda"
    fmt, amp = precision_for(device)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def new_model(width):
        model = resnet18(spec.num_classes, width, spec.in_channels).to(device, memory_format=fmt)
        return model, make_optimizer(model, cfg)

    def run_step(model, opt, xb, yb, res, gen=None):
        x = augment_batch(xb, spec, res, gen, train=True).contiguous(memory_format=fmt)  # [B, C, res, res]
        return train_step(model, opt, x, yb, criterion, amp)

    # --- the plan: progress is steps done (epoch runs) or seconds spent (budget runs) ---
    spe = len(loader)  # optimizer steps per epoch
    budget_s, plan = None, None
    if cfg.algo == "short" and cfg.budget is not None:
        total_steps = max(1, round(cfg.budget * cfg.num_epochs * spe))
        lengths, run_epochs = [1.0], total_steps / spe
    elif cfg.budget is not None or cfg.time_budget:
        plan = {} if cfg.resume else calibrate_budget(cfg, stages, sizes, loader, new_model, run_step, sync, spec, info)
        budget_s = plan.get("train_budget_s")
        total_steps, lengths, run_epochs = None, plan.get("seconds", [1.0]), sum(plan.get("epochs", [0]))
    else:
        epochs = stage_epochs(stages, cfg.num_epochs)
        total_steps, lengths, run_epochs = cfg.num_epochs * spe, epochs, cfg.num_epochs

    model, optimizer = new_model(sizes[0][0])
    state = dict(epoch=0, batch=0, step=0, spent_s=0.0, stage=0, rows=[], growth=[], stage_s=[0.0] * len(stages),
                 stage_images=[0] * len(stages), plan=plan, partial=None, gen_state=None, checkpoint_epoch=None)
    if cfg.resume:
        model, optimizer = resume_state(cfg, run_dir, state, new_model, device)
        plan = state["plan"]
        if plan:
            budget_s, lengths = plan["train_budget_s"], plan["seconds"]
            run_epochs = sum(plan["epochs"])
    bounds = stage_bounds(lengths)
    warmup_frac = min(0.5, cfg.warmup_epochs / max(run_epochs or cfg.num_epochs, 1e-9))
    rewarm_frac = min(0.5, cfg.growth_warmup / max(run_epochs or cfg.num_epochs, 1e-9))
    compiled_before = compilations() if cfg.compile else 0  # the counter is per process, not per run
    net = _wrap(model, cfg, info, device)
    paths = {k: os.path.join(run_dir, v) for k, v in
             (("metrics", METRICS_NAME), ("ckpt", CHECKPOINT_NAME), ("summary", SUMMARY_NAME))}
    if info.is_main and not cfg.resume:
        write_json(os.path.join(run_dir, "config.json"), dataclasses.asdict(cfg))
        write_json(os.path.join(run_dir, "env.json"), env_info(device) | {"world_size": info.world_size})
    show = info.is_main and not cfg.quiet and sys.stderr.isatty()

    def progress(step, spent):
        if budget_s is None:
            return step / total_steps
        return dist.broadcast_value(spent / budget_s, info, device)

    def checkpoint(**position):
        state["checkpoint_epoch"] = position["epoch"]
        if info.is_main:
            save_checkpoint(paths["ckpt"], {**state, **position, "config": dataclasses.asdict(cfg),
                                            "model": model.state_dict(), "width": model.width,
                                            "optimizer": optimizer.state_dict(), "rng": rng_states()})
        dist.barrier(info)

    # --- the loop ---
    done = False
    for epoch in itertools.count(state["epoch"]):
        gen = torch.Generator(device=device).manual_seed(epoch_seed(cfg.seed, epoch, 1 + info.rank))
        loss_sum, correct, seen = torch.zeros((), device=device), torch.zeros((), device=device), 0
        start, partial = (state["batch"], state["partial"]) if epoch == state["epoch"] else (0, None)
        if partial:  # resuming mid-epoch (a growth checkpoint): restore the epoch's running totals
            gen.set_state(state["gen_state"])
            loss_sum += partial["loss_sum"]
            correct += partial["correct"]
            seen = partial["seen"]
        bar = tqdm(total=spe, initial=start, desc=f"epoch {epoch + 1}", disable=not show, leave=False)
        sync()
        t0 = time.perf_counter() - (partial["epoch_s"] if partial else 0.0)  # epoch time so far counts
        mark = time.perf_counter()  # start of the current stage's uncounted time
        for i, (xb, yb) in enumerate(loader.batches(epoch, start), start):
            p = progress(state["step"], state["spent_s"] + time.perf_counter() - t0)
            if p >= 1:
                done = True
                break
            k = stage_at(bounds, p)
            if k != state["stage"]:  # growth: widen (optimizer carried), raise resolution, checkpoint
                sync()
                t_grow = time.perf_counter()
                state["stage_s"][state["stage"]] += t_grow - mark
                model, net = _grow(model, optimizer, sizes[k][0], cfg, k, info, device, fmt, net)
                recal = 0
                if cfg.bn_recal and sizes[k][1] != sizes[state["stage"]][1]:  # BN statistics for the new size
                    with amp():
                        recal = recalibrate_bn(model, _plain_batches(loader, spec, sizes[k][1], fmt, cfg.bn_recal,
                                                                     epoch_seed(cfg.seed, k, 99)))
                state["growth"].append(dict(epoch=epoch, batch=i, step=state["step"], stage=k, width=sizes[k][0],
                                            resolution=sizes[k][1], seconds=time.perf_counter() - t_grow,
                                            progress=p, bn_recal_batches=recal))
                state["stage"] = k
                mark = time.perf_counter()
                checkpoint(epoch=epoch, batch=i, gen_state=gen.get_state(),
                           partial=dict(loss_sum=loss_sum.item(), correct=correct.item(), seen=seen,
                                        epoch_s=mark - t0))
            last_growth = state["growth"][-1]["progress"] if state["growth"] else None
            span = (bounds[k - 1] if k else 0.0, bounds[k]) if cfg.lr_restart else None
            lr = lr_at(p, cfg.lr, warmup_frac, last_growth, rewarm_frac, span)
            for group in optimizer.param_groups:
                group["lr"] = lr
            try:
                loss, hits = run_step(net, optimizer, xb, yb, sizes[state["stage"]][1], gen)
            except torch.OutOfMemoryError:
                raise UserError(f"out of memory at --batch_size {cfg.batch_size} (width {model.width}, "
                                f"{sizes[state['stage']][1]} px); try --batch_size {max(1, cfg.batch_size // 2)}") from None
            loss_sum += loss * len(yb)
            correct += hits
            seen += len(yb)
            state["step"] += 1
            state["stage_images"][state["stage"]] += len(yb) * info.world_size
            if state["step"] % NAN_CHECK_EVERY[device.type] == 0 and not torch.isfinite(loss_sum):
                raise UserError(f"loss became {loss.item()} at epoch {epoch + 1}, step {state['step']}; lower --lr "
                                f"(now {cfg.lr:g}); {_kept(state, run_dir)}")
            bar.update(1)
            if budget_s is not None and cuda and i % 10 == 0:
                sync()  # keep the wall clock honest while the GPU queue runs ahead
            if total_steps is not None and state["step"] >= total_steps:
                done = True
                break
        sync()
        bar.close()
        now = time.perf_counter()
        epoch_s = now - t0
        state["stage_s"][state["stage"]] += now - mark
        state["spent_s"] += epoch_s
        if seen == 0:
            break
        stats = dist.all_reduce_sum(torch.stack([loss_sum.double(), correct.double(),
                                                 torch.tensor(seen, dtype=torch.float64, device=device)]), info)
        dist.average_buffers(model, info)
        t_eval = time.perf_counter()
        test_loss, test_acc = evaluate(model, test_loader, spec, criterion, amp, fmt, info)
        val_loss, val_acc = ((None, None) if val_loader is None else
                             evaluate(model, val_loader, spec, criterion, amp, fmt, info))
        row = dict(epoch=epoch + 1, stage=state["stage"] + 1, width=model.width, resolution=sizes[state["stage"]][1],
                   lr=lr, train_loss=stats[0].item() / stats[2].item(), train_acc=100 * stats[1].item() / stats[2].item(),
                   test_loss=test_loss, test_acc=test_acc, epoch_train_s=epoch_s, elapsed_train_s=state["spent_s"],
                   images_per_s=stats[2].item() / max(epoch_s, 1e-9), eval_s=time.perf_counter() - t_eval,
                   progress=min(1.0, progress(state["step"], state["spent_s"])), val_loss=val_loss, val_acc=val_acc)
        if cfg.compile:
            row["compilations"] = compilations() - compiled_before  # graphs so far: one per stage is the goal
        if not math.isfinite(row["train_loss"]):
            raise UserError(f"loss became {row['train_loss']} in epoch {epoch + 1}; lower --lr (now {cfg.lr:g}); "
                            f"{_kept(state, run_dir)}")
        state["rows"].append(row)
        if info.is_main:
            append_jsonl(paths["metrics"], row)
            if not cfg.quiet:
                print(f"epoch {row['epoch']:>3} stage {row['stage']} w{row['width']}@{row['resolution']}px "
                      f"loss {row['train_loss']:.3f} test {row['test_acc']:.2f}% {epoch_s:.1f}s", flush=True)
        checkpoint(epoch=epoch + 1, batch=0, gen_state=None, partial=None)
        if done or (total_steps is not None and state["step"] >= total_steps):
            break

    summary = summarize(cfg, state, stages, sizes, spec, plan, time.perf_counter() - t_start, info, device,
                       spe * cfg.batch_size) | {"weights_sha1": weights_digest(model)}
    if info.is_main:
        write_json(paths["summary"], summary)
    return summary


def precision_for(device):
    """(memory format, autocast factory): channels_last + bf16 on CUDA, plain float32 on the CPU."""
    if device.type == "cuda":
        return torch.channels_last, (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
    return torch.contiguous_format, contextlib.nullcontext


def train_step(net, optimizer, x, y, criterion, amp):
    """One SGD step on an augmented batch x [B, C, H, W]; returns (loss, correct) as device tensors (no sync)."""
    with amp():
        out = net(x)
        loss = criterion(out, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), (out.argmax(1) == y).sum()


def evaluate(model, loader, spec, criterion, amp, fmt, info):
    """(mean loss, accuracy in %) of `model` on a loader's split at the dataset's full resolution."""
    was_training = model.training
    model.eval()
    device = loader.y.device
    totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, count
    with torch.no_grad():
        for xb, yb in loader.batches():
            x = augment_batch(xb, spec, spec.resolution, None, train=False).contiguous(memory_format=fmt)
            with amp():
                out = model(x)
            totals += torch.stack([criterion(out.float(), yb) * len(yb), (out.argmax(1) == yb).sum(),
                                   torch.tensor(len(yb), device=device)]).double()
    model.train(was_training)
    totals = dist.all_reduce_sum(totals, info)
    return totals[0].item() / totals[2].item(), 100 * totals[1].item() / totals[2].item()


def _plain_batches(loader, spec, resolution, fmt, n, seed):
    """Up to n seeded random training batches, unaugmented, at `resolution`: [B, C, res, res] each."""
    order = torch.randperm(len(loader.y), generator=torch.Generator().manual_seed(seed))[:n * loader.per_rank]
    for chunk in order.to(loader.x.device).split(loader.per_rank):
        yield augment_batch(loader.x[chunk], spec, resolution, None, train=False).contiguous(memory_format=fmt)


def _kept(state, run_dir):
    if state["checkpoint_epoch"] is None:
        return "no checkpoint was written yet"
    return f"the last good checkpoint (epoch {state['checkpoint_epoch']}) is kept in {run_dir}"


def _pick_device(name):
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu (or auto)")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def make_optimizer(model, cfg):
    """SGD with nesterov momentum; weight decay on conv/linear weights only (not BN, not biases)."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    return torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}],
                           lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)


def _wrap(model, cfg, info, device):
    net = dist.wrap(model, info, device, cfg.sync_bn)
    return torch.compile(net, dynamic=False) if cfg.compile else net


def _grow(model, optimizer, width, cfg, stage, info, device, fmt, net):
    """Widen to `width` (a no-op when only the resolution changes) and re-wrap for DDP/compile."""
    if width == model.width:
        return model, net
    if cfg.sync_bn:
        dist.unsync_batchnorm(model)
    # the same seed on every process, so every rank grows identically
    model = widen(model, width, rule=cfg.init, optimizer=optimizer, seed=cfg.seed * 1000 + stage)
    model = model.to(device, memory_format=fmt)
    return model, _wrap(model, cfg, info, device)
