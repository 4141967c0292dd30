# probe-expect: {"runtime": [], "verdicts": {}}
"""Healthy MLP on tabular data: standardized features, Adam, ReLU hidden layers."""

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def main():
    torch.manual_seed(0)
    centers = torch.randn(5, 30) * 2
    labels = torch.randint(0, 5, (2048,))
    features = centers[labels] + torch.randn(2048, 30)
    features = (features - features.mean(0)) / features.std(0)
    loader = DataLoader(TensorDataset(features, labels), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(30, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 5))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(3):
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()


if __name__ == "__main__":
    main()
