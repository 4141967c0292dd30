"""Reproduction (own code) of the shape in the forum thread "Relationship between the net
structure and forward" (discuss.pytorch.org/t/17826): a layer built in __init__ that
forward() never calls; the answer: it is registered but never used or trained."""
import torch
import torch.nn as nn


class FourLayerNet(nn.Module):
    def __init__(self, d_in, hidden, d_out):
        super().__init__()
        self.input_linear = nn.Linear(d_in, hidden)
        self.middle_linear = nn.Linear(hidden, hidden)
        self.extra_linear = nn.Linear(hidden, hidden)
        self.output_linear = nn.Linear(hidden, d_out)

    def forward(self, x):
        h = self.input_linear(x).clamp(min=0)
        h = self.middle_linear(h).clamp(min=0)
        return self.output_linear(h)


x = torch.randn(64, 1000)
y = torch.randn(64, 10)
model = FourLayerNet(1000, 100, 10)
optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
for t in range(500):
    loss = nn.functional.mse_loss(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
