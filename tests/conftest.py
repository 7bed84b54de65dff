"""Shared fixtures: tiny datasets written in the real on-disk formats, a fast run config, one torch thread."""
import pytest

from lib.data.fakedata import write_fake_dataset


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory):
    """A tiny, easy-to-learn CIFAR-10 in the official pickle layout (40 train / 10 test per class)."""
    root = tmp_path_factory.mktemp("data")
    write_fake_dataset("cifar10", str(root), train_per_class=40, test_per_class=10, seed=0)
    return str(root)


@pytest.fixture
def tiny_run(cifar_root, tmp_path):
    """Keyword arguments for a training run that takes about a second on a CPU."""
    return dict(dataset="cifar10", data_root=cifar_root, out_dir=str(tmp_path / "runs"), num_epochs=3, width=4,
                batch_size=40, lr=0.2, device="cpu", quiet=True)


@pytest.fixture
def one_thread(monkeypatch):
    """One torch thread here and in the kernels and processes started from here: on a loaded CPU two threads
    stall each other, and a budgeted run plans its stages from a few timed steps."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(threads)
