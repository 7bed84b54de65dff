"""The per-stage training step: one object owns a stage's model, optimizer and, on CUDA, its captured graph.

Why a CUDA graph: at ResNet18 sizes the eager step is bound by the host (Python and ~700 kernel
launches, 13-15 ms per step on an H100 whatever the stage's size), so a 16 px stage ran no faster
than a 32 px one. Forward+backward captured once per (width, resolution) and replayed costs one
launch; the SGD step stays outside the graph (the learning rate changes every step) and runs as a
fused kernel. `torch.compile(mode="reduce-overhead")` gets the same effect but took 25-57 s to
compile each shape, which a one-minute budget cannot repay; plain capture takes seconds.
"""
import contextlib
import time

import torch

from ..errors import UserError
from .clock import wait_for

GRAPH_WARMUP_STEPS = 3  # eager steps on a side stream before capture (cuDNN autotune, allocator, lazy init)


def precision_for(device):
    """(memory format, autocast factory): channels_last + bf16 on CUDA, plain float32 on the CPU."""
    if device.type == "cuda":
        # cache_enabled=False: autocast's weight-cast cache must not outlive a graph capture
        return torch.channels_last, (lambda: torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False))
    return torch.contiguous_format, contextlib.nullcontext


def compile_net(net, device):
    """torch.compile for one stage's fixed shapes. On the CPU with inductor's layout optimisation off, so that the
    compiled convolutions keep the eager CPU step's NCHW layout: inductor otherwise runs every CPU convolution
    channels_last, and there oneDNN's 1x1 stride-2 convolution backward (a residual shortcut) computed wrong weight
    gradients and could hang when its input had fewer channels than the kernel's SIMD block (4 input channels, the
    first stage of a width-8 model, on an AVX2 CPU with torch 2.14.1; tests/test_compile.py; oneDNN issue 6035: the
    kernel writes past its workspace when the input has fewer channels than the block)."""
    options = {"layout_optimization": False} if device.type == "cpu" else None
    return torch.compile(net, dynamic=False, options=options)


def make_optimizer(model, cfg):
    """SGD with nesterov momentum; weight decay on conv/linear weights only (not BN, not biases).

    On CUDA the update is one fused kernel (no per-parameter launches); on the CPU the default.
    """
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    fused = {"fused": True} if next(model.parameters()).is_cuda else {}
    return torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}],
                           lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0, **fused)


def match_state_layout(optimizer):
    """Give each optimizer state tensor shaped like its parameter that parameter's strides, in place.

    A widened model's params are moved to channels_last after its momentum buffers were built
    contiguous, and a checkpoint written on the CPU holds contiguous buffers for a channels_last model
    resumed on a GPU; CUDA's fused SGD kernel refuses params and buffers whose strides differ.
    """
    for p, state in optimizer.state.items():
        for key, v in state.items():
            if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                state[key] = torch.empty_like(p, dtype=v.dtype).copy_(v)


def train_step(net, optimizer, x, y, criterion, amp):
    """One eager SGD step on an augmented batch x [B, C, H, W]; returns (loss, correct) as device tensors (no sync)."""
    with amp():
        out = net(x)
        loss = criterion(out, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), (out.argmax(1) == y).sum()


class StageStep:
    """The training step of one stage: call it with an augmented batch, get (loss, correct) back.

    step(x [B, C, res, res] in the model's memory format, y [B], lr) sets the learning rate, runs
    forward, backward and the optimizer step, and returns device tensors without a host sync.
    With `capture` (CUDA only), the first GRAPH_WARMUP_STEPS calls run eagerly on a side stream,
    the next one captures forward+backward into a CUDA graph fed from static input buffers, and
    every call after that copies its batch into those buffers and replays the graph. Every call
    trains on its batch exactly once, so captured and eager runs follow the same recipe.
    A new stage (another width or resolution) gets a new StageStep, hence a new capture.
    """

    def __init__(self, net, optimizer, criterion, amp, capture=False, compiled=False):
        self.net, self.optimizer, self.criterion, self.amp = net, optimizer, criterion, amp
        self.capture, self.compiled = capture, compiled
        self.calls = 0
        self.capture_s = 0.0  # seconds spent capturing or compiling (real time: it counts against a budget)
        self.graph = None

    @property
    def warmup_calls(self):
        """Calls before the step runs at its steady-state cost (the capture happens in the last one, a
        torch.compile compilation in the first)."""
        return GRAPH_WARMUP_STEPS + 1 if self.capture else 1 if self.compiled else 0

    def __call__(self, x, y, lr):
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.calls += 1
        if self.compiled and self.calls == 1:  # compiles: a stage's one-time cost, like a capture
            wait_for(x.device)
            t0 = time.perf_counter()
            out = train_step(self.net, self.optimizer, x, y, self.criterion, self.amp)
            wait_for(x.device)
            self.capture_s += time.perf_counter() - t0
            return out
        if not self.capture:
            return train_step(self.net, self.optimizer, x, y, self.criterion, self.amp)
        if self.graph is None and self.calls <= GRAPH_WARMUP_STEPS:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = train_step(self.net, self.optimizer, x, y, self.criterion, self.amp)
            torch.cuda.current_stream().wait_stream(side)
            return out
        if self.graph is None:
            self._capture(x, y)
        elif x.shape != self.static_x.shape:
            raise ValueError(f"captured step was built for batches of {tuple(self.static_x.shape)}, "
                             f"got {tuple(x.shape)}")
        self.static_x.copy_(x)
        self.static_y.copy_(y)
        self.graph.replay()  # fills every parameter's .grad (static tensors of the graph's pool)
        self.optimizer.step()
        return self.static_loss.clone(), self.static_hits.clone()

    def _capture(self, x, y):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        self.static_x, self.static_y = x.clone(), y.clone()  # [B, C, res, res] (format kept), [B]
        self.optimizer.zero_grad(set_to_none=True)  # grads are then allocated inside the graph and refilled by it
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            with self.amp():
                out = self.net(self.static_x)
                loss = self.criterion(out, self.static_y)
            loss.backward()
            self.static_loss = loss.detach()
            self.static_hits = (out.argmax(1) == self.static_y).sum()
        torch.cuda.synchronize()
        self.capture_s += time.perf_counter() - t0


class FiniteCheck:
    """Stops a run whose running loss total stopped being finite, without a host sync on CUDA.

    Every `every` calls (one per optimizer step) it queues a copy of isfinite(total) into pinned host
    memory and reads the copy queued at the previous check, which the GPU has long finished: a NaN is
    caught within 2 * every steps, and the step never waits for the GPU. On the CPU it checks at once.
    """

    def __init__(self, device, every):
        self.device, self.every = device, every
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.flags = [torch.ones((), dtype=torch.bool).pin_memory() for _ in range(2)]
            self.events = [None, None]
        self.count, self.calls = 0, 0

    def __call__(self, total):
        """False once `total` (a device scalar) is known to be NaN or infinite."""
        self.calls += 1
        if self.calls % self.every:
            return True
        if not self.cuda:
            return bool(torch.isfinite(total))
        slot, self.count = self.count % 2, self.count + 1
        prev = 1 - slot
        ok = True
        if self.events[prev] is not None:
            self.events[prev].synchronize()
            ok = bool(self.flags[prev])
        self.flags[slot].copy_(torch.isfinite(total), non_blocking=True)
        self.events[slot] = torch.cuda.Event()
        self.events[slot].record()
        return ok


class QueueBound:
    """Keeps the host at most `steps_ahead` steps ahead of the GPU, so wall-clock progress stays honest.

    An event is recorded after each step; once more than steps_ahead are pending, the host waits for
    the oldest, which leaves the GPU's queue full (no pipeline bubble, unlike a full synchronize).
    """

    def __init__(self, device, steps_ahead=8):
        self.cuda, self.steps_ahead, self.pending = device.type == "cuda", steps_ahead, []

    def __call__(self):
        if not self.cuda:
            return
        event = torch.cuda.Event()
        event.record()
        self.pending.append(event)
        if len(self.pending) > self.steps_ahead:
            self.pending.pop(0).synchronize()


def memory_error(exc, cfg, doing):
    """The UserError for running out of memory (torch's on a GPU, the CPU allocator's), else None."""
    if isinstance(exc, torch.OutOfMemoryError):
        return UserError(f"out of memory at --batch_size {cfg.batch_size} while {doing}; "
                         f"try --batch_size {max(1, cfg.batch_size // 2)}")
    if "can't allocate memory" in str(exc):  # the CPU allocator's failure is a plain RuntimeError
        return UserError(f"out of memory at --width {cfg.width}, --batch_size {cfg.batch_size} while {doing}; "
                         f"give a smaller --batch_size or --width")
    return None


def diverged_fix(cfg):
    """What to lower when the loss became NaN: --lr, and --weight_decay or --momentum where raised above the default."""
    from .config import TrainConfig

    raised = [f"--{k} (now {getattr(cfg, k):g})" for k in ("weight_decay", "momentum")
              if getattr(cfg, k) > getattr(TrainConfig, k)]
    return f"lower --lr (now {cfg.lr:g})" + "".join(f" or {r}" for r in raised)
