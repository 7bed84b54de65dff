"""Shrink and perturb at a growth: move every weight part of the way toward a fresh initialisation.

A network warm-started from one trained on the same images can generalise worse than one trained from
scratch (Ash & Adams 2020, "On warm-starting neural network training"); shrinking the trained weights and
adding a fresh initialisation's share closes much of that gap while keeping most of what was learned. The
interpolation form theta <- alpha * theta + (1 - alpha) * phi, phi a fresh initialisation of the same network,
is the one later work on plasticity uses (D'Oro et al. 2023). alpha = 1 leaves the network as it is.
"""
import torch


def check_shrink(alpha):
    """alpha as a float in (0, 1]; ValueError naming the range otherwise."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1:
        raise ValueError(f"shrink factor must be in (0, 1], got {alpha!r}")
    return float(alpha)


@torch.no_grad()
def shrink_perturb(model, fresh, alpha):
    """In place: each parameter of `model` becomes alpha x itself + (1 - alpha) x the same parameter of `fresh`
    (a freshly initialised network of the same shape). Buffers (BN running statistics) are left as they are."""
    alpha = check_shrink(alpha)
    if alpha == 1:
        return model
    mine, theirs = dict(model.named_parameters()), dict(fresh.named_parameters())
    if mine.keys() != theirs.keys() or any(mine[k].shape != theirs[k].shape for k in mine):
        raise ValueError("shrink_perturb needs a fresh network of the same shape as the model")
    for name, p in mine.items():
        p.mul_(alpha).add_(theirs[name].to(device=p.device, dtype=p.dtype), alpha=1 - alpha)
    return model
