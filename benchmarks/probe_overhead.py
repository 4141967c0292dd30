"""The probe's cost: its overhead per training step, and the wall time to a verdict.

    python benchmarks/probe_overhead.py [--steps 60] [--threads 1] [--skip-wall] [--device cuda]

1. Overhead per step, in one process: the same training step timed with the probe's
   instrumentation on (hooks, backward wrapper, never stopping) and off, in alternating
   blocks, for a tiny MLP, a small CNN and the seed 004 ResNet. Medians after a warm-up.
   On --device cuda each step ends with a synchronize, so the probe's own syncs are counted.
2. Wall time to a verdict: `trainlint probe` on a small script, end to end (child
   start, torch import, 20 steps, static analysis, report), as a user runs it; with
   --device cuda the fixture scripts train on the GPU (TRAINLINT_FIXTURE_DEVICE).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "probe"


def models(gpu: bool = False):
    import torch.nn as nn

    sys.path.insert(0, str(ROOT / "examples" / "buggy"))
    from models.resnet import ResNet

    mlp = (lambda: nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4)),
           (32, 20), 4)
    cnn = (lambda: nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10)),
           (64, 3, 32, 32), 10)
    resnet = (lambda: ResNet(in_channels=14, conv_channels=64, num_classes=7), (32, 14, 8, 8), 7)
    cases = {"mlp (9k params)": mlp, "cnn 3 conv+BN (94k params)": cnn, "seed 004 ResNet (64 ch)": resnet}
    if gpu:  # a step long enough to be GPU-bound; minutes per run on a CPU
        def block(i, o):
            return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.Conv2d(o, o, 3, padding=1),
                    nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]
        vgg = (lambda: nn.Sequential(*block(3, 128), *block(128, 256), *block(256, 512), nn.AdaptiveAvgPool2d(1),
                                     nn.Flatten(), nn.Linear(512, 100)),
               (256, 3, 32, 32), 100)
        cases["vgg-style 6 conv+BN (4.1M params), batch 256"] = vgg
    return cases


def time_steps(build, shape, classes, steps: int, probe, device: str, rounds: int = 4) -> tuple[float, float]:
    """Median step time plain and probed, in alternating blocks (the machine's load drifts)."""
    import torch
    import torch.nn as nn

    torch.manual_seed(0)
    batch = shape[0]
    x = torch.randn(*shape, device=device)
    y = torch.randint(0, classes, (batch,), device=device)
    # the seed 004 ResNet builds a Conv2d in forward(): on the default device, as a user
    # who had fixed the crash with torch.set_default_device would run it
    torch.set_default_device(device)
    model = build().to(device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    model(x[:2])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    times = {True: [], False: []}
    for i in range(rounds * 2):
        plain = i % 2 == 0
        probe.done = plain  # a finished probe leaves every hook at once
        for step in range(steps // rounds + 2):
            start = time.perf_counter()
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            sync()
            if step >= 2:  # warm-up after each switch
                times[plain].append(time.perf_counter() - start)
    probe.done = False
    torch.set_default_device("cpu")
    return statistics.median(times[True]), statistics.median(times[False])


def overhead(steps: int, device: str) -> None:
    import torch

    from trainlint.probe.instrument import Probe

    probe = Probe(steps=None, report_path=None, project_root=str(ROOT), script=__file__)
    probe.install()
    where = torch.cuda.get_device_name(device) if device.startswith("cuda") else f"{torch.get_num_threads()} thread(s)"
    print(f"torch {torch.__version__}, {device} ({where}), median of {steps} steps each way, "
          "plain and probed blocks alternating")
    print(f"{'model':46} {'plain ms/step':>14} {'probed ms/step':>15} {'overhead ms':>12} {'ratio':>6}")
    for name, case in models(device.startswith("cuda")).items():
        a, b = (t * 1000 for t in time_steps(*case, steps, probe, device))
        print(f"{name:46} {a:14.2f} {b:15.2f} {b - a:12.2f} {b / a:6.2f}")


def wall(script: Path, device: str, steps: int = 20) -> None:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "trainlint", "probe", str(script), "--steps", str(steps),
                           "--output-format", "json"], capture_output=True, text=True,
                          env={**os.environ, "TRAINLINT_FIXTURE_DEVICE": device})
    elapsed = time.perf_counter() - start
    import json

    data = json.loads(proc.stdout)
    s = data["summary"]
    print(f"wall time to a verdict: {script.name}, {s['optimizer_steps']} steps on {s['device']}: {elapsed:.1f} s "
          f"(probe's child {s['child_wall_s']:.1f} s), exit {proc.returncode}, "
          f"{len(data['findings'])} finding(s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--skip-wall", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        import torch

        torch.set_num_threads(args.threads)
    if not args.skip_wall:
        wall(FIXTURES / "healthy.py", args.device)
        wall(FIXTURES / "conv_in_forward.py", args.device)
    overhead(args.steps, args.device)


if __name__ == "__main__":
    main()
