"""Progressive ResNet18 training on a budget: public names of the library."""
from .errors import UserError
from .records import read_json, read_jsonl
from .data import (
    DeviceLoader, DatasetSpec, DATASETS, DataSplits, load_dataset, download_dataset, balanced_subset,
    write_fake_dataset, random_crop, random_flip, normalize, resize, augment_batch,
)
from .growth import (
    ResNet, ResNetConfig, resnet18, GROWTH_RULES, widen, widen_resnet, flops_per_image, train_flops_per_image,
)
from .training import (
    TrainConfig, make_config, parse_duration, train, evaluate, Stage, DEFAULT_SCHEDULE, parse_schedule,
    format_schedule, stage_sizes, stage_epochs, stage_bounds, stage_at, size_at, lr_at, plan_budget,
    instability_warning, unstable_epochs,
)
from .reporting import (
    curves_frame, plot_accuracy, plot_schedule, plot_schedule_explorer, plot_run, plot_results, plot_frontier,
    save_figure, slider_stages, explore_schedule, show_schedule, schedule_sliders, find_run_folders, show_run,
    run_browser_widgets, PUBLISHED, Run, experiment_names, experiment_arms, load_run, run_arm, comparison_table,
    find_runs, results_table, write_results, build_results, save_table, find_frontier, stage_ends,
)

__all__ = [
    "UserError", "TrainConfig", "make_config", "parse_duration", "train", "evaluate", "Stage",
    "DEFAULT_SCHEDULE", "parse_schedule", "format_schedule", "stage_sizes", "stage_epochs", "stage_bounds",
    "stage_at", "size_at", "lr_at", "plan_budget", "DeviceLoader", "read_json", "read_jsonl", "ResNet",
    "ResNetConfig", "resnet18", "GROWTH_RULES", "widen", "widen_resnet", "flops_per_image",
    "train_flops_per_image", "DatasetSpec", "DATASETS", "DataSplits", "load_dataset", "download_dataset",
    "balanced_subset", "write_fake_dataset", "random_crop", "random_flip", "normalize", "resize",
    "augment_batch", "curves_frame", "plot_accuracy", "plot_schedule", "plot_schedule_explorer", "plot_run",
    "plot_results", "plot_frontier", "save_figure",
    "slider_stages", "explore_schedule", "show_schedule", "schedule_sliders",
    "find_run_folders", "show_run", "run_browser_widgets", "PUBLISHED", "Run", "experiment_names", "experiment_arms",
    "load_run", "run_arm", "comparison_table", "find_runs", "results_table", "write_results", "build_results", "save_table",
    "find_frontier", "stage_ends", "instability_warning", "unstable_epochs",
]
