"""The hand-written ResNet of seed 004 (14-channel 8x8 satellite tiles, 7 classes):
its forward() builds the shortcut convolution anew on every call and keeps every
intermediate tensor on `self`."""

import torch.nn as nn
import torch.nn.functional as F


def bottleneck(channels):
    return nn.Sequential(
        nn.Conv2d(channels, channels // 2, kernel_size=1),
        nn.BatchNorm2d(channels // 2),
        nn.ReLU(),
        nn.Conv2d(channels // 2, channels // 2, kernel_size=3, padding=1),
        nn.BatchNorm2d(channels // 2),
        nn.ReLU(),
        nn.Conv2d(channels // 2, channels, kernel_size=1),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.Dropout(0.2),
    )


class ResNet(nn.Module):
    def __init__(self, in_channels=14, conv_channels=64, num_classes=7):
        super().__init__()
        self.conv_channels = conv_channels
        self.conv1block = nn.Sequential(
            nn.Conv2d(in_channels, conv_channels, kernel_size=3, padding=1),
            nn.BatchNorm2d(conv_channels),
            nn.ReLU(),
        )
        self.conv2block = bottleneck(conv_channels)
        self.conv3block = bottleneck(conv_channels * 2)
        self.linear_block = nn.Sequential(
            nn.Flatten(),
            nn.LazyLinear(256),
            nn.ReLU(),
            nn.Linear(256, num_classes),
        )

    def forward(self, x):
        conv_channels = self.conv_channels
        self.conv1Out = self.conv1block(x)

        self.conv2Out_1 = self.conv2block(self.conv1Out)
        self.res1 = self.conv2Out_1 + self.conv1Out

        self.conv2Out_2 = self.conv2block(self.res1)
        self.adjBlock = nn.Conv2d(in_channels=conv_channels, out_channels=conv_channels * 2, kernel_size=1, stride=2)
        self.conv2Out_2 = self.adjBlock(self.conv2Out_2)
        self.res1_adj = self.adjBlock(self.res1)
        self.res2 = self.conv2Out_2 + self.res1_adj

        self.conv3Out = self.conv3block(self.res2)
        self.res3 = self.conv3Out + self.res2

        self.final = self.linear_block(self.res3)
        return F.softmax(self.final, dim=1)
