# probe-expect: {"runtime": [], "verdicts": {"TL401": "confirmed"}}
"""Buggy character-level LSTM: gradients are never cleared, so every step applies the sum
of all earlier gradients."""

import torch
import torch.nn as nn


class CharLSTM(nn.Module):
    def __init__(self, vocab, hidden=128):
        super().__init__()
        self.embed = nn.Embedding(vocab, 64)
        self.lstm = nn.LSTM(64, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        out, _ = self.lstm(self.embed(tokens))
        return self.head(out)


def main():
    torch.manual_seed(0)
    text = "the quick brown fox jumps over the lazy dog. " * 200
    chars = sorted(set(text))
    data = torch.tensor([chars.index(c) for c in text])
    model = CharLSTM(len(chars))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    criterion = nn.CrossEntropyLoss()
    seq, batch = 64, 32
    for step in range(200):
        starts = torch.randint(0, len(data) - seq - 1, (batch,))
        x = torch.stack([data[s:s + seq] for s in starts])
        y = torch.stack([data[s + 1:s + seq + 1] for s in starts])
        logits = model(x)
        loss = criterion(logits.reshape(-1, len(chars)), y.reshape(-1))
        loss.backward()
        optimizer.step()


if __name__ == "__main__":
    main()
