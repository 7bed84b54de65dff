"""Batched augmentation as pure tensor functions on whatever device the batch lives on."""
import functools

import torch
import torch.nn.functional as F


def random_crop(x, pad, generator):
    """Per-image random translation by up to `pad` px: crop each image from its own offset in a zero-padded copy.

    x: [N, C, H, W] uint8 or float; generator on x.device. Returns the same shape and dtype.
    """
    if pad == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))  # [N, C, H+2p, W+2p], zeros outside the image
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)  # [N] px from the top
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator, device=x.device)  # [N] px from the left
    rows = dy[:, None] + torch.arange(h, device=x.device)  # [N, H]
    cols = dx[:, None] + torch.arange(w, device=x.device)  # [N, W]
    # Gather rows, then columns: two cheap index_select-like gathers instead of one 4-d advanced index.
    rows = rows[:, None, :, None].expand(n, x.shape[1], h, w + 2 * pad)  # [N, C, H, W+2p]
    out = padded.gather(2, rows)  # [N, C, H, W+2p]
    cols = cols[:, None, None, :].expand(n, x.shape[1], h, w)  # [N, C, H, W]
    return out.gather(3, cols)  # [N, C, H, W]


def random_flip(x, generator, p=0.5):
    """Mirror each image left-right with probability p. x: [N, C, H, W]; generator on x.device."""
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < p  # [N] bool
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def normalize(x, mean, std, dtype=torch.float32):
    """uint8 [N, C, H, W] in 0..255 -> dtype, (x / 255 - mean) / std per channel; mean, std in [0, 1] units."""
    mean, std = _channel_stats(tuple(mean), tuple(std), x.device)  # [1, C, 1, 1] each, in 0..255
    return ((x.float() - mean) / std).to(dtype)


@functools.lru_cache(maxsize=32)
def _channel_stats(mean, std, device):
    """Per-channel mean and std as device tensors, built once: no host-to-device copy per batch."""
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float32, device=device).view(1, -1, 1, 1) * 255  # noqa: E731
    return as_tensor(mean), as_tensor(std)


def resize(x, resolution):
    """Antialiased bilinear resize of a float [N, C, H, W] batch to resolution x resolution; no-op if already so."""
    if x.shape[-2:] == (resolution, resolution):
        return x
    if not x.is_floating_point():
        raise TypeError(f"resize needs a float batch, got {x.dtype}; call normalize first")
    # CPU antialiased interpolation lacks half kernels, so resize in float32 and cast back
    out = F.interpolate(x.float(), size=(resolution, resolution), mode="bilinear", antialias=True, align_corners=False)
    return out.to(x.dtype)


def augment_batch(x_uint8, spec, resolution, generator, train=True, dtype=torch.float32):
    """uint8 [N, C, H, W] -> float [N, C, res, res]: (train only) crop and flip, then normalize and resize."""
    x = x_uint8
    if train:
        x = random_crop(x, spec.crop_pad, generator)
        if spec.flip:
            x = random_flip(x, generator)
    return resize(normalize(x, spec.mean, spec.std, dtype), resolution)
