"""Reproduction (own code) of the shape in Contextualized issue #140: a classifier trained
with mean squared error between its sigmoid probability and the true 0/1 labels; the
maintainers switch it to cross-entropy "for correctness" (MSE also ran into overflow)."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class ContextClassifier(nn.Module):
    def __init__(self, context_dim, x_dim):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(context_dim, 64), nn.ReLU(), nn.Linear(64, x_dim + 1))

    def forward(self, c, x):
        params = self.encoder(c)
        beta, mu = params[:, :-1], params[:, -1]
        return torch.sigmoid((beta * x).sum(-1) + mu)


contexts, covariates = torch.randn(5000, 8), torch.randn(5000, 16)
labels = torch.randint(0, 2, (5000,)).float()
loader = DataLoader(TensorDataset(contexts, covariates, labels), batch_size=64, shuffle=True)
model = ContextClassifier(8, 16)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.MSELoss()
for epoch in range(100):
    for c, x, y in loader:
        optimizer.zero_grad()
        probability = model(c, x)
        loss = loss_fn(probability, y)
        loss.backward()
        optimizer.step()
