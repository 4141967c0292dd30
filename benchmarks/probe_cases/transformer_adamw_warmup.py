# probe-expect: {"runtime": [], "verdicts": {}}
"""Healthy small transformer classifier: AdamW, linear warmup then cosine decay (LambdaLR
stepped every batch), padding masked in attention, dropout, gradient clipping."""

import math

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class Classifier(nn.Module):
    def __init__(self, vocab=50, dim=64, classes=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(1, 32, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, nhead=4, dim_feedforward=128, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, tokens):
        pad = tokens == 0
        h = self.encoder(self.embed(tokens) + self.pos[:, :tokens.shape[1]], src_key_padding_mask=pad)
        h = h.masked_fill(pad.unsqueeze(-1), 0).sum(1) / (~pad).sum(1, keepdim=True)
        return self.head(self.norm(h))


def main():
    torch.manual_seed(0)
    n = 1024
    labels = torch.randint(0, 4, (n,))
    tokens = torch.randint(5, 50, (n, 32))
    tokens[:, 0] = labels + 1  # the class is readable from the first token
    lengths = torch.randint(8, 33, (n,))
    tokens[torch.arange(32) >= lengths[:, None]] = 0
    loader = DataLoader(TensorDataset(tokens, labels), batch_size=32, shuffle=True)
    model = Classifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    total, warmup = 3 * len(loader), 10

    def schedule(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    criterion = nn.CrossEntropyLoss()
    for epoch in range(3):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()


if __name__ == "__main__":
    main()
