"""Evaluation: loss and accuracy of a model on a held-out split, at the dataset's full resolution, over all processes."""
import torch

from . import distributed as dist
from ..data.augment import augment_batch


def evaluate(model, loader, spec, criterion, amp, fmt, info):
    """(mean loss, accuracy in %) of `model` on a loader's split at the dataset's full resolution."""
    was_training = model.training
    model.eval()
    device = loader.y.device
    loss_sum, correct = torch.zeros((), dtype=torch.float64, device=device), torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    with torch.no_grad():
        for xb, yb in loader.batches():
            x = augment_batch(xb, spec, spec.resolution, None, train=False).contiguous(memory_format=fmt)
            with amp():
                out = model(x)
            loss_sum += criterion(out.float(), yb).double() * len(yb)
            correct += (out.argmax(1) == yb).sum()
            count += len(yb)
    model.train(was_training)
    totals = dist.all_reduce_sum(torch.stack([loss_sum, correct,
                                              torch.tensor(float(count), dtype=torch.float64, device=device)]), info)
    return totals[0].item() / totals[2].item(), 100 * totals[1].item() / totals[2].item()


def evaluate_splits(model, loaders, spec, criterion, amp, fmt, info):
    """(loss, accuracy %) of each loader in turn, flattened; (None, None) for a split that is absent (None)."""
    out = ()
    for loader in loaders:
        out += (None, None) if loader is None else evaluate(model, loader, spec, criterion, amp, fmt, info)
    return out
