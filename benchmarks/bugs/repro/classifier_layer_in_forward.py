"""Reproduction (own code) of "The forward() Layer Bug" (thecodeforge.io, PyTorch neural
network guide): the classifier head is constructed inside forward(), so each batch gets a
fresh, untrained layer that the optimizer never sees; validation accuracy stays at chance."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms


class DigitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 256), nn.ReLU())

    def forward(self, x):
        h = self.features(x)
        head = nn.Linear(256, 10).to(x.device)
        return head(h)


tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
loader = DataLoader(datasets.MNIST("data", train=True, download=True, transform=tf), batch_size=128, shuffle=True)
model = DigitNet()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()
for epoch in range(3):
    for images, labels in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
