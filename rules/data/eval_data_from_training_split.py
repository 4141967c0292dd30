from collections.abc import Iterator

import libcst as cst

from trainlint.facts import DataRole, FileFacts, Loader, argument, dotted, names_a_loader, says_only
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class EvalDataFromTrainingSplit(Rule):
    """
    ## What it does
    Finds validation or test data taken from the training split:

    - a dataset named for evaluation (`val_dataset`, `test_set`) built from the training
      split (`train=True`, `is_train=True`, `split="train"`, the training folder);
    - a loader named for evaluation (`val_loader`) over the training dataset, with no
      sampler or with the training sampler (`sampler=train_sampler`);
    - an evaluation iterator taken from the training loader
      (`test_iter = iter(self.train_loader)`).

    A copy of the training split that is cut down afterwards (`Subset(val_set, val_idx)`,
    `random_split`, a sampler over held-out indices, `val_set.samples = ...`) is the usual
    way to build a validation set with its own transform, and is left alone; so is a loader
    over the training set used to measure training accuracy (named `train_eval_loader`).

    ## Why is this bad?
    The model is then scored on samples it was trained on: the validation accuracy
    measures memorization, not generalization, so it rises while the model overfits.
    Early stopping, learning-rate schedules on the metric (seed 002 §2.2.5) and model
    selection all follow a number that cannot show overfitting; the reported result is
    wrong.

    ## How to fix
    Build the evaluation data from the held-out split (`train=False`, `split="val"`, the
    validation folder), or from the held-out indices of a split of the training set, with
    its own sampler (`SubsetRandomSampler(valid_idx)`).
    """

    code = "TL105"
    name = "eval-data-from-training-split"
    severity = Severity.WARNING
    summary = "a validation/test dataset or loader is built from the training split"
    seeds = ("002 §2.2.5",)

    bad = [
        Bad(
            """
            from torch.utils.data import DataLoader
            from torchvision import datasets

            class Experiment:
                def build_dataloaders(self, name, **loader_args):
                    constructor = getattr(datasets, name)
                    self.train_dataset = constructor("data", train=True)
                    self.val_dataset = constructor("data", train=True)
                    self.train_dl = DataLoader(self.train_dataset, shuffle=True, **loader_args)
                    self.val_dl = DataLoader(self.val_dataset, shuffle=False, **loader_args)
            """,
            8,
            note="the validation set is built with train=True",
        ),
        Bad(
            """
            import numpy as np
            import torch
            from torch.utils.data import SubsetRandomSampler
            from torchvision import datasets

            def get_loaders(root, transform, batch_size, train_portion=0.8):
                train_data = datasets.CIFAR10(root, train=True, transform=transform)
                split = int(np.floor(train_portion * len(train_data)))
                train_sampler = SubsetRandomSampler(list(range(split)))
                valid_sampler = SubsetRandomSampler(list(range(split, len(train_data))))
                train_loader = torch.utils.data.DataLoader(train_data, batch_size=batch_size, sampler=train_sampler)
                val_loader = torch.utils.data.DataLoader(train_data, batch_size=batch_size, sampler=train_sampler)
                return train_loader, val_loader
            """,
            12,
            note="the validation loader draws with the training sampler",
        ),
        Bad(
            """
            class Trainer:
                def __init__(self, args):
                    self.train_loader = args.train_loader
                    self.test_loader = args.test_loader

                def evaluate(self):
                    num_iter = len(self.test_loader.dataset) // self.train_loader.batch_size
                    test_loader_iter = self.train_loader.__iter__()
                    for _ in range(num_iter):
                        inputs = next(test_loader_iter)
                        self.model(inputs)
            """,
            8,
            note="evaluation iterates the training loader",
        ),
        Bad(
            """
            from torch.utils.data import DataLoader
            from torchvision import datasets

            train_set = datasets.ImageFolder("data/train", transform=train_tf)
            test_set = datasets.ImageFolder("data/train", transform=test_tf)
            test_loader = DataLoader(test_set, batch_size=64)
            """,
            5,
            note="the test set reads the training folder",
        ),
    ]
    good = [
        Good(
            """
            from torch.utils.data import DataLoader
            from torchvision import datasets

            train_dataset = datasets.CIFAR10("data", train=True, transform=train_tf)
            val_dataset = datasets.CIFAR10("data", train=False, transform=test_tf)
            train_loader = DataLoader(train_dataset, batch_size=128, shuffle=True)
            val_loader = DataLoader(val_dataset, batch_size=256)
            """,
        ),
        Good(
            """
            import numpy as np
            import torch
            from torch.utils.data import Subset
            from torchvision import datasets

            train_set = datasets.CIFAR10("data", train=True, transform=train_tf)
            val_set = datasets.CIFAR10("data", train=True, transform=test_tf)
            indices = np.random.permutation(len(train_set))
            train_set = Subset(train_set, indices[:45000])
            val_set = Subset(val_set, indices[45000:])
            val_loader = torch.utils.data.DataLoader(val_set, batch_size=256)
            """,
            note="a copy of the training split with the evaluation transform, cut to the held-out indices",
        ),
        Good(
            """
            import torch
            from torch.utils.data import SubsetRandomSampler

            def get_queues(train_data, batch_size, split):
                indices = list(range(len(train_data)))
                train_queue = torch.utils.data.DataLoader(
                    train_data, batch_size=batch_size, sampler=SubsetRandomSampler(indices[:split]))
                valid_queue = torch.utils.data.DataLoader(
                    train_data, batch_size=batch_size, sampler=SubsetRandomSampler(indices[split:]))
                return train_queue, valid_queue
            """,
            note="DARTS' search split: the validation queue samples the held-out indices",
        ),
        Good(
            """
            import torch

            def evaluate(model, loader):
                model.eval()
                with torch.no_grad():
                    return sum((model(x).argmax(1) == y).sum().item() for x, y in loader)

            train_acc = evaluate(model, train_loader)
            val_acc = evaluate(model, val_loader)
            train_eval_loader = torch.utils.data.DataLoader(train_set, batch_size=512)
            """,
            note="training accuracy measured on purpose",
        ),
        Good(
            """
            from datasets import load_dataset

            raw = load_dataset("wikitext", "wikitext-2-raw-v1")
            if "validation" not in raw.keys():
                raw["validation"] = load_dataset("wikitext", "wikitext-2-raw-v1", split=f"train[:{percent}%]")
                raw["train"] = load_dataset("wikitext", "wikitext-2-raw-v1", split="train[5%:]")
            """,
            note="a slice of the training split held out for validation",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        data = facts.data
        if data.is_test_code:
            return
        for dataset in data.all_datasets():
            reason = dataset.named_for_evaluation_over_training_split
            if reason is None or not isinstance(dataset.node, cst.Call):
                continue
            name = dataset.names[0]
            if data.resplit(name) or any(self._resampled(loader, dataset) for loader in data.loaders):
                continue
            yield self.report(
                dataset.node,
                f"`{name}` is named for evaluation but built from the training split ({reason}): "
                "the metric is measured on training samples; build it from the held-out split",
                first_line_only=True,
            )
        for loader in data.loaders:
            yield from self._loader_over_training_data(loader)
        yield from self._iterators_of_training_loader(facts)

    @staticmethod
    def _resampled(loader: Loader, dataset) -> bool:
        """A loader over this dataset draws with a sampler of its own: it may hold out indices."""
        return any(d.node is dataset.node for d in loader.datasets) and (loader.sampler or loader.batch_sampler)

    def _loader_over_training_data(self, loader: Loader) -> Iterator[Report]:
        if {e.role for e in loader.evidence if e.level == 1} != {DataRole.EVAL} or loader.opaque:
            return
        if not loader.datasets or not all(
            d.decision is not None and d.role == DataRole.TRAIN and d.decision.level <= 2 for d in loader.datasets
        ):
            return
        sampler = argument(loader.node, "sampler", 3)
        if loader.batch_sampler or (sampler is not None and not says_only(dotted(sampler), DataRole.TRAIN)):
            return  # its own sampler: it may draw the held-out indices
        how = f"with the training sampler `{dotted(sampler)}`" if sampler is not None else "with no sampler"
        yield self.report(
            loader.node,
            f"{loader.describe('evaluation')} iterates the training data ({loader.datasets[0].role_reason}) "
            f"{how}: the metric is measured on training samples",
            first_line_only=True,
        )

    def _iterators_of_training_loader(self, facts: FileFacts) -> Iterator[Report]:
        """`test_iter = iter(self.train_loader)`, `val_loader = train_loader`."""
        for assign in facts.assigns:
            value = getattr(assign.node, "value", None)
            source = _iterated(value) if value is not None else None
            if source is None or not says_only(source, DataRole.TRAIN) or not names_a_loader(source):
                continue
            for target in assign.targets:
                name = dotted(target)
                if says_only(name, DataRole.EVAL) and names_a_loader(name):
                    yield self.report(
                        assign.node,
                        f"`{name}` is taken from the training loader `{source}`: the evaluation runs on "
                        "training samples; use the validation/test loader",
                    )


def _iterated(value: cst.BaseExpression) -> str | None:
    """The loader a value iterates or aliases: `iter(x)`, `x.__iter__()`, `x`."""
    if isinstance(value, cst.Call):
        func = value.func
        if isinstance(func, cst.Attribute) and func.attr.value == "__iter__" and not value.args:
            return dotted(func.value)
        if dotted(func) == "iter" and len(value.args) == 1:
            return dotted(value.args[0].value)
        return None
    return dotted(value) if isinstance(value, (cst.Name, cst.Attribute)) else None
