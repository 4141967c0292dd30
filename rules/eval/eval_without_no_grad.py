from collections.abc import Iterator

from trainlint.facts import EventKind, FileFacts, evaluation_loop
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class EvalWithoutNoGrad(Rule):
    """
    ## What it does
    Finds an evaluation loop over validation or test data whose forward passes run
    with autograd on: not inside `torch.no_grad()`, `torch.inference_mode()` or
    `torch.set_grad_enabled(...)`, in a function not decorated with them, and not
    called from such a block in the same file.

    ## Why is this bad?
    Autograd records the graph of every evaluation batch: memory use is several times
    higher, large validation batches run out of memory, and anything accumulated from
    the outputs keeps the graphs alive (seed 001).

    ## How to fix
    Wrap the loop in `with torch.no_grad():` (or `torch.inference_mode()`), or
    decorate the evaluation function with `@torch.no_grad()`.

    ## Options
    Advice: off unless selected (`select = ["TL503"]`).
    """

    code = "TL503"
    name = "eval-without-no-grad"
    severity = Severity.INFO
    summary = "an evaluation loop runs outside torch.no_grad() / inference_mode()"
    seeds = ("001",)
    default_enabled = False

    bad = [
        Bad(
            """
            def evaluate(model, val_loader):
                model.eval()
                correct = 0
                for images, labels in val_loader:
                    correct += (model(images).argmax(1) == labels).sum().item()
                return correct
            """,
            4,
        ),
        Bad(
            """
            model.eval()
            test_loss = 0.0
            for data, target in test_loader:
                output = model(data)
                test_loss += criterion(output, target).item()
            """,
            3,
        ),
        Bad(
            """
            def validate(model, val_loader):
                model.eval()
                correct = 0
                for x, y in val_loader:
                    out = model.forward(x)
                    correct += (out.argmax(1) == y).sum().item()
                return correct / len(val_loader.dataset)
            """,
            4,
            note="`model.forward(x)` is a forward pass too",
        ),
        Bad(
            """
            from tqdm import tqdm

            def validate(model, val_loader):
                model.eval()
                correct = 0
                batches = tqdm(val_loader)
                for x, y in batches:
                    correct += (model(x).argmax(1) == y).sum().item()
                return correct / len(val_loader.dataset)
            """,
            7,
            note="the loader is wrapped in a progress bar bound earlier",
        ),
    ]
    good = [
        Good(
            """
            from tqdm import tqdm

            def extract_features(model, train_loader):
                model.eval()
                features = []
                batches = tqdm(train_loader)
                for x, _ in batches:
                    features.append(model(x))
                return features
            """,
            note="features of the training data, kept with their graph on purpose (no evaluation data)",
        ),
        Good(
            """
            import torch

            def evaluate(model, val_loader):
                model.eval()
                with torch.no_grad():
                    for images, labels in val_loader:
                        outputs = model(images)
            """
        ),
        Good(
            """
            import torch

            @torch.inference_mode()
            def test(model, test_loader):
                model.eval()
                return [model(x).argmax(1) for x, _ in test_loader]

            @torch.no_grad()
            def validate(model, val_loader):
                model.eval()
                for x, y in val_loader:
                    print(model(x))
            """
        ),
        Good(
            """
            import torch

            def evaluate(model, loader):
                for x, y in loader:
                    yield model(x)

            def main():
                model.eval()
                with torch.no_grad():
                    results = list(evaluate(model, val_loader))
            """,
            note="the caller disables autograd",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for flow in facts.loops.root_flows:
            for loop in flow.loops:
                if not evaluation_loop(loop) or (loop.parent is not None and evaluation_loop(loop.parent)):
                    continue
                forwards = [e for e in loop.events if e.kind == EventKind.FORWARD]
                if forwards and not any(e.no_grad for e in forwards):
                    yield self.report(
                        loop.node,
                        "this evaluation loop runs with autograd on: every batch's graph is recorded; wrap it in "
                        "`with torch.no_grad():`",
                        first_line_only=True,
                    )
