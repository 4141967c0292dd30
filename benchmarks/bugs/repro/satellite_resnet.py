"""Reproduction (own code) of the shape in "Increasing loss with every epoch in a PyTorch
ResNet implementation": a small ResNet for 14-band 8x8 tiles whose forward() builds its
downsampling convolution on every call and keeps its intermediate tensors on self; the
loss climbs to infinity and the answer suggests clipping the exploding gradients."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class TileResNet(nn.Module):
    def __init__(self, bands=14, width=32, classes=7):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(bands, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.block = nn.Sequential(
            nn.Conv2d(width, width // 2, 1), nn.BatchNorm2d(width // 2), nn.ReLU(),
            nn.Conv2d(width // 2, width // 2, 3, padding=1), nn.BatchNorm2d(width // 2), nn.ReLU(),
            nn.Conv2d(width // 2, width, 1), nn.BatchNorm2d(width), nn.ReLU(), nn.Dropout(0.2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(width * 2 * 16 * 16, 128), nn.ReLU(), nn.Linear(128, classes))

    def forward(self, x, width=32):
        self.stem_out = self.stem(x)
        self.res1 = self.block(self.stem_out) + self.stem_out
        down = nn.Conv2d(width, width * 2, kernel_size=1, stride=2)
        self.res2 = down(self.block(self.res1)) + down(self.res1)
        return self.head(self.res2)


tiles = torch.rand(588, 14, 64, 64)
labels = torch.randint(0, 7, (588,))
loader = DataLoader(TensorDataset(tiles, labels), batch_size=32, shuffle=True)
model = TileResNet()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()
for epoch in range(10):
    for images, target in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), target)
        loss.backward()
        optimizer.step()
    print(epoch, loss.item())
