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
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'lib' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
