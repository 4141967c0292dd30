"""Data for the examples: CIFAR-10-shaped images from folders, as seed 000 loads them."""

import torch
from torchvision import datasets, transforms

train_transform = transforms.Compose([
    transforms.RandomHorizontalFlip(),
    transforms.ToTensor(),
])

val_transform = transforms.Compose([
    transforms.RandomCrop(32, padding=4),
    transforms.ToTensor(),
])


def make_loaders(root, batch_size=64):
    train_set = datasets.ImageFolder(f"{root}/train", transform=train_transform)
    val_set = datasets.ImageFolder(f"{root}/val", transform=val_transform)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, num_workers=2)
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=batch_size, shuffle=False)
    return train_loader, val_loader
