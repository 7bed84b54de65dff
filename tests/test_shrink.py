"""Shrink and perturb: each weight moves part of the way toward a fresh initialisation; buffers stay."""
import pytest
import torch

import lib
from lib.growth.shrink import shrink_perturb


def _pair(width=4, seed=0):
    torch.manual_seed(seed)
    trained = lib.resnet18(num_classes=10, width=width)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(torch.randn_like(p))  # unlike a fresh network's
        for b in trained.buffers():
            if b.is_floating_point():
                b.uniform_(0.5, 1.5)
    torch.manual_seed(seed + 1)
    return trained, lib.resnet18(num_classes=10, width=width)


def test_every_parameter_becomes_the_interpolation_and_buffers_are_kept():
    model, fresh = _pair()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    shrink_perturb(model, fresh, 0.7)
    params = dict(model.named_parameters())
    for name, p in params.items():
        expected = 0.7 * before[name] + 0.3 * dict(fresh.named_parameters())[name]
        torch.testing.assert_close(p.detach(), expected)
        assert not torch.equal(p.detach(), before[name])
    for name, b in model.named_buffers():
        assert torch.equal(b, before[name]), name  # running statistics are not weights


def test_a_factor_of_one_changes_nothing():
    model, fresh = _pair()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    shrink_perturb(model, fresh, 1.0)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("alpha", [0, -0.5, 1.2, True, None])
def test_a_factor_outside_zero_to_one_is_refused(alpha):
    model, fresh = _pair()
    with pytest.raises(ValueError, match=r"shrink factor must be in \(0, 1\]"):
        shrink_perturb(model, fresh, alpha)


def test_a_fresh_network_of_another_shape_is_refused():
    model, _ = _pair(width=4)
    with pytest.raises(ValueError, match="same shape"):
        shrink_perturb(model, lib.resnet18(num_classes=10, width=8), 0.5)


@pytest.mark.parametrize("seed", [0, 7, 2**63 - 1])
def test_growth_seeds_are_generator_seeds_and_differ_by_draw(seed):
    from lib.growth.grow import growth_seed
    widen_seed, fresh_seed = growth_seed(seed, 2), growth_seed(seed, 2, offset=500)
    for s in (widen_seed, fresh_seed):
        assert 0 <= s < 2**63 - 1
        torch.Generator().manual_seed(s)  # accepted as a generator seed
    assert widen_seed != fresh_seed
    assert growth_seed(seed, 1) != growth_seed(seed, 2)
