# probe-expect: {"runtime": [], "verdicts": {}}
"""Healthy fine-tuning: a pretrained-like backbone frozen (requires_grad False, in eval
mode), only the new head optimized, on a shuffled loader."""

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
    labels = torch.randint(0, 10, (1024,))
    images = centers[labels] + 0.5 * torch.randn(1024, 3, 16, 16)
    images = (images - images.mean()) / images.std()
    loader = DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.1, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(3):
        for x, y in loader:
            with torch.no_grad():
                f = features(x)
            optimizer.zero_grad()
            loss = criterion(head(f), y)
            loss.backward()
            optimizer.step()


if __name__ == "__main__":
    main()
