"""Reproduction (own code) of the shape in pytorch-deep-learning issue #1352: one
data_transform with RandomHorizontalFlip is given to both the training and the test
ImageFolder, so the test images are randomly flipped at evaluation."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

data_transform = transforms.Compose([
    transforms.Resize((64, 64)),
    transforms.RandomHorizontalFlip(p=0.5),
    transforms.ToTensor(),
    transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
])
train_data = datasets.ImageFolder("data/pizza_steak_sushi/train", transform=data_transform)
test_data = datasets.ImageFolder("data/pizza_steak_sushi/test", transform=data_transform)
train_loader = DataLoader(train_data, batch_size=32, shuffle=True)
test_loader = DataLoader(test_data, batch_size=32, shuffle=False)

model = nn.Sequential(
    nn.Conv2d(3, 10, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(10, 10, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(10 * 16 * 16, 3),
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()
for epoch in range(5):
    model.train()
    for images, labels in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
    model.eval()
    correct = 0
    with torch.inference_mode():
        for images, labels in test_loader:
            correct += (model(images).argmax(1) == labels).sum().item()
    print(epoch, correct / len(test_data))
