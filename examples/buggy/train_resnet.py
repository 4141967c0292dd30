"""Train the seed 004 ResNet: 588 satellite tiles, 14 channels, 7 classes."""

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from models.resnet import ResNet


def main():
    images = torch.load("data/tiles.pt")  # (588, 14, 64, 64), raw reflectance
    labels = torch.load("data/labels.pt")
    train_loader = DataLoader(TensorDataset(images, labels), batch_size=32)

    model = ResNet(in_channels=14, num_classes=7)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    for epoch in range(10):
        total_loss = 0
        for x, y in train_loader:
            optimizer.zero_grad()
            probs = model(x)
            loss = criterion(probs, y)
            loss.backward()
            optimizer.step()
            total_loss += loss
        print(f"epoch {epoch}: loss {total_loss / len(train_loader)}")


if __name__ == "__main__":
    main()
