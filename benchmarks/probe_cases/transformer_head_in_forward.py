# probe-expect: {"runtime": ["TL905"], "verdicts": {"TL202": "confirmed"}}
"""Buggy small transformer: the classification head is built inside forward(), so it gets
fresh random weights on every call and the optimizer never sees it."""

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Classifier(nn.Module):
    def __init__(self, vocab=50, dim=64, classes=4):
        super().__init__()
        self.dim, self.classes = dim, classes
        self.embed = nn.Embedding(vocab, dim)
        layer = nn.TransformerEncoderLayer(dim, nhead=4, dim_feedforward=128, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)

    def forward(self, tokens):
        h = self.encoder(self.embed(tokens)).mean(1)
        head = nn.Linear(self.dim, self.classes)
        return head(h)


def main():
    torch.manual_seed(0)
    labels = torch.randint(0, 4, (1024,))
    tokens = torch.randint(5, 50, (1024, 32))
    tokens[:, 0] = labels + 1
    loader = DataLoader(TensorDataset(tokens, labels), batch_size=32, shuffle=True)
    model = Classifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(3):
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()


if __name__ == "__main__":
    main()
