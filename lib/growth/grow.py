"""Widening surgery for ResNet18: a wider model and optimizer state computing the same function."""
import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from .model import ResNet, check_positive_int

# Each new unit copies an old unit's incoming weights (and BN state); the rule sets its outgoing share:
#   split    unequal random shares summing to one per old unit (LEMON): exact, and copies diverge
#   net2net  equal shares plus small noise (Net2Net): approximately function preserving
#   zero     the original keeps its outgoing weight, copies get none: exact; copies receive gradient
#            from the second step on, once their outgoing weights have moved (when width more than
#            doubles, two copies of one unit stay twins: they share a source and a zero share)
#   fresh    new units freshly initialised, but nothing old reads them (zero outgoing weights): exact,
#            and new units start with diverse features instead of copies (random incoming weights)
#   random   new units freshly initialised (ablation baseline): not function preserving
GROWTH_RULES = ("split", "net2net", "zero", "fresh", "random")
# Equal split without noise: exact, but copies get identical gradients forever (a test baseline).
_TEST_RULES = ("equal",)
NET2NET_NOISE = 1e-2  # std of the noise on split outgoing weights, in units of the tensor's old std
SECOND_MOMENTS = ("exp_avg_sq", "max_exp_avg_sq")  # optimizer state that scales as gradient**2


@dataclass(frozen=True)
class ChannelMap:
    """How one group of channels grows from n_old to n_new units."""

    source: torch.Tensor  # (n_new,) long: old unit each new unit copies; arange on the first n_old
    # (n_new,) float64: share of its old unit's outgoing weight; shares sum to 1 per old unit
    fraction: torch.Tensor
    n_old: int

    @property
    def replicated(self):  # (n_new,) bool: units whose old unit now has more than one copy
        counts = torch.bincount(self.source, minlength=self.n_old)  # (n_old,)
        return counts[self.source] > 1


def _split_fractions(source, n_old, gen):
    """Unequal fractions per old unit (as in LEMON): copies get distinct shares that sum to one."""
    n_new = len(source)
    counts = torch.bincount(source, minlength=n_old)  # (n_old,) copies per old unit
    # rank of each copy among its siblings, in random order: sort by (source, random key)
    order = torch.argsort(source.double() + torch.rand(n_new, generator=gen, dtype=torch.float64))
    start = torch.cumsum(counts, 0) - counts  # (n_old,) first sorted position of each old unit
    rank = torch.empty(n_new, dtype=torch.long)
    rank[order] = torch.arange(n_new) - start[source[order]]
    # one stratum of [1, 2) per rank, jittered inside its middle half: shares differ by >= 0.5/k
    jitter = 0.25 + 0.5 * torch.rand(n_new, generator=gen, dtype=torch.float64)
    u = 1.0 + (rank + jitter) / counts[source]  # (n_new,)
    total = torch.zeros(n_old, dtype=torch.float64).index_add_(0, source, u)  # (n_old,)
    return u / total[source]


def _make_map(n_old, n_new, rule, gen):
    """Pick the old unit each new unit copies (random permutations, repeated) and its share."""
    extra = n_new - n_old
    rounds = -(-extra // n_old)
    perms = [torch.randperm(n_old, generator=gen) for _ in range(rounds)]
    source = torch.cat([torch.arange(n_old)] + perms)[:n_new]  # (n_new,)
    if rule == "split":
        fraction = _split_fractions(source, n_old, gen)
    elif rule in ("equal", "net2net"):
        fraction = 1.0 / torch.bincount(source, minlength=n_old)[source].double()
    else:  # zero, random: the original keeps its outgoing weight, new units start with none
        fraction = (torch.arange(n_new) < n_old).double()
    return ChannelMap(source=source, fraction=fraction, n_old=n_old)


def _plan_maps(config, width, rule, gen):
    """One map per residual stream (stage) and per block's inner channels, in a fixed order."""
    new_widths = replace(config, width=width).stage_widths
    maps = {}
    for s, (n_old, n_new) in enumerate(zip(config.stage_widths, new_widths), start=1):
        maps[f"stream{s}"] = _make_map(n_old, n_new, rule, gen)
        for b in range(2):
            maps[f"layer{s}.{b}.inner"] = _make_map(n_old, n_new, rule, gen)
    return maps


def _tensor_roles(config):
    """State-dict name -> (map of dim 0: units written, map of dim 1: units read); None: kept."""
    roles = {"conv1.weight": ("stream1", None)}

    def bn(prefix, key):
        for suffix in ("weight", "bias", "running_mean", "running_var"):
            roles[f"{prefix}.{suffix}"] = (key, None)
        roles[f"{prefix}.num_batches_tracked"] = (None, None)

    bn("bn1", "stream1")
    for s in range(1, 5):
        for b in range(2):
            p, inner, out = f"layer{s}.{b}", f"layer{s}.{b}.inner", f"stream{s}"
            stream_in = f"stream{s - 1}" if b == 0 and s > 1 else out
            roles[f"{p}.conv1.weight"] = (inner, stream_in)
            bn(f"{p}.bn1", inner)
            roles[f"{p}.conv2.weight"] = (out, inner)
            bn(f"{p}.bn2", out)
            if stream_in != out:  # projection shortcut: reads the old stream, writes the new one
                roles[f"{p}.downsample.0.weight"] = (out, stream_in)
                bn(f"{p}.downsample.1", out)
    roles["fc.weight"] = (None, "stream4")
    roles["fc.bias"] = (None, None)
    return roles


def _along(vec, dim, t):
    """Reshape a per-unit vector so it broadcasts along `dim` of t, in t's dtype and device."""
    shape = [1] * t.dim()
    shape[dim] = -1
    return vec.to(device=t.device, dtype=t.dtype).view(shape)


def _fresh(name, shape, gen):
    """A new tensor for the "random" rule, drawn on the CPU from `gen` like ResNet's init."""
    t = torch.empty(shape)
    if name.endswith("running_var") or (len(shape) == 1 and name.endswith("weight")):
        return t.fill_(1.0)  # BN scale and running variance start at one
    if len(shape) == 1:
        return t.zero_()  # BN shift and running mean start at zero
    if len(shape) == 4:
        return nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu", generator=gen)
    return nn.init.kaiming_uniform_(t, a=math.sqrt(5), generator=gen)  # nn.Linear's default


def _widen_tensor(name, t, out_map, in_map, rule, gen):
    """New value of one parameter or buffer: writers copy rows, readers split columns by share."""
    if out_map is None and in_map is None:
        return t.clone()
    if rule in ("random", "fresh"):
        shape = list(t.shape)
        if out_map is not None:
            shape[0] = len(out_map.source)
        if in_map is not None:
            shape[1] = len(in_map.source)
        new = _fresh(name, shape, gen).to(t)
        if rule == "fresh" and in_map is not None:
            new[:t.shape[0], t.shape[1]:] = 0  # old units do not read new ones: the function is kept
        new[tuple(slice(0, n) for n in t.shape)] = t  # old units keep their weights
        return new
    new = t
    if out_map is not None:
        new = new.index_select(0, out_map.source.to(t.device))  # (n_new, ...)
    if in_map is not None:
        new = new.index_select(1, in_map.source.to(t.device)) * _along(in_map.fraction, 1, new)
        if rule == "net2net":
            noise = torch.randn(new.shape, generator=gen, dtype=torch.float64)
            noise = noise * _along(in_map.replicated.double(), 1, noise)  # only copied units
            new = new + NET2NET_NOISE * t.double().std() * noise.to(new)
    return new


def _widen_gradient_like(t, out_map, in_map, rule, power):
    """Optimizer state laid out like a gradient: rows scale by the writer's share**power."""
    new = t
    if out_map is not None:
        new = new.index_select(0, out_map.source.to(t.device))
        new = new * _along(out_map.fraction**power, 0, new)
    if in_map is not None:
        new = new.index_select(1, in_map.source.to(t.device))
        if rule in ("random", "fresh"):  # fresh units have no history
            new = new * _along((torch.arange(len(in_map.source)) < in_map.n_old).double(), 1, new)
    return new.clone() if new is t else new


def _carry_optimizer(optimizer, old_model, new_model, maps, roles, rule):
    """Point every param group at the new params (by name); move their state with the maps."""
    names = {id(p): n for n, p in old_model.named_parameters()}
    new_params = dict(new_model.named_parameters())
    new_state, moved = {}, 0
    for group in optimizer.param_groups:
        params = []
        for p in group["params"]:
            name = names[id(p)]
            q = new_params[name]
            out_key, in_key = roles[name]
            out_map, in_map = maps.get(out_key), maps.get(in_key)
            if p in optimizer.state:
                state = {}
                for key, v in optimizer.state[p].items():
                    if torch.is_tensor(v) and v.dim() > 0 and v.shape == p.shape:
                        power = 2 if key in SECOND_MOMENTS else 1
                        v = _widen_gradient_like(v, out_map, in_map, rule, power)
                        assert v.shape == q.shape, (name, key, v.shape, q.shape)
                    state[key] = v  # step counts and other scalars carry over as they are
                new_state[q] = state
                moved += 1
            params.append(q)
        group["params"] = params
    optimizer.state.clear()
    optimizer.state.update(new_state)
    return {"params": len(new_params), "states_moved": moved}


def _action(rule, out_key, in_key):
    if out_key is None and in_key is None:
        return "unchanged"
    made = "created" if rule in ("random", "fresh") else "copied"
    parts = [] if out_key is None else [f"rows {made} by {out_key}"]
    if in_key is not None:
        read = {"split": "split", "equal": "split equally", "net2net": "split equally + noise",
                "zero": "new zeroed", "fresh": "new zeroed for old rows", "random": "new created"}[rule]
        parts.append(f"columns {read} by {in_key}")
    return "; ".join(parts)


def growth_seed(seed, k, offset=0):
    """Seed for the draws at the growth to stage k (new channels: offset 0; shrink and perturb's fresh network:
    offset 500): a torch.Generator seed for any --seed, the same on every process. A pure function."""
    return (seed * 1000 + k + offset) % (2**63 - 1)


def _check_args(model, width, rule, optimizer, seed):
    if not isinstance(model, ResNet):
        raise ValueError(f"can only widen lib.resnet18 models, got {type(model).__name__}")
    check_positive_int("width", width)
    if rule not in GROWTH_RULES + _TEST_RULES:
        raise ValueError(f"unknown growth rule {rule!r}; known rules: {', '.join(GROWTH_RULES)}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if width < model.width:
        raise ValueError(f"cannot shrink: width {width} < current width {model.width}")
    if optimizer is not None:
        ours = {id(p) for p in model.parameters()}
        for group in optimizer.param_groups:
            for p in group["params"]:
                if id(p) not in ours:
                    shape = tuple(p.shape)
                    raise ValueError(f"optimizer holds a {shape} parameter not in the model")


def widen_resnet(model, width, rule="split", optimizer=None, seed=0):
    """Widen a ResNet18 to `width`; return (new model, report: what was copied, split or created).

    The old model is left as it was. The optimizer, if given, is updated in place to hold the new
    params, with state moved as gradients move. All randomness comes from a generator seeded by
    `seed`, so every process of a distributed run widens identically.
    """
    _check_args(model, width, rule, optimizer, seed)
    report = {"rule": rule, "seed": seed, "width": [model.width, width], "maps": {}, "tensors": {},
              "optimizer": None}
    if width == model.width:
        return model, report
    gen = torch.Generator().manual_seed(seed)
    maps = _plan_maps(model.config, width, rule, gen)
    roles = _tensor_roles(model.config)
    old_sd = model.state_dict()
    assert set(old_sd) == set(roles), sorted(set(old_sd) ^ set(roles))
    with torch.device("meta"):  # shapes only: no memory, no draws from the global RNG
        new_model = ResNet(replace(model.config, width=width))
    new_shapes = {k: v.shape for k, v in new_model.state_dict().items()}
    new_sd = {}
    with torch.no_grad():
        for name, t in old_sd.items():
            out_key, in_key = roles[name]
            new = _widen_tensor(name, t, maps.get(out_key), maps.get(in_key), rule, gen)
            if model.config.zero_init_residual and rule in ("random", "fresh") and name.endswith(".bn2.weight"):
                new[t.shape[0]:] = 0  # new units of a block's last BN start silent, as the first ones did
            assert new.shape == new_shapes[name], (name, new.shape, new_shapes[name])
            new_sd[name] = new
            report["tensors"][name] = {"shape": [list(t.shape), list(new.shape)],
                                       "action": _action(rule, out_key, in_key)}
    new_model.load_state_dict(new_sd, assign=True)
    new_params = dict(new_model.named_parameters())
    for name, p in model.named_parameters():
        new_params[name].requires_grad_(p.requires_grad)
    for m, m_new in zip(model.modules(), new_model.modules()):
        m_new.training = m.training
    for key, m in maps.items():
        report["maps"][key] = {"width": [m.n_old, len(m.source)], "source": m.source.tolist(),
                               "fraction": m.fraction.tolist()}
    if optimizer is not None:
        report["optimizer"] = _carry_optimizer(optimizer, model, new_model, maps, roles, rule)
    return new_model, report


def widen(model, width, rule="split", optimizer=None, seed=0):
    """Widen a ResNet18 to `width` (see widen_resnet); returns only the new model."""
    return widen_resnet(model, width, rule=rule, optimizer=optimizer, seed=seed)[0]
