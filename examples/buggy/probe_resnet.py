"""Train the seed 004 ResNet on synthetic tiles, so that `trainlint probe` can run it.

train_resnet.py needs the seed's data files; this script feeds the same model
(models/resnet.py) random 14-channel 8x8 tiles of 7 classes, as the seed describes:

    trainlint probe examples/buggy/probe_resnet.py

confirms TL202 (the shortcut nn.Conv2d built in forward() is in no optimizer param group)
with the measured parameters, and `python examples/buggy/probe_resnet.py` trains it as is.
"""

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from models.resnet import ResNet


def main():
    torch.manual_seed(0)
    tiles = torch.randn(588, 14, 8, 8)
    labels = torch.randint(0, 7, (588,))
    train_loader = DataLoader(TensorDataset(tiles, labels), batch_size=32, shuffle=True)

    model = ResNet(in_channels=14, conv_channels=16, num_classes=7)
    model(tiles[:2])  # materialize the LazyLinear before the optimizer is built
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    for epoch in range(3):
        model.train()
        total_loss = 0.0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
        print(f"epoch {epoch}: loss {total_loss / len(train_loader):.3f}")


if __name__ == "__main__":
    main()
