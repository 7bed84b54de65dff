"""A run that diverged for a while: an epoch whose mean training loss rose above a uniform guess's.

A network that predicts every class alike has a loss of ln(classes), label smoothing or not, and a fresh one
starts within a few percent of it. An epoch that averages well above it was, for much of the epoch, worse
than guessing: the loss spiked (typically in the first epochs, at a learning rate the network could not yet
take) and learning restarted from a damaged state. Such a run's accuracy says as much about the spike as
about its settings, so a comparison of methods should name it.
"""
import math

CHANCE_MARGIN = 1.1  # an epoch's mean training loss above this x ln(classes) is a spike
EARLY_EPOCHS = 3  # a spike that starts in these first epochs is the start's (the warm-up's learning rate)


def chance_loss(num_classes):
    """Cross-entropy of a uniform prediction over num_classes classes (with or without label smoothing)."""
    return math.log(num_classes)


def unstable_epochs(rows, num_classes, margin=CHANCE_MARGIN):
    """[(epoch, mean training loss)] of the epochs in metrics rows whose loss is above margin x ln(classes)."""
    limit = margin * chance_loss(num_classes)
    return [(r["epoch"], r["train_loss"]) for r in rows if r.get("train_loss") is not None and r["train_loss"] > limit]


def instability_warning(rows, num_classes, margin=CHANCE_MARGIN):
    """One line naming the epochs whose training loss rose above a uniform guess's; "" when none did."""
    bad = unstable_epochs(rows, num_classes, margin)
    if not bad:
        return ""
    epoch, worst = max(bad, key=lambda e: e[1])
    epochs = ", ".join(str(e) for e, _ in bad)
    fix = ("a longer --warmup_epochs, a lower --lr or --zero_init_residual steadies the start"
           if bad[0][0] <= EARLY_EPOCHS else "a lower --lr steadies it")
    return (f"training loss above a uniform guess's (ln {num_classes} = {chance_loss(num_classes):.2f}) in epoch"
            f"{'s' if len(bad) > 1 else ''} {epochs}, {worst:.2f} at worst (epoch {epoch}): the run diverged for a "
            f"while, and its accuracy reflects that as much as its settings; {fix}")
