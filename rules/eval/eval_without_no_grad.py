from collections.abc import Iterator

import libcst as cst

from trainlint.facts import EventKind, FileFacts, dotted, evaluation_loop, is_evaluation_function, same_model
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class EvalWithoutNoGrad(Rule):
    """
    ## What it does
    Finds an evaluation loop over validation or test data whose forward passes run
    with autograd on: not inside `torch.no_grad()`, `torch.inference_mode()` or
    `torch.set_grad_enabled(...)`, in a function not decorated with them, and not
    called from such a block in the same file. A `test()`/`evaluate()` function without
    a loop that calls `model.eval()` and runs the model on real data (not a shape check on
    `torch.randn`) is reported the same way.

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
        Bad(
            """
            def test(model, data):
                model.eval()
                out = model(data.x, data.edge_index)
                pred = out.argmax(dim=1)
                return (pred[data.test_mask] == data.y[data.test_mask]).float().mean()
            """,
            3,
            note="a full-graph GNN evaluation: one forward pass, no loop",
        ),
    ]
    good = [
        Good(
            """
            import torch

            def test_output_shape(model):
                model.eval()
                x = torch.randn(2, 3, 32, 32)
                assert model(x).shape == (2, 10)
            """,
            note="a model file's shape check on made-up input is not an evaluation",
        ),
        Good(
            """
            import torch

            def test(model, data):
                model.eval()
                out = model(data.x, data.edge_index)
                return (out.argmax(dim=1) == data.y).float().mean()

            def main(model, data, optimizer, epochs):
                for epoch in range(epochs):
                    model.train()
                    optimizer.zero_grad()
                    criterion(model(data.x, data.edge_index), data.y).backward()
                    optimizer.step()
                    with torch.no_grad():
                        acc = test(model, data)
            """,
            note="the caller runs the evaluation under no_grad",
        ),
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
        if not facts.is_test_module:
            yield from self._without_loop(facts)

    def _without_loop(self, facts: FileFacts) -> Iterator[Report]:
        """`def test(model, data): model.eval(); out = model(data.x)`: one forward pass on
        real data after eval(), outside no_grad, in a function with no loop of its own. A
        shape check on `torch.randn` input is not an evaluation."""
        reported: set[int] = set()
        for flow in facts.loops.root_flows:  # an inlined test() is read in its caller's context
            for event in flow.events:
                if event.kind != EventKind.FORWARD or event.no_grad or id(event.node) in reported:
                    continue
                function = event.function
                if function is None or not is_evaluation_function(function.name.value):
                    continue
                if any(l.function is function for l in event.loops) or any(
                    e.function is function and e.kind in (EventKind.BACKWARD, EventKind.STEP) for e in flow.events
                ):
                    continue  # its own loop (the loop rule's), or a function that trains
                toggles = [e for e in flow.events[: event.index] if e.kind == EventKind.EVAL and same_model(e.target, event.target)]
                if not toggles:
                    continue
                if _random_input(facts, flow, event):
                    continue
                reported.add(id(event.node))
                yield self.report(
                    event.node,
                    f"`{function.name.value}()` evaluates `{event.target}` with autograd on: the forward pass "
                    "records its graph; wrap it in `with torch.no_grad():` or decorate the function with "
                    "`@torch.no_grad()`",
                    first_line_only=True,
                )


_RANDOM = ("randn", "rand", "randint", "zeros", "ones", "empty", "randn_like", "rand_like", "zeros_like", "ones_like")


def _random_input(facts: FileFacts, flow, event) -> bool:
    """The forward pass runs on made-up tensors (`model(torch.randn(1, 3, 224, 224))`): a shape check."""
    for arg in event.call.args if event.call is not None else ():
        value = arg.value
        name = dotted(value)
        if name is not None:
            value = flow.value_of(name, event) or value
        if isinstance(value, cst.Call) and (facts.qualname(value.func) or "").startswith("torch.") and (
            (facts.qualname(value.func) or "").rsplit(".", 1)[-1] in _RANDOM
        ):
            return True
    return False
