import re
from collections.abc import Iterator

import libcst as cst

from trainlint.facts import Event, EventKind, FileFacts, Loop, LoopEvents, dotted, same_model
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule

# Models that stay in eval mode on purpose while another one trains.
_FROZEN = re.compile(r"teacher|ema|target|frozen|ref|old|momentum|shadow|pretrained|swa|avg|average", re.I)


class TrainModeNotRestored(Rule):
    """
    ## What it does
    Finds `model.eval()` inside the epoch loop (usually for validation) with no
    `model.train()` before the next training step, so that from the second epoch on
    the model trains in eval mode. Helpers of the same file are followed; models that
    stay in eval mode on purpose (a teacher, an EMA copy) are not reported, nor a model
    whose class, written in the same file, or inline `nn.Sequential` has no layer that
    behaves differently in eval mode.

    ## Why is this bad?
    In eval mode dropout is off and BatchNorm uses its frozen running statistics:
    after the first validation, training silently continues without the
    regularization and normalization the model was designed with, and the loss
    curve changes shape after epoch one (seed 001).

    ## How to fix
    Call `model.train()` at the start of every epoch (or at the start of the training
    function), not once before the loop.
    """

    code = "TL502"
    name = "train-mode-not-restored"
    severity = Severity.WARNING
    summary = "model.eval() in the epoch loop and no model.train() before the next training step"
    seeds = ("001",)

    bad = [
        Bad(
            """
            import torch

            model.train()
            for epoch in range(epochs):
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    val_loss = sum(criterion(model(x), y).item() for x, y in val_loader)
            """,
            9,
        ),
        Bad(
            """
            import torch

            def evaluate(model, loader):
                model.eval()
                with torch.no_grad():
                    return sum((model(x).argmax(1) == y).sum().item() for x, y in loader)

            def train(model, loader, optimizer):
                for x, y in loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()

            def main():
                model = Net()
                optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
                for epoch in range(epochs):
                    train(model, train_loader, optimizer)
                    print(evaluate(model, val_loader))
            """,
            4,
        ),
        Bad(
            """
            import torch
            from evaluation import evaluate

            for epoch in range(epochs):
                model.eval()
                evaluate(model, val_loader)
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
            """,
            5,
            note="eval() in the epoch loop's own body, before an evaluation in another file",
        ),
        Bad(
            """
            import torch
            from losses import dsm_score_estimation

            score = torch.nn.DataParallel(ScoreNet(config))
            score.train()
            step = 0
            for epoch in range(n_epochs):
                for x, _ in dataloader:
                    step += 1
                    loss = dsm_score_estimation(score, x, sigmas)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                    if step % 100 == 0:
                        score.eval()
                        with torch.no_grad():
                            test_loss = dsm_score_estimation(score, next(test_iter)[0], sigmas)
            """,
            15,
            note="the model is only handed to a loss helper of another module",
        ),
        Bad(
            """
            def set_mode(mode, models):
                for m in models:
                    if m is None:
                        continue
                    if mode == "train":
                        m.train()
                    if mode == "eval":
                        m.eval()

            def check_accuracy(generator, engine, loader):
                set_mode("eval", [generator, engine])
                correct = sum((engine(x, generator(q)).argmax(1) == y).sum() for q, x, y in loader)
                return correct / len(loader.dataset)

            def train_loop(generator, engine, optimizer, train_loader, val_loader):
                set_mode("train", [generator, engine])
                for epoch in range(epochs):
                    for q, x, y in train_loader:
                        optimizer.zero_grad()
                        loss_fn(engine(x, generator(q)), y).backward()
                        optimizer.step()
                    val_acc = check_accuracy(generator, engine, val_loader)
            """,
            11,
            note="a helper sets the mode of a list of models",
        ),
        Bad(
            """
            import torch
            import torch.nn as nn


            class VSE:
                def __init__(self):
                    self.img_enc = nn.Sequential(nn.Linear(2048, 1024), nn.Dropout(0.2))
                    self.txt_enc = nn.GRU(300, 1024, batch_first=True)
                    params = list(self.img_enc.parameters()) + list(self.txt_enc.parameters())
                    self.optimizer = torch.optim.Adam(params, lr=2e-4)

                def train_start(self):
                    self.img_enc.train()
                    self.txt_enc.train()

                def val_start(self):
                    self.img_enc.eval()
                    self.txt_enc.eval()

                def train_emb(self, images, captions):
                    self.optimizer.zero_grad()
                    loss = contrastive_loss(self.img_enc(images), self.txt_enc(captions))
                    loss.backward()
                    self.optimizer.step()


            def validate(model, val_loader):
                model.val_start()
                with torch.no_grad():
                    return [(model.img_enc(i), model.txt_enc(c)) for i, c in val_loader]


            def train(model, train_loader, val_loader):
                model.train_start()
                for epoch in range(30):
                    for i, (images, captions) in enumerate(train_loader):
                        model.train_emb(images, captions)
                        if i % 500 == 0:
                            validate(model, val_loader)


            model = VSE()
            train(model, train_loader, val_loader)
            """,
            17,
            note="training written as methods of a plain wrapper class (VSE's train_start/val_start); the GRU computes the same in both modes",
        ),
        Bad(
            """
            import torch
            from torch import nn

            model_2 = nn.Sequential(
                nn.Linear(in_features=1, out_features=10),
                nn.Dropout(p=0.2),
                nn.Linear(in_features=10, out_features=1),
            ).to(device)
            loss_fn = nn.L1Loss()
            optimizer = torch.optim.SGD(model_2.parameters(), lr=0.01)
            for epoch in range(1000):
                loss = loss_fn(model_2(X_train), y_train)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                model_2.eval()
                with torch.inference_mode():
                    test_loss = loss_fn(model_2(X_test), y_test)
            """,
            16,
            note="an nn.Sequential with dropout: from the second epoch on it trains without it",
        ),
    ]
    good = [
        Good(
            """
            def set_mode(mode, models):
                for m in models:
                    if m is None:
                        continue
                    if mode == "train":
                        m.train()
                    if mode == "eval":
                        m.eval()

            def check_accuracy(generator, engine, loader):
                set_mode("eval", [generator, engine])
                correct = sum((engine(x, generator(q)).argmax(1) == y).sum() for q, x, y in loader)
                return correct / len(loader.dataset)

            def train_loop(generator, engine, optimizer, train_loader, val_loader):
                set_mode("train", [generator, engine])
                for epoch in range(epochs):
                    for q, x, y in train_loader:
                        optimizer.zero_grad()
                        loss_fn(engine(x, generator(q)), y).backward()
                        optimizer.step()
                    val_acc = check_accuracy(generator, engine, val_loader)
                    set_mode("train", [generator, engine])
            """,
            note="the same helper puts them back in train mode after the check",
        ),
        Good(
            """
            import torch
            from losses import dsm_score_estimation

            score.train()
            for step, (x, _) in enumerate(dataloader):
                loss = dsm_score_estimation(score, x, sigmas)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if step % 100 == 0:
                    score.eval()
                    with torch.no_grad():
                        test_loss = dsm_score_estimation(score, next(test_iter)[0], sigmas)
                    score.train()
            """,
            note="train mode restored after the periodic test loss",
        ),
        Good(
            """
            import torch

            for epoch in range(epochs):
                model.train()
                for x, y in train_loader:
                    optimizer.zero_grad()
                    criterion(model(x), y).backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    val_loss = sum(criterion(model(x), y).item() for x, y in val_loader)
            """
        ),
        Good(
            """
            import torch

            teacher.eval()
            for epoch in range(epochs):
                for x, y in train_loader:
                    with torch.no_grad():
                        soft = teacher(x)
                    loss = distill(student(x), soft, y)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                teacher.eval()
            """,
            note="a teacher stays in eval mode on purpose",
        ),
        Good(
            """
            @torch.no_grad()
            def estimate_loss():
                model.eval()
                losses = [model(*get_batch("val"))[1].item() for _ in range(eval_iters)]
                model.train()
                return sum(losses) / len(losses)

            while True:
                if iter_num % eval_interval == 0:
                    print(estimate_loss())
                logits, loss = model(X, Y)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            """,
            note="nanoGPT: the evaluation helper restores train mode itself",
        ),
        Good(
            """
            for epoch in range(epochs):
                for phase in ["train", "val"]:
                    if phase == "train":
                        model.train()
                    else:
                        model.eval()
                    for inputs, labels in dataloaders[phase]:
                        optimizer.zero_grad()
                        with torch.set_grad_enabled(phase == "train"):
                            loss = criterion(model(inputs), labels)
                            if phase == "train":
                                loss.backward()
                                optimizer.step()
            """,
            note="the transfer-learning tutorial's phase loop",
        ),
        Good(
            """
            import torch

            def train(train_loader, model, criterion, optimizer, epoch, args):
                \"\"\"
                Switch to eval mode:
                Under the protocol of linear classification on frozen features/models,
                it is not legitimate to change any part of the pre-trained model.
                BatchNorm in train mode may revise running mean/std (even if it receives
                no gradient), which are part of the model parameters too.
                \"\"\"
                model.eval()
                for i, (images, target) in enumerate(train_loader):
                    output = model(images)
                    loss = criterion(output, target)
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()

            def validate(val_loader, model, criterion, args):
                model.eval()
                with torch.no_grad():
                    for i, (images, target) in enumerate(val_loader):
                        loss = criterion(model(images), target)

            def main_worker(args):
                model = models.resnet50()
                for epoch in range(args.start_epoch, args.epochs):
                    train(train_loader, model, criterion, optimizer, epoch, args)
                    acc1 = validate(val_loader, model, criterion, args)
            """,
            note="MoCo main_lincls.py: a linear probe trains the frozen backbone in eval mode on purpose",
        ),
        Good(
            """
            import torch
            from torch import nn

            model_2 = nn.Sequential(
                nn.Linear(in_features=1, out_features=10),
                nn.Linear(in_features=10, out_features=1),
            ).to(device)
            loss_fn = nn.L1Loss()
            optimizer = torch.optim.SGD(model_2.parameters(), lr=0.01)
            for epoch in range(1000):
                loss = loss_fn(model_2(X_train), y_train)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                model_2.eval()
                with torch.inference_mode():
                    test_loss = loss_fn(model_2(X_test), y_test)
            """,
            note="an nn.Sequential of Linear layers computes the same in both modes (pytorch-deep-learning's notebooks)",
        ),
        Good(
            """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class MLP(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc1 = nn.Linear(784, 256)
                    self.fc2 = nn.Linear(256, 10)

                def forward(self, x):
                    return self.fc2(F.relu(self.fc1(x.flatten(1))))

            def fit(model, train_loader, val_loader, optimizer, epochs):
                model.train()
                for epoch in range(epochs):
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        F.cross_entropy(model(x), y).backward()
                        optimizer.step()
                    model.eval()
                    with torch.no_grad():
                        print(epoch, sum(F.cross_entropy(model(x), y).item() for x, y in val_loader))
            """,
            note="fit() receives the file's only model class, which has no dropout or BatchNorm: eval() changes nothing",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class LinearProbe(nn.Module):
                def __init__(self, dim, classes):
                    super().__init__()
                    self.head = nn.Linear(dim, classes)

                def forward(self, x):
                    return self.head(x)

            def fit(model, train_loader, val_loader, optimizer, epochs):
                for epoch in range(epochs):
                    for x, y in train_loader:
                        optimizer.zero_grad()
                        nn.functional.cross_entropy(model(x), y).backward()
                        optimizer.step()
                    model.eval()
                    with torch.no_grad():
                        print(epoch, sum((model(x).argmax(1) == y).sum().item() for x, y in val_loader))

            def main(features, loaders):
                fit(LinearProbe(features, 10).cuda(), *loaders, epochs=20, optimizer=None)
            """,
            note="the call passes a class without dropout or BatchNorm",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        reported: set[int] = set()
        for flow in facts.loops.root_flows:
            for loop in flow.loops:
                if not loop.is_training or loop.parent is not None and loop.parent.is_training:
                    continue
                for event in loop.events:
                    if event.kind == EventKind.EVAL and event.target and not _FROZEN.search(event.target):
                        site = event.site or event.node
                        if id(site) in reported:
                            continue
                        if _trains_before_train_mode(flow, loop, event) and facts.behaves_differently_in_eval(event.target, at=event.node):
                            reported.add(id(site))
                            yield self.report(
                                site,
                                f"`{event.target}.eval()` runs in the epoch loop but `{event.target}.train()` is not "
                                "called before the next training step: from the second epoch on it trains in eval "
                                "mode; call `.train()` at the start of each epoch",
                            )


def _trains_before_train_mode(flow: LoopEvents, loop: Loop, eval_event: Event) -> bool:
    """No train() for this model anywhere in the iteration, and the model is trained in it."""
    model = eval_event.target
    if any(e.kind == EventKind.TRAIN for e in loop.events):  # on any name: it may be an alias of the model
        return False
    if _eval_mode_on_purpose(loop, model):
        return False
    return any(
        e.kind == EventKind.FORWARD and same_model(e.target, model) and not e.no_grad and e.loop is not None and e.loop.is_training
        for e in loop.events
    ) or any(_loss_runs_model(flow, e, model) for e in loop.events)


def _loss_runs_model(flow: LoopEvents, backward: Event, model: str) -> bool:
    """`loss = dsm_score_estimation(score, x, ...)` then `loss.backward()`: the model is
    handed to a loss helper (of another module) whose result is backpropagated."""
    if backward.kind != EventKind.BACKWARD or backward.no_grad or backward.value is None:
        return False
    value = backward.value
    name = dotted(value)
    if name is not None:
        value = flow.value_of(name, backward)
    return isinstance(value, cst.Call) and any(same_model(dotted(a.value), model) for a in value.args)


def _trains(event: Event, model: str) -> bool:
    return (
        event.kind == EventKind.FORWARD and same_model(event.target, model) and not event.no_grad
        and event.loop is not None and event.loop.is_training
    )


def _eval_mode_on_purpose(loop: Loop, model: str) -> bool:
    """The training function itself puts the model in eval mode right before its training
    loop, outside any loop of its own (MoCo's linear probe: "it is not legitimate to change
    any part of the pre-trained model", BatchNorm statistics included): training in eval
    mode is the intent, not a forgotten train(). An eval() written in the epoch loop's own
    body (`model.eval(); evaluate(...)` then the batches) is still reported."""
    events = loop.events
    for i, event in enumerate(events):
        if event.kind != EventKind.EVAL or not same_model(event.target, model):
            continue
        following = next((e for e in events[i + 1 :] if e.kind == EventKind.FORWARD and same_model(e.target, model)), None)
        if (
            following is not None
            and _trains(following, model)
            and following.loop.function is event.function
            and all(l in following.loops for l in event.loops)
            and following.loop not in event.loops
            and all(l.function is not event.function for l in event.loops)
        ):
            return True
    return False
