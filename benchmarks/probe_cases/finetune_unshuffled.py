# probe-expect: {"runtime": ["TL910"], "verdicts": {"TL101": "confirmed"}}
"""Buggy fine-tuning: the training data is sorted by class and the DataLoader does not
shuffle, so every batch holds a single class."""

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def backbone():
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
    )


def main():
    torch.manual_seed(0)
    features = backbone()
    for p in features.parameters():
        p.requires_grad = False
    features.eval()
    head = nn.Linear(32, 10)
    centers = torch.randn(10, 3, 16, 16)
    labels = torch.arange(10).repeat_interleave(128)
    images = centers[labels] + 0.5 * torch.randn(1280, 3, 16, 16)
    images = (images - images.mean()) / images.std()
    train_loader = DataLoader(TensorDataset(images, labels), batch_size=64)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(3):
        for x, y in train_loader:
            with torch.no_grad():
                f = features(x)
            optimizer.zero_grad()
            loss = criterion(head(f), y)
            loss.backward()
            optimizer.step()


if __name__ == "__main__":
    main()
