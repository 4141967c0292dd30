from collections.abc import Iterator

import libcst as cst

from trainlint.facts import DataRole, FileFacts, argument
from trainlint.finding import Applicability, Severity
from trainlint.rule import Bad, Good, Replacement, Report, Rule


class DataloaderNoShuffle(Rule):
    """
    ## What it does
    Finds a `DataLoader` over training data that never reorders it: `shuffle=False`, or
    no `shuffle`, `sampler` or `batch_sampler` at all. Whether a loader serves training
    is read from its name (`train_loader`), its dataset (`train=True`, `split="train"`,
    `train_set`), the function that builds it, or a loop over it that calls `backward()`.
    Loaders for validation or test data, loaders over an `IterableDataset` (a streaming
    dataset), loaders given a sampler (`DistributedSampler`, a weighted or custom sampler),
    datasets that shuffle or draw samples themselves, a loader only used to look at one
    batch, truncated backpropagation through time (the hidden state flows from batch to
    batch, so order matters), test suites, scripts that train nothing (inference,
    feature extraction), and a notebook's loader that is never iterated (it only shows a
    batch) are never reported.

    ## Why is this bad?
    Without shuffling every epoch sees the same batches in the same order. Datasets are
    usually stored sorted (`ImageFolder` lists one class after another), so whole runs
    of batches hold a single class: the gradients of consecutive steps pull the same
    way, BatchNorm statistics swing from class to class, and the loss oscillates or
    stalls instead of falling (seed 000 §2.4, seed 001 §9: the same samples always
    averaged together bias what the network learns; seed 003 §12).

    ## How to fix
    Pass `shuffle=True` to the training loader, or a sampler: `DistributedSampler` under
    DDP (and call `sampler.set_epoch(epoch)`), `RandomSampler` or a weighted sampler.
    Keep validation and test loaders unshuffled.

    The fix adds `shuffle=True`. It is unsafe: it changes which samples meet in a batch
    and the order of training, so results are no longer bit-for-bit those of before.
    """

    code = "TL101"
    name = "dataloader-no-shuffle"
    severity = Severity.WARNING
    summary = "a DataLoader over training data never shuffles it"
    seeds = ("000 §2.4", "001 §9", "003 §12")
    fix_applicability = Applicability.UNSAFE

    bad = [
        Bad(
            """
            import torch
            from torchvision import datasets, transforms

            transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
            train_set = datasets.ImageFolder("data/train", transform=transform)
            train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, num_workers=2)
            """,
            6,
            fixed="""
            import torch
            from torchvision import datasets, transforms

            transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
            train_set = datasets.ImageFolder("data/train", transform=transform)
            train_loader = torch.utils.data.DataLoader(train_set, batch_size=64, num_workers=2, shuffle=True)
            """,
        ),
        Bad(
            """
            from torch.utils.data import DataLoader, TensorDataset

            def fit(model, optimizer, criterion, images, labels, epochs=10):
                loader = DataLoader(TensorDataset(images, labels), batch_size=32, shuffle=False)
                for epoch in range(epochs):
                    for x, y in loader:
                        optimizer.zero_grad()
                        loss = criterion(model(x), y)
                        loss.backward()
                        optimizer.step()
            """,
            4,
            fixed="""
            from torch.utils.data import DataLoader, TensorDataset

            def fit(model, optimizer, criterion, images, labels, epochs=10):
                loader = DataLoader(TensorDataset(images, labels), batch_size=32, shuffle=True)
                for epoch in range(epochs):
                    for x, y in loader:
                        optimizer.zero_grad()
                        loss = criterion(model(x), y)
                        loss.backward()
                        optimizer.step()
            """,
            note="no name says train, but the loop calls backward()",
        ),
        Bad(
            """
            import torch
            from torch.utils.data import DataLoader
            from torchvision.datasets import CIFAR10
            from torchvision.transforms import v2

            transform = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5] * 3, [0.5] * 3)])

            def get_loaders(root, batch_size):
                train = CIFAR10(root, train=True, transform=transform, download=True)
                test = CIFAR10(root, train=False, transform=transform)
                return (
                    DataLoader(train, batch_size=batch_size, num_workers=4),
                    DataLoader(test, batch_size=batch_size, num_workers=4),
                )
            """,
            12,
        ),
        Bad(
            """
            import torch
            from torch.utils.data import DataLoader, random_split

            def get_pretrained(model_class, checkpoint_path):
                model = model_class()
                model.load_state_dict(torch.load(checkpoint_path))
                return model

            def get_loaders(dataset, batch_size, val_fraction=0.05):
                train_subset, val_subset = random_split(dataset, [1 - val_fraction, val_fraction])
                train_loader = DataLoader(train_subset, batch_size=batch_size)
                val_loader = DataLoader(val_subset, batch_size=batch_size)
                return train_loader, val_loader
            """,
            11,
            note="a helper module: loading weights in another helper does not make it an inference script",
        ),
        Bad(
            """
            import torch
            from torchvision import datasets, transforms

            to_input = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
            train_data = datasets.MNIST("data", train=True, download=True, transform=to_input)
            train_loader = torch.utils.data.DataLoader(train_data, batch_size=64)
            images, labels = next(iter(train_loader))

            model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
            for epoch in range(5):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    torch.nn.functional.cross_entropy(model(x), y).backward()
                    optimizer.step()
            """,
            6,
            filename="train.ipynb",
            note="a notebook that looks at a batch, then trains on the same loader",
        ),
        Bad(
            """
            import torch
            from datasets import load_dataset

            # 2 quick datasets to demonstrate the workings
            if 0:  # fake dataset
                ds = torch.utils.data.TensorDataset(torch.arange(4096).view(-1, 256))
                dl = torch.utils.data.DataLoader(ds, batch_size=1, shuffle=True)
            else:  # real dataset
                ds = load_dataset("HuggingFaceH4/ultrachat_200k", split="train_sft")
                dl = torch.utils.data.DataLoader(ds, batch_size=1, collate_fn=collate_fn)
            """,
            10,
            note="`if 0:` switches the first branch off: the `else` is the one that runs",
        ),
    ]
    good = [
        Good(
            """
            import torch
            from torchvision import datasets

            def make_loaders(root, transform, batch_size=64):
                train_set = datasets.ImageFolder(f"{root}/train", transform=transform)
                val_set = datasets.ImageFolder(f"{root}/val", transform=transform)
                train_loader = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True)
                val_loader = torch.utils.data.DataLoader(val_set, batch_size=batch_size)
                test_loader = torch.utils.data.DataLoader(val_set, batch_size=batch_size, shuffle=False)
                return train_loader, val_loader, test_loader
            """,
            note="validation and test loaders stay in order",
        ),
        Good(
            """
            from torch.utils.data import DataLoader
            from torch.utils.data.distributed import DistributedSampler

            def prepare_dataloader(train_dataset, batch_size):
                return DataLoader(
                    train_dataset,
                    batch_size=batch_size,
                    pin_memory=True,
                    shuffle=False,
                    sampler=DistributedSampler(train_dataset),
                )
            """,
            note="DDP: the sampler shuffles",
        ),
        Good(
            """
            import torch
            from torch.utils.data import DataLoader

            def train(model, train_dataset, class_weights, batch_size):
                sampler = torch.utils.data.WeightedRandomSampler(class_weights, num_samples=len(train_dataset))
                train_loader = DataLoader(train_dataset, batch_size=batch_size, sampler=sampler)
                for x, y in train_loader:
                    model(x).sum().backward()
            """,
        ),
        Good(
            """
            import torch
            from torch.utils.data import DataLoader, IterableDataset

            class TokenStream(IterableDataset):
                def __init__(self, files):
                    self.files = files

                def __iter__(self):
                    for path in self.files:
                        yield from torch.load(path)

            train_loader = DataLoader(TokenStream(["shard0.pt", "shard1.pt"]), batch_size=8)
            """,
            note="an IterableDataset cannot be shuffled by the loader",
        ),
        Good(
            """
            import torch
            from torch.utils.data import DataLoader

            @torch.no_grad()
            def evaluate(model, train_set, test_set):
                for name, dataset in (("train", train_set), ("test", test_set)):
                    loader = DataLoader(dataset, batch_size=256)
                    correct = sum((model(x).argmax(1) == y).sum().item() for x, y in loader)
                    print(name, correct / len(dataset))

            def accuracy_on_train(model, train_set):
                loader = DataLoader(train_set, batch_size=256)
                return evaluate_loader(model, loader)
            """,
            note="scoring the training set is evaluation",
        ),
        Good(
            """
            from torch.utils.data import DataLoader

            def train_dataloader(self):
                return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=self.shuffle)

            def loaders(datasets, batch_size):
                return {split: DataLoader(datasets[split], batch_size=batch_size, shuffle=split == "train")
                        for split in ("train", "val")}
            """,
            note="shuffle decided at run time",
        ),
        Good(
            """
            from datasets import load_dataset
            from torch.utils.data import DataLoader

            train_data = load_dataset("c4", "en", split="train", streaming=True).map(tokenize, batched=True)
            train_loader = DataLoader(train_data.with_format("torch"), batch_size=16)
            """,
            note="a streaming Hugging Face dataset is iterable",
        ),
        Good(
            """
            import torch
            from torch.utils.data import DataLoader

            model = torch.jit.load("model.pt").eval()
            train_loader = DataLoader(train_set, batch_size=256)
            with torch.no_grad():
                features = torch.cat([model(x) for x, _ in train_loader])
            torch.save(features, "train_features.pt")
            """,
            note="feature extraction: nothing is trained here",
        ),
        Good(
            """
            import torch
            import torchvision
            from torch.utils.data import DataLoader

            to_input = torchvision.transforms.Compose(
                [torchvision.transforms.ToTensor(), torchvision.transforms.Normalize((0.1307,), (0.3081,))]
            )
            train_set = torchvision.datasets.MNIST("data", train=True, transform=to_input)
            train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
            small_loader = DataLoader(train_set, batch_size=256, shuffle=False)
            images, labels = next(iter(small_loader))

            def repackage_hidden(h):
                return h.detach() if isinstance(h, torch.Tensor) else tuple(repackage_hidden(v) for v in h)

            def train_lm(model, optimizer, corpus, hidden):
                loader = DataLoader(torch.utils.data.TensorDataset(corpus.inputs, corpus.targets), batch_size=35)
                for x, y in loader:
                    hidden = repackage_hidden(hidden)
                    optimizer.zero_grad()
                    output, hidden = model(x, hidden)
                    model.loss(output, y).backward()
                    optimizer.step()
            """,
            note="one batch to look at; truncated BPTT carries the hidden state from batch to batch",
        ),
        Good(
            """
            import torch
            from torchvision import datasets, transforms

            train_transforms = transforms.Compose(
                [transforms.RandomResizedCrop(224), transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)]
            )
            train_data = datasets.ImageFolder("Cat_Dog_data/train", transform=train_transforms)
            trainloader = torch.utils.data.DataLoader(train_data, batch_size=32)
            data_iter = iter(trainloader)
            images, labels = next(data_iter)
            """,
            filename="load_images.ipynb",
            note="a course notebook (deep-learning-v2-pytorch) that trains nothing: the loader shows one batch",
        ),
        Good(
            """
            import torch
            from datasets import load_dataset

            # 2 quick rough datasets to demonstrate the workings
            if 1:  # real dataset
                ds = load_dataset("HuggingFaceH4/ultrachat_200k", split="train_sft")
                dl = torch.utils.data.DataLoader(ds, batch_size=1, collate_fn=collate_fn, shuffle=True)
            else:  # fake dataset
                ds = torch.utils.data.TensorDataset(torch.arange(4096).view(-1, 256))
                dl = torch.utils.data.DataLoader(ds, batch_size=1)
            """,
            note="accelerate's sp-alst.py: the `else` of `if 1:` never runs",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        data = facts.data
        if data.is_inference_script or data.is_test_code or data.carries_state_across_batches:
            return
        for loader in data.loaders:
            if loader.role != DataRole.TRAIN or loader.opaque or loader.iterable or loader.order_irrelevant:
                continue
            if loader.decision.level > 2 and not loader.map_style:
                continue  # known to train only from where it is used: its dataset may be a stream
            if loader.resampled_by or not (data.trains or loader.over_constructed_data):
                continue  # Opacus resamples it; library code handed someone's dataset
            if loader.shuffle not in (None, False) or loader.sampler or loader.batch_sampler:
                continue
            if data.only_looked_at(loader):
                continue  # a notebook's loader that only shows a batch: it runs no epochs
            how = "shuffle=False" if loader.shuffle is False else "no shuffle or sampler"
            sorted_note = (
                " (ImageFolder lists its images class by class, so batches hold one class)"
                if any(d.from_folders for d in loader.datasets) else ""
            )
            yield self.report(
                loader.node,
                f"{loader.describe('training')} has {how}: every epoch sees the batches in the same "
                f"order{sorted_note}; pass shuffle=True (or a sampler)",
                fix=self._fix(facts, loader.node),
                first_line_only=True,
            )

    def _fix(self, facts: FileFacts, call: cst.Call):
        shuffle = argument(call, "shuffle", 2)
        if shuffle is not None:
            return self.fix("set shuffle=True", Replacement(shuffle, "True"))
        if not call.args:
            return None
        last = call.args[-1].value
        return self.fix("add shuffle=True", Replacement(last, facts.code(last) + ", shuffle=True"))
