"""Train a small ResNet on CIFAR-10: the kind of script trainlint users edit all day.

Used by benchmarks/lsp_latency.py as the file being typed in; it carries one real bug
(a shortcut conv built in forward) so every re-lint has a finding to locate.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

log = logging.getLogger("train")


@dataclass
class Config:
    data_dir: str = "./data"
    out_dir: str = "./runs/resnet"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    num_workers: int = 4
    seed: int = 0
    amp: bool = True
    val_fraction: float = 0.1
    log_every: int = 50
    grad_clip: float = 1.0
    accumulate: int = 1


def parse_args() -> Config:
    parser = argparse.ArgumentParser(description=__doc__)
    defaults = Config()
    for name, value in asdict(defaults).items():
        kind = type(value)
        if kind is bool:
            parser.add_argument(f"--{name.replace('_', '-')}", action=argparse.BooleanOptionalAction, default=value)
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value)
    return Config(**vars(parser.parse_args()))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


# ----------------------------------------------------------------------------- data
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def build_transforms() -> tuple[transforms.Compose, transforms.Compose]:
    train = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(CIFAR_MEAN, CIFAR_STD),
        ]
    )
    test = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD)])
    return train, test


def build_loaders(cfg: Config) -> tuple[DataLoader, DataLoader, DataLoader]:
    train_tf, test_tf = build_transforms()
    full_train = datasets.CIFAR10(cfg.data_dir, train=True, download=True, transform=train_tf)
    full_val = datasets.CIFAR10(cfg.data_dir, train=True, download=False, transform=test_tf)
    test_set = datasets.CIFAR10(cfg.data_dir, train=False, download=True, transform=test_tf)

    indices = list(range(len(full_train)))
    random.Random(cfg.seed).shuffle(indices)
    n_val = int(len(indices) * cfg.val_fraction)
    val_idx, train_idx = indices[:n_val], indices[n_val:]

    train_loader = DataLoader(
        Subset(full_train, train_idx),
        batch_size=cfg.batch_size,
        shuffle=True,
        num_workers=cfg.num_workers,
        pin_memory=True,
        drop_last=True,
        persistent_workers=cfg.num_workers > 0,
    )
    val_loader = DataLoader(
        Subset(full_val, val_idx), batch_size=256, shuffle=False, num_workers=cfg.num_workers, pin_memory=True
    )
    test_loader = DataLoader(test_set, batch_size=256, shuffle=False, num_workers=cfg.num_workers, pin_memory=True)
    return train_loader, val_loader, test_loader


# ----------------------------------------------------------------------------- model
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.stride != 1 or x.shape[1] != out.shape[1]:
            shortcut = nn.Conv2d(x.shape[1], out.shape[1], kernel_size=1, stride=self.stride, bias=False)
            x = shortcut(x)
        return F.relu(out + x)


class ResNet(nn.Module):
    def __init__(self, num_blocks: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 10) -> None:
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(64, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(128, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(256, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(512, num_blocks[3], stride=2)
        self.linear = nn.Linear(512, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------- optimisation
def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def cosine_with_warmup(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class AverageMeter:
    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def update(self, value: float, n: int = 1) -> None:
        self.total += value * n
        self.count += n

    @property
    def avg(self) -> float:
        return self.total / max(1, self.count)


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    return (logits.argmax(dim=1) == targets).float().mean().item()


# ----------------------------------------------------------------------------- loops
def train_one_epoch(model, loader, criterion, optimizer, scheduler, scaler, device, cfg: Config, epoch: int) -> dict:
    model.train()
    losses, accs = AverageMeter(), AverageMeter()
    start = time.time()
    optimizer.zero_grad(set_to_none=True)
    for step, (images, targets) in enumerate(loader):
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, enabled=cfg.amp):
            logits = model(images)
            loss = criterion(logits, targets) / cfg.accumulate
        scaler.scale(loss).backward()
        if (step + 1) % cfg.accumulate == 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
        losses.update(loss.item() * cfg.accumulate, images.size(0))
        accs.update(accuracy(logits.detach(), targets), images.size(0))
        if step % cfg.log_every == 0:
            lr = optimizer.param_groups[0]["lr"]
            log.info("epoch %d step %d loss %.4f acc %.3f lr %.5f", epoch, step, losses.avg, accs.avg, lr)
    return {"loss": losses.avg, "acc": accs.avg, "time": time.time() - start}


@torch.no_grad()
def evaluate(model, loader, criterion, device) -> dict:
    model.eval()
    losses, accs = AverageMeter(), AverageMeter()
    for images, targets in loader:
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        logits = model(images)
        losses.update(criterion(logits, targets).item(), images.size(0))
        accs.update(accuracy(logits, targets), images.size(0))
    return {"loss": losses.avg, "acc": accs.avg}


def save_checkpoint(path: Path, model, optimizer, scheduler, scaler, epoch: int, best_acc: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "epoch": epoch,
            "best_acc": best_acc,
        },
        path,
    )


def load_checkpoint(path: Path, model, optimizer, scheduler, scaler) -> tuple[int, float]:
    if not path.is_file():
        return 0, 0.0
    state = torch.load(path, map_location="cpu")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    return state["epoch"] + 1, state["best_acc"]


# ----------------------------------------------------------------------------- main
def main() -> None:
    cfg = parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    seed_everything(cfg.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    train_loader, val_loader, test_loader = build_loaders(cfg)
    model = ResNet().to(device)
    init_weights(model)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    optimizer = torch.optim.SGD(
        param_groups(model, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum, nesterov=True
    )
    steps_per_epoch = len(train_loader) // cfg.accumulate
    scheduler = cosine_with_warmup(optimizer, cfg.warmup_epochs * steps_per_epoch, cfg.epochs * steps_per_epoch)
    scaler = torch.cuda.amp.GradScaler(enabled=cfg.amp and device.type == "cuda")

    start_epoch, best_acc = load_checkpoint(out_dir / "last.pt", model, optimizer, scheduler, scaler)
    history = []
    for epoch in range(start_epoch, cfg.epochs):
        train_stats = train_one_epoch(model, train_loader, criterion, optimizer, scheduler, scaler, device, cfg, epoch)
        val_stats = evaluate(model, val_loader, criterion, device)
        history.append({"epoch": epoch, "train": train_stats, "val": val_stats})
        log.info(
            "epoch %d: train loss %.4f acc %.3f | val loss %.4f acc %.3f | %.1fs",
            epoch,
            train_stats["loss"],
            train_stats["acc"],
            val_stats["loss"],
            val_stats["acc"],
            train_stats["time"],
        )
        save_checkpoint(out_dir / "last.pt", model, optimizer, scheduler, scaler, epoch, best_acc)
        if val_stats["acc"] > best_acc:
            best_acc = val_stats["acc"]
            save_checkpoint(out_dir / "best.pt", model, optimizer, scheduler, scaler, epoch, best_acc)
        if not math.isfinite(train_stats["loss"]):
            log.error("loss is %s; stopping", train_stats["loss"])
            break

    model.load_state_dict(torch.load(out_dir / "best.pt", map_location=device)["model"])
    test_stats = evaluate(model, test_loader, criterion, device)
    log.info("test loss %.4f acc %.3f (best val acc %.3f)", test_stats["loss"], test_stats["acc"], best_acc)
    (out_dir / "history.json").write_text(json.dumps(history, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
