"""A VGG-style classifier as seed 000 describes it: sigmoid between the convolutions,
no batch normalization, a softmax on the output."""

import torch.nn as nn


class VGGSigmoid(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, padding=1),
            nn.Sigmoid(),
            nn.Conv2d(64, 64, kernel_size=3, padding=1),
            nn.Sigmoid(),
            nn.MaxPool2d(2),
            nn.Conv2d(64, 128, kernel_size=3, padding=1),
            nn.Sigmoid(),
            nn.Conv2d(128, 128, kernel_size=3, padding=1),
            nn.Sigmoid(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * 8 * 8, 256),
            nn.Sigmoid(),
            nn.Dropout(0.5),
            nn.Linear(256, num_classes),
            nn.Softmax(dim=1),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
