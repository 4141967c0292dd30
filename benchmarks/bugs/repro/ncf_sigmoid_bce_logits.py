"""Reproduction (own code) of the shape in daisyRec pull request #15: a neural
collaborative-filtering model squashes its score with sigmoid in forward() and the
training loss is BCEWithLogitsLoss, which applies sigmoid again ("loss does not converge")."""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class NeuMF(nn.Module):
    def __init__(self, users, items, factors=32):
        super().__init__()
        self.user_embedding = nn.Embedding(users, factors)
        self.item_embedding = nn.Embedding(items, factors)
        self.mlp = nn.Sequential(nn.Linear(2 * factors, factors), nn.ReLU(), nn.Linear(factors, 1))

    def forward(self, user, item):
        joint = torch.cat([self.user_embedding(user), self.item_embedding(item)], dim=-1)
        return torch.sigmoid(self.mlp(joint)).view(-1)


users, items = torch.randint(0, 1000, (20_000,)), torch.randint(0, 2000, (20_000,))
clicks = torch.randint(0, 2, (20_000,)).float()
loader = DataLoader(TensorDataset(users, items, clicks), batch_size=256, shuffle=True)
model = NeuMF(1000, 2000)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.BCEWithLogitsLoss()
for epoch in range(20):
    for u, i, label in loader:
        optimizer.zero_grad()
        prediction = model(u, i)
        loss = criterion(prediction, label)
        loss.backward()
        optimizer.step()
