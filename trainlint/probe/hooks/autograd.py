"""Autograd: Tensor.backward and torch.autograd.backward (the first calls the second:
a re-entry guard measures each backward once). The GradientRecorder reads, around each
backward: which parameters it reached (from their ``.grad``), each layer's own gradient
norm (what this backward added), zero rows of the weight gradients, NaN/Inf, the loss."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch.utils.weak import WeakIdKeyDictionary

from trainlint.probe.hooks.modules import module_args, short
from trainlint.probe.numbers import finite as _finite
from trainlint.probe.numbers import to_json as _num
from trainlint.probe.schema import (
    CarriedGradients,
    Layer,
    NonFiniteGrad,
    NonFiniteLoss,
    NotOptimized,
    Site,
    WithoutGrad,
)

if TYPE_CHECKING:
    from trainlint.probe.instrument import Probe

#: Gradients that backward() adds to are copied first (to measure what it added) up to this many
#: bytes per backward; past it (a large model without zero_grad) the accumulated .grad is read.
MAX_GRAD_COPY_BYTES = 2 << 30
WEIGHT_LAYERS = ("Linear", "Conv1d", "Conv2d", "Conv3d", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d",
                 "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Bilinear")
MAX_CARRIED = 3  # backward calls described that started with gradients still in .grad


class GradientRecorder:
    """What each backward() added: the loss, the gradient norms per layer and in total, the
    parameters it reached, and the first non-finite loss and gradient."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.in_backward = False
        self.backward_calls = 0
        self.backward_site: Site | None = None
        self.losses: list[float] = []
        self.grad_norms: list[float] = []
        self.layer_norms: dict[str, list] = {}  # name -> [(iteration, norm)]
        self.layer_info: dict[str, dict] = {}  # name -> its module's type and site
        self.layer_order: list[str] = []
        self._layer_position: dict[str, int] = {}  # layer -> its position in the latest iteration it ran
        self.ratios: list[float] = []
        self.ratio_layers: tuple[str, str] | tuple = ()
        self.zero_rows: dict[str, list] = {}
        self.nonfinite_loss: NonFiniteLoss | None = None
        self.nonfinite_grad: NonFiniteGrad | None = None
        self.not_optimized: dict[str, NotOptimized] = {}
        self.reached = WeakIdKeyDictionary()
        self.carried: list[CarriedGradients] = []
        self.accumulated_grads_read = False  # too large to copy: some gradients were read as .grad's sum

    # ------------------------------------------------------------------ around a backward
    def backward(self, loss, call):
        """Run `call` (the script's backward) with the measurements before and after it."""
        probe = self.probe
        self.in_backward = True
        try:
            pre = self._before(loss)
        except Exception as exc:  # a probe bug must not look like the script's
            probe.internal_error(exc)
            pre = None
        try:
            result = call()
        finally:
            self.in_backward = False
        if pre is not None:
            try:
                self._after(pre)
            except Exception as exc:  # a probe bug must not look like the script's
                probe.internal_error(exc)
        if not probe.optim.live():  # a hand-written `p -= lr * p.grad` loop: backward calls count
            probe.stop_if_done(self.backward_calls)
        return result

    def _before(self, loss) -> dict:
        probe = self.probe
        probe.event("backward")
        if self.backward_site is None:
            self.backward_site = probe.site()
        scale, loss = probe.amp.unscale(loss)  # the loss as the script computed it
        # read back with the step's other numbers, in one synchronization
        value = loss.detach().float().mean() if loss.numel() >= 1 else torch.tensor(float("nan"))
        probe.last_device = loss.device
        carried = None
        if probe.optim.stepped_since_backward and len(self.carried) < MAX_CARRIED:
            params = probe.optim.params()
            with_grad = [p for p in params if p.grad is not None]
            if params and with_grad:
                nonzero = sum(1 for p in with_grad if bool(p.grad.any()))
                if nonzero:
                    carried = CarriedGradients(iteration=self.backward_calls + 1, params=nonzero, of=len(params))
        return {"loss": value, "grads_before": self.grads_before(), "carried": carried, "scale": scale}

    def grads_before(self) -> list[tuple]:
        """Every parameter the backward could reach, with its .grad, that grad's version and
        a copy of it where backward() will add to an older gradient (None where it is cleared).

        Which parameters the loss reached is read from what backward() did to their .grad
        (set, replaced or accumulated into in place), not from walking loss.grad_fn: how
        autograd exposes a leaf's AccumulateGrad node in next_functions differs between
        torch releases (2.11 showed none), while .grad is public API. The copy gives each
        backward's own gradient (.grad minus it): without zero_grad() the .grad holds the
        stale sum of every earlier one, and its norm says nothing about this step."""
        seen: set[int] = set()
        before = []
        zeroed = self.probe.optim.take_zeroed()
        budget = [MAX_GRAD_COPY_BYTES]

        def add(p) -> None:
            if id(p) not in seen and p.requires_grad:
                seen.add(id(p))
                grad = p.grad
                old = None
                if grad is not None and id(p) not in zeroed:
                    size = grad.numel() * grad.element_size()
                    if size <= budget[0]:
                        budget[0] -= size
                        old = grad.detach().clone()
                    elif not self.accumulated_grads_read:
                        self.accumulated_grads_read = True  # said in the report: these norms are sums
                before.append((p, grad, grad._version if grad is not None else None, old))

        for p in self.probe.optim.params():
            add(p)
        for module in list(self.probe.modules.modules):
            for p in module._parameters.values():
                if p is not None:
                    add(p)
        return before

    def _after(self, pre: dict) -> None:
        probe = self.probe
        modules = probe.modules
        with probe.lock:
            self.backward_calls += 1
            iteration = self.backward_calls
            probe.optim.stepped_since_backward = False
            if pre["carried"]:
                self.carried.append(pre["carried"])
            probe.evaluation.resolve_watched()
            leaves = [p for p, grad, version, _ in pre["grads_before"]
                      if p.grad is not None and (p.grad is not grad or p.grad._version != version)]
            older = {id(p): old for p, _, _, old in pre["grads_before"] if old is not None}
            optimized = probe.optim.optimized_ids()
            has_optimizer = bool(probe.optim.live())
            if iteration <= 3:
                probe.evaluation.add_roots(modules.roots_called())
            owner = modules.on_trained(iteration)
            for t in leaves:
                if isinstance(t, torch.nn.Parameter):
                    self.reached[t] = True
            layers: dict[str, list] = {}  # layer -> [its position in the forward pass, indexes into grads, weight grad]
            grads = []
            for t in leaves:
                if not isinstance(t, torch.nn.Parameter):
                    continue
                own = _own_gradient(t.grad, older.get(id(t)))
                name = modules.param_name(t)
                module = owner.get(id(t))
                if name is None:
                    kind = type(module).__name__ if module is not None else "tensor"
                    site = modules.sites.get(module) if module is not None else None
                    where = f" built at {short(site)}" if site else ""
                    name = f"<{kind}{where}>.{'weight' if t.dim() >= 2 else 'param'}{tuple(t.shape)}"
                if has_optimizer and id(t) not in optimized:
                    self._not_optimized(name, t, module)
                layer = name.rsplit(".", 1)[0] if "." in name else name
                if layer not in self.layer_info:
                    self.layer_info[layer] = {
                        "module": type(module).__name__ if module is not None else None,
                        "site": modules.sites.get(module) if module is not None else None,
                    }
                order = modules.order.get(id(module), 10**6) if module is not None else 10**6
                layers.setdefault(layer, [order, [], None])[1].append(len(grads))
                if (module is not None and type(module).__name__ in WEIGHT_LAYERS and t.dim() >= 2
                        and name.endswith("weight")):
                    layers[layer][2] = own
                grads.append(own)
            names = sorted(layers, key=lambda n: layers[n][0])
            weight_names = [n for n in names if layers[n][2] is not None and not layers[n][2].is_sparse]
            # every number of this step comes back in one synchronization per device
            read = _Readback()
            loss_at = read.add(pre["loss"])
            checks = [(key, read.add(out), read.add(inp)) for key, out, inp in modules.finite_checks] \
                if modules.nonfinite_activation is None else []
            stats = [(key, kind, read.add(stat)) for key, kind, stat in modules.act_stats]
            norms_at = [read.add(n) for n in _grad_norms(grads, 1.0 / pre["scale"] if pre["scale"] else None)]
            # a row of a weight gradient is an output unit: dead when zero over the last batches
            rows_at = [read.add(modules.dead_share(("rows", n), [layers[n][2].flatten(1).count_nonzero(1) > 0]))
                       for n in weight_names]
            read.now()
            loss = read[loss_at]
            self.losses.append(loss)
            if not _finite(loss) and self.nonfinite_loss is None:
                self.nonfinite_loss = NonFiniteLoss(iteration=iteration, value=_num(loss))
            modules.resolve_forward(iteration, [(key, read[out], read[inp]) for key, out, inp in checks],
                                    [(key, kind, read[at]) for key, kind, at in stats])
            self._record_norms(iteration, pre["scale"], layers, names, weight_names, [read[at] for at in norms_at],
                               [read[at] for at in rows_at])
            modules.clear_step()
            probe.send_progress()

    def _not_optimized(self, name: str, t, module) -> None:
        """A parameter that got a gradient and is in no optimizer."""
        entry = self.not_optimized.get(name)
        if entry is None:
            entry = self.not_optimized[name] = NotOptimized(
                name=name, shape=list(t.shape), numel=t.numel(),
                module=type(module).__name__ if module is not None else None,
                module_args=module_args(module),
                site=self.probe.modules.sites.get(module) if module is not None else None,
            )
        entry.iterations += 1

    def _record_norms(self, iteration: int, scale, layers: dict, names: list, weight_names: list,
                      grad_norms: list, rows: list) -> None:
        """Each layer's own gradient norm (the norm of its parameters' norms), the total, the
        first/last weight layer ratio and the zero rows, read back."""
        if not grad_norms:
            return
        norms = [math.hypot(*(grad_norms[i] for i in layers[n][1])) for n in names]
        if scale and not all(_finite(x) for x in norms):
            # GradScaler skips this step and lowers its scale: mixed precision at work
            self.probe.amp.overflows.append(iteration)
            return
        total = math.sqrt(sum(x * x for x in norms)) if all(_finite(x) for x in norms) else float("nan")
        self.grad_norms.append(total)
        for n, v in zip(names, norms):
            self.layer_norms.setdefault(n, []).append((iteration, v))
            if n not in self.layer_order:
                self.layer_order.append(n)
            self._layer_position[n] = layers[n][0]
        for n, v in zip(weight_names, rows):
            self.zero_rows.setdefault(n, []).append(_num(v))
        if len(weight_names) >= 2:
            first = norms[names.index(weight_names[0])]
            last = norms[names.index(weight_names[-1])]
            if _finite(first) and _finite(last) and last > 0:
                self.ratios.append(first / last)
                self.ratio_layers = (weight_names[0], weight_names[-1])
        if self.nonfinite_grad is None:
            bad = [n for n, v in zip(names, norms) if not _finite(v)]
            if bad:
                self.nonfinite_grad = NonFiniteGrad(iteration=iteration, layers=bad[:5], count=len(bad))

    # ------------------------------------------------------------------ the report
    def layers_in_forward_order(self) -> list[str]:
        """The layers in the order the forward pass calls them (input → output)."""
        return sorted(self.layer_order, key=lambda n: self._layer_position.get(n, 10**9))

    def without_grad(self) -> list[WithoutGrad]:
        """The optimized parameters (requires_grad) that no backward() reached."""
        if not self.backward_calls:
            return []
        optimized = self.probe.optim.params()
        names = self.probe.modules.name_map() if optimized else {}
        owners = self.probe.modules.param_owners
        without, seen = [], set()
        for p in optimized:
            if id(p) in seen or not p.requires_grad:
                continue
            seen.add(id(p))
            if p not in self.reached:
                without.append(WithoutGrad(name=names.get(p) or owners.get(p) or f"<{tuple(p.shape)}>",
                                           shape=list(p.shape), numel=p.numel()))
        return without

    def fields(self) -> dict:
        return {
            "backward_calls": self.backward_calls,
            "backward_site": self.backward_site,
            "losses": [_num(x) for x in self.losses],
            "grad_norms": [_num(x) for x in self.grad_norms],
            "layers": [Layer(name=n, **self.layer_info.get(n, {}), norms=[_num(v) for _, v in self.layer_norms[n]],
                             zero_rows=self.zero_rows.get(n)) for n in self.layers_in_forward_order()],
            "ratios": self.ratios,
            "ratio_layers": list(self.ratio_layers),
            "grad_carried_over": self.carried,
            "accumulated_grads_read": self.accumulated_grads_read,
            "grad_copy_limit_bytes": MAX_GRAD_COPY_BYTES,
            "nonfinite_loss": self.nonfinite_loss,
            "nonfinite_grad": self.nonfinite_grad,
            "not_optimized": list(self.not_optimized.values()),
            "without_grad": self.without_grad(),
        }


class _Readback:
    """0-d tensors gathered over a step, read back to Python numbers together (`now()`)."""

    def __init__(self) -> None:
        self._tensors: list = []
        self._values: list = []

    def add(self, tensor) -> int | None:
        if tensor is None:
            return None
        self._tensors.append(tensor)
        return len(self._tensors) - 1

    def now(self) -> None:
        self._values = _to_list(self._tensors)

    def __getitem__(self, at: int | None):
        return None if at is None else self._values[at]


def _to_list(scalars: list) -> list:
    """0-d tensors -> Python numbers with one device sync per device, not one per tensor."""
    if not scalars:
        return []
    by_device: dict = {}
    for i, t in enumerate(scalars):
        by_device.setdefault(t.device, []).append(i)
    out: list = [None] * len(scalars)
    for indexes in by_device.values():
        for i, v in zip(indexes, torch.stack([scalars[i].float() for i in indexes]).tolist()):
            out[i] = v
    return out


def _grad_norms(grads: list, unscale: float | None) -> list:
    """The float32 2-norm of each gradient (of grad × unscale: scaled squares overflow float32),
    as 0-d tensors, with one fused kernel per device and dtype where torch has it."""
    dense = [_dense(g) for g in grads]
    if unscale is not None:
        dense = [g.float() * unscale for g in dense]
    if not dense:
        return []
    try:
        return list(torch._foreach_norm(dense, 2, dtype=torch.float32))
    except (AttributeError, TypeError, RuntimeError):  # a torch without it, or odd tensors
        return [torch.linalg.vector_norm(g.float()) for g in dense]


def _own_gradient(grad, older):
    """What this backward added to .grad: all of it, or the part above the older gradient."""
    if older is None:
        return grad
    try:
        return grad.detach() - older
    except RuntimeError:  # layouts that do not subtract (sparse into dense): the sum it is
        return grad


def _dense(grad):
    return grad.coalesce().values() if grad.is_sparse else grad.detach()


def install(probe: Probe) -> None:
    """Wrap both backward entry points."""
    recorder = probe.grads
    tensor_backward = torch.Tensor.backward
    autograd_backward = torch.autograd.backward

    def patched_tensor_backward(tensor, *args, **kwargs):
        if recorder.in_backward or probe.done:
            return tensor_backward(tensor, *args, **kwargs)
        return recorder.backward(tensor, lambda: tensor_backward(tensor, *args, **kwargs))

    def patched_autograd_backward(tensors, *args, **kwargs):
        if recorder.in_backward or probe.done:
            return autograd_backward(tensors, *args, **kwargs)
        first = tensors[0] if isinstance(tensors, (list, tuple)) and tensors else tensors
        if not isinstance(first, torch.Tensor):
            return autograd_backward(tensors, *args, **kwargs)
        return recorder.backward(first, lambda: autograd_backward(tensors, *args, **kwargs))

    torch.Tensor.backward = patched_tensor_backward
    torch.autograd.backward = patched_autograd_backward
