"""Train the sigmoid VGG (seed 000): every mistake the seeds list, in one script."""

import torch
import torch.nn as nn

from data import make_loaders
from models.vgg import VGGSigmoid


def main():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train_loader, val_loader = make_loaders("data/cifar10")
    model = VGGSigmoid(num_classes=10).to(device)
    criterion = nn.BCELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.1)

    for epoch in range(30):
        model.train()
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            outputs = model(images)
            loss = criterion(outputs, labels)
            loss.backward()
            scheduler.step()
            optimizer.step()

        correct = 0
        for images, labels in val_loader:
            outputs = model(images.to(device))
            correct += (outputs.argmax(1) == labels.to(device)).sum().item()
        print(f"epoch {epoch}: val accuracy {correct / len(val_loader.dataset):.3f}")


if __name__ == "__main__":
    main()
