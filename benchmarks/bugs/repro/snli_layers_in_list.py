"""Reproduction (own code) of the shape in pytorch/pytorch issue #715: an SNLI classifier
keeps its hidden [Linear, activation] pairs in a plain Python list, so their weights are not
in model.parameters(); apaszke: "wrap them in nn.ModuleList"."""
import torch
import torch.nn as nn


class SNLINet(nn.Module):
    def __init__(self, options):
        super().__init__()
        self.embed = nn.Embedding(options["n_words"], options["n_hid"])
        self.hids = []
        for _ in range(options["n_layers"]):
            self.hids.append([nn.Linear(options["n_hid"], options["n_hid"]), nn.Tanh()])
        self.classifier = nn.Linear(options["n_hid"], 3)

    def forward(self, premise, hypothesis):
        h = self.embed(premise).mean(1) * self.embed(hypothesis).mean(1)
        for linear, act in self.hids:
            h = act(linear(h))
        return self.classifier(h)


options = {"n_words": 20_000, "n_hid": 256, "n_layers": 3}
model = SNLINet(options)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()
for step in range(1000):
    premise, hypothesis = torch.randint(0, 20_000, (32, 20)), torch.randint(0, 20_000, (32, 20))
    label = torch.randint(0, 3, (32,))
    optimizer.zero_grad()
    loss = criterion(model(premise, hypothesis), label)
    loss.backward()
    optimizer.step()
