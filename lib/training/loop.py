"""The training loop: plan the run, then train each stage with its own step until its share is spent."""
import dataclasses
import functools
import itertools
import os
import random
import sys
import time

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed as dist
from ..data.augment import augment_batch
from .bnstats import plain_batches, recalibrate_bn
from .checkpoint import CHECKPOINT_NAME, CheckpointWriter
from .config import TrainConfig, make_config, resolve_config
from ..errors import UserError
from ..growth.grow import growth_seed, widen
from ..growth.shrink import shrink_perturb
from ..data.loader import DeviceLoader, epoch_seed
from ..growth.model import resnet18
from ..records import append_jsonl, env_info, write_json
from .rundir import (METRICS_NAME, SUMMARY_NAME, create_run_dir, data_digest, load_run_data, prepare_run_dir,
                     write_run_records)
from .budget import rebased_budget, warm_up
from .runstate import (calibrate_budget, compilations, new_state, progress_plan, resume_state, rng_states, summarize,
                       weights_digest)
from .probe import probe_batches, probe_loss, stage_has_stalled
from .schedule import (batch_lr_factor, cut_stage, lr_at, parse_schedule, reg_scale, restrict_growth,
                       stage_batch_multiples, stage_sizes)
from .step import (FiniteCheck, QueueBound, StageStep, compile_net, diverged_fix, make_optimizer, match_state_layout,
                   memory_error, precision_for)
from .clock import TrainClock, wait_for
from .evaluate import evaluate_splits

NAN_CHECK_EVERY = {"cpu": 1, "cuda": 25}  # steps between finite-loss checks (never a host sync on CUDA)
EVAL_BATCH = 1024  # images per evaluation batch


def train(cfg=None, **kwargs):
    """Train one run described by a TrainConfig, a dict of its fields, or keywords (which override either);
    every value is checked. Returns the summary dict.

    Writes out_dir/exp_name/{config.json, env.json, metrics.jsonl (per epoch, as it goes),
    checkpoint.pt (every epoch and growth), summary.json (only once the run has finished)}.
    """
    base = dataclasses.asdict(cfg) if isinstance(cfg, TrainConfig) else (cfg or {})
    cfg = resolve_config(make_config(**{**base, **kwargs}))  # whatever the form, every value checked alike
    t_start = time.perf_counter()
    device = dist.pick_device(cfg.device)
    info = dist.setup(device.type)
    if device.type == "cuda" and info.enabled:  # this process's own GPU
        device = torch.device("cuda", info.local_rank)
    run = _Run(cfg, device, info)
    try:
        return run.train(t_start)
    except RuntimeError as exc:  # out of GPU or CPU memory: one line naming what to shrink
        error = memory_error(exc, cfg, run.doing)
        if error is None:
            raise
        raise error from None
    finally:
        dist.teardown(info)


class _Run:
    """One run's pieces (data, model, optimizer, step, clock, records) and the loop that drives them."""

    def __init__(self, cfg, device, info):
        self.cfg, self.device, self.info = cfg, device, info
        self.fmt, self.amp = precision_for(device)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.doing = "starting"  # named in an out-of-memory error
        self.step = None  # the stage's training step, once the loop has built it
        self.writer = CheckpointWriter(background=device.type == "cuda")  # a CPU's cores are busy training

    def train(self, t_start):
        cfg, info = self.cfg, self.info
        torch.manual_seed(cfg.seed), np.random.seed(cfg.seed % 2**32), random.seed(cfg.seed)
        self.run_dir = prepare_run_dir(cfg, info.is_main)  # checked before the data loads, made after the plan
        self._load_data()
        self.stages = restrict_growth(parse_schedule(cfg.schedule), cfg.grow)
        self.sizes = stage_sizes(self.stages, cfg.width, self.spec.resolution)  # [(width, px)] per stage
        warmup_s = self._warm_up()  # before any clock: a fresh process's one-time cost, the same for every method
        state = new_state(len(self.stages))
        state["data_sha1"] = self.data_sha1
        if cfg.resume:
            self.model, self.optimizer = resume_state(cfg, self.run_dir, state, self._new_model, info)
        else:
            self.doing = "calibrating the budget"
            timed = cfg.time_budget or (cfg.budget is not None and cfg.algo != "short")  # short counts steps
            state["plan"] = self._calibrate() if timed else None
            create_run_dir(cfg, self.run_dir, info.is_main)  # once the plan fits: a refused budget leaves no folder
            self.model, self.optimizer = self._new_model(self.sizes[0][0])
            if info.is_main:
                write_run_records(self.run_dir, dataclasses.asdict(cfg),
                                  env_info(self.device) | {"world_size": info.world_size})
        self.state, spe = state, len(self.loader)  # spe: batches of --batch_size per epoch
        # batches of --batch_size each stage steps on at once (--stage_batch; the plan's choice under auto)
        groups = (state["plan"] or {}).get("batch_multiples") or stage_batch_multiples(
            cfg.stage_batch, self.sizes, self.spec.resolution, spe)
        sched = progress_plan(cfg, self.stages, spe, state["plan"])  # stage bounds, warm-ups, total steps
        sched["bounds"] = state["bounds"] or sched["bounds"]  # as a stage that ended early (--stage_patience) left them
        self.sched, self.probe = sched, None
        rebase = state["rebase"] or {}  # where --budget_base trained has moved the run's end
        clock = TrainClock(state["spent_s"], sched["total_steps"], rebase.get("train_budget_s", sched["budget_s"]),
                           info, self.device, rebase.get("anchor", (0.0, 0.0)))
        finite, bound = FiniteCheck(self.device, NAN_CHECK_EVERY[self.device.type]), QueueBound(self.device)
        self.compiled_before = compilations() if cfg.compile else 0  # the counter is per process, not per run
        p = clock.progress(state["step"])
        group = groups[state["stage"]]
        batches = self.loader.stream(state["epoch"], state["batch"], group)
        epoch = self._advance(self._start_epoch(state["epoch"], None, clock), next(batches), clock, p)
        p = clock.progress(state["step"])
        bar = tqdm(total=spe * sched["run_epochs"], initial=state["step"], leave=False,
                   disable=not (info.is_main and not cfg.quiet and sys.stderr.isatty()))
        # --- each stage: grow into it, build its step, train until its share of the run is spent ---
        for k in range(state["stage"], len(self.sizes)):
            step = self.step = self._enter_stage(k, clock, epoch, p)
            width, res = self.sizes[k]
            spec = self._regularisation(res)[0]  # this stage's augmentation (crop padding)
            if groups[k] != group:  # this stage steps on another number of batches: regroup from the next image
                group = groups[k]
                batches = self.loader.stream(epoch["index"], epoch["next"][0], group)
                epoch = self._advance(epoch, next(batches), clock, p)
                p = clock.progress(state["step"])
            lr_scale = batch_lr_factor(group, cfg.stage_batch_lr)  # the step's batch is group x --batch_size
            self.doing = f"training at width {width}, {res} px, {group * cfg.batch_size} images per step"
            while p < sched["bounds"][k]:  # the same dict as self.sched: an early end shows here
                i, xb, yb = epoch["next"]
                lr = lr_scale * lr_at(p, cfg.lr, sched["warmup_frac"], self._last_growth(), sched["rewarm_fracs"][k],
                                      (sched["bounds"][k - 1] if k else 0.0, sched["bounds"][k]) if cfg.lr_restart
                                      else None)
                x = augment_batch(xb, spec, res, epoch["gen"], train=True).contiguous(memory_format=self.fmt)
                loss, hits = step(x, yb, lr)  # [B, C, res, res] -> device scalars, no host sync
                epoch["loss_sum"] += loss * len(yb)
                epoch["correct"] += hits
                epoch["seen"] += len(yb)
                epoch["lr"] = lr
                state["step"] += group  # the run's position, in batches of --batch_size
                state["stage_images"][k] += len(yb) * self.info.world_size
                if not finite(epoch["loss_sum"]):
                    raise UserError(f"loss became {loss.item()} at epoch {epoch['index'] + 1}, step {state['step']}; "
                                    f"{diverged_fix(cfg)}; {self._kept()}")
                bound()
                p = clock.progress(state["step"])
                ended, epoch = epoch, self._advance(epoch, next(batches), clock, p)  # a new one once it is complete
                # batches too few for a step of several were passed over, or an epoch's end moved the run's own
                if group > 1 or epoch is not ended:  # (--budget_base trained): progress again
                    p = clock.progress(state["step"])
                bar.update(state["step"] - bar.n)
            state["capture_s"][k] += step.capture_s
        if epoch["seen"]:  # the run ended mid-epoch: record the part it trained
            self._end_epoch(epoch, clock, p)
        clock.stop()
        state["stage_s"][state["stage"]] += clock.seconds() - state["stage_start_s"]
        state["spent_s"] = clock.seconds()
        bar.close()
        summary = summarize(cfg, state, self.stages, self.sizes, self.spec, state["plan"], time.perf_counter() - t_start,
                            info, self.device, spe * cfg.batch_size) | {"weights_sha1": weights_digest(self.model),
                                                                  "device_warmup_s": warmup_s}
        self.writer.wait()  # the last checkpoint is on disk before the run is called finished
        if info.is_main:
            write_json(os.path.join(self.run_dir, SUMMARY_NAME), summary)
            print("".join(f"warning: {w}\n" for w in summary["warnings"]), end="", file=sys.stderr, flush=True)
        return summary

    # --- the pieces the loop calls ---

    def _load_data(self):
        """Data on the device; under torchrun rank 0 loads (and downloads) first, then the others."""
        cfg, info = self.cfg, self.info
        train_x, train_y, test_x, test_y, self.spec, val_x, val_y = dist.main_first(lambda: load_run_data(cfg), info)
        self.data_sha1 = data_digest(train_x, train_y, test_x, test_y, val_x, val_y)  # resume and reuse: same data
        if cfg.batch_size % info.world_size:
            raise UserError(f"--batch_size {cfg.batch_size} does not split over {info.world_size} processes; "
                            f"give a multiple of {info.world_size}")
        self.loader = DeviceLoader(train_x, train_y, cfg.batch_size, self.device, cfg.seed, True, info.rank,
                                   info.world_size)
        self.test_loader, self.val_loader = (
            None if x is None else DeviceLoader(x, y, EVAL_BATCH, self.device, train=False, rank=info.rank,
                                                world_size=info.world_size) for x, y in ((test_x, test_y), (val_x, val_y)))

    def _new_model(self, width):
        model = resnet18(self.spec.num_classes, width, self.spec.in_channels,
                         zero_init_residual=self.cfg.zero_init_residual).to(self.device, memory_format=self.fmt)
        return model, make_optimizer(model, self.cfg)

    def _new_step(self, model, optimizer, criterion, wrap=True, compile=True):
        """The stage's step; captured as a CUDA graph unless off, compiled, or under DDP (docs/gpu.md).

        compile=False leaves out --compile (the warm-up: a compilation is the run's own cost, timed)."""
        cfg = self.cfg
        compiled = cfg.compile and compile
        net = dist.wrap(model, self.info, self.device, cfg.sync_bn) if wrap else model
        net = compile_net(net, self.device) if compiled else net
        capture = (self.device.type == "cuda" and cfg.cuda_graphs == "on" and not compiled
                   and not self.info.enabled)
        match_state_layout(optimizer)  # momentum carried by a growth or loaded on resume may not be channels_last
        return StageStep(net, optimizer, criterion, self.amp, capture=capture, compiled=compiled)

    def _regularisation(self, res):
        """Augmentation spec and training loss at `res` px: crop padding and label smoothing grow with resolution."""
        f = reg_scale(res, self.sizes[0][1], self.spec.resolution, self.cfg.reg_start)
        spec = dataclasses.replace(self.spec, crop_pad=round(self.spec.crop_pad * f))
        return spec, nn.CrossEntropyLoss(label_smoothing=self.cfg.label_smoothing * f)

    def _throwaway_step(self, width, res, group, compile=True):
        """A fresh model's training step at (width, res), as a stage would run it; for timing and warming up."""
        spec, criterion = self._regularisation(res)  # the stage's own augmentation costs what it costs
        step = self._new_step(*self._new_model(width), criterion, wrap=False, compile=compile)

        def run(xb, yb):  # xb: group batches of --batch_size as one
            x = augment_batch(xb, spec, res, None, train=True).contiguous(memory_format=self.fmt)
            return step(x, yb, self.cfg.lr * batch_lr_factor(group, self.cfg.stage_batch_lr))
        run.step = step
        return run

    def _warm_up(self):
        """Untimed: load the device's libraries and kernels with a throwaway step (README: what is timed)."""
        self.doing = "warming up the device"
        width, res = self.sizes[0]
        pool = list(itertools.islice(self.loader.batches(0), 2))
        make_step = functools.partial(self._throwaway_step, compile=False)
        return warm_up(make_step, (width, res, 1), lambda g: itertools.cycle(pool), self.device)

    def _calibrate(self):
        """Time the step each stage will run (captured where it will be), then plan; one plan for all ranks."""
        plan = calibrate_budget(self.cfg, self.stages, self.sizes, self.loader, self._throwaway_step, self.spec,
                                self.info, self.device)
        return dist.broadcast_object(plan, self.info)

    def _enter_stage(self, k, clock, epoch, p):
        """Grow model and optimizer into stage k (a no-op for the stage a run starts or resumes in); its step."""
        state, width = self.state, self.sizes[k][0]
        if k > state["stage"]:
            self._check_finite(epoch, k)  # the growth's checkpoint replaces the last one: never with broken weights
            t_grow = clock.seconds()
            state["stage_s"][state["stage"]] += t_grow - state["stage_start_s"]
            recal = self._grow(k)
            state["growth"].append(dict(epoch=epoch["index"], batch=epoch["next"][0], step=state["step"], stage=k,
                                        width=width, resolution=self.sizes[k][1], seconds=clock.seconds() - t_grow,
                                        progress=p, bn_recal_batches=recal))
            state["stage"], state["stage_start_s"] = k, clock.seconds()
            clock.stop()  # a checkpoint is not training time, at a growth as at an epoch's end
            self._checkpoint(epoch=epoch["index"], batch=epoch["next"][0], epoch_state=epoch, clock=clock)
            clock.start()
        return self._new_step(self.model, self.optimizer, self._regularisation(self.sizes[k][1])[1])

    def _check_finite(self, epoch, k):
        """UserError unless the loss so far this epoch and the weights are finite on every process: the growth's
        checkpoint replaces the last one, and on CUDA the step's NaN check reads its flag some steps late. (In an
        epoch run a growth falls on an epoch's end, which was checked; under a budget it may fall mid-epoch.)"""
        loss = epoch["loss_sum"].detach().double()
        bad = (~torch.isfinite(loss)).double().reshape(1)
        for p in self.model.parameters():
            bad += (~torch.isfinite(p.detach())).sum()
        if dist.all_reduce_sum(bad, self.info).item():
            raise UserError(f"training diverged in epoch {epoch['index'] + 1}, before the growth to stage {k + 1} "
                            f"(loss so far {loss.item():.4g}; non-finite values: {int(bad.item())}); "
                            f"{diverged_fix(self.cfg)}; {self._kept()}")

    def _grow(self, k):
        """Widen (seeded alike on every process; optimizer state carried), shrink toward a fresh network if asked
        (--growth_shrink), then re-estimate BN if asked."""
        cfg, (width, res) = self.cfg, self.sizes[k]
        if width != self.model.width:
            self.doing = f"growing to width {width}"
            if cfg.sync_bn:
                dist.unsync_batchnorm(self.model)
            self.model = widen(self.model, width, rule=cfg.init, optimizer=self.optimizer,
                               seed=growth_seed(cfg.seed, k))
            self.model = self.model.to(self.device, memory_format=self.fmt)
        if cfg.growth_shrink < 1:  # every process draws the same fresh network, leaving the training RNG as it was
            self.doing = f"shrinking the weights toward a fresh initialisation at width {width}"
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(growth_seed(cfg.seed, k, offset=500))
                fresh = resnet18(self.spec.num_classes, width, self.spec.in_channels,
                                 zero_init_residual=cfg.zero_init_residual)
            shrink_perturb(self.model, fresh, cfg.growth_shrink)
        if not cfg.bn_recal or res == self.sizes[k - 1][1]:
            return 0
        self.doing = f"re-estimating BN statistics at {res} px"
        with self.amp():
            batches = plain_batches(self.loader, self.spec, res, self.fmt, cfg.bn_recal, epoch_seed(cfg.seed, k, 99))
            return recalibrate_bn(self.model, (x for x, _ in batches))

    def _advance(self, epoch, nxt, clock, p):
        """The epoch that trains `nxt` (epoch index, (i, x, y)): this one, or a new one once this one is done.

        A finished epoch is evaluated, recorded and checkpointed first (one that trained nothing is not).
        The run's position (state["step"], in batches of --batch_size) then moves to the new epoch's start,
        past any batches of the old one too few to make a step of several.
        """
        if nxt[0] == epoch["index"]:
            epoch["next"] = nxt[1]
            return epoch
        self.state["step"] = nxt[0] * len(self.loader) + nxt[1][0]
        if epoch["seen"]:
            self._end_epoch(epoch, clock, p)
        else:
            clock.stop()
        return self._start_epoch(nxt[0], nxt[1], clock)

    def _start_epoch(self, index, first, clock):
        """Running totals of an epoch; resuming mid-epoch (a growth checkpoint) restores this rank's own."""
        state, dev = self.state, self.device
        gen = torch.Generator(device=dev).manual_seed(epoch_seed(self.cfg.seed, index, 1 + self.info.rank))
        epoch = dict(index=index, gen=gen, next=first, loss_sum=torch.zeros((), device=dev),
                     correct=torch.zeros((), device=dev), seen=0, start_s=clock.seconds(), lr=None)
        mine = state["partial"][self.info.rank] if state["partial"] and index == state["epoch"] else None
        if mine:
            gen.set_state(mine["gen_state"])
            epoch["loss_sum"] += mine["loss_sum"]
            epoch["correct"] += mine["correct"]
            epoch["seen"], epoch["start_s"] = mine["seen"], state["epoch_start_s"]
        wait_for(self.device)
        clock.start()
        return epoch

    def _end_epoch(self, epoch, clock, p):
        state, info = self.state, self.info
        probed = self._probe_stage(p)  # before the clock stops: the method's own decision costs the run's time
        clock.stop()
        p = self._rebase(clock, p)
        stats = dist.all_reduce_sum(torch.stack([epoch["loss_sum"].double(), epoch["correct"].double(),
                                                 torch.tensor(float(epoch["seen"]), dtype=torch.float64,
                                                              device=self.device)]), info)
        dist.average_buffers(self.model, info)
        self.doing = "evaluating"
        t_eval = time.perf_counter()
        # every --eval_every epochs and at the run's end (the same choice on every process: one clock)
        due = (epoch["index"] + 1) % self.cfg.eval_every == 0 or p >= 1.0
        test_loss, test_acc, val_loss, val_acc = evaluate_splits(
            self.model, (self.test_loader, self.val_loader), self.spec, self.criterion, self.amp, self.fmt,
            info) if due else (None,) * 4
        epoch_s = clock.seconds() - epoch["start_s"]
        k = state["stage"]
        row = dict(epoch=epoch["index"] + 1, stage=k + 1, width=self.model.width, resolution=self.sizes[k][1],
                   lr=epoch["lr"], train_loss=stats[0].item() / stats[2].item(),
                   train_acc=100 * stats[1].item() / stats[2].item(), test_loss=test_loss, test_acc=test_acc,
                   epoch_train_s=epoch_s, elapsed_train_s=clock.seconds(),
                   images_per_s=stats[2].item() / max(epoch_s, 1e-9), eval_s=time.perf_counter() - t_eval,
                   progress=min(1.0, p), val_loss=val_loss, val_acc=val_acc)
        if probed:
            row["probe_loss"], row["probe_acc"], row["probe_s"] = probed  # at the next stage's resolution; its
            # seconds are part of epoch_train_s
        if self.cfg.compile:
            row["compilations"] = compilations() - self.compiled_before  # graphs so far: one per stage is the goal
        if not np.isfinite(row["train_loss"]):
            raise UserError(f"loss became {row['train_loss']} in epoch {row['epoch']}; {diverged_fix(self.cfg)}; "
                            f"{self._kept()}")
        state["rows"].append(row)
        if info.is_main:
            append_jsonl(os.path.join(self.run_dir, METRICS_NAME), row)
            if not self.cfg.quiet:
                test = "" if test_acc is None else f" test {test_acc:.2f}%"
                print(f"epoch {row['epoch']:>3} stage {row['stage']} w{row['width']}@{row['resolution']}px "
                      f"loss {row['train_loss']:.3f}{test} {epoch_s:.1f}s", flush=True)
        self._checkpoint(epoch=epoch["index"] + 1, batch=0, epoch_state=None, clock=clock)

    def _rebase(self, clock, p):
        """--budget with --budget_base trained: at each epoch's end in the full-size stage, the baseline's time is
        re-estimated from the speed that stage has trained at (it runs the baseline's step) and the run's end
        moves to the budget's fraction of it (lib.training.budget.rebased_budget); the run's progress now."""
        cfg, state, k = self.cfg, self.state, self.state["stage"]
        # resolve_config leaves "trained" only on a progressive --budget run, which always has a plan
        if cfg.budget_base != "trained" or k < len(self.sizes) - 1 or p >= 1.0:
            return p
        busy = clock.seconds() - state["stage_start_s"] - (self.step.capture_s if self.step else 0.0)
        new = rebased_budget(state["plan"], cfg.budget, cfg.num_epochs, len(self.loader) * cfg.batch_size,
                             state["stage_images"][k], busy)
        new = dist.broadcast_object(new, self.info)  # every process ends where rank 0's clock says
        if new is None:
            return p
        clock.retarget(new["train_budget_s"])
        state["rebase"] = new | dict(anchor=list(clock.anchor))
        return clock.progress(state["step"])

    def _probe_stage(self, p):
        """With --stage_patience: score the network at the next stage's resolution, and end this stage now (its
        time going to the later stages) once that score has stalled. (loss, accuracy %, seconds) of the probe, or
        None where there is no probe: no patience, the last stage, or a next stage at the same resolution."""
        cfg, state, k = self.cfg, self.state, self.state["stage"]
        if not cfg.stage_patience or k == len(self.sizes) - 1 or self.sizes[k + 1][1] == self.sizes[k][1]:
            return None
        self.doing = f"scoring the network at {self.sizes[k + 1][1]} px"
        t0 = time.perf_counter()
        if self.probe is None or self.probe[0] != k:  # the same images every epoch, at the next stage's resolution
            self.probe = (k, probe_batches(self.loader, self.spec, self.sizes[k + 1][1], self.fmt))
        loss, acc = probe_loss(self.model, self.probe[1], self.amp)  # returns floats: the device has finished
        seconds = time.perf_counter() - t0
        state["probe"].append(dict(stage=k + 1, progress=p, loss=loss, acc=acc, seconds=seconds))
        losses = [r["loss"] for r in state["probe"] if r["stage"] == k + 1]
        stalled = dist.broadcast_object(stage_has_stalled(losses, cfg.stage_patience), self.info)
        planned = self.sched["bounds"][k]
        if stalled and p < planned:
            self.sched["bounds"] = state["bounds"] = cut_stage(self.sched["bounds"], k, p)
            state["cuts"].append(dict(stage=k + 1, progress=p, planned_end=planned))
        return loss, acc, seconds

    def _checkpoint(self, epoch, batch, epoch_state, clock):
        """Whole training state; mid-epoch (at a growth) with every rank's own running totals and RNG."""
        state = self.state
        mine = None
        if epoch_state is not None:
            mine = dict(gen_state=epoch_state["gen"].get_state(), loss_sum=epoch_state["loss_sum"].item(),
                        correct=epoch_state["correct"].item(), seen=epoch_state["seen"])
            state["epoch_start_s"] = epoch_state["start_s"]
        partial = dist.gather_objects(mine, self.info) if mine is not None else None
        state.update(epoch=epoch, batch=batch, partial=partial, spent_s=clock.seconds(), checkpoint_epoch=epoch)
        if self.info.is_main:
            self.writer.save(os.path.join(self.run_dir, CHECKPOINT_NAME),
                             {**state, "config": dataclasses.asdict(self.cfg), "world_size": self.info.world_size,
                              "model": self.model.state_dict(),
                              "width": self.model.width, "optimizer": self.optimizer.state_dict(), "rng": rng_states()})
        dist.barrier(self.info)

    def _last_growth(self):
        return self.state["growth"][-1]["progress"] if self.state["growth"] else None

    def _kept(self):
        try:
            self.writer.wait()
        except UserError as exc:
            return str(exc)
        if self.state["checkpoint_epoch"] is None:
            return "no checkpoint was written yet"
        return f"the last good checkpoint (epoch {self.state['checkpoint_epoch']}) is kept in {self.run_dir}"
