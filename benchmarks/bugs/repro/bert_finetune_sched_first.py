"""Reproduction (own code) of the usage shown in the pytorch-transformers README that
huggingface/transformers issue #1017 quotes: inside the batch loop the warmup schedule is
stepped before the optimizer ("Detected call of lr_scheduler.step() before
optimizer.step()"), so the schedule's first value is skipped."""
import torch
from torch.optim import AdamW
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, TensorDataset

NUM_WARMUP, NUM_TOTAL, MAX_GRAD_NORM = 100, 1000, 1.0


def warmup_linear(step):
    if step < NUM_WARMUP:
        return step / max(1, NUM_WARMUP)
    return max(0.0, (NUM_TOTAL - step) / max(1, NUM_TOTAL - NUM_WARMUP))


encoder = torch.nn.Sequential(torch.nn.Embedding(30_000, 256), torch.nn.Flatten(), torch.nn.Linear(256 * 64, 2))
optimizer = AdamW(encoder.parameters(), lr=2e-5)
scheduler = LambdaLR(optimizer, warmup_linear)
train_data = DataLoader(TensorDataset(torch.randint(0, 30_000, (4096, 64)), torch.randint(0, 2, (4096,))),
                        batch_size=32, shuffle=True)
for epoch in range(3):
    for input_ids, labels in train_data:
        loss = torch.nn.functional.cross_entropy(encoder(input_ids), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), MAX_GRAD_NORM)
        scheduler.step()
        optimizer.step()
        optimizer.zero_grad()
