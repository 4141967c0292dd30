"""Train the seed 004 ResNet, fixed: standardized inputs, shuffled batches, logits into
CrossEntropyLoss, clipped gradients, a plateau schedule fed the validation loss."""

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset, random_split

from models.resnet import ResNet


def main():
    images = torch.load("data/tiles.pt")  # (588, 14, 64, 64), raw reflectance
    labels = torch.load("data/labels.pt")
    mean = images.mean(dim=(0, 2, 3), keepdim=True)
    std = images.std(dim=(0, 2, 3), keepdim=True)
    images = (images - mean) / std
    train_set, val_set = random_split(TensorDataset(images, labels), [500, 88])
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=88)

    model = ResNet(in_channels=14, num_classes=7)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)

    for epoch in range(10):
        model.train()
        total_loss = 0.0
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            total_loss += loss.item()

        model.eval()
        with torch.no_grad():
            val_loss = sum(criterion(model(x), y).item() for x, y in val_loader)
        scheduler.step(val_loss)
        print(f"epoch {epoch}: train loss {total_loss / len(train_loader):.3f}, val loss {val_loss:.3f}")


if __name__ == "__main__":
    main()
