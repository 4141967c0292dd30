"""Reproduction (own code) of the shape in llama-from-scratch issue #5: the toy language
model's forward() turns its scores into probabilities with F.softmax and hands those to
F.cross_entropy, which applies its own (log-)softmax."""
import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG = {"vocab_size": 65, "d_model": 128, "context_window": 16, "batch_size": 32, "epochs": 1000}


class BrokenLM(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config["vocab_size"], config["d_model"])
        self.mlp = nn.Sequential(
            nn.Linear(config["d_model"], config["d_model"]), nn.ReLU(),
            nn.Linear(config["d_model"], config["vocab_size"]),
        )

    def forward(self, idx, targets=None):
        scores = self.mlp(self.embedding(idx))
        probs = F.softmax(scores, dim=-1)
        if targets is None:
            return probs
        loss = F.cross_entropy(probs.view(-1, self.config["vocab_size"]), targets.view(-1))
        return probs, loss


def get_batch(data, config):
    starts = torch.randint(0, data.size(0) - config["context_window"] - 1, (config["batch_size"],))
    x = torch.stack([data[s:s + config["context_window"]] for s in starts])
    y = torch.stack([data[s + 1:s + config["context_window"] + 1] for s in starts])
    return x, y


corpus = torch.randint(0, CONFIG["vocab_size"], (10_000,))
model = BrokenLM(CONFIG)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(CONFIG["epochs"]):
    xs, ys = get_batch(corpus, CONFIG)
    _, loss = model(xs, ys)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
