"""The seed 004 ResNet, fixed: every layer is built once in __init__, intermediate
tensors stay local, the head returns logits."""

import torch.nn as nn
import torch.nn.functional as F


def bottleneck(channels):
    return nn.Sequential(
        nn.Conv2d(channels, channels // 2, kernel_size=1, bias=False),
        nn.BatchNorm2d(channels // 2),
        nn.ReLU(),
        nn.Conv2d(channels // 2, channels // 2, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(channels // 2),
        nn.ReLU(),
        nn.Conv2d(channels // 2, channels, kernel_size=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.Dropout(0.2),
    )


class ResNet(nn.Module):
    def __init__(self, in_channels=14, conv_channels=64, num_classes=7):
        super().__init__()
        self.conv1block = nn.Sequential(
            nn.Conv2d(in_channels, conv_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(conv_channels),
            nn.ReLU(),
        )
        self.conv2block_1 = bottleneck(conv_channels)
        self.conv2block_2 = bottleneck(conv_channels)
        self.adjBlock = nn.Conv2d(conv_channels, conv_channels * 2, kernel_size=1, stride=2)
        self.conv3block = bottleneck(conv_channels * 2)
        self.linear_block = nn.Sequential(
            nn.Flatten(),
            nn.LazyLinear(256),
            nn.ReLU(),
            nn.Linear(256, num_classes),
        )

    def forward(self, x):
        out = self.conv1block(x)
        res1 = self.conv2block_1(out) + out
        res2 = self.adjBlock(self.conv2block_2(res1)) + self.adjBlock(res1)
        res3 = F.relu(self.conv3block(res2) + res2)
        return self.linear_block(res3)
