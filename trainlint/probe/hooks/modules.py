"""nn.Module: where each module is built (Module.__init__) and the global forward
pre-hook and hook (never a backward hook: those break ReLU(inplace=True)). The
ModuleRecorder holds the modules, their names, the order of the forward pass, the
activations' dead/saturated shares and the first non-finite output."""

from __future__ import annotations

import os
import sys
import weakref
from typing import TYPE_CHECKING

import torch
from torch.utils.weak import WeakIdKeyDictionary

from trainlint.probe.numbers import finite as _finite
from trainlint.probe.numbers import to_json as _num
from trainlint.probe.schema import Activation, NonFiniteActivation, Site, StoredGraph, TrainedClass

if TYPE_CHECKING:
    from trainlint.probe.instrument import Probe

ACTIVATIONS = {"ReLU": "relu", "ReLU6": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Hardtanh": "tanh"}
#: A unit is dead when it is zero for every sample of this many consecutive batches (a
#: dropout mask or an unlucky batch never silences a live unit that long).
DEAD_WINDOW = 3
MAX_STORED_GRAPHS = 50


class ModuleRecorder:
    """Every module the script built, and what the training forward passes showed."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.modules = weakref.WeakSet()
        self._built = WeakIdKeyDictionary()  # module -> how many modules were built before it (a stable order)
        self.sites = WeakIdKeyDictionary()  # module -> where the script built it
        self._names = WeakIdKeyDictionary()
        self._module_names = WeakIdKeyDictionary()
        self.param_owners = WeakIdKeyDictionary()  # parameter -> `<Conv2d built at net.py:17>.weight`
        self.trained_types: set[type] = set()
        self.stored_graphs: dict[str, StoredGraph] = {}
        self.activations: dict[str, Activation] = {}
        self.nonfinite_activation: NonFiniteActivation | None = None
        # per ReLU module / weight layer: which units were active in each of the last DEAD_WINDOW batches
        self._alive: dict[object, list] = {}
        # per-iteration scratch, cleared after every backward
        self.order: dict[int, int] = {}  # id(module) -> its position in the forward pass
        self._position = 0
        self._depth = 0  # of nested module calls, to tell a top-level call (a new forward pass)
        self._pass_seen: set[int] = set()
        self.called: dict[int, torch.nn.Module] = {}
        self.act_stats: list[tuple[int, str, object]] = []
        self.finite_checks: list[tuple[int, object, object]] = []
        self._output_sums: dict[int, tuple] = {}  # id(module output) -> (weak reference, its sum)

    # ------------------------------------------------------------------ built
    def on_init(self, module) -> None:
        self.modules.add(module)
        self._built[module] = len(self._built)
        site = self.probe.site(skip_self=module)
        if site is not None:
            self.sites[module] = site

    # ------------------------------------------------------------------ forward
    def forward_pre_hook(self, module, inputs) -> None:
        """A module's position in the forward pass: the order of first calls within the latest
        top-level call (a warm-up forward without backward() does not count)."""
        if self.probe.done or not torch.is_grad_enabled():
            return
        if self._depth == 0:
            self._pass_seen = set()
        self._depth += 1
        key = id(module)
        if key not in self._pass_seen:
            self._pass_seen.add(key)
            self.order[key] = self._position
            self._position += 1

    def forward_hook(self, module, inputs, output) -> None:
        probe = self.probe
        if probe.done or not torch.is_grad_enabled():
            return
        key = id(module)
        if self._depth:
            self._depth -= 1
        if key not in self.called:
            self.called[key] = module
        if not isinstance(output, torch.Tensor) or not output.is_floating_point() or output.numel() == 0:
            return
        if not probe.grads.backward_calls:
            probe.last_device = output.device
        if self.nonfinite_activation is None:
            first_in = next((t for t in inputs if isinstance(t, torch.Tensor) and t.is_floating_point()), None)
            # a sum is non-finite when any element is: 40x cheaper than isfinite().all(); in float32,
            # so that a large fp16 activation does not overflow the sum itself
            out_sum = output.detach().sum(dtype=torch.float32)
            in_sum = None
            if first_in is not None:
                # in a chain of layers the input is the last layer's output: its sum is known
                known = self._output_sums.get(id(first_in))
                in_sum = known[1] if known is not None and known[0]() is first_in \
                    else first_in.detach().sum(dtype=torch.float32)
            self._output_sums[id(output)] = (weakref.ref(output), out_sum)  # never keeps an activation alive
            self.finite_checks.append((key, out_sum, in_sum))
        kind = ACTIVATIONS.get(type(module).__name__)
        if kind is None:
            return
        out = output.detach()
        if kind == "relu":
            if out.dim() < 2 or out.shape[0] < 8:  # with a tiny batch, "zero for every sample" is chance
                return
            stat = self.dead_share(("relu", key), active_units(out))
        elif kind == "sigmoid":
            stat = ((out < 0.01) | (out > 0.99)).float().mean()
        else:
            stat = (out.abs() > 0.99).float().mean()
        self.act_stats.append((key, kind, stat))

    def dead_share(self, key, active: list):
        """The share of units active in none of the last DEAD_WINDOW batches (a 0-d tensor, not
        read back yet), the smallest over the readings of `active` (one bool mask per way of
        telling units apart); NaN until the window is full."""
        history = self._alive.get(key)
        if history is None or len(history) != len(active) or any(h[0].shape != a.shape for h, a in zip(history, active)):
            history = self._alive[key] = [[] for _ in active]
        shares = []
        for window, mask in zip(history, active):
            window.append(mask)
            del window[:-DEAD_WINDOW]
            ever = window[0]
            for other in window[1:]:
                ever = ever | other
            shares.append((~ever).float().mean())
        if len(history[0]) < DEAD_WINDOW:
            return torch.tensor(float("nan"))
        return torch.stack(shares).amin() if len(shares) > 1 else shares[0]

    def resolve_forward(self, iteration: int, checks: list, stats: list) -> None:
        """The forward pass's numbers, read back: the first module whose output is non-finite
        (checks: key, output sum, input sum or None), and the dead/saturated share of each
        activation (stats: key, kind, share)."""
        if self.nonfinite_activation is None:
            for key, out_sum, in_sum in checks:
                if not _finite(out_sum):
                    module = self.called.get(key)
                    inputs_finite = _finite(in_sum) if in_sum is not None else None
                    self.nonfinite_activation = NonFiniteActivation(
                        iteration=iteration,
                        module=self.module_name(module) if module is not None else "?",
                        type=type(module).__name__,
                        site=self.sites.get(module) if module is not None else None,
                        inputs_finite=inputs_finite,
                    )
                    break
        for key, kind, value in stats:
            module = self.called.get(key)
            if module is None:
                continue
            name = self.module_name(module)
            entry = self.activations.get(name)
            if entry is None:
                entry = self.activations[name] = Activation(name=name, kind=kind, type=type(module).__name__,
                                                            site=self.sites.get(module))
            entry.values.append(_num(value))

    def clear_step(self) -> None:
        self.order = {}
        self._position = 0
        self._depth = 0
        self.called = {}
        self.act_stats = []
        self.finite_checks = []
        self._output_sums = {}

    # ------------------------------------------------------------------ after a backward
    def on_trained(self, iteration: int) -> dict[int, torch.nn.Module]:
        """The modules called in this training iteration: their types ran forward in training,
        their attributes holding a graph are noted, their parameters get an owner's name.
        Returns id(parameter) -> the called module that holds it."""
        owner = {}
        for module in self.called.values():
            self.trained_types.add(type(module))
            if len(self.stored_graphs) < MAX_STORED_GRAPHS and iteration <= 3:
                self._stored_graphs(module)
            for pname, p in module._parameters.items():
                if p is not None:
                    owner[id(p)] = module
                    if p not in self.param_owners:
                        site = self.sites.get(module)
                        where = f" built at {short(site)}" if site else ""
                        self.param_owners[p] = f"<{type(module).__name__}{where}>.{pname}"
        return owner

    def roots_called(self) -> list:
        """The model: each called module with parameters that no other called module holds."""
        held = {id(child) for m in self.called.values() for child in m.children()}
        return [m for m in self.called.values() if id(m) not in held and next(m.parameters(), None) is not None]

    def _stored_graphs(self, module) -> None:
        """Plain attributes of a module holding a tensor with an autograd graph (kept alive until the next call)."""
        for attr, value in vars(module).items():
            if isinstance(value, torch.Tensor) and value.grad_fn is not None:
                key = f"{type(module).__qualname__}.{attr}"
                if key not in self.stored_graphs:
                    self.stored_graphs[key] = StoredGraph(cls=type(module).__qualname__, attr=attr,
                                                          shape=list(value.shape),
                                                          bytes=value.numel() * value.element_size())

    # ------------------------------------------------------------------ names
    def name_map(self) -> WeakIdKeyDictionary:
        """parameter -> qualified name. The model (the root module holding most optimized parameters) gives
        plain names (`layer1.0.weight`); any other root, e.g. a layer built in forward() and never attached,
        is named after its class and where it was built (`<Conv2d built at net.py:17>.weight`)."""
        optimized = self.probe.optim.optimized_ids()
        modules = list(self.modules)
        children = {id(c) for m in modules for c in m.children()}
        roots = []
        for m in modules:
            if id(m) in children:
                continue
            params = list(m.parameters())
            if params:
                roots.append((sum(1 for p in params if id(p) in optimized), len(params), m))
        # ties (a GAN's two networks) go to the one built first: a WeakSet's order changes run to run
        roots.sort(key=lambda r: (-r[0], -r[1], self._built.get(r[2], 0)))
        fresh = WeakIdKeyDictionary()
        for i, (_, _, root) in enumerate(roots):
            if i == 0:
                prefix = ""
            else:
                site = self.sites.get(root)
                prefix = f"<{type(root).__name__}{' built at ' + short(site) if site else ''}>."
            for name, p in root.named_parameters(remove_duplicate=False):
                if p not in fresh:
                    fresh[p] = prefix + name
        self._names = fresh
        return fresh

    def param_name(self, p) -> str | None:
        name = self._names.get(p)
        if name is None:
            name = self.name_map().get(p)
        return name

    def module_name(self, module) -> str:
        cached = self._module_names.get(module)
        if cached is None:
            cached = self._module_names[module] = self._find_module_name(module)
        return cached

    def _find_module_name(self, module) -> str:
        for name, p in module.named_parameters(recurse=False):
            full = self.param_name(p)
            if full:
                return full.rsplit(".", 1)[0] if "." in full else type(module).__name__
        modules = list(self.modules)
        children = {id(c) for m in modules for c in m.children()}
        for root in (m for m in modules if id(m) not in children):
            for name, m in root.named_modules():
                if m is module and name:
                    return name
        return type(module).__name__

    # ------------------------------------------------------------------ the report
    def trained_classes(self) -> list[TrainedClass]:
        """The user's module classes that ran forward in a training step."""
        out = []
        for cls in list(self.trained_types):
            path = getattr(sys.modules.get(cls.__module__), "__file__", None)
            if not path or not self.probe.is_user_file(path):
                continue
            out.append(TrainedClass(file=os.path.realpath(path), name=cls.__qualname__))
        return sorted(out, key=lambda c: (c.file, c.name))

    def fields(self) -> dict:
        return {
            "activations": list(self.activations.values()),
            "nonfinite_activation": self.nonfinite_activation,
            "stored_graphs": list(self.stored_graphs.values()),
            "trained_classes": self.trained_classes(),
        }


def active_units(out) -> list:
    """Which units of an activation were non-zero for some sample of the batch: one bool mask per
    reading of its shape. A unit is a feature of (N, F), a channel of (N, C, H, W) or (N, C, D, H, W)
    (a zero pixel before pooling is no dead unit), and either a channel or a feature of (N, C, L) /
    (N, T, F), which the shape alone cannot tell apart (both are read; the smaller share counts)."""
    if out.dim() == 2:
        return [out.amax(dim=0) > 0]
    if out.dim() == 3:
        return [out.amax(dim=(0, 2)) > 0, out.amax(dim=(0, 1)) > 0]
    return [out.transpose(0, 1).flatten(1).amax(dim=1) > 0]


def short(site: Site | None) -> str:
    if not site:
        return "?"
    return f"{os.path.basename(site.file)}:{site.line}"


def module_args(module) -> str | None:
    if module is None:
        return None
    try:
        text = module.extra_repr()
    except Exception:
        return None
    return text[:80] if text else None


def install(probe: Probe) -> None:
    """Wrap Module.__init__ and register the global forward hooks."""
    recorder = probe.modules
    module_init = torch.nn.Module.__init__

    def patched_module_init(module, *args, **kwargs):
        module_init(module, *args, **kwargs)
        try:
            recorder.on_init(module)
        except Exception:  # never break the user's model
            pass

    torch.nn.Module.__init__ = patched_module_init
    torch.nn.modules.module.register_module_forward_pre_hook(recorder.forward_pre_hook)
    torch.nn.modules.module.register_module_forward_hook(recorder.forward_hook)
