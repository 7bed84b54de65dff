"""Progressive ResNet18 training on a budget: public names of the library."""
import importlib

# name -> module that defines it (imported on first use)
_EXPORTS = {
    "UserError": "errors",
    "TrainConfig": "config",
    "make_config": "config",
    "parse_duration": "config",
    "train": "train",
    "evaluate": "train",
    "Stage": "schedule",
    "DEFAULT_SCHEDULE": "schedule",
    "parse_schedule": "schedule",
    "format_schedule": "schedule",
    "stage_sizes": "schedule",
    "stage_epochs": "schedule",
    "stage_bounds": "schedule",
    "stage_at": "schedule",
    "size_at": "schedule",
    "lr_at": "schedule",
    "plan_budget": "budget",
    "DeviceLoader": "loader",
    "read_json": "records",
    "read_jsonl": "records",
    "ResNet": "model",
    "ResNetConfig": "model",
    "resnet18": "model",
    "GROWTH_RULES": "grow",
    "widen": "grow",
    "widen_resnet": "grow",
    "flops_per_image": "flops",
    "train_flops_per_image": "flops",
    "DatasetSpec": "datasets",
    "DATASETS": "datasets",
    "DataSplits": "datasets",
    "load_dataset": "datasets",
    "download_dataset": "datasets",
    "balanced_subset": "datasets",
    "write_fake_dataset": "fakedata",
    "random_crop": "augment",
    "random_flip": "augment",
    "normalize": "augment",
    "resize": "augment",
    "augment_batch": "augment",
    "curves_frame": "plots",
    "plot_accuracy": "plots",
    "plot_schedule": "plots",
    "plot_schedule_explorer": "plots",
    "plot_run": "plots",
    "plot_results": "plots",
    "save_figure": "plots",
    "slider_stages": "explore",
    "explore_schedule": "explore",
    "show_schedule": "explore",
    "schedule_sliders": "explore",
    "find_run_folders": "explore",
    "show_run": "explore",
    "run_browser_widgets": "explore",
    "PUBLISHED": "report",
    "Run": "report",
    "experiment_names": "report",
    "load_run": "report",
    "run_arm": "report",
    "comparison_table": "report",
    "find_runs": "report",
    "results_table": "report",
    "write_results": "report",
    "build_results": "report",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lib' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
