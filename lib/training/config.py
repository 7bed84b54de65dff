"""The training configuration: one flat dataclass, its defaults, and checks of every value."""
import dataclasses
import inspect
import math
import os
import re
from dataclasses import dataclass, field

from ..errors import UserError
from ..growth.shrink import check_shrink

ALGOS = ("no", "yes", "short")  # full-size baseline / progressive / full-size for the budget's epochs
GROW_MODES = ("both", "width", "resolution")
DEVICES = ("auto", "cpu", "cuda")
SWITCHES = ("on", "off")
STAGE_BATCH_MODES = ("fixed", "pixels", "auto")
STAGE_BATCH_LR_RULES = ("none", "sqrt", "linear")
BUDGET_BASES = ("trained", "calibrated")


@dataclass
class TrainConfig:
    dataset: str = "cifar10"  # cifar10 | cifar100 | fashionmnist | tinyimagenet
    data_root: str = "data"  # folder holding the dataset's own folder (e.g. data/cifar-10-batches-py)
    download: bool = False  # fetch the official archive when the dataset folder is missing
    out_dir: str = "outputs/runs"  # run folders are out_dir/exp_name
    exp_name: str = ""  # run folder name; empty -> derived from dataset, algo and seed
    algo: str = "no"  # no: full-size baseline; yes: progressive; short: full size, budget-scaled
    num_epochs: int = 100  # epochs of the full-size baseline (the budget is a fraction of these)
    width: int = 64  # channels of the first stage at full size (64 = standard ResNet18)
    schedule: str = ""  # progressive stages "W/R:SHARE,..."; empty -> lib.training.schedule.DEFAULT_SCHEDULE
    grow: str = "both"  # ablation: grow both, only width, or only resolution
    init: str = "fresh"  # weight-inheritance rule for new channels (lib.GROWTH_RULES); fresh measured best
    budget: float | None = None  # fraction of the baseline's training time, in (0, 1); None = no budget
    budget_base: str = "trained"  # the baseline time --budget is a fraction of: trained: at the speed the full-size stage trains at, re-estimated at each of its epochs' ends (the run's end moves with it); calibrated: at the speed calibration measured
    time_budget: str = ""  # wall-clock budget, e.g. "20m", "1h30m", "900s" (a bare number is seconds); empty = none
    batch_size: int = 128  # images per optimizer step, summed over all processes
    lr: float = 0.2  # peak learning rate at this batch size (SGD, nesterov)
    momentum: float = 0.9  # SGD momentum (nesterov)
    weight_decay: float = 5e-4  # on conv/linear weights only, not on BN or biases
    label_smoothing: float = 0.1  # label smoothing of the full-size stage's loss (earlier stages: see --reg_start)
    zero_init_residual: bool = False  # each residual block's last BN scale starts at 0 (Goyal et al. 2017; torchvision's zero_init_residual): steadier first steps at a large learning rate
    warmup_epochs: float = 1.0  # epochs of linear LR warm-up (of the baseline's length)
    growth_warmup: float = 0.0  # epochs of LR re-warm-up after each growth (of the baseline's length); 0 = none
    lr_restart: bool = False  # ablation: restart the LR at its peak at each growth, decaying to 0 by the stage's end
    reg_start: float = 0.0  # crop padding and label smoothing of the first stage, as a fraction of the full ones, rising with resolution to full (EfficientNetV2); 1 = constant
    early_cap: float = 0.3  # under a budget above this fraction of the baseline's time, the stages before the last get no more time than they get at it and every further second goes to the last (full-size) stage: low resolution has done its work by then; 0 = the schedule's shares at every budget; applies only with --budget or --time_budget
    stage_patience: int = 0  # epochs a stage before the last may go without a loss 1 per cent lower at the next stage's resolution (scored on fixed training images) before it ends early, its time going to the later stages in their planned proportions; 0 = every stage lasts as planned
    stage_batch: str = "fixed"  # fixed: every stage steps on --batch_size images; pixels: a low-resolution stage steps on m whole batches holding a full-size step's pixels (m = 4 at half resolution); auto: pixels where calibration measures it faster per image
    stage_batch_lr: str = "none"  # learning rate of a stage stepping on m batches: none: lr (best on validation); sqrt: lr x sqrt(m); linear: lr x m
    bn_recal: int = 0  # batches to re-estimate BN running statistics on after each resolution change; 0 = none
    growth_shrink: float = 1.0  # at each growth every weight becomes this fraction of itself plus the rest of a fresh initialisation's (shrink and perturb: Ash & Adams 2020), against a warm start's generalisation gap; 1 = keep the weights as they are
    seed: int = 0  # seeds weights, data order, augmentation and growth
    device: str = "auto"  # auto | cpu | cuda
    train_subset: int = 0  # class-balanced subset of the training set; 0 = all
    test_subset: int = 0  # class-balanced subset of the test set; 0 = all
    val_split: int = 0  # class-balanced, seeded images held out of the (subset) training set to choose recipes on; 0 = none
    eval_every: int = 1  # evaluate test (and validation) accuracy every N epochs and always at the run's end; 1 = every epoch
    compile: bool = False  # torch.compile the model, once per stage (then no CUDA graph capture)
    cuda_graphs: str = "on"  # on | off: capture each stage's forward+backward as a CUDA graph (one CUDA process)
    sync_bn: bool = False  # synchronise BN statistics across processes (multi-GPU)
    calibration_steps: int = 8  # timed steps per stage size when planning a budget (after 2 warm-up steps); >= 1
    quiet: bool = False  # no progress bars
    overwrite: bool = False  # replace the run (finished or not) of the same exp_name; only its own files are deleted
    resume: bool = False  # continue the run in out_dir/exp_name from its last checkpoint
    debug: bool = False  # show full tracebacks
    extra: dict = field(default_factory=dict)  # free-form notes recorded in config.json

    def resolved_exp_name(self):
        if self.exp_name:
            return self.exp_name
        return f"{self.dataset}_{self.algo}_w{self.width}_e{self.num_epochs}_s{self.seed}"


DEFAULT_EARLY_CAP = TrainConfig.early_cap


def has_budget(cfg):
    """Whether the run trains to a budget (--budget or --time_budget)."""
    return cfg.budget is not None or bool(cfg.time_budget)


def _field_comments(cls):
    """{field: its trailing comment} read from the class source, so each flag's help is its unit comment."""
    src = inspect.getsource(cls)
    return dict(re.findall(r"^\s+(\w+): [^=]+=.*?  # (.+)$", src, flags=re.M))


HELP = _field_comments(TrainConfig)

# Keys that may differ between a run and its resumption (they do not change what is computed).
RESUME_FREE_KEYS = ("resume", "overwrite", "quiet", "debug", "download", "device", "data_root", "eval_every", "extra")


# Fields added after runs were first recorded, with the value that reproduces what those runs did when it is
# not today's default; reading an older config.json or checkpoint fills them in (saved_config).
ADDED_FIELDS = {"reg_start": 1.0,  # before --reg_start every stage was regularised alike
                "stage_batch": "fixed",  # before --stage_batch every stage stepped on --batch_size images
                "early_cap": 0.0,  # before --early_cap every stage kept its share at every budget
                "budget_base": "calibrated"}  # before --budget_base the calibration's estimate was the baseline's time


def saved_config(saved):
    """A recorded config dict (config.json, a checkpoint's) with the fields it predates filled in as it ran."""
    return {**dataclasses.asdict(TrainConfig()), **ADDED_FIELDS, **saved}


def config_fields():
    """[(name, default, type)] of TrainConfig, for building CLIs and notebook parameters."""
    return [(f.name, f.default if f.default is not dataclasses.MISSING else f.default_factory(), f.type)
            for f in dataclasses.fields(TrainConfig)]


def make_config(**kwargs):
    """TrainConfig from keyword arguments; an unknown key is a UserError listing the valid ones."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise UserError(f"unknown parameter(s) {', '.join(unknown)}; valid ones: {', '.join(sorted(names))}")
    for name in ("data_root", "out_dir"):  # a pathlib.Path is a path too
        if isinstance(kwargs.get(name), os.PathLike):
            kwargs[name] = os.fspath(kwargs[name])
    return check_config(TrainConfig(**kwargs))


def resolve_config(cfg):
    """The config with derived values filled in (run name, schedule), as config.json records it.

    A run's record then says what ran, so a later change of a default cannot make an old run look
    like a new one to --resume or to the reports.
    """
    from .schedule import BASELINE_SCHEDULE, DEFAULT_SCHEDULE, format_schedule, parse_schedule, restrict_growth, \
        stage_epochs

    progressive = cfg.algo == "yes"
    if not progressive and cfg.schedule and format_schedule(parse_schedule(cfg.schedule)) != BASELINE_SCHEDULE:
        raise UserError(f"--schedule {cfg.schedule!r} applies to --algo yes only: --algo {cfg.algo} trains at full "
                        "size throughout; drop --schedule, or give --algo yes")
    schedule = (cfg.schedule or DEFAULT_SCHEDULE) if progressive else BASELINE_SCHEDULE
    if progressive:
        stages = restrict_growth(parse_schedule(schedule), cfg.grow)  # a --grow that leaves nothing to grow: refused
        if cfg.budget is None and not cfg.time_budget:  # whole epochs per stage: checked before any work
            stage_epochs(stages, cfg.num_epochs)
    return dataclasses.replace(cfg, exp_name=cfg.resolved_exp_name(), schedule=format_schedule(parse_schedule(schedule)),
                               reg_start=cfg.reg_start if progressive else 1.0,  # one size: regularised alike
                               early_cap=cfg.early_cap if progressive and has_budget(cfg) else 0.0,  # no early
                               # stages, or no budget to cap them within
                               stage_patience=cfg.stage_patience if progressive else 0,  # to end early
                               growth_shrink=cfg.growth_shrink if progressive else 1.0,  # and no growth
                               stage_batch=cfg.stage_batch if progressive else "fixed",  # and one batch size
                               # only a progressive --budget run moves its end to the speed it trains at
                               budget_base=cfg.budget_base if progressive and cfg.budget is not None else "calibrated")


def parse_duration(text):
    """'20m', '1h30m', '90s', '1.5h' or a number of seconds -> seconds (float)."""
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return float(s)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", s)
    if not parts or "".join(a + b for a, b in parts) != s:
        raise UserError(f"cannot read time budget {text!r}; write it like 20m, 1h30m or 900s")
    return sum(float(v) * {"h": 3600, "m": 60, "s": 1}[u] for v, u in parts)


def check_name(value, flag):
    """value, if it is a plain name (one folder, made inside its parent); else a UserError stating the rule."""
    text = str(value)
    separators = {"/", "\\", os.sep, os.altsep} - {None}
    if not text.strip() or text in (".", "..") or "\0" in text or any(s in text for s in separators):
        raise UserError(f"{flag} {value!r} is not a plain name: it names one folder inside its parent, so it must "
                        f"not be empty, '.' or '..', nor contain '/', '\\' or a NUL character")
    return value


def check_config(cfg):
    """Validate values that do not need the data; return cfg. Raises UserError."""
    from ..data.datasets import DATASETS

    for name in ("download", "lr_restart", "zero_init_residual", "compile", "sync_bn", "quiet", "overwrite", "resume",
                 "debug"):
        v = getattr(cfg, name)
        if not isinstance(v, bool):  # 'False' is a true value: an on/off flag must be a real bool
            raise UserError(f"--{name} is an on/off flag: give True or False, got {v!r}")
    for name in ("data_root", "out_dir", "schedule", "time_budget", "exp_name"):
        v = getattr(cfg, name)
        if not isinstance(v, str):
            raise UserError(f"--{name} must be a string, got {v!r}")
    if cfg.dataset not in DATASETS:
        raise UserError(f"unknown dataset {cfg.dataset!r}; choose one of {', '.join(DATASETS)}")
    if cfg.algo not in ALGOS:
        raise UserError(f"unknown --algo {cfg.algo!r}; choose no (baseline), yes (progressive) or short")
    if cfg.grow not in GROW_MODES:
        raise UserError(f"unknown --grow {cfg.grow!r}; choose one of {', '.join(GROW_MODES)}")
    from ..growth.grow import GROWTH_RULES

    if cfg.init not in GROWTH_RULES:
        raise UserError(f"unknown --init {cfg.init!r}; choose one of {', '.join(GROWTH_RULES)}")
    if cfg.stage_batch not in STAGE_BATCH_MODES:
        raise UserError(f"unknown --stage_batch {cfg.stage_batch!r}; choose one of {', '.join(STAGE_BATCH_MODES)}")
    if cfg.stage_batch_lr not in STAGE_BATCH_LR_RULES:
        raise UserError(f"unknown --stage_batch_lr {cfg.stage_batch_lr!r}; choose one of {', '.join(STAGE_BATCH_LR_RULES)}")
    if cfg.budget_base not in BUDGET_BASES:
        raise UserError(f"unknown --budget_base {cfg.budget_base!r}; choose trained (the baseline's time at the speed "
                        "the full-size stage trains at) or calibrated (at the speed calibration measured)")
    if cfg.cuda_graphs not in SWITCHES:
        raise UserError(f"unknown --cuda_graphs {cfg.cuda_graphs!r}; choose on or off")
    if cfg.exp_name:  # "" = derived from dataset, algo, width, epochs and seed
        check_name(cfg.exp_name, "--exp_name")
    if cfg.device not in DEVICES:
        raise UserError(f"unknown --device {cfg.device!r}; choose one of {', '.join(DEVICES)}")
    for name in ("num_epochs", "width", "batch_size"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise UserError(f"--{name} must be a positive whole number, got {v!r}")
    for name in ("train_subset", "test_subset", "val_split", "bn_recal", "seed", "stage_patience"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise UserError(f"--{name} must be a whole number >= 0, got {v!r}")
    if cfg.seed >= 2**63:
        raise UserError(f"--seed {cfg.seed} is too large; give a whole number below 2**63")
    for name, unit in (("eval_every", "epochs between evaluations"),
                       ("calibration_steps", "timed steps per stage size")):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise UserError(f"--{name} must be a whole number >= 1 ({unit}), got {v!r}")
    for name in ("lr", "momentum", "weight_decay", "label_smoothing", "warmup_epochs", "growth_warmup"):
        v = getattr(cfg, name)
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise UserError(f"--{name} must be a finite number >= 0, got {v!r}")
    if cfg.lr == 0:
        raise UserError("--lr is 0, so nothing would be learned; give a positive learning rate, e.g. --lr 0.2")
    if not (isinstance(cfg.reg_start, (int, float)) and math.isfinite(cfg.reg_start) and 0 <= cfg.reg_start <= 1):
        raise UserError(f"--reg_start {cfg.reg_start!r} must be a fraction in [0, 1] of the full regularisation "
                        "(1 = the same at every stage, 0 = none at the first stage)")
    try:
        check_shrink(cfg.growth_shrink)
    except ValueError:
        raise UserError(f"--growth_shrink {cfg.growth_shrink!r} must be a fraction in (0, 1]: the share of each "
                        "trained weight kept at a growth (1 = all of it, e.g. 0.8 for a mild shrink and perturb)"
                        ) from None
    if (isinstance(cfg.early_cap, bool) or not isinstance(cfg.early_cap, (int, float))
            or not math.isfinite(cfg.early_cap) or not 0 <= cfg.early_cap < 1):
        raise UserError(f"--early_cap {cfg.early_cap!r} must be a fraction of the baseline's time in [0, 1) "
                        "(0 = no cap), e.g. 0.45")
    if cfg.momentum >= 1:
        raise UserError(f"--momentum must be below 1 (0.9 is usual), got {cfg.momentum}")
    if cfg.label_smoothing >= 1:
        raise UserError(f"--label_smoothing must be below 1, got {cfg.label_smoothing}")
    if cfg.budget is not None and cfg.time_budget:
        raise UserError("give either --budget (fraction of the baseline) or --time_budget (wall clock), not both")
    if cfg.budget is not None and (isinstance(cfg.budget, bool) or not isinstance(cfg.budget, (int, float))):
        raise UserError(f"--budget must be a number, a fraction of the baseline's time in (0, 1), got {cfg.budget!r}")
    if cfg.budget is not None and not 0 < cfg.budget < 1:
        raise UserError(f"--budget {cfg.budget!r} is out of range; give a fraction of the baseline's time in (0, 1), e.g. 0.5")
    if cfg.time_budget and parse_duration(cfg.time_budget) <= 0:
        raise UserError(f"--time_budget {cfg.time_budget!r} must be a positive duration")
    budgeted = has_budget(cfg)
    if cfg.algo == "no" and budgeted:
        raise UserError("--algo no trains the full baseline; a budget applies to --algo yes or --algo short")
    if cfg.algo == "short" and not budgeted:
        raise UserError("--algo short needs a budget to scale to: add --budget 0.5 (or --time_budget 20m)")
    if cfg.early_cap not in (0, DEFAULT_EARLY_CAP) and cfg.algo == "yes" and not budgeted:  # the default is
        # simply idle without a budget; another value was asked for and would do nothing
        raise UserError(f"--early_cap {cfg.early_cap:g} caps the early stages' time within a budget; add --budget or "
                        "--time_budget, or drop --early_cap")
    if cfg.resume and cfg.overwrite:
        raise UserError("--resume and --overwrite contradict each other; pick one")
    return cfg
