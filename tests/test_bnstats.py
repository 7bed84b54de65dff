import pytest
import torch
from torch import nn

from lib.training.bnstats import recalibrate_bn
from lib.growth.model import resnet18


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1),
                         nn.BatchNorm2d(2))


def test_recalibrated_stats_are_the_plain_average_of_the_new_batches():
    net = _net()
    net.train()
    with torch.no_grad():
        for _ in range(5):  # running stats from shifted inputs
            net(torch.randn(8, 3, 16, 16) * 3 + 2)
    batches = [torch.randn(8, 3, 32, 32) for _ in range(4)]
    weights = {k: v.clone() for k, v in net.state_dict().items() if "running" not in k and "tracked" not in k}
    net.eval()
    assert recalibrate_bn(net, iter(batches)) == 4
    with torch.no_grad():
        h = net[0](torch.cat(batches))  # [32, 4, 32, 32]: the first BN's inputs for all batches
    means = torch.stack([h[i * 8:(i + 1) * 8].mean((0, 2, 3)) for i in range(4)]).mean(0)
    assert torch.allclose(net[1].running_mean, means, atol=1e-5)
    assert net[1].momentum == 0.1 and net[4].momentum == 0.1  # momentum restored
    assert not net.training  # mode restored
    assert int(net[1].num_batches_tracked) == 4
    for k, v in net.state_dict().items():
        if k in weights:
            assert torch.equal(v, weights[k])  # weights untouched


def test_no_batches_leaves_the_statistics_alone():
    net = _net()
    net.train()
    with torch.no_grad():
        net(torch.randn(8, 3, 8, 8) + 1)
    before = net[1].running_mean.clone()
    assert recalibrate_bn(net, []) == 0
    assert torch.equal(net[1].running_mean, before)


def test_recalibration_at_a_new_resolution_restores_eval_accuracy_of_train_mode_outputs():
    """After a resolution change, eval-mode outputs move toward train-mode (batch-statistics) outputs."""
    model = resnet18(10, 8, 3)
    model.train()
    with torch.no_grad():
        for _ in range(20):
            model(torch.randn(16, 3, 8, 8) * 0.5)
    x = torch.randn(64, 3, 32, 32)
    with torch.no_grad():
        target = model(x)  # train mode: batch statistics
        model.eval()
        before = (model(x) - target).abs().mean()
        recalibrate_bn(model, x.split(16))
        after = (model(x) - target).abs().mean()
    assert after < before / 2
