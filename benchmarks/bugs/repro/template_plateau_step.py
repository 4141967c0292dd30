"""Reproduction (own code) of the shape in pytorch-template issue #89: the user configures
ReduceLROnPlateau as the trainer's lr_scheduler, and the template's epoch method steps it
with no argument (TypeError: step() missing 'metrics'; the monitored loss never reaches it)."""
import torch
import torch.nn as nn
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import DataLoader, TensorDataset


class Trainer:
    def __init__(self, model, criterion, optimizer, train_loader, valid_loader, lr_scheduler=None):
        self.model = model
        self.criterion = criterion
        self.optimizer = optimizer
        self.train_loader = train_loader
        self.valid_loader = valid_loader
        self.lr_scheduler = lr_scheduler

    def _train_epoch(self, epoch):
        self.model.train()
        for data, target in self.train_loader:
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(data), target)
            loss.backward()
            self.optimizer.step()
        val_loss = self._valid_epoch()
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()
        return val_loss

    def _valid_epoch(self):
        self.model.eval()
        total = 0.0
        with torch.no_grad():
            for data, target in self.valid_loader:
                total += self.criterion(self.model(data), target).item()
        return total / len(self.valid_loader)

    def train(self, epochs):
        for epoch in range(1, epochs + 1):
            print(epoch, self._train_epoch(epoch))


features, targets = torch.randn(512, 20), torch.randint(0, 3, (512,))
train_loader = DataLoader(TensorDataset(features[:400], targets[:400]), batch_size=32, shuffle=True)
valid_loader = DataLoader(TensorDataset(features[400:], targets[400:]), batch_size=32)
model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 3))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
scheduler = ReduceLROnPlateau(optimizer, mode="min", factor=0.1, patience=5)
Trainer(model, nn.CrossEntropyLoss(), optimizer, train_loader, valid_loader, lr_scheduler=scheduler).train(50)
