"""Train the VGG, fixed: CrossEntropyLoss on logits, a sane learning rate with a
schedule, gradients cleared every step, evaluation in eval mode without autograd."""

import torch
import torch.nn as nn

from data import make_loaders
from models.vgg import VGG


def evaluate(model, loader, device):
    model.eval()
    correct = 0
    with torch.no_grad():
        for images, labels in loader:
            outputs = model(images.to(device))
            correct += (outputs.argmax(1) == labels.to(device)).sum().item()
    return correct / len(loader.dataset)


def main():
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train_loader, val_loader = make_loaders("data/cifar10")
    model = VGG(num_classes=10).to(device)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    # no weight decay on biases and BatchNorm scales (1-d parameters)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-3
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=30)

    for epoch in range(30):
        model.train()
        for images, labels in train_loader:
            images, labels = images.to(device), labels.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(images), labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            optimizer.step()
        scheduler.step()
        print(f"epoch {epoch}: val accuracy {evaluate(model, val_loader, device):.3f}")


if __name__ == "__main__":
    main()
