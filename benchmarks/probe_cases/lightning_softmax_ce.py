# probe-expect: {"runtime": [], "verdicts": {"TL302": "confirmed"}}
"""Buggy Lightning training: the network ends in softmax, and its probabilities go to
cross_entropy, which applies log_softmax again (Trainer.fit, optimizer closure)."""

import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class Classifier(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(30, 128), nn.ReLU(), nn.Linear(128, 5), nn.Softmax(dim=1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-3)


def main():
    L.seed_everything(0, verbose=False)
    centers = torch.randn(5, 30) * 2
    labels = torch.randint(0, 5, (2048,))
    features = centers[labels] + torch.randn(2048, 30)
    features = (features - features.mean(0)) / features.std(0)
    loader = DataLoader(TensorDataset(features, labels), batch_size=64, shuffle=True)
    trainer = L.Trainer(max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Classifier(), loader)


if __name__ == "__main__":
    main()
