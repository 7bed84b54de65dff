"""Training throughput (images/s, achieved FLOP/s) of each (width, resolution) on this device, on synthetic data.

Each setting runs the step training runs use (lib.training.step.StageStep: on CUDA, forward+backward captured
as a CUDA graph unless --cuda_graphs off), fed by the device-resident pipeline with batched
augmentation. Prints, per width, the cost of a step at each resolution relative to the full
resolution (the figure that says whether a low-resolution stage really is cheaper), the fraction of
the device's bf16 peak, and the capture time. Also times the same full-size model fed by a
conventional torchvision DataLoader with per-image transforms.

    python bench/throughput.py                       # CPU-sized defaults
    python bench/throughput.py --device cuda --widths 32,48,64 --batch_size 512 --json outputs/bench/throughput_h100.json
"""
import argparse
import functools
import json
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.data.augment import augment_batch  # noqa: E402
from lib.training.config import TrainConfig  # noqa: E402
from lib.data.datasets import DATASETS  # noqa: E402
from lib.growth.flops import flops_per_image  # noqa: E402
from lib.growth.model import resnet18  # noqa: E402
from lib.records import env_info, write_text  # noqa: E402
from lib.reporting.report import hardware  # noqa: E402
from lib.training.schedule import MIN_RESOLUTION  # noqa: E402
from lib.training.step import StageStep, make_optimizer, precision_for, train_step  # noqa: E402

# Dense bf16 peak (TFLOP/s) by device name, for the fraction of peak; --peak_tflops overrides.
PEAK_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0, "L4": 121.0, "A10G": 70.0}


def whole_number(text, least=1):
    """argparse type: a whole number >= least (argparse then names the flag and exits 2 on anything else)."""
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= {least}")
    return value


def whole_numbers(text, least=1, example="16,24,32"):
    """argparse type: '16,24,32' -> [16, 24, 32], each a whole number >= least."""
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < least:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole numbers >= {least} separated by commas, "
                                         f"e.g. {example}")
    return values


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", default="cifar10", choices=sorted(DATASETS), help="sets resolution and classes")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to time")
    p.add_argument("--widths", type=functools.partial(whole_numbers, example="16,32,64"), default="8,12,16",
                   help="comma list of full-model widths (channels)")
    p.add_argument("--resolutions", type=functools.partial(whole_numbers, least=MIN_RESOLUTION), default="16,24,32",
                   help=f"comma list of resolutions (px, at least {MIN_RESOLUTION})")
    p.add_argument("--batch_size", type=whole_number, default=128, help="images per step")
    p.add_argument("--steps", type=whole_number, default=10, help="timed steps per setting (after --warmup untimed)")
    p.add_argument("--warmup", type=functools.partial(whole_number, least=0), default=3,
                   help="untimed steps per setting first")
    p.add_argument("--compile", action="store_true", help="torch.compile each model (CUDA; no graph capture then)")
    p.add_argument("--cuda_graphs", default="on", choices=("on", "off"), help="capture each step as a CUDA graph")
    p.add_argument("--peak_tflops", type=float, default=0.0,
                   help="device peak (bf16 dense) for a %% of peak; default: looked up by GPU name")
    p.add_argument("--loader_workers", type=int, default=2, help="DataLoader worker processes for the comparison")
    p.add_argument("--json", default="", help="also write the results here")
    return p.parse_args(argv)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(step, batches, warmup, steps, device):
    """Images/s over `steps` calls of step(x, y) after `warmup` untimed ones."""
    for _ in range(warmup):
        step(*next(batches))
    sync(device)
    t0, n = time.perf_counter(), 0
    for _ in range(steps):
        x, y = next(batches)
        step(x, y)
        n += len(y)
    sync(device)
    return n / (time.perf_counter() - t0)


def device_resident(args, spec, device, width, res):
    """(images/s, capture seconds) of the training runs' step at one (width, resolution)."""
    fmt, amp = precision_for(device)
    model = resnet18(spec.num_classes, width, spec.in_channels).to(device, memory_format=fmt)
    net = torch.compile(model) if args.compile else model
    opt, crit = make_optimizer(model, TrainConfig()), nn.CrossEntropyLoss(label_smoothing=0.1)
    capture = device.type == "cuda" and args.cuda_graphs == "on" and not args.compile
    stage_step = StageStep(net, opt, crit, amp, capture=capture)
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randint(0, 256, (args.batch_size * 4, spec.in_channels, spec.resolution, spec.resolution),
                      dtype=torch.uint8, device=device)  # [4B, C, H, W] resident uint8
    y = torch.randint(0, spec.num_classes, (len(x),), device=device)

    def batches():
        while True:
            for i in range(0, len(x), args.batch_size):
                yield x[i:i + args.batch_size], y[i:i + args.batch_size]

    def step(xb, yb):
        xa = augment_batch(xb, spec, res, g, train=True).contiguous(memory_format=fmt)
        stage_step(xa, yb, 0.1)

    ips = time_steps(step, batches(), max(args.warmup, stage_step.warmup_calls), args.steps, device)
    return ips, stage_step.capture_s


def peak_tflops(args, device):
    if args.peak_tflops or device.type != "cuda":
        return args.peak_tflops
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), 0.0)


def relative_costs(rows):
    """Per width: each resolution's step cost over the highest resolution's (same batch size), in place."""
    for row in rows:
        same = [r for r in rows if r["width"] == row["width"]]
        top = max(same, key=lambda r: r["resolution"])
        row["cost_vs_full_resolution"] = top["images_per_s"] / row["images_per_s"]
    return rows


def conventional_loader(args, spec, device, width):
    """The same step fed by DataLoader + per-image torchvision transforms (crop, flip, normalise)."""
    from torchvision.transforms import v2

    fmt, amp = precision_for(device)
    model = resnet18(spec.num_classes, width, spec.in_channels).to(device, memory_format=fmt)
    opt, crit = make_optimizer(model, TrainConfig()), nn.CrossEntropyLoss(label_smoothing=0.1)
    n = args.batch_size * (args.steps + args.warmup)
    images = torch.randint(0, 256, (n, spec.in_channels, spec.resolution, spec.resolution), dtype=torch.uint8)
    labels = torch.randint(0, spec.num_classes, (n,))
    tf = v2.Compose([v2.RandomCrop(spec.resolution, padding=spec.crop_pad), v2.RandomHorizontalFlip(),
                     v2.ToDtype(torch.float32, scale=True), v2.Normalize(spec.mean, spec.std)])

    class PerImage(torch.utils.data.Dataset):
        def __len__(self):
            return n

        def __getitem__(self, i):
            return tf(images[i]), labels[i]

    dl = torch.utils.data.DataLoader(PerImage(), batch_size=args.batch_size, shuffle=True, drop_last=True,
                                     num_workers=args.loader_workers, pin_memory=device.type == "cuda",
                                     persistent_workers=args.loader_workers > 0)

    def batches():
        while True:
            for xb, yb in dl:
                yield xb.to(device, non_blocking=True).contiguous(memory_format=fmt), yb.to(device, non_blocking=True)

    return time_steps(lambda xb, yb: train_step(model, opt, xb, yb, crit, amp), batches(), args.warmup,
                      args.steps, device)


def main(argv=None):
    args = parse_args(argv)
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    spec = DATASETS[args.dataset]
    widths, resolutions = args.widths, args.resolutions
    name = hardware(env_info(device))  # as the run folders' env.json name it
    peak = peak_tflops(args, device)
    captured = device.type == "cuda" and args.cuda_graphs == "on" and not args.compile
    print(f"device: {name}; batch {args.batch_size}; {args.steps} timed steps after {args.warmup} warm-up; "
          f"step: {'CUDA graph' if captured else 'compiled' if args.compile else 'eager'}")
    print(f"{'width':>5} {'res':>4} {'img/s':>9} {'GFLOP/img':>9} {'TFLOP/s':>8} {'rel. time':>9} "
          f"{'vs full px':>10} {'capture s':>9}" + (f" {'% peak':>7}" if peak else ""))
    rows = []
    for w in widths:
        for r in resolutions:
            ips, capture_s = device_resident(args, spec, device, w, r)
            gflop = 3 * flops_per_image(w, r, spec.in_channels, spec.num_classes) / 1e9  # train = 3 x forward
            rows.append(dict(width=w, resolution=r, images_per_s=ips, train_gflop_per_image=gflop,
                             achieved_tflops=ips * gflop / 1e3, capture_s=capture_s))
    relative_costs(rows)
    full = max(rows, key=lambda r: (r["width"], r["resolution"]))
    for row in rows:
        row["relative_time"] = full["images_per_s"] / row["images_per_s"]
        row["relative_flops"] = row["train_gflop_per_image"] / full["train_gflop_per_image"]
        line = (f"{row['width']:>5} {row['resolution']:>4} {row['images_per_s']:>9.0f} "
                f"{row['train_gflop_per_image']:>9.3f} {row['achieved_tflops']:>8.3f} {row['relative_time']:>9.3f} "
                f"{row['cost_vs_full_resolution']:>10.3f} {row['capture_s']:>9.2f}")
        if peak:
            row["fraction_of_peak"] = row["achieved_tflops"] / peak
            line += f" {100 * row['fraction_of_peak']:>6.1f}%"
        print(line)
    low = min(resolutions)
    ratio_rows = [r for r in rows if r["width"] == full["width"] and r["resolution"] == low]
    if ratio_rows and low != full["resolution"]:
        print(f"at width {full['width']}, a {low} px step costs {ratio_rows[0]['cost_vs_full_resolution']:.3f} "
              f"of a {full['resolution']} px step (FLOPs: {ratio_rows[0]['relative_flops']:.3f})")
    conv = conventional_loader(args, spec, device, full["width"])
    ratio = full["images_per_s"] / conv
    print(f"full size w{full['width']}@{spec.resolution}: device-resident pipeline {full['images_per_s']:.0f} img/s; "
          f"DataLoader + per-image transforms ({args.loader_workers} workers) {conv:.0f} img/s; ratio {ratio:.2f}x")
    result = dict(device=name, batch_size=args.batch_size, rows=rows, dataloader_images_per_s=conv,
                  device_resident_speedup=ratio, torch=torch.__version__, compile=args.compile,
                  step="cuda_graph" if captured else "compiled" if args.compile else "eager", peak_tflops=peak,
                  low_res_step_cost=ratio_rows[0]["cost_vs_full_resolution"] if ratio_rows else None)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        write_text(args.json, json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
