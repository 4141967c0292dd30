from collections.abc import Iterator

import libcst as cst

from trainlint.facts import FileFacts, argument, dotted, is_optimizer_class, keyword, number, string
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
    Finds an optimizer built with a literal learning rate (directly, through a name
    bound once to a literal in the same scope or an entry of a literal dict, `cfg["lr"]`,
    or, in Lightning's `configure_optimizers`, the literal default of the `__init__`
    parameter it reads) far outside the usual range of that optimizer: `Adam(lr=0.1)`,
    `Adam(lr=1.0)`, `SGD(lr=10)`; and transformers' `TrainingArguments(learning_rate=...)`
    (AdamW). `lr=0` in a file that assigns the learning rate itself
    (`param_group["lr"] = ...`, `adjust_learning_rate(...)`) is a placeholder and is not
    reported, nor is a base rate of 1 that a LambdaLR/Noam schedule scales down, nor are
    test modules (`test_*.py`, `*_test.py`, `conftest.py`), which pick round learning
    rates to check schedules, not to converge.

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
        Bad(
            """
            import torch

            config = {"lr": 0.5, "epochs": 100, "batch_size": 64}
            optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
            """,
            4,
            note="the rate read from a literal config dict",
        ),
        Bad(
            """
            from transformers import Trainer, TrainingArguments

            args = TrainingArguments(output_dir="out", learning_rate=2.0, num_train_epochs=3)
            Trainer(model=model, args=args, train_dataset=train_set).train()
            """,
            3,
            note="transformers' Trainer trains with AdamW at `learning_rate`",
        ),
        Bad(
            """
            import torch
            import lightning.pytorch as pl


            class LitModel(pl.LightningModule):
                def __init__(self, lr=0.5, hidden=64):
                    super().__init__()
                    self.save_hyperparameters()
                    self.net = torch.nn.Linear(10, 1)

                def configure_optimizers(self):
                    return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
            """,
            12,
            note="Lightning: configure_optimizers reads the default of an __init__ parameter",
        ),
    ]
    good = [
        Good(
            """
            import torch
            import lightning.pytorch as pl


            class LitModel(pl.LightningModule):
                def __init__(self, lr=1e-3, hidden=64):
                    super().__init__()
                    self.save_hyperparameters()
                    self.net = torch.nn.Linear(10, 1)

                def configure_optimizers(self):
                    return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
            """,
            note="the same LightningModule with a usual default",
        ),
        Good(
            """
            import torch

            optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: d_model ** -0.5 * min((step + 1) ** -0.5, (step + 1) * warmup ** -1.5)
            )
            """,
            note="the Transformer's Noam schedule: LambdaLR multiplies a base rate of 1 down",
        ),
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
            if qualname and qualname.rsplit(".", 1)[-1] == "TrainingArguments":
                # transformers' Trainer: AdamW at `learning_rate`
                qualname, lr_node = "AdamW", keyword(call.node, "learning_rate")
            elif not qualname or not qualname.startswith("torch.optim.") or not is_optimizer_class(qualname):
                continue
            else:
                lr_node = argument(call.node, "lr", 1)
            family = _FAMILY.get(qualname.rsplit(".", 1)[-1])
            if family is None:
                continue
            lr = number(lr_node)
            if lr is None and _constant_key(lr_node) and not _is_parameter(call.function, _constant_key(lr_node).split("[")[0]):
                scope = id(call.function.node) if call.function else 0
                key = _constant_key(lr_node)
                lr = constants.get((scope, key), constants.get((0, key)))
            if lr is None and call.function is not None and call.function.name == "configure_optimizers":
                lr = _init_default(call, lr_node)
            if lr is None:
                continue
            if lr == 0 and facts.loops.sets_lr:
                continue  # `SGD(params, lr=0)  # lr is set by scheduler`: a placeholder the schedule overwrites
            if lr >= 0.5 and _scaled_by_schedule(facts):
                continue  # Noam / LambdaLR: the schedule multiplies a base of 1 down to the real rate
            low, high = self.settings[family]
            if not (low <= lr <= high):
                yield self.report(
                    lr_node,
                    f"learning rate {_shown(facts, lr_node, lr)} is far outside the usual range of {qualname.rsplit('.', 1)[-1]} "
                    f"({low:g} to {high:g}): the loss will {'jump or turn NaN' if lr > high else 'barely move'}",
                )


def _init_default(call, lr_node) -> float | None:
    """Lightning's `configure_optimizers` reading `self.lr` / `self.hparams.lr`: the literal
    default of that `__init__` parameter (`def __init__(self, lr=0.5)`), when `__init__`
    stores the parameter itself."""
    name = dotted(lr_node) or ""
    if not name.startswith("self.") or call.function.cls is None:
        return None
    param = name.rsplit(".", 1)[-1]
    init = call.function.cls.methods.get("__init__")
    if init is None:
        return None
    for p in (*init.params.params, *init.params.kwonly_params):
        if p.name.value == param and p.default is not None:
            return number(p.default)
    return None


def _constant_key(node) -> str | None:
    """`lr` -> "lr"; `cfg["lr"]` -> 'cfg["lr"]' (a literal dict's entry); else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name) and len(node.slice) == 1:
        index = node.slice[0].slice
        if isinstance(index, cst.Index) and string(index.value) is not None:
            return f'{node.value.value}["{string(index.value)}"]'
    return None


def _scaled_by_schedule(facts: FileFacts) -> bool:
    """A multiplicative schedule (LambdaLR, MultiplicativeLR, a Noam schedule) sets the rate as
    base lr x factor: a base of 1 is the convention there (the Transformer's Noam optimizer)."""
    if any(s.type_name in ("LambdaLR", "MultiplicativeLR") for s in facts.loops.schedulers.values()):
        return True
    return any("noam" in (dotted(call.node.func) or "").lower() for call in facts.calls)


def _constants(facts: FileFacts) -> dict[tuple[int, str], float | None]:
    """Names bound exactly once to a number literal (and the entries of a name bound once to a
    literal dict: `cfg = {"lr": 0.5}`), per scope (function id, or 0 for the module)."""
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
                if isinstance(node, cst.Assign) and isinstance(node.value, cst.Dict):
                    for element in node.value.elements:
                        entry = string(element.key) if isinstance(element, cst.DictElement) else None
                        if entry is not None:
                            counts[(scope, f'{target.value}["{entry}"]')] = 1
                            if number(element.value) is not None:
                                values[(scope, f'{target.value}["{entry}"]')] = number(element.value)
            elif isinstance(target, cst.Subscript) and _constant_key(target) is not None:
                key = (scope, _constant_key(target))  # cfg["lr"] = ...: rebound, not a constant
                counts[key] = counts.get(key, 0) + 2
    # a name bound in a function hides the module's constant; a dict's entries need the dict bound once
    def once(key: tuple[int, str]) -> bool:
        return counts[key] == 1 and counts.get((key[0], key[1].split("[", 1)[0]), 1) == 1

    return {key: (value if once(key) else None) for key, value in values.items()} | {
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
    return facts.code(node) if number(node) is not None else f"{facts.code(node)} = {value:g}"
