"""torch.compile on the CPU computes the eager step's gradients, also for a stage narrower than oneDNN's SIMD block."""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A width-8 ResNet's first residual shortcut: a 1x1 stride-2 convolution from 4 to 8 channels. Compiled as the
# training loop compiles it, its weight gradient must match eager PyTorch's reference convolution (oneDNN off).
# Run in its own process: in channels_last, oneDNN's kernel for it returned wrong gradients, hung or crashed.
SCRIPT = r"""
import sys
import torch
sys.path.insert(0, sys.argv[1])
from lib.training.step import compile_net

torch.manual_seed(0)
conv = torch.nn.Conv2d(4, 8, 1, stride=2, bias=False)
ref = torch.nn.Conv2d(4, 8, 1, stride=2, bias=False)
ref.load_state_dict(conv.state_dict())
net = compile_net(conv, torch.device("cpu"))
worst = 0.0
for _ in range(5):
    x = torch.randn(40, 4, 16, 16)
    conv.weight.grad = ref.weight.grad = None
    net(x).square().sum().backward()
    with torch.backends.mkldnn.flags(enabled=False):
        ref(x).square().sum().backward()
    worst = max(worst, (conv.weight.grad - ref.weight.grad).abs().max().item())
print(f"worst {worst:.3g} of {ref.weight.grad.abs().max().item():.3g}")
"""


def test_compiled_narrow_shortcut_gradient_matches_eager():
    done = subprocess.run([sys.executable, "-c", SCRIPT, REPO], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="2"))
    assert done.returncode == 0, done.stderr[-2000:]
    worst, scale = (float(v) for v in done.stdout.split()[1::2])
    assert worst <= 1e-4 * max(scale, 1.0), done.stdout
