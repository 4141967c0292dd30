# probe-expect: {"runtime": [], "verdicts": {}}
"""Healthy Lightning training: Trainer.fit calls optimizer.step(closure), and the closure
runs training_step, zero_grad and backward inside the step (the probe must not count that
as a step without gradients or a double step)."""

import lightning as L
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class Classifier(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(30, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 5))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(self.parameters(), lr=1e-3)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=3)
        return [optimizer], [scheduler]


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
