"""Training: config, schedules, budget planning, the per-stage step, the loop, checkpoints and run folders."""
from .config import TrainConfig, make_config, parse_duration, resolve_config
from .loop import train
from .evaluate import evaluate
from .schedule import (
    Stage, DEFAULT_SCHEDULE, parse_schedule, format_schedule, stage_sizes, stage_epochs, stage_bounds, stage_at,
    size_at, lr_at,
)
from .budget import plan_budget
from .step import StageStep
from .stability import instability_warning, unstable_epochs

__all__ = [
    "TrainConfig", "make_config", "parse_duration", "resolve_config", "StageStep", "train", "evaluate", "Stage",
    "DEFAULT_SCHEDULE", "parse_schedule", "format_schedule", "stage_sizes", "stage_epochs", "stage_bounds", "stage_at", "size_at",
    "lr_at", "plan_budget", "instability_warning", "unstable_epochs",
]
