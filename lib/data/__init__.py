"""The data: dataset table and readers, downloads, tiny fake datasets, the device loader, batched augmentation."""
from .loader import DeviceLoader
from .datasets import DatasetSpec, DATASETS, DataSplits, load_dataset, download_dataset, balanced_subset
from .fakedata import write_fake_dataset
from .augment import random_crop, random_flip, normalize, resize, augment_batch

__all__ = [
    "DeviceLoader", "DatasetSpec", "DATASETS", "DataSplits", "load_dataset", "download_dataset", "balanced_subset",
    "write_fake_dataset", "random_crop", "random_flip", "normalize", "resize", "augment_batch",
]
