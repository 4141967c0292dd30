# probe-expect: {"runtime": ["TL903"], "verdicts": {"TL201": "confirmed"}}
"""Buggy CNN: sigmoid between five conv layers, no normalization; the first layers get
almost no gradient."""

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def main():
    torch.manual_seed(0)
    centers = torch.randn(10, 3, 16, 16)
    labels = torch.randint(0, 10, (1024,))
    images = centers[labels] + 0.5 * torch.randn(1024, 3, 16, 16)
    loader = DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.Sigmoid(),
        nn.Conv2d(16, 16, 3, padding=1), nn.Sigmoid(),
        nn.Conv2d(16, 16, 3, padding=1), nn.Sigmoid(),
        nn.Conv2d(16, 16, 3, padding=1), nn.Sigmoid(),
        nn.Conv2d(16, 16, 3, padding=1), nn.Sigmoid(),
        nn.Flatten(), nn.Linear(16 * 16 * 16, 10),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(3):
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()


if __name__ == "__main__":
    main()
