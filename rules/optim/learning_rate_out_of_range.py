from collections.abc import Iterator

import libcst as cst

from trainlint.facts import FileFacts, argument, is_optimizer_class, number
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule

# torch.optim class -> the option holding its usual learning-rate range.
_FAMILY = {
    "Adam": "adam", "AdamW": "adam", "Adamax": "adam", "NAdam": "adam", "RAdam": "adam", "SparseAdam": "adam",
    "SGD": "sgd", "RMSprop": "rmsprop", "Adagrad": "adagrad", "Adadelta": "adadelta",
}


class LearningRateOutOfRange(Rule):
    """
    ## What it does
    Finds an optimizer built with a literal learning rate (directly, or through a name
    bound once to a literal in the same scope) far outside the usual range of that
    optimizer: `Adam(lr=0.1)`, `Adam(lr=1.0)`, `SGD(lr=10)`. `lr=0` in a file that assigns
    the learning rate itself (`param_group["lr"] = ...`, `adjust_learning_rate(...)`) is a
    placeholder and is not reported, nor are test modules (`test_*.py`, `*_test.py`,
    `conftest.py`), which pick round learning rates to check schedules, not to converge.

    ## Why is this bad?
    Adaptive optimizers normalize the step size: with Adam the learning rate is roughly
    the size of every weight update, so `lr=0.1` or `1.0` throws the weights around and
    the loss jumps or becomes NaN; far too small a rate and nothing moves (seeds 000 §2.4,
    002 §1: "Adam with lr=1.0 does not converge").

    ## How to fix
    Start from the usual value (Adam/AdamW 1e-3 to 3e-4, SGD with momentum 0.1 to 0.01)
    and tune from there, with a schedule.

    ## Options
    One `[min, max]` range per optimizer family, inclusive: `adam` (Adam, AdamW,
    Adamax, NAdam, RAdam, SparseAdam) `[1e-6, 0.05]`, `sgd` `[1e-6, 1.0]`, `rmsprop`
    `[1e-6, 0.05]`, `adagrad` `[1e-5, 1.0]`, `adadelta` `[1e-3, 10.0]`.
    """

    code = "TL408"
    name = "learning-rate-out-of-range"
    severity = Severity.WARNING
    summary = "a literal learning rate far outside the usual range of its optimizer"
    seeds = ("000 §2.4", "002 §1")
    options = {
        "adam": [1e-6, 0.05],
        "sgd": [1e-6, 1.0],
        "rmsprop": [1e-6, 0.05],
        "adagrad": [1e-5, 1.0],
        "adadelta": [1e-3, 10.0],
    }

    bad = [
        Bad(
            """
            import torch

            optimizer = torch.optim.Adam(model.parameters(), lr=1.0)
            """,
            3,
        ),
        Bad(
            """
            from torch import optim

            LR = 10
            optimizer = optim.SGD(net.parameters(), LR, momentum=0.9)
            """,
            4,
        ),
        Bad(
            """
            import torch

            optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
            """,
            3,
            settings={"adam": [1e-5, 1e-3]},
            note="a stricter configured range",
        ),
    ]
    good = [
        Good(
            """
            import torch

            optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.05)
            """
        ),
        Good(
            """
            import torch

            optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
            """
        ),
        Good(
            """
            import torch

            def main(args):
                optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
                lbfgs = torch.optim.LBFGS(model.parameters(), lr=1)
            """,
            note="non-literal learning rates and optimizers without a range are not checked",
        ),
        Good(
            """
            import torch

            optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
            """
        ),
        Good(
            """
            import torch

            optimizer = torch.optim.SGD(params_groups, lr=0, momentum=0.9)  # lr is set by scheduler
            lr_schedule = cosine_scheduler(args.lr, args.min_lr, args.epochs, len(data_loader))
            for it, (images, _) in enumerate(data_loader):
                for param_group in optimizer.param_groups:
                    param_group["lr"] = lr_schedule[it]
                loss = model(images).mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            """,
            note="DINO main_dino.py: lr=0 is a placeholder, the schedule assigns the LR every step",
        ),
        Good(
            """
            import torch
            from accelerate import Accelerator

            def lambda_test(num_processes=2, step_scheduler_with_optimizer=True):
                accelerator = Accelerator(step_scheduler_with_optimizer=step_scheduler_with_optimizer)
                model = torch.nn.Linear(2, 4)
                optimizer = torch.optim.AdamW(model.parameters(), lr=1.0)
                scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=lambda n: 1 - n / 10)
                model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
                scheduler.step()
                assert scheduler.get_last_lr()[0] == 1.0 - num_processes / 10
            """,
            filename="tests/test_scheduler.py",
            note="accelerate tests/test_scheduler.py: a round lr=1.0 makes the schedule's values easy to check",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        if facts.is_test_module:
            return  # tests pick round learning rates to check schedules and bookkeeping, not convergence
        constants = _constants(facts)
        for call in facts.calls:
            qualname = call.qualname
            if not qualname or not qualname.startswith("torch.optim.") or not is_optimizer_class(qualname):
                continue
            family = _FAMILY.get(qualname.rsplit(".", 1)[-1])
            if family is None:
                continue
            lr_node = argument(call.node, "lr", 1)
            lr = number(lr_node)
            if lr is None and isinstance(lr_node, cst.Name) and not _is_parameter(call.function, lr_node.value):
                scope = id(call.function.node) if call.function else 0
                lr = constants.get((scope, lr_node.value), constants.get((0, lr_node.value)))
            if lr is None:
                continue
            if lr == 0 and facts.loops.sets_lr:
                continue  # `SGD(params, lr=0)  # lr is set by scheduler`: a placeholder the schedule overwrites
            low, high = self.settings[family]
            if not (low <= lr <= high):
                yield self.report(
                    lr_node,
                    f"learning rate {_shown(facts, lr_node, lr)} is far outside the usual range of {qualname.rsplit('.', 1)[-1]} "
                    f"({low:g} to {high:g}): the loss will {'jump or turn NaN' if lr > high else 'barely move'}",
                )


def _constants(facts: FileFacts) -> dict[tuple[int, str], float | None]:
    """Names bound exactly once to a number literal, per scope (function id, or 0 for the module)."""
    counts: dict[tuple[int, str], int] = {}
    values: dict[tuple[int, str], float] = {}
    for assign in facts.assigns:
        node = assign.node
        scope = id(assign.function.node) if assign.function else 0
        targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
        for target in targets:
            if isinstance(target, cst.Name):
                key = (scope, target.value)
                counts[key] = counts.get(key, 0) + 1
                value = number(node.value) if not isinstance(node, cst.AugAssign) else None
                if value is not None:
                    values[key] = value
    # a name bound in a function hides the module's constant
    return {key: (value if counts[key] == 1 else None) for key, value in values.items()} | {
        key: None for key in counts if key not in values
    }


def _is_parameter(function, name: str) -> bool:
    while function is not None:
        params = function.node.params
        if any(p.name.value == name for p in (*params.params, *params.kwonly_params, *params.posonly_params)):
            return True
        function = function.parent
    return False


def _shown(facts: FileFacts, node: cst.BaseExpression, value: float) -> str:
    return facts.code(node) if number(node) is not None else f"{node.value} = {value:g}"
