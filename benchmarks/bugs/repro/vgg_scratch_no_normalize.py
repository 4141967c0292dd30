"""Reproduction (own code, PyTorch) of the shape in "VGG trained from scratch does not
converge" (php.sqjnqi.com/faq/1460220): the augmentation/rescaling steps never reach the
network, so VGG16 is fed raw, unnormalized pixels and stays at chance while AlexNet learns."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader
from torchvision import datasets, models, transforms

train_tf = transforms.Compose([
    transforms.Resize((224, 224)),
    transforms.RandomHorizontalFlip(),
    transforms.RandomRotation(10),
    transforms.ToTensor(),
])
train_set = datasets.ImageFolder("palmprints/train", transform=train_tf)
loader = DataLoader(train_set, batch_size=32, shuffle=True, num_workers=4)
model = models.vgg16(num_classes=160)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
criterion = nn.CrossEntropyLoss()
for epoch in range(50):
    model.train()
    for images, labels in loader:
        optimizer.zero_grad()
        loss = criterion(model(images), labels)
        loss.backward()
        optimizer.step()
