"""Invariants of widening: same function, same names, live gradients, optimizer state carried."""
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import lib
from lib.growth.grow import GROWTH_RULES, widen_resnet

EXACT_RULES = ("split", "zero")


def _model(width, in_channels=3, num_classes=10, seed=0, dtype=torch.float32):
    """A ResNet18 whose BN layers are not identities, so eval-mode checks see real statistics."""
    torch.manual_seed(seed)
    model = lib.resnet18(num_classes=num_classes, width=width, in_channels=in_channels).to(dtype)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.3)
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    return model


def _rel_err(a, b):
    return ((a - b).abs().max() / a.abs().max()).item()


def _logits_before_after(pair, rule, train, resolution, in_channels=3, batch=8, seed=0):
    """Logits of a model and its widened copy on one batch; train-mode BN uses batch statistics, so
    keep >= 8 values per channel in the last stage (batch x (resolution / 8)**2), else BN amplifies
    float32 rounding of the split weights."""
    w0, w1 = pair
    model = _model(w0, in_channels).train(train)
    x = torch.randn(batch, in_channels, resolution, resolution)  # (B, C, H, W)
    wide = lib.widen(model, w1, rule=rule, seed=seed)
    assert wide.width == w1 and wide.training == train
    return model(x), wide(x)  # (B, num_classes) each


def _train_steps(model, steps, lr=0.1, in_channels=3, resolution=8):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    for _ in range(steps):
        x, y = torch.randn(8, in_channels, resolution, resolution), torch.randint(0, 10, (8,))
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


# --- function preservation -----------------------------------------------------------------


@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("pair", [(4, 6), (4, 9), (8, 12)])  # 4->9: more than doubling
@pytest.mark.parametrize("rule", EXACT_RULES + ("equal", "fresh"))
def test_exact_rules_preserve_logits(rule, pair, train, in_channels):
    before, after = _logits_before_after(pair, rule, train, resolution=8, in_channels=in_channels)
    assert _rel_err(before, after) <= 1e-5


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize(
    "pair,resolution", [((8, 12), 8), ((16, 24), 32), ((32, 64), 16), ((48, 64), 16)]
)
def test_split_preserves_logits_at_target_pairs(pair, resolution, train):
    batch = 2 if resolution > 8 else 8
    before, after = _logits_before_after(pair, "split", train, resolution, batch=batch)
    assert _rel_err(before, after) <= 1e-5


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_net2net_approximately_preserves(train):
    before, after = _logits_before_after((8, 12), "net2net", train, resolution=8)
    assert 1e-6 < _rel_err(before, after) < 0.2  # noise breaks exactness, but only a little


@pytest.mark.parametrize("rule", EXACT_RULES + ("fresh",))
def test_zero_init_residual_model_keeps_its_function_and_setting_when_widened(rule):
    torch.manual_seed(0)
    model = lib.resnet18(width=4, zero_init_residual=True)
    _train_steps(model, 3)  # the zero BN scales move off zero
    model.eval()
    x = torch.randn(4, 3, 16, 16)
    wide = lib.widen(model, 6, rule=rule)
    assert wide.config.zero_init_residual
    assert _rel_err(model(x), wide(x)) < 1e-4


@pytest.mark.parametrize("rule", ["fresh", "random"])
def test_new_units_of_a_zero_init_residual_model_start_silent(rule):
    """Under --zero_init_residual a block's new units, drawn fresh, start as its first units did: last BN scale 0."""
    torch.manual_seed(0)
    model = lib.resnet18(width=4, zero_init_residual=True)
    _train_steps(model, 3)
    wide = lib.widen(model, 8, rule=rule)
    for name, t in model.state_dict().items():
        if name.endswith(".bn2.weight"):
            new = wide.state_dict()[name]
            assert torch.equal(new[:len(t)], t) and len(new) > len(t) and not new[len(t):].any(), name
    plain = lib.widen(lib.resnet18(width=4), 8, rule=rule)  # without the flag they start at one, as BN does
    assert plain.state_dict()["layer1.0.bn2.weight"][4:].eq(1).all()


def test_random_does_not_preserve():
    before, after = _logits_before_after((8, 12), "random", False, resolution=8)
    assert _rel_err(before, after) > 0.05


def test_growth_preserves_float64_logits_tightly():
    model = _model(4, dtype=torch.float64).eval()
    x = torch.randn(4, 3, 8, 8, dtype=torch.float64)
    assert _rel_err(model(x), lib.widen(model, 7)(x)) < 1e-12


# --- shapes, names, dtypes, gradients ------------------------------------------------------


@pytest.mark.parametrize("rule", GROWTH_RULES)
def test_state_dict_names_stable_and_shapes_match_fresh_model(rule):
    model = _model(4, in_channels=1, num_classes=5, dtype=torch.float64)
    model.layer2[0].bn1.weight.requires_grad_(False)
    wide = lib.widen(model, 6, rule=rule)
    old, new = model.state_dict(), wide.state_dict()
    fresh = lib.resnet18(num_classes=5, width=6, in_channels=1).state_dict()
    assert list(old) == list(new) == list(fresh)
    for name, t in new.items():
        assert t.shape == fresh[name].shape, name
        assert t.dtype == old[name].dtype and t.device == old[name].device, name
    new_params = dict(wide.named_parameters())
    for name, p in model.named_parameters():
        assert new_params[name].requires_grad == p.requires_grad, name
        assert new_params[name].data_ptr() != p.data_ptr(), name  # no storage shared with old
    assert (wide.in_channels, wide.num_classes) == (1, 5)


@pytest.mark.parametrize("rule", GROWTH_RULES + ("equal",))
def test_every_parameter_gets_gradient_after_growth(rule):
    wide = lib.widen(_model(4), 6, rule=rule).train()
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,))
    F.cross_entropy(wide(x), y).backward()
    for name, p in wide.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_fresh_rule_new_units_are_new_features_and_come_alive():
    model = _model(4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))
    _grads(model, x, y)
    opt.step()
    wide, report = widen_resnet(model, 6, rule="fresh", optimizer=opt)
    params = dict(wide.named_parameters())
    w = params["layer1.0.conv1.weight"]  # (6, 4, 3, 3): rows 4, 5 are new inner units
    for new in (4, 5):  # no new unit copies an old one
        assert all(not torch.allclose(w[new], w[old]) for old in range(4))
    assert torch.equal(params["layer1.0.conv2.weight"][:4, 4:], torch.zeros(4, 2, 3, 3))  # old rows ignore new
    assert torch.equal(params["fc.weight"][:, 4 * 8:], torch.zeros(10, 8 * 6 - 8 * 4))
    assert opt.state[w]["momentum_buffer"][4:].abs().max() == 0  # no history
    wide.train()
    for step in range(2):
        opt.zero_grad()
        F.cross_entropy(wide(x), y).backward()
        new_rows = params["layer1.0.conv1.weight"].grad[4:]
        assert (new_rows.abs().sum() > 0) == (step == 1), step  # read from the second step on
        opt.step()


def test_zero_rule_new_units_come_alive():
    model = _model(4)
    wide, report = widen_resnet(model, 6, rule="zero")
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 10, (8,))
    writers = {"layer1.0.conv1.weight": 4, "layer3.1.conv1.weight": 16,  # inner maps, n_old
               "layer1.1.conv2.weight": 4, "layer4.0.downsample.0.weight": 32}  # stream maps
    opt = torch.optim.SGD(wide.parameters(), lr=0.1, momentum=0.9)
    wide.train()
    for step in range(2):
        opt.zero_grad()
        F.cross_entropy(wide(x), y).backward()
        for name, n_old in writers.items():
            new_rows = dict(wide.named_parameters())[name].grad[n_old:]  # (n_new - n_old, ...)
            # step 0: nothing reads the new units yet; step 1: their outgoing weights have moved
            assert (new_rows.abs().sum() > 0) == (step == 1), (name, step)
        opt.step()


def _copy_pairs(report, key):
    m = report["maps"][key]
    n_old = m["width"][0]
    return [(j, i) for j, i in enumerate(m["source"]) if j >= n_old]


@pytest.mark.parametrize("rule", ["split", "equal"])
def test_unequal_split_breaks_symmetry_equal_split_does_not(rule):
    torch.manual_seed(0)
    wide, report = widen_resnet(_model(4), 6, rule=rule)
    _train_steps(wide, steps=3)
    params = dict(wide.named_parameters())
    # incoming weights of each copy vs its original: inner units and residual-stream units
    writers = {"layer1.0.inner": "layer1.0.conv1.weight", "layer2.1.inner": "layer2.1.conv1.weight",
               "stream1": "conv1.weight", "stream3": "layer3.0.downsample.0.weight"}
    for key, name in writers.items():
        w = params[name].detach()
        for j, i in _copy_pairs(report, key):
            diff = ((w[j] - w[i]).abs().max() / w[i].abs().max()).item()
            if rule == "split":
                assert diff > 1e-4, (key, j, i)
            else:
                assert diff < 1e-6, (key, j, i)


def test_readers_of_a_stream_share_one_fraction_vector():
    model = _model(4, dtype=torch.float64)
    wide, report = widen_resnet(model, 7, rule="split")
    old, new = model.state_dict(), wide.state_dict()
    for s, readers in [(2, ["layer2.1.conv1.weight", "layer3.0.conv1.weight",
                            "layer3.0.downsample.0.weight"]),
                       (4, ["layer4.1.conv1.weight", "fc.weight"])]:
        m = report["maps"][f"stream{s}"]
        source = torch.tensor(m["source"])
        fraction = torch.tensor(m["fraction"], dtype=torch.float64)
        for name in readers:
            n_rows = old[name].shape[0]
            share = fraction.view(1, -1, *[1] * (old[name].dim() - 2))
            expected = old[name].index_select(1, source) * share
            assert torch.allclose(new[name][:n_rows], expected, rtol=0, atol=1e-15), name


@pytest.mark.parametrize("rule", GROWTH_RULES + ("equal",))
def test_report_is_a_receipt(rule):
    model = _model(4)
    wide, report = widen_resnet(model, 9, rule=rule, seed=3)
    json.dumps(report)  # loggable as one JSON line
    assert (report["rule"], report["seed"], report["width"]) == (rule, 3, [4, 9])
    assert set(report["tensors"]) == set(model.state_dict())
    assert report["tensors"]["fc.bias"]["action"] == "unchanged"
    assert report["tensors"]["layer2.0.conv2.weight"]["shape"] == [[8, 8, 3, 3], [18, 18, 3, 3]]
    assert "stream2" in report["tensors"]["layer2.0.conv2.weight"]["action"]
    assert len(report["maps"]) == 4 + 8
    for key, m in report["maps"].items():
        n_old, n_new = m["width"]
        source = torch.tensor(m["source"])
        fraction = torch.tensor(m["fraction"], dtype=torch.float64)
        assert source[:n_old].tolist() == list(range(n_old)) and len(source) == n_new
        copies = torch.bincount(source)  # (n_old,)
        assert copies.max() - copies.min() <= 1  # copies spread evenly
        share = torch.zeros(n_old, dtype=torch.float64).index_add_(0, source, fraction)  # (n_old,)
        assert torch.allclose(share, torch.ones(n_old, dtype=torch.float64)), key
        if rule == "split":  # siblings get distinct shares
            for i in range(n_old):
                siblings = fraction[source == i]
                assert len(set(siblings.tolist())) == len(siblings), key


def test_seed_decides_the_surgery():
    model = _model(8)
    a, report_a = widen_resnet(model, 12, seed=1)
    b, _ = widen_resnet(model, 12, seed=1)
    c, report_c = widen_resnet(model, 12, seed=2)
    for name, t in a.state_dict().items():
        assert torch.equal(t, b.state_dict()[name]), name
    assert report_a["maps"] != report_c["maps"]
    rng = torch.random.get_rng_state()
    lib.widen(model, 12, rule="random")
    assert torch.equal(rng, torch.random.get_rng_state())  # the global RNG is left alone


# --- optimizer state -----------------------------------------------------------------------


def _two_group_optimizer(model, kind):
    """The training loop's layout: weights (with decay, here 0 for exactness) and BN/bias params."""
    decay = [p for n, p in model.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in model.named_parameters() if p.dim() <= 1]
    if kind == "sgd":
        return torch.optim.SGD([{"params": decay, "weight_decay": 0.0, "momentum": 0.9},
                                {"params": no_decay, "weight_decay": 0.0, "momentum": 0.8}], lr=0.0)
    return torch.optim.Adam([{"params": decay, "betas": (0.9, 0.999)},
                             {"params": no_decay, "betas": (0.8, 0.99)}], lr=0.0)


def _grads(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("rule", EXACT_RULES)
def test_optimizer_state_becomes_wide_gradient(rule, kind):
    model = _model(4, dtype=torch.float64).train()
    x, y = torch.randn(8, 3, 8, 8, dtype=torch.float64), torch.randint(0, 10, (8,))
    opt = _two_group_optimizer(model, kind)
    _grads(model, x, y)
    opt.step()  # lr 0: params stay; SGD's buffer = grad, Adam's moments = (1 - beta) grad(**2)
    hyper = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    name_of = {id(p): n for n, p in model.named_parameters()}
    names = [[name_of[id(p)] for p in g["params"]] for g in opt.param_groups]

    wide, report = widen_resnet(model, 7, rule=rule, optimizer=opt)
    grads = _grads(wide, x, y)  # same batch, train mode
    new_params = dict(wide.named_parameters())
    assert report["optimizer"] == {"params": len(new_params), "states_moved": len(new_params)}
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == hyper
    for group, group_names in zip(opt.param_groups, names):
        assert [id(p) for p in group["params"]] == [id(new_params[n]) for n in group_names]
        beta1, beta2 = group.get("betas", (0.0, 0.0))
        for name, p in zip(group_names, group["params"]):
            state, g = opt.state[p], grads[name]
            scale = g.abs().max()
            if kind == "sgd":
                assert (state["momentum_buffer"] - g).abs().max() <= 1e-10 * scale, name
            else:
                assert (state["exp_avg"] - (1 - beta1) * g).abs().max() <= 1e-10 * scale, name
                err = (state["exp_avg_sq"] - (1 - beta2) * g**2).abs().max()
                assert err <= 1e-10 * scale**2, name
                assert int(state["step"]) == 1
    assert len(opt.state) == len(new_params)
    opt.param_groups[0]["lr"] = 0.1
    opt.step()  # the carried optimizer keeps training the wide model


@pytest.mark.parametrize("rule", ["net2net", "random"])
def test_optimizer_follows_approximate_rules(rule):
    model = _model(4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _grads(model, torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,)))
    opt.step()
    wide = lib.widen(model, 6, rule=rule, optimizer=opt)
    assert [id(p) for p in opt.param_groups[0]["params"]] == [id(p) for p in wide.parameters()]
    for p in wide.parameters():
        assert opt.state[p]["momentum_buffer"].shape == p.shape
    if rule == "random":  # fresh units start without history
        assert opt.state[wide.layer1[0].conv1.weight]["momentum_buffer"][4:].abs().sum() == 0
    _grads(wide, torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,)))
    opt.step()


# --- no-op and bad input -------------------------------------------------------------------


def test_same_width_is_a_noop():
    model = _model(4)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _grads(model, torch.randn(4, 3, 8, 8), torch.randint(0, 10, (4,)))
    opt.step()
    params, state = list(opt.param_groups[0]["params"]), dict(opt.state)
    same, report = widen_resnet(model, 4, optimizer=opt)
    assert same is model and report["tensors"] == {} and report["optimizer"] is None
    assert opt.param_groups[0]["params"] == params and dict(opt.state) == state


@pytest.mark.parametrize("width", [3, 0, -2, True, 12.0, "12", None])
def test_bad_width_raises(width):
    with pytest.raises(ValueError, match=repr(width) if width != 3 else "3"):
        lib.widen(_model(4), width)


def test_bad_model_rule_or_optimizer_raises():
    with pytest.raises(ValueError, match="Linear"):
        lib.widen(nn.Linear(4, 4), 8)
    with pytest.raises(ValueError, match="'lemon'.*split"):
        lib.widen(_model(4), 8, rule="lemon")
    model = _model(4)
    foreign = torch.optim.SGD([nn.Parameter(torch.zeros(3))], lr=0.1)
    with pytest.raises(ValueError, match="not in the model"):
        lib.widen(model, 8, optimizer=foreign)
    with pytest.raises(ValueError, match="1.5"):
        lib.widen(model, 8, seed=1.5)


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_growth_keeps_device_and_dtype(device):
    model = _model(4).to(device, torch.float64).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(8, 3, 8, 8, device=device, dtype=torch.float64)
    y = torch.randint(0, 10, (8,), device=device)
    _grads(model, x, y)
    opt.step()
    for rule in GROWTH_RULES:
        wide = lib.widen(model, 6, rule=rule)
        assert all(t.device.type == device for t in wide.state_dict().values())
        assert all(t.dtype == torch.float64 for t in wide.parameters())
    wide = lib.widen(model, 6, optimizer=opt)
    assert _rel_err(model(x), wide(x)) <= 1e-5
    assert all(opt.state[p]["momentum_buffer"].device.type == device for p in wide.parameters())
    assert all(opt.state[p]["momentum_buffer"].dtype == torch.float64 for p in wide.parameters())
