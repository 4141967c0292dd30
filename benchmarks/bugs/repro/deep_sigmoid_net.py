"""Reproduction (own code) of the shape in "Why is my sigmoid layer blocking gradients?"
(taourl.com/read-2031103): a deep network with sigmoid between its weight layers; the
gradients reaching the first layers are close to zero and the answer recommends ReLU."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

model = nn.Sequential(
    nn.Conv2d(3, 32, 3, padding=1), nn.Sigmoid(),
    nn.Conv2d(32, 32, 3, padding=1), nn.Sigmoid(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.Sigmoid(),
    nn.Conv2d(64, 64, 3, padding=1), nn.Sigmoid(), nn.MaxPool2d(2),
    nn.Conv2d(64, 128, 3, padding=1), nn.Sigmoid(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(128 * 4 * 4, 256), nn.Sigmoid(), nn.Linear(256, 10),
)
tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))])
loader = DataLoader(datasets.CIFAR10("data", train=True, download=True, transform=tf), batch_size=64, shuffle=True)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
criterion = nn.CrossEntropyLoss()
for epoch in range(10):
    for images, labels in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
