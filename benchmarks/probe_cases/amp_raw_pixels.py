# probe-expect: {"runtime": ["TL903", "TL904", "TL908", "TL909"], "verdicts": {}}
"""Buggy mixed-precision loop: raw 0..255 pixel values go to the network, never scaled or
normalized (autocast to bfloat16 on the CPU, float16 with a GradScaler on a GPU)."""

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


def main():
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float16 if device == "cuda" else torch.bfloat16
    images = torch.randint(0, 256, (1024, 3, 16, 16), dtype=torch.uint8)
    labels = torch.randint(0, 10, (1024,))
    loader = DataLoader(TensorDataset(images, labels), batch_size=64, shuffle=True)
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    ).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler(device, enabled=dtype == torch.float16)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(3):
        for x, y in loader:
            x, y = x.to(device).float(), y.to(device)
            optimizer.zero_grad()
            with torch.autocast(device_type=device, dtype=dtype):
                loss = criterion(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()


if __name__ == "__main__":
    main()
