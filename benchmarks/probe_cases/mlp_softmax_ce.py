# probe-expect: {"runtime": [], "verdicts": {"TL302": "confirmed"}}
"""Buggy MLP: the model ends in softmax and its probabilities go to CrossEntropyLoss,
which applies log_softmax again."""

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
    model = nn.Sequential(nn.Linear(30, 128), nn.ReLU(), nn.Linear(128, 5), nn.Softmax(dim=1))
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
