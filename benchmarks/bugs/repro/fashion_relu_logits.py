"""Reproduction (own code) of the shape in the question "why does accuracy drop when I use
ReLU after the linear layers?" (Stack Overflow 58050105): a FashionMNIST CNN whose last
Linear layer is followed by ReLU, and CrossEntropyLoss gets those clipped logits."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


class FashionNet(nn.Module):
    def __init__(self, channels=1, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, kernel_size=5)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5)
        self.fc1 = nn.Linear(64 * 4 * 4, 100)
        self.fc2 = nn.Linear(100, classes)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        out = self.pool(self.relu(self.conv1(x)))
        out = self.pool(self.relu(self.conv2(out)))
        out = self.relu(self.fc1(out.view(out.size(0), -1)))
        out = self.relu(self.fc2(out))
        return out


tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
train_set = datasets.FashionMNIST("data", train=True, download=True, transform=tf)
loader = DataLoader(train_set, batch_size=100, shuffle=True)
model = FashionNet()
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
criterion = nn.CrossEntropyLoss()
for epoch in range(5):
    for images, labels in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
