from collections.abc import Iterator

import libcst as cst

from trainlint.facts import Event, EventKind, FileFacts, Loop, LoopEvents, dotted, evaluation_loop
from trainlint.finding import Applicability, Severity
from trainlint.rule import Bad, Good, Replacement, Report, Rule

# Calls that turn a tensor into a number or cut it from the graph.
_DETACHING = frozenset({"item", "detach", "tolist", "numpy", "float", "int", "cpu_item"})


class LossAccumulatedWithGraph(Rule):
    """
    ## What it does
    Finds a running total of loss tensors kept across training iterations
    (`total_loss += loss`, `losses.append(loss)`) where `loss` is the tensor that
    `backward()` is called on, not `loss.item()` or `loss.detach()`; and loss tensors summed
    in an evaluation loop that runs with autograd on (no `torch.no_grad()`).

    ## Why is this bad?
    The total is a tensor that references every iteration's autograd graph: memory
    grows each step until the run dies with out-of-memory, and each addition is a GPU
    operation that syncs nothing but costs time. Summing losses inside one iteration
    to backpropagate them together (`loss = loss_a + loss_b`) is not reported.

    ## How to fix
    Accumulate the number: `total_loss += loss.item()`.

    ## Fix safety
    The fix replaces `loss` by `loss.item()` in the accumulation. It is offered as
    unsafe when the total is later used as a tensor (`total.item()`, `total.detach()`).
    """

    code = "TL504"
    name = "loss-accumulated-with-graph"
    severity = Severity.WARNING
    summary = "a running total of loss tensors keeps every iteration's graph alive"
    fix_applicability = Applicability.SAFE

    bad = [
        Bad(
            """
            for epoch in range(10):
                total_loss = 0
                for x, y in train_loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    total_loss += loss
                print(total_loss / len(train_loader))
            """,
            8,
            fixed="""
            for epoch in range(10):
                total_loss = 0
                for x, y in train_loader:
                    optimizer.zero_grad()
                    loss = criterion(model(x), y)
                    loss.backward()
                    optimizer.step()
                    total_loss += loss.item()
                print(total_loss / len(train_loader))
            """,
        ),
        Bad(
            """
            def train(model, loader, optimizer):
                running = 0.0
                history = []
                for x, y in loader:
                    optimizer.zero_grad()
                    loss = loss_fn(model(x), y)
                    loss.backward()
                    optimizer.step()
                    running += loss * x.size(0)
                    history.append(loss)
                return running, history
            """,
            9,
            10,
        ),
        Bad(
            """
            def validate(model, val_loader, criterion):
                model.eval()
                total = 0
                for x, y in val_loader:
                    loss = criterion(model(x), y)
                    total += loss
                return total / len(val_loader)
            """,
            6,
            fixed="""
            def validate(model, val_loader, criterion):
                model.eval()
                total = 0
                for x, y in val_loader:
                    loss = criterion(model(x), y)
                    total += loss.item()
                return total / len(val_loader)
            """,
            note="an evaluation loop with autograd on: each batch's loss keeps its graph",
        ),
    ]
    good = [
        Good(
            """
            import torch

            def validate(model, val_loader, criterion):
                model.eval()
                total = 0
                with torch.no_grad():
                    for x, y in val_loader:
                        loss = criterion(model(x), y)
                        total += loss
                return total / len(val_loader)
            """,
            note="no graph under no_grad: summing the tensors keeps nothing alive",
        ),
        Good(
            """
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                total_loss += loss.item()
            """
        ),
        Good(
            """
            for x, y in train_loader:
                optimizer.zero_grad()
                outputs = model(x)
                loss = 0
                for head, target in zip(outputs, y):
                    loss += criterion(head, target)
                loss.backward()
                optimizer.step()
            """,
            note="losses summed within one iteration to backpropagate together",
        ),
        Good(
            """
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                loss = loss.detach()
                losses.append(loss)
            """
        ),
        Good(
            """
            import torch

            with torch.no_grad():
                for x, y in val_loader:
                    val_loss += criterion(model(x), y)
            """,
            note="no graph under no_grad",
        ),
        Good(
            """
            import torch.nn.functional as F

            def test_distributed_sync_multiple_fwd(accelerator):
                model, ddp_model, dataloader = get_training_setup(accelerator)
                losses = []
                num_iterations = 3
                for iteration in range(num_iterations):
                    ddp_input, ddp_target = next(iter(dataloader)).values()
                    step_model(model, ddp_input, ddp_target, accelerator)
                    with accelerator.no_sync(ddp_model):
                        ddp_output = ddp_model(ddp_input)
                        loss = F.mse_loss(ddp_output, ddp_target)
                        losses.append(loss)
                for iteration in range(num_iterations):
                    loss = losses[iteration]
                    accelerator.backward(loss)

            def step_model(model, input, target, accelerator):
                model.train()
                output = model(input)
                loss = F.mse_loss(output, target.to(output.device))
                accelerator.backward(loss)
            """,
            note="accelerate test_sync.py: the losses are kept to backpropagate them later",
        ),
        Good(
            """
            import torch

            test_loss_values = []
            for epoch in range(epochs):
                model.train()
                loss = loss_fn(model(X_train), y_train)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                model.eval()
                with torch.inference_mode():
                    test_loss = loss_fn(model(X_test), y_test)
                if epoch % 10 == 0:
                    test_loss_values.append(test_loss)
            """,
            note="a loss computed under inference_mode() has no graph to keep (pytorch-deep-learning's workflow notebook)",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for flow in facts.loops.root_flows:
            for loop in flow.loops:
                evaluation = evaluation_loop(loop) and not loop.no_grad
                if not evaluation and not any(e.kind == EventKind.BACKWARD for e in loop.direct_events):
                    continue
                for event in loop.events:
                    if event.kind != EventKind.ACCUMULATE or event.no_grad or event.target is None:
                        continue
                    name = _loss_name(event.value)
                    if name is None or not _is_graph_loss(flow, loop, event, name, evaluation=evaluation):
                        continue
                    if _reset_in_iteration(flow, loop, event) or _backpropagated(flow, event.target):
                        continue
                    unsafe = _used_as_tensor(facts, flow, event.target)
                    yield self.report(
                        event.node,
                        f"`{event.target}` accumulates the loss tensor `{name}`, keeping every iteration's graph "
                        f"alive: accumulate `{name}.item()`",
                        fix=self.fix(
                            f"Accumulate `{name}.item()`",
                            Replacement(_name_node(event.value, name), f"{name}.item()"),
                            applicability=Applicability.UNSAFE if unsafe else Applicability.SAFE,
                        ),
                    )


def _loss_name(value: cst.BaseExpression | None) -> str | None:
    if isinstance(value, cst.Name):
        return value.value
    if isinstance(value, cst.BinaryOperation):
        for side in (value.left, value.right):
            if isinstance(side, cst.Name):
                return side.value
    return None


def _name_node(value: cst.BaseExpression, name: str) -> cst.Name:
    if isinstance(value, cst.Name):
        return value
    assert isinstance(value, cst.BinaryOperation)
    return value.left if isinstance(value.left, cst.Name) and value.left.value == name else value.right


def _is_graph_loss(flow: LoopEvents, loop: Loop, event: Event, name: str, *, evaluation: bool = False) -> bool:
    """The name holds the loss tensor that backward() runs on in this iteration (in an
    evaluation loop with autograd on: a loss computed in it, which carries its graph)."""
    binding = flow.binding_of(name, event)
    if binding is None or not binding.in_loop(loop) or binding.no_grad:
        return False  # computed under no_grad()/inference_mode(): it has no graph
    value = binding.value
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value in _DETACHING:
        return False
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value in ("float", "int"):
        return False
    if isinstance(value, cst.Attribute) and value.attr.value == "data":
        return False
    backward_on_name = any(
        e.kind == EventKind.BACKWARD and e.index > binding.index and e.value is not None and dotted(e.value) == name
        for e in loop.events
    )
    if evaluation:
        return _binds_loss_call(flow, binding)
    return backward_on_name or (_binds_loss_call(flow, binding) and any(e.kind == EventKind.BACKWARD for e in loop.events))


def _binds_loss_call(flow: LoopEvents, binding: Event) -> bool:
    value = binding.value
    return any(e.kind == EventKind.LOSS and e.node is _outer_call(value) for e in flow.events[: binding.index])


def _outer_call(value):
    while isinstance(value, cst.BinaryOperation):
        value = value.left
    return value


def _reset_in_iteration(flow: LoopEvents, loop: Loop, event: Event) -> bool:
    binding = flow.binding_of(event.target, event)
    return binding is not None and binding.in_loop(loop)


def _backpropagated(flow: LoopEvents, name: str) -> bool:
    """backward() runs on the total, or later on the tensors it collected (`losses.append(loss)`,
    then `accelerator.backward(losses[i])` or `for loss in losses: loss.backward()`): the
    graphs are kept because they are needed."""
    for e in flow.events:
        if e.kind != EventKind.BACKWARD or e.value is None:
            continue
        if dotted(e.value) == name or _indexes(e.value, name):
            return True
        value = dotted(e.value)
        if value is None or "." in value:
            continue
        bound = flow.binding_of(value, e)
        if bound is not None and bound.value is not None and _indexes(bound.value, name):
            return True
        if any(value in l.target_names and l.iterable is not None and dotted(l.iterable) == name for l in e.loops):
            return True
    return False


def _indexes(value: cst.BaseExpression, name: str) -> bool:
    return isinstance(value, cst.Subscript) and dotted(value.value) == name


def _used_as_tensor(facts: FileFacts, flow: LoopEvents, name: str) -> bool:
    code = facts.code(flow.root) if flow.root is not None else facts.source
    return any(f"{name}.{method}" in code for method in ("item()", "detach()", "cpu()", "backward("))
