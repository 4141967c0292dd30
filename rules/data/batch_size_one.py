from collections.abc import Iterator

import libcst as cst

from trainlint.facts import DataRole, FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class BatchSizeOne(Rule):
    """
    ## What it does
    Finds a training `DataLoader` with `batch_size=1`.

    ## Why is this bad?
    With one sample per step every update follows that single sample's gradient: the
    steps are as noisy as they can be and the loss curve is "painful to look at"
    (seed 003 §13). BatchNorm computes its statistics over the batch, so with one sample
    (and few pixels) they are meaningless, and in training mode a `BatchNorm1d` on a
    batch of one raises. Training is also far slower than it needs to be.

    ## How to fix
    Use a batch of 16 to 256 samples and scale the learning rate with it. If samples of
    different sizes cannot be stacked, pass a `collate_fn` that pads them; if memory is
    the limit, accumulate gradients over several small batches.

    Off by default: some tasks (detection with images of varying size, per-sample
    online learning) choose a batch of one on purpose. Select it with `--select TL103`.
    """

    code = "TL103"
    name = "batch-size-one"
    severity = Severity.INFO
    summary = "a training DataLoader with batch_size=1"
    seeds = ("003 §13",)
    default_enabled = False

    bad = [
        Bad(
            """
            import torch
            from torchvision import datasets, transforms

            train_set = datasets.MNIST("data", train=True, transform=transforms.ToTensor(), download=True)
            train_loader = torch.utils.data.DataLoader(train_set, batch_size=1, shuffle=True)
            """,
            5,
        ),
        Bad(
            """
            from torch.utils.data import DataLoader

            def train(model, optimizer, dataset):
                loader = DataLoader(dataset, 1, shuffle=True)
                for x, y in loader:
                    optimizer.zero_grad()
                    model.loss(x, y).backward()
                    optimizer.step()
            """,
            4,
        ),
    ]
    good = [
        Good(
            """
            import torch

            train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
            test_loader = torch.utils.data.DataLoader(test_set, batch_size=1)
            """,
            note="one sample at a time is fine for evaluation",
        ),
        Good(
            """
            import torch

            def get_mean_and_std(dataset):
                dataloader = torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=True, num_workers=2)
                mean = torch.zeros(3)
                for inputs, targets in dataloader:
                    mean += inputs.mean(dim=(0, 2, 3))
                return mean / len(dataset)
            """,
            note="computing statistics, not training",
        ),
        Good(
            """
            from torch.utils.data import DataLoader

            train_loader = DataLoader(train_set, batch_size=None, sampler=shard_sampler)
            """,
            note="batch_size=None: the dataset yields whole batches",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        data = facts.data
        if data.is_inference_script or data.is_test_code or data.imports("transformers"):
            return  # a language model's batch of one holds thousands of tokens
        for loader in data.loaders:
            size = loader.batch_size
            if loader.role != DataRole.TRAIN or not isinstance(size, cst.Integer) or size.value != "1":
                continue
            if not loader.batch_sampler and not loader.has_argument("collate_fn"):
                yield self.report(
                    size,
                    f"{loader.describe('training')} uses batch_size=1: "
                    "every step follows one sample's gradient and BatchNorm statistics are meaningless",
                )
