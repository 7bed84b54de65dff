"""Batched augmentation: shapes, dtypes, exactness of crops and flips, determinism, resize."""
import pytest
import torch
import torch.nn.functional as F

from lib.data.augment import augment_batch, normalize, random_crop, random_flip, resize
from lib.data.datasets import DATASETS


def _batch(n=64, c=3, size=16, seed=0):
    """Random uint8 [n, c, size, size] batch with no zero pixels, so padding shows up as zeros."""
    return torch.randint(1, 256, (n, c, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_random_crop_is_a_per_image_window_of_the_padded_batch(dtype):
    x, pad = _batch().to(dtype), 3
    out = random_crop(x, pad, _gen(0))
    assert out.shape == x.shape and out.dtype == dtype
    padded = F.pad(x, (pad, pad, pad, pad))
    windows = padded.unfold(2, 16, 1).unfold(3, 16, 1)  # [N, C, 2p+1, 2p+1, 16, 16]
    offsets = set()
    for i in range(len(x)):
        match = (windows[i] == out[i][:, None, None]).all(-1).all(-1).all(0).nonzero()  # [k, 2] (dy, dx)
        assert len(match) == 1
        offsets.add(tuple(match[0].tolist()))
    assert len(offsets) > 10  # images get their own offsets
    assert (out != x).any((1, 2, 3)).sum() > len(x) // 2 and (out == 0).any()


def test_random_crop_pad_zero_and_determinism():
    x = _batch()
    assert random_crop(x, 0, _gen(0)) is x
    assert torch.equal(random_crop(x, 4, _gen(5)), random_crop(x, 4, _gen(5)))
    assert not torch.equal(random_crop(x, 4, _gen(5)), random_crop(x, 4, _gen(6)))


def test_random_flip_mirrors_exactly_the_flipped_images():
    x = _batch()
    out = random_flip(x, _gen(0))
    flipped = (out == x.flip(-1)).all(-1).all(-1).all(-1)  # [N]
    kept = (out == x).all(-1).all(-1).all(-1)  # [N]
    assert (flipped ^ kept).all() and 10 < int(flipped.sum()) < 54
    assert torch.equal(random_flip(x, _gen(0), p=0.0), x)
    assert torch.equal(random_flip(x, _gen(0), p=1.0), x.flip(-1))
    assert torch.equal(out, random_flip(x, _gen(0)))


def test_normalize_values_and_dtype():
    x = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 3, 2, 2)
    mean, std = (0.5, 0.25, 0.0), (0.5, 0.25, 1.0)
    out = normalize(x, mean, std)
    assert out.dtype == torch.float32 and out.shape == x.shape
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([-1.0, -1.0, 0.0]))
    assert torch.allclose(out[1, :, 0, 0], torch.tensor([1.0, 3.0, 1.0]))
    assert normalize(x, mean, std, dtype=torch.bfloat16).dtype == torch.bfloat16


def test_resize_size_and_noop():
    x = torch.rand(4, 3, 32, 32)
    assert resize(x, 32) is x
    assert resize(x, 24).shape == (4, 3, 24, 24) and resize(x, 40).shape == (4, 3, 40, 40)
    flat = torch.full((2, 1, 28, 28), 0.7)
    assert torch.allclose(resize(flat, 20), torch.full((2, 1, 20, 20), 0.7))
    assert resize(x.bfloat16(), 16).dtype == torch.bfloat16
    with pytest.raises(TypeError, match="float"):
        resize(_batch(), 8)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_augment_batch(name):
    spec = DATASETS[name]
    x = _batch(8, spec.in_channels, spec.resolution)
    out = augment_batch(x, spec, 24, _gen(0))
    assert out.shape == (8, spec.in_channels, 24, 24) and out.dtype == torch.float32
    assert torch.equal(out, augment_batch(x, spec, 24, _gen(0)))
    plain = augment_batch(x, spec, spec.resolution, None, train=False)
    assert torch.equal(plain, normalize(x, spec.mean, spec.std))
    assert augment_batch(x, spec, spec.resolution, _gen(0), dtype=torch.bfloat16).dtype == torch.bfloat16
