"""Reproduction (own code) of the shape in OpenNMT-py issue #253 ("bug with adam?"): the
optimizer is switched to Adam but keeps the learning rate meant for SGD (1.0), and the run
diverges at once (perplexity ~1e43 from the first batches)."""
import argparse

import torch
import torch.nn as nn

parser = argparse.ArgumentParser()
parser.add_argument("-optim", default="adam")
parser.add_argument("-rnn_size", type=int, default=1024)
parser.add_argument("-epochs", type=int, default=20)
opt = parser.parse_args()


class Seq2Seq(nn.Module):
    def __init__(self, vocab, hidden):
        super().__init__()
        self.embed = nn.Embedding(vocab, 300)
        self.encoder = nn.LSTM(300, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.generator = nn.Linear(2 * hidden, vocab)

    def forward(self, src):
        out, _ = self.encoder(self.embed(src))
        return self.generator(out)


model = Seq2Seq(22_441, opt.rnn_size)
optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
criterion = nn.CrossEntropyLoss()
for epoch in range(opt.epochs):
    for step in range(21_692):
        src = torch.randint(0, 22_441, (80, 30))
        tgt = torch.randint(0, 22_441, (80, 30))
        optimizer.zero_grad()
        loss = criterion(model(src).flatten(0, 1), tgt.flatten())
        loss.backward()
        optimizer.step()
