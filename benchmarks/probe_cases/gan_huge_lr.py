# probe-expect: {"runtime": ["TL901", "TL902", "TL903", "TL904", "TL907"], "verdicts": {"TL408": "confirmed"}}
"""Buggy GAN: the discriminator's SGD learning rate is 50, far out of range: its ReLUs die
within a few steps and both networks stop learning."""

import math

import torch
import torch.nn as nn


def real_batch(n):
    angles = torch.randint(0, 8, (n,)) * (2 * math.pi / 8)
    return torch.stack([angles.cos(), angles.sin()], 1) * 2 + 0.05 * torch.randn(n, 2)


def main():
    torch.manual_seed(0)
    generator = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    discriminator = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.SGD(discriminator.parameters(), lr=50)
    criterion = nn.BCEWithLogitsLoss()
    for step in range(500):
        real = real_batch(64)
        fake = generator(torch.randn(64, 8))
        opt_d.zero_grad()
        d_loss = criterion(discriminator(real), torch.ones(64, 1)) + \
            criterion(discriminator(fake.detach()), torch.zeros(64, 1))
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = criterion(discriminator(fake), torch.ones(64, 1))
        g_loss.backward()
        opt_g.step()


if __name__ == "__main__":
    main()
