import re
from collections.abc import Iterator

import libcst as cst

from trainlint.facts import DataRole, FileFacts, dotted, names_a_loader, says_only
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class FinalTestOnValidationData(Rule):
    """
    ## What it does
    Finds the run's test computed on the validation loader while a test loader is built
    and never used: `test_loss, test_acc = test(model, val_loader)` (or a call to a
    `test...()` function with `val_loader`) in a file that binds `test_loader` and never
    reads it again.

    Calls inside a loop (a `test()` function used for validation every epoch) are not the
    final test. A test loader that is used anywhere (iterated, passed on, returned, stored) keeps the
    rule silent: the file may well test on it elsewhere. Validation inside the epoch loop
    (`validate(model, val_loader)`) is what the validation loader is for and is not
    reported.

    ## Why is this bad?
    The validation set chose the checkpoint, the early-stopping epoch and the
    hyperparameters, so a score on it is biased upwards: the reported "test" result is
    not a measure of how the model does on unseen data, and the test set that was built
    for exactly that sits unused.

    ## How to fix
    Pass the test loader to the final evaluation: `test(model, test_loader)`.
    """

    code = "TL106"
    name = "final-test-on-validation-data"
    severity = Severity.WARNING
    summary = "the final test runs on the validation loader while the test loader is never used"

    bad = [
        Bad(
            """
            import torch

            train_loader, val_loader = get_train_valid_loader("data", batch_size=128)
            test_loader = get_test_loader("data", batch_size=128)
            best = 0.0
            for epoch in range(100):
                train(model, train_loader, optimizer, criterion)
                acc = validate(model, val_loader, criterion)
                if acc > best:
                    best = acc
                    torch.save(model.state_dict(), "best.pt")
            model.load_state_dict(torch.load("best.pt"))
            test_loss, test_acc = evaluate(model, val_loader, criterion)
            print(f"test accuracy {test_acc:.3f}")
            """,
            13,
        ),
        Bad(
            """
            def main(args):
                trainloader = make_loader(args, "train")
                validloader = make_loader(args, "valid")
                testloader = make_loader(args, "test")
                for epoch in range(args.epochs):
                    train_epoch(model, trainloader)
                    validate(model, validloader)
                if args.label == "category":
                    result = test_category(model, validloader)
                else:
                    result = test_regression(model, validloader)
                return result
            """,
            9,
            11,
        ),
    ]
    good = [
        Good(
            """
            import torch

            train_loader, val_loader = get_train_valid_loader("data", batch_size=128)
            test_loader = get_test_loader("data", batch_size=128)
            for epoch in range(100):
                train(model, train_loader, optimizer, criterion)
                validate(model, val_loader, criterion)
            model.load_state_dict(torch.load("best.pt"))
            test_loss, test_acc = evaluate(model, test_loader, criterion)
            """,
        ),
        Good(
            """
            train_loader = make_loader("train")
            val_loader = make_loader("val")
            for epoch in range(10):
                train(model, train_loader)
                val_acc = test(model, val_loader)
            """,
            note="no test loader is built: the validation set is all there is",
        ),
        Good(
            """
            class Runner:
                def __init__(self, loaders):
                    self.val_loader = loaders["val"]
                    self.test_loader = loaders["test"]

                def final(self):
                    test_acc = self.test(self.val_loader)
                    return test_acc, self.test(self.test_loader)
            """,
            note="the test loader is used too",
        ),
        Good(
            """
            def test(model, loader):
                return sum((model(x).argmax(1) == y).sum().item() for x, y in loader)

            train_loader, val_loader, test_loader = get_loaders("data")
            for epoch in range(10):
                train(model, train_loader)
                test_acc = test(model, val_loader)
            """,
            note="a test() function used for validation every epoch",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        if facts.data.is_test_code:
            return
        unused = self._unused_test_loaders(facts)
        if not unused:
            return
        targets = {id(a.node.value): a.targets for a in facts.assigns if isinstance(a.node, cst.Assign)}
        for call in facts.calls:
            if call.loops:
                continue  # `val_acc = test(model, val_loader)` every epoch is validation, not the final test
            loader = next(
                (name for a in call.node.args if (name := dotted(a.value)) and _validation_loader(name)), None
            )
            if loader is None:
                continue
            callee = (dotted(call.node.func) or "").rsplit(".", 1)[-1]
            bound = [dotted(t) or "" for t in targets.get(id(call.node), [])]
            for t in targets.get(id(call.node), []):
                if isinstance(t, cst.Tuple):
                    bound += [dotted(e.value) or "" for e in t.elements]
            if not (_says_test(callee) or any(_says_test(b) for b in bound)):
                continue
            yield self.report(
                call.node,
                f"the test is run on the validation loader `{loader}` while `{unused[0]}` is built and never "
                "used: the validation set chose the model, so this score is biased; pass the test loader",
                first_line_only=True,
            )

    @staticmethod
    def _unused_test_loaders(facts: FileFacts) -> list[str]:
        """Names like `test_loader` bound in the file and never read anywhere."""
        bound: list[str] = []
        for assign in facts.assigns:
            for target in assign.targets:
                parts = target.elements if isinstance(target, cst.Tuple) else [target]
                for part in parts:
                    node = part.value if isinstance(part, cst.Element) else part
                    name = dotted(node)
                    if name and _says_test(name) and names_a_loader(name):
                        bound.append(name.rsplit(".", 1)[-1])
        if not bound:
            return []
        counts = facts.identifier_counts
        return [name for name in bound if counts.get(name, 0) == 1]


def _says_test(name: str) -> bool:
    """`test_acc`, `testloader`, `test_category`; not `validate` or `latest`."""
    words = [w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+", name)]
    return any(w.startswith("test") for w in words) and says_only(name, DataRole.EVAL)


def _validation_loader(name: str) -> bool:
    last = name.rsplit(".", 1)[-1].lower()
    return says_only(last, DataRole.EVAL) and names_a_loader(last) and not _says_test(last) and any(
        w in last for w in ("val", "dev")
    )
