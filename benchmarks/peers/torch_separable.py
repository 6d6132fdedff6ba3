"""PyTorch reference of the separable student (MiniXception) training, for side-by-side speed checks.

The same network as jaxfer's `SeparableNet` (mini-Xception after Arriaga et al. 2017): a stem of
two 3x3 convolutions (8 filters) with BatchNorm and ReLU, then `depth` residual modules of
round(16 * 2**i * width) filters, each two depthwise-separable convolutions (3x3 depthwise, 1x1
pointwise) with BatchNorm, a 2x2 max-pool and a 1x1 stride-2 shortcut with BatchNorm, and a 3x3
convolutional head averaged over space (58,104 parameters with width 1, depth 4 and 8 classes).
Trained with the MicroExpNet KD loss (1-lam)*CE(y) + lam*CE(softmax(t/T), s/T) and Adam on random
data held in memory, the way a user would write it in PyTorch (channels-last memory format when
--channels-last is given).

Prints one JSON line: train and inference images per second.

    python torch_separable.py --batch 64 --steps 100 --size 48 --width 1.0 --depth 4
Needs: torch (CPU build is enough).
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn(cin, cout, k, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
                         nn.BatchNorm2d(cout, eps=1e-3))


class SeparableConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class ResidualModule(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.shortcut = conv_bn(cin, cout, 1, 2)
        self.sep0, self.bn0 = SeparableConv(cin, cout), nn.BatchNorm2d(cout, eps=1e-3)
        self.sep1, self.bn1 = SeparableConv(cout, cout), nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x):
        y = F.relu(self.bn0(self.sep0(x)))
        y = F.max_pool2d(self.bn1(self.sep1(y)), 2, 2, ceil_mode=True)
        return y + self.shortcut(x)


class SeparableNet(nn.Module):
    def __init__(self, n_classes=8, width=1.0, depth=4):
        super().__init__()
        stem = max(1, round(8 * width))
        self.stem = nn.Sequential(conv_bn(1, stem, 3), nn.ReLU(), conv_bn(stem, stem, 3), nn.ReLU())
        modules, cin = [], stem
        for i in range(depth):
            cout = max(1, round(16 * 2**i * width))
            modules.append(ResidualModule(cin, cout))
            cin = cout
        self.body = nn.Sequential(*modules)
        self.head = nn.Conv2d(cin, n_classes, 3, 1, 1)

    def forward(self, x):
        return self.head(self.body(self.stem(x))).mean(dim=(2, 3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--size", type=int, default=48)
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--temperature", type=float, default=8.0)
    ap.add_argument("--lam", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=0, help="0: torch default")
    ap.add_argument("--channels-last", action="store_true")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    m = SeparableNet(a.classes, a.width, a.depth).to(memory_format=fmt)
    params = sum(p.numel() for p in m.parameters())
    opt = torch.optim.Adam(m.parameters(), 1e-4)
    n = a.batch * a.steps
    x = torch.rand(n, 1, a.size, a.size).contiguous(memory_format=fmt)
    y = torch.randint(0, a.classes, (n,))
    t = torch.randn(n, a.classes)

    def step(xb, yb, tb):
        logits = m(xb)
        soft = -(F.softmax(tb / a.temperature, 1) * F.log_softmax(logits / a.temperature, 1)).sum(1).mean()
        loss = (1 - a.lam) * F.cross_entropy(logits, yb) + a.lam * soft
        opt.zero_grad()
        loss.backward()
        opt.step()

    m.train()
    for i in range(3):  # warm-up
        step(x[:a.batch], y[:a.batch], t[:a.batch])
    start = time.perf_counter()
    for i in range(a.steps):
        s = slice(i * a.batch, (i + 1) * a.batch)
        step(x[s], y[s], t[s])
    train_ips = n / (time.perf_counter() - start)

    m.eval()
    res = {}
    with torch.inference_mode():
        for bs, reps in ((1, 500), (256, 20)):
            xb = torch.rand(bs, 1, a.size, a.size).contiguous(memory_format=fmt)
            for _ in range(5):
                m(xb)
            start = time.perf_counter()
            for _ in range(reps):
                m(xb)
            res[f"infer_bs{bs}_ips"] = round(bs * reps / (time.perf_counter() - start), 1)
    print(json.dumps({"impl": "torch", "model": "separable", "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "channels_last": a.channels_last,
                      "params": params, "width": a.width, "depth": a.depth, "batch": a.batch,
                      "size": a.size, "train_ips": round(train_ips, 1), **res}))


if __name__ == "__main__":
    main()
