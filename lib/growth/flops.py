"""Analytic FLOPs of the ResNet18 in lib.growth.model, per image, for budget planning."""
from .model import ResNetConfig, check_positive_int

# Backward costs about twice the forward (grads of activations and of weights): an approximation.
TRAIN_FLOPS_MULTIPLIER = 3


def _out_size(size, stride):
    """Output side in px of a 3x3 (padding 1) or 1x1 (padding 0) conv; both give the same."""
    return (size - 1) // stride + 1


def _conv_flops(c_in, c_out, kernel, h, w):
    return 2 * c_in * c_out * kernel * kernel * h * w  # one multiply-add = 2 FLOPs, per output px


def _check_resolution(resolution):
    """Int side or (height, width), in px."""
    if isinstance(resolution, (tuple, list)) and len(resolution) == 2:
        return tuple(check_positive_int("resolution", r) for r in resolution)
    return (check_positive_int("resolution", resolution),) * 2


def flops_per_image(width, resolution, in_channels=3, num_classes=10):
    """Forward FLOPs of one image through resnet18(num_classes, width, in_channels).

    Counts convs and the linear head as 2 FLOPs per multiply-add, like
    torch.utils.flop_counter.FlopCounterMode; BN, ReLU, adds and pooling are left out.
    """
    config = ResNetConfig(num_classes=num_classes, width=width, in_channels=in_channels)
    h, w = _check_resolution(resolution)
    total = _conv_flops(in_channels, config.width, 3, h, w)  # stem, stride 1
    c_in = config.width
    for s, c_out in enumerate(config.stage_widths):
        for b in range(2):
            stride = 2 if s > 0 and b == 0 else 1
            h, w = _out_size(h, stride), _out_size(w, stride)
            total += _conv_flops(c_in, c_out, 3, h, w) + _conv_flops(c_out, c_out, 3, h, w)
            if stride != 1 or c_in != c_out:
                total += _conv_flops(c_in, c_out, 1, h, w)  # projection shortcut
            c_in = c_out
    return total + 2 * c_in * num_classes  # head after global average pooling


def train_flops_per_image(width, resolution, in_channels=3, num_classes=10):
    """Approximate FLOPs of one training step per image: forward + backward = 3x forward."""
    return TRAIN_FLOPS_MULTIPLIER * flops_per_image(width, resolution, in_channels, num_classes)
