"""What the probe measures, inside the probed process (imports torch).

The Probe holds the measurements and the handlers that take them; the patches that call
the handlers are installed globally, without editing the user's script, one module per
torch surface in trainlint/probe/hooks/ (optimizers and schedulers, autograd, modules,
clipping, mixed precision, loss functions, DataLoader, files).

- The optimizer step pre/post hooks count steps and read each param group's learning
  rate; a hand-written ``p -= lr * p.grad`` loop fires no step hook: then backward calls count.
- Around each backward: which parameters it reached (read from their ``.grad``), each
  layer's own gradient norm (what this backward added), zero rows, NaN/Inf, the loss.
- The global forward pre-hook and hook: layer order, non-finite outputs, dead/saturated
  units of activations, evaluation passes.
- DataLoader batches: input mean/std/min/max and the label histogram of the first ones.

The probe stops the script after N optimizer steps from inside the step hook: the
report is written first, then the process ends with ``os._exit`` (a bare ``except:`` in
the script cannot swallow that).
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
import threading
import time
import traceback
import weakref

import torch
from torch.utils.weak import WeakIdKeyDictionary

from trainlint.probe.hooks.data import split_batch
from trainlint.probe.numbers import finite as _finite
from trainlint.probe.numbers import to_json as _num
from trainlint.probe.schema import (
    Activation,
    AfterEval,
    Batch,
    CarriedGradients,
    DoubleStep,
    EvalPass,
    Layer,
    Loader,
    LossCall,
    NonFiniteActivation,
    NonFiniteGrad,
    NonFiniteLoss,
    NotOptimized,
    OptimizerRecord,
    ParamGroup,
    Progress,
    Redirect,
    Report,
    SchedulerRecord,
    Site,
    StoredGraph,
    TrainedClass,
    WithoutGrad,
)

#: Gradients that backward() adds to are copied first (to measure what it added) up to this many
#: bytes per backward; past it (a large model without zero_grad) the accumulated .grad is read.
MAX_GRAD_COPY_BYTES = 2 << 30
AFTER_EVAL_STEPS = 3  # training steps watched after the first evaluation (is train mode back?)
ACTIVATIONS = {"ReLU": "relu", "ReLU6": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Hardtanh": "tanh"}
WEIGHT_LAYERS = ("Linear", "Conv1d", "Conv2d", "Conv3d", "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d",
                 "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d", "Bilinear")
#: A unit is dead when it is zero for every sample of this many consecutive batches (a
#: dropout mask or an unlucky batch never silences a live unit that long).
DEAD_WINDOW = 3
MAX_EVENTS = 60


class Probe:
    def __init__(self, *, steps: int | None, report_path: str | None, project_root: str, script: str,
                 checkpoint_dir: str | None = None, max_batches: int = 8, progress_fd: int | None = None,
                 rank: int = 0, world_size: int = 1, through_eval: bool = False) -> None:
        self.max_steps = steps
        # run on past `steps` to the first evaluation pass and a few training steps after it
        self.through_eval = through_eval
        self.report_path = report_path
        self.project_root = os.path.realpath(project_root)
        self.script = os.path.realpath(script)
        self.checkpoint_dir = checkpoint_dir
        self.max_batches = max_batches
        self.progress = os.fdopen(progress_fd, "w", buffering=1) if progress_fd is not None else None
        self.rank = rank
        self.world_size = world_size
        self.started = time.perf_counter()
        self.lock = threading.RLock()
        self.done = False
        self._in_backward = False
        self._installed = False

        # what is measured
        self.optimizers: list[weakref.ref] = []
        self.optimizer_info: list[OptimizerRecord] = []
        self.optimizer_steps = 0
        self.backward_calls = 0
        self.step_times: list[float] = []
        self.losses: list[float] = []
        self.grad_norms: list[float] = []
        self.layer_norms: dict[str, list] = {}  # name -> [(iteration, norm)]
        self.layer_info: dict[str, dict] = {}  # name -> kind, shape, site, order
        self.layer_order: list[str] = []
        self.ratios: list[float] = []
        self.zero_rows: dict[str, list] = {}
        self.activations: dict[str, Activation] = {}
        self.nonfinite_loss: NonFiniteLoss | None = None
        self.nonfinite_grad: NonFiniteGrad | None = None
        self.nonfinite_activation: NonFiniteActivation | None = None
        self.not_optimized: dict[str, NotOptimized] = {}
        self.reached = WeakIdKeyDictionary()
        self.lrs: list[list[float]] = []
        self.loaders: list[Loader] = []
        self._loader_ids = WeakIdKeyDictionary()
        self.loss_fns: list[LossCall] = []
        self._loss_fn_calls: dict[str, int] = {}
        self.events: list[str] = []
        self.grad_carried_over: list[CarriedGradients] = []
        # mixed precision: the loss GradScaler.scale() returned last, the loss it scaled, the scale
        self._scaled: tuple | None = None
        self.scaler_overflows: list[int] = []  # iterations whose scaled gradients overflowed
        self.scaled = False  # a backward() ran on a GradScaler-scaled loss
        self._last_device = None  # of the last loss backward() saw, else of the last module output
        # evaluation: forward passes of a trained model under no_grad, and its mode in training after them
        self.trained_roots = weakref.WeakSet()
        self.eval_passes: list[EvalPass] = []
        self.after_eval: list[AfterEval] = []
        self.steps_without_grad: list[int] = []
        self.optimizers_after_first_step = 0
        self.scheduler_warnings: list[str] = []
        self.double_steps: list[DoubleStep] = []  # an optimizer stepped again with no backward() since its last step
        self.schedulers: list[SchedulerRecord] = []  # type, step() calls and optimizer steps seen, per scheduler
        self._scheduler_refs: list[weakref.ref] = []
        self.redirected: list[Redirect] = []
        self._redirect_map: dict[str, str] = {}
        self.constant_weights: list[str] = []
        self.huge_weights: list[str] = []
        self._weights_checked = False
        self._step_since_backward = False
        self.backward_site: Site | None = None
        self.loader_sites = WeakIdKeyDictionary()

        # per-iteration scratch, cleared after every backward
        self._order: dict[int, int] = {}  # id(module) -> its position in the forward pass
        self._position = 0
        self._depth = 0  # of nested module calls, to tell a top-level call (a new forward pass)
        self._pass_seen: set[int] = set()
        self._layer_position: dict[str, int] = {}  # layer -> its position in the latest iteration it ran
        self._called: dict[int, torch.nn.Module] = {}
        self._act_stats: list[tuple[int, str, object]] = []
        # per ReLU module / weight layer: which units were active in each of the last DEAD_WINDOW batches
        self._alive: dict[object, list] = {}
        self._finite_checks: list[tuple[int, object, object]] = []
        self._output_sums: dict[int, tuple] = {}  # id(module output) -> (weak reference, its sum)
        self._zeroed: set[int] = set()  # ids of the parameters zero_grad() cleared since the last backward
        self.accumulated_grads_read = False  # too large to copy: some gradients were read as .grad's sum
        self._watched: list[dict] = []  # forward passes of the trained model with gradients on, not yet judged

        self.modules = weakref.WeakSet()
        self._built = WeakIdKeyDictionary()  # module -> how many modules were built before it (a stable order)
        self.sites = WeakIdKeyDictionary()
        self._names = WeakIdKeyDictionary()
        self._module_names = WeakIdKeyDictionary()
        self.param_owners = WeakIdKeyDictionary()
        self.trained_types: set[type] = set()
        self.stored_graphs: dict[str, StoredGraph] = {}

        self._user_files: dict[str, bool] = {}
        self._lib_prefixes = tuple({os.path.realpath(p) + os.sep for p in (
            sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(torch.__file__),
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))))})

    # ------------------------------------------------------------------ sites
    def _is_user_file(self, filename: str) -> bool:
        known = self._user_files.get(filename)
        if known is None:
            if not filename or filename.startswith("<"):
                known = False
            else:
                real = os.path.realpath(filename)
                known = not (real.startswith(self._lib_prefixes) or "site-packages" in real or "dist-packages" in real)
            self._user_files[filename] = known
        return known

    def _site(self, skip_self: object = None) -> Site | None:
        frame = sys._getframe(2)
        while frame is not None:
            code = frame.f_code
            if skip_self is not None and code.co_name == "__init__" and frame.f_locals.get("self") is skip_self:
                frame = frame.f_back
                continue
            if self._is_user_file(code.co_filename):
                return Site(os.path.realpath(code.co_filename), frame.f_lineno)
            frame = frame.f_back
        return None

    # ------------------------------------------------------------------ install
    def install(self) -> None:
        """Patch torch (trainlint/probe/hooks/, one module per surface), once."""
        if self._installed:
            return
        self._installed = True
        from trainlint.probe import hooks

        hooks.install(self)

    # ------------------------------------------------------------------ events
    def _event(self, name: str) -> None:
        if len(self.events) < MAX_EVENTS and not self.done:
            self.events.append(name)

    def _on_zero_grad(self, params) -> None:
        """These parameters' gradients are cleared (None or zeros) until the next backward:
        what it leaves in .grad is its own, no copy of the old gradient is needed."""
        if not self.done:
            self._zeroed.update(id(p) for p in params)

    def _on_optimizer(self, opt) -> None:
        opt._trainlint_seen = True
        with self.lock:
            self.optimizers.append(weakref.ref(opt))
            if self.optimizer_steps > 0:
                self.optimizers_after_first_step += 1
            if len(self.optimizer_info) < 20:
                self.optimizer_info.append(OptimizerRecord(
                    type=type(opt).__name__,
                    site=self._site(),
                    created_after_step=self.optimizer_steps,
                    groups=[ParamGroup(params=len(g["params"]), lr=_lr(g)) for g in opt.param_groups],
                ))

    def _on_scheduler(self, scheduler) -> None:
        with self.lock:
            if len(self.schedulers) < 10 and not self.done:
                self.schedulers.append(SchedulerRecord(type=type(scheduler).__name__, site=self._site(),
                                                       created_after_step=self.optimizer_steps))
                self._scheduler_refs.append(weakref.ref(scheduler))

    def _count_scheduler_steps(self) -> None:
        for entry, ref in zip(self.schedulers, self._scheduler_refs):
            scheduler = ref()
            if scheduler is not None:
                entry.calls = max(int(getattr(scheduler, "_step_count", 1)) - 1, 0)
                entry.steps = self.optimizer_steps - entry.created_after_step

    def _live_optimizers(self) -> list:
        return [o for o in (r() for r in self.optimizers) if o is not None]

    def _step_pre(self, opt, args, kwargs) -> None:
        if self.done:
            return
        self._event("step")
        if getattr(opt, "_trainlint_stepped_at", None) == self.backward_calls > 0 and len(self.double_steps) < 10 \
                and any(p.grad is not None for g in opt.param_groups for p in g["params"]):
            # stepped again on the gradients of the same backward()
            self.double_steps.append(DoubleStep(optimizer=type(opt).__name__, backward=self.backward_calls,
                                                step=self.optimizer_steps + 1))
        opt._trainlint_stepped_at = self.backward_calls
        if opt is self._first_optimizer():
            self.lrs.append([_lr(g) for g in opt.param_groups])
        if self.optimizer_steps < 5:
            params = [p for g in opt.param_groups for p in g["params"] if p.requires_grad]
            if params and self.backward_calls > 0:
                grads = [p.grad for p in params if p.grad is not None]
                if not grads or not any(bool(g.any()) for g in grads):
                    self.steps_without_grad.append(self.optimizer_steps + 1)
        if not self._weights_checked and self.backward_calls > 0:
            self._weights_checked = True
            self._check_weights(opt)

    def _evaluation_seen(self) -> bool:
        """With through_eval: an evaluation pass ran, then AFTER_EVAL_STEPS more training steps."""
        if not self.through_eval:
            return True
        if not self.eval_passes:
            return False
        return (self.optimizer_steps or self.backward_calls) >= self.eval_passes[0].after_step + AFTER_EVAL_STEPS

    def _first_optimizer(self):
        live = self._live_optimizers()
        return live[0] if live else None

    def _step_post(self, opt, args, kwargs) -> None:
        if self.done:
            return
        self.optimizer_steps += 1
        self._count_scheduler_steps()
        self._step_since_backward = True
        self.step_times.append(time.perf_counter())
        self._send_progress()
        if self.max_steps is not None and self.optimizer_steps >= self.max_steps and self._evaluation_seen():
            self.stop("steps")

    def _check_weights(self, opt) -> None:
        names = self._name_map()
        for group in opt.param_groups:
            for p in group["params"]:
                if p.dim() < 2 or p.numel() < 2:
                    continue
                data = p.detach()
                name = names.get(p) or f"<{tuple(p.shape)}>"
                if not bool(torch.isfinite(data).all()) or float(data.abs().max()) > 1e6:
                    self.huge_weights.append(name)
                elif float(data.float().std()) == 0.0:
                    self.constant_weights.append(name)

    # ------------------------------------------------------------------ names
    def _name_map(self) -> WeakIdKeyDictionary:
        """parameter -> qualified name. The model (the root module holding most optimized parameters) gives
        plain names (`layer1.0.weight`); any other root, e.g. a layer built in forward() and never attached,
        is named after its class and where it was built (`<Conv2d built at net.py:17>.weight`)."""
        optimized = {id(p) for o in self._live_optimizers() for g in o.param_groups for p in g["params"]}
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
                prefix = f"<{type(root).__name__}{' built at ' + _short(site) if site else ''}>."
            for name, p in root.named_parameters(remove_duplicate=False):
                if p not in fresh:
                    fresh[p] = prefix + name
        self._names = fresh
        return fresh

    def _param_name(self, p) -> str | None:
        name = self._names.get(p)
        if name is None:
            name = self._name_map().get(p)
        return name

    def _module_name(self, module) -> str:
        cached = self._module_names.get(module)
        if cached is None:
            cached = self._module_names[module] = self._find_module_name(module)
        return cached

    def _find_module_name(self, module) -> str:
        for name, p in module.named_parameters(recurse=False):
            full = self._param_name(p)
            if full:
                return full.rsplit(".", 1)[0] if "." in full else type(module).__name__
        modules = list(self.modules)
        children = {id(c) for m in modules for c in m.children()}
        for root in (m for m in modules if id(m) not in children):
            for name, m in root.named_modules():
                if m is module and name:
                    return name
        return type(module).__name__

    # ------------------------------------------------------------------ forward
    def _forward_hook(self, module, inputs, output) -> None:
        if self.done:
            return
        if not torch.is_grad_enabled():
            if module in self.trained_roots:
                self._on_eval_forward(module, module.training, self.optimizer_steps or self.backward_calls)
            return
        if module in self.trained_roots:
            if isinstance(output, torch.Tensor) and output.requires_grad:
                self._watch_output(module, output)
            elif self.eval_passes and len(self.after_eval) < 20:  # no tensor to watch: every such forward trains
                self.after_eval.append(AfterEval(after_step=self.optimizer_steps, training=module.training))
        key = id(module)
        if self._depth:
            self._depth -= 1
        if key not in self._called:
            self._called[key] = module
        if not isinstance(output, torch.Tensor) or not output.is_floating_point() or output.numel() == 0:
            return
        if not self.backward_calls:
            self._last_device = output.device
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
            self._finite_checks.append((key, out_sum, in_sum))
        kind = ACTIVATIONS.get(type(module).__name__)
        if kind is None:
            return
        out = output.detach()
        if kind == "relu":
            if out.dim() < 2 or out.shape[0] < 8:  # with a tiny batch, "zero for every sample" is chance
                return
            stat = self._dead_share(("relu", key), _active_units(out))
        elif kind == "sigmoid":
            stat = ((out < 0.01) | (out > 0.99)).float().mean()
        else:
            stat = (out.abs() > 0.99).float().mean()
        self._act_stats.append((key, kind, stat))

    def _dead_share(self, key, active: list):
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

    def _watch_output(self, module, output) -> None:
        """A forward pass of the trained model with gradients on: training if its output gets a
        gradient, an evaluation (without no_grad) if two backward() calls pass without one
        (a GAN's generator output gets its gradient one backward later, never two)."""
        forward = {"training": module.training, "progress": self.optimizer_steps or self.backward_calls,
                   "backward": self.backward_calls, "trained": False, "module": weakref.ref(module)}

        def on_gradient(grad):
            if not forward["trained"]:
                forward["trained"] = True
                if self.eval_passes and len(self.after_eval) < 20 and not self.done:
                    self.after_eval.append(AfterEval(after_step=forward["progress"], training=forward["training"]))
            return None

        try:
            output.register_hook(on_gradient)
        except RuntimeError:  # a tensor that takes no hook: not judged
            return
        if len(self._watched) < 200:
            self._watched.append(forward)

    def _resolve_watched(self) -> None:
        """The watched forward passes that two backward() calls passed without a gradient: evaluations."""
        still = []
        for forward in self._watched:
            if forward["trained"]:
                continue
            if self.backward_calls >= forward["backward"] + 2:
                root = forward["module"]()
                if root is not None:
                    self._on_eval_forward(root, forward["training"], forward["progress"])
            else:
                still.append(forward)
        self._watched = still

    def _forward_pre_hook(self, module, inputs) -> None:
        """A module's position in the forward pass: the order of first calls within the latest
        top-level call (a warm-up forward without backward() does not count)."""
        if self.done or not torch.is_grad_enabled():
            return
        if self._depth == 0:
            self._pass_seen = set()
        self._depth += 1
        key = id(module)
        if key not in self._pass_seen:
            self._pass_seen.add(key)
            self._order[key] = self._position
            self._position += 1

    def _on_eval_forward(self, module, training: bool, progress: int) -> None:
        """The trained model ran forward on data it is not trained on (under no_grad, or its output
        never got a gradient): an evaluation pass (one record per pass)."""
        if not self.eval_passes or self.eval_passes[-1].after_step != progress:
            if len(self.eval_passes) >= 10:
                return
            self.eval_passes.append(EvalPass(after_step=progress, module=type(module).__name__,
                                             mode_layers=_mode_layers(module)))
        record = self.eval_passes[-1]
        record.forwards += 1
        record.in_train_mode += bool(training)

    # ------------------------------------------------------------------ backward
    def _backward(self, loss, call):
        self._in_backward = True
        try:
            pre = self._before_backward(loss)
        except Exception as exc:  # a probe bug must not look like the script's
            self._internal_error(exc)
            pre = None
        try:
            result = call()
        finally:
            self._in_backward = False
        if pre is not None:
            try:
                self._after_backward(pre)
            except Exception as exc:  # a probe bug must not look like the script's
                self._internal_error(exc)
        if (self.max_steps is not None and not self._live_optimizers() and self.backward_calls >= self.max_steps
                and self._evaluation_seen()):
            self.stop("steps")
        return result

    def _before_backward(self, loss) -> dict:
        self._event("backward")
        if self.backward_site is None:
            self.backward_site = self._site()
        scaled, self._scaled = self._scaled, None
        scale = None
        if scaled is not None and scaled[0] is loss:
            scale, loss = float(scaled[2]), scaled[1]  # the loss as the script computed it
            self.scaled = True
        # read back with the step's other numbers, in one synchronization
        value = loss.detach().float().mean() if loss.numel() >= 1 else torch.tensor(float("nan"))
        self._last_device = loss.device
        carried = None
        if self._step_since_backward and len(self.grad_carried_over) < 3:
            params = [p for o in self._live_optimizers() for g in o.param_groups for p in g["params"]]
            with_grad = [p for p in params if p.grad is not None]
            if params and with_grad:
                nonzero = sum(1 for p in with_grad if bool(p.grad.any()))
                if nonzero:
                    carried = CarriedGradients(iteration=self.backward_calls + 1, params=nonzero, of=len(params))
        return {"loss": value, "grads_before": self._grads_before(), "carried": carried, "scale": scale}

    def _grads_before(self) -> list[tuple]:
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
        zeroed, self._zeroed = self._zeroed, set()
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

        for o in self._live_optimizers():
            for g in o.param_groups:
                for p in g["params"]:
                    add(p)
        for module in list(self.modules):
            for p in module._parameters.values():
                if p is not None:
                    add(p)
        return before

    def _after_backward(self, pre: dict) -> None:
        with self.lock:
            self.backward_calls += 1
            iteration = self.backward_calls
            self._step_since_backward = False
            if pre["carried"]:
                self.grad_carried_over.append(pre["carried"])
            self._resolve_watched()
            leaves = [p for p, grad, version, _ in pre["grads_before"]
                      if p.grad is not None and (p.grad is not grad or p.grad._version != version)]
            older = {id(p): old for p, _, _, old in pre["grads_before"] if old is not None}
            optimized = {id(p) for o in self._live_optimizers() for g in o.param_groups for p in g["params"]}
            has_optimizer = bool(self._live_optimizers())
            if iteration <= 3:
                # the model: a called module with parameters that no other called module holds
                held = {id(child) for m in self._called.values() for child in m.children()}
                for m in self._called.values():
                    if id(m) not in held and next(m.parameters(), None) is not None:
                        self.trained_roots.add(m)
            owner = {}
            for key, module in self._called.items():
                self.trained_types.add(type(module))
                if len(self.stored_graphs) < 50 and iteration <= 3:
                    self._stored_graphs(module)
                for pname, p in module._parameters.items():
                    if p is not None:
                        owner[id(p)] = module
                        if p not in self.param_owners:
                            site = self.sites.get(module)
                            where = f" built at {_short(site)}" if site else ""
                            self.param_owners[p] = f"<{type(module).__name__}{where}>.{pname}"
            layers: dict[str, list] = {}
            for t in leaves:
                if isinstance(t, torch.nn.Parameter):
                    self.reached[t] = True
            grads = []
            for t in leaves:
                if not isinstance(t, torch.nn.Parameter):
                    continue
                own = _own_gradient(t.grad, older.get(id(t)))
                name = self._param_name(t)
                module = owner.get(id(t))
                if name is None:
                    kind = type(module).__name__ if module is not None else "tensor"
                    site = self.sites.get(module) if module is not None else None
                    where = f" built at {_short(site)}" if site else ""
                    name = f"<{kind}{where}>.{'weight' if t.dim() >= 2 else 'param'}{tuple(t.shape)}"
                if has_optimizer and id(t) not in optimized:
                    entry = self.not_optimized.get(name)
                    if entry is None:
                        entry = self.not_optimized[name] = NotOptimized(
                            name=name, shape=list(t.shape), numel=t.numel(),
                            module=type(module).__name__ if module is not None else None,
                            module_args=_module_args(module),
                            site=self.sites.get(module) if module is not None else None,
                        )
                    entry.iterations += 1
                layer = name.rsplit(".", 1)[0] if "." in name else name
                if layer not in self.layer_info:
                    self.layer_info[layer] = {
                        "module": type(module).__name__ if module is not None else None,
                        "site": self.sites.get(module) if module is not None else None,
                    }
                order = self._order.get(id(module), 10**6) if module is not None else 10**6
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
            checks = [(key, read.add(out), read.add(inp)) for key, out, inp in self._finite_checks] \
                if self.nonfinite_activation is None else []
            stats = [(key, kind, read.add(stat)) for key, kind, stat in self._act_stats]
            norms_at = [read.add(n) for n in _grad_norms(grads, 1.0 / pre["scale"] if pre["scale"] else None)]
            # a row of a weight gradient is an output unit: dead when zero over the last batches
            rows_at = [read.add(self._dead_share(("rows", n), [layers[n][2].flatten(1).count_nonzero(1) > 0]))
                       for n in weight_names]
            read.now()
            loss = read[loss_at]
            self.losses.append(loss)
            if not _finite(loss) and self.nonfinite_loss is None:
                self.nonfinite_loss = NonFiniteLoss(iteration=iteration, value=_num(loss))
            self._resolve_forward(iteration, [(key, read[out], read[inp]) for key, out, inp in checks],
                                  [(key, kind, read[at]) for key, kind, at in stats])
            if not grads:
                self._clear_step()
                self._send_progress()
                return
            norms = [math.hypot(*(read[norms_at[i]] for i in layers[n][1])) for n in names]
            if pre["scale"]:
                if not all(_finite(x) for x in norms):
                    # GradScaler skips this step and lowers its scale: mixed precision at work
                    self.scaler_overflows.append(iteration)
                    self._clear_step()
                    self._send_progress()
                    return
            rows = [read[at] for at in rows_at]
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
            self._clear_step()
            self._send_progress()

    def _stored_graphs(self, module) -> None:
        """Plain attributes of a module holding a tensor with an autograd graph (kept alive until the next call)."""
        for attr, value in vars(module).items():
            if isinstance(value, torch.Tensor) and value.grad_fn is not None:
                key = f"{type(module).__qualname__}.{attr}"
                if key not in self.stored_graphs:
                    self.stored_graphs[key] = StoredGraph(cls=type(module).__qualname__, attr=attr,
                                                          shape=list(value.shape),
                                                          bytes=value.numel() * value.element_size())

    def _resolve_forward(self, iteration: int, checks: list, stats: list) -> None:
        """The forward pass's numbers, read back: the first module whose output is non-finite
        (checks: key, output sum, input sum or None), and the dead/saturated share of each
        activation (stats: key, kind, share)."""
        if self.nonfinite_activation is None:
            for key, out_sum, in_sum in checks:
                if not _finite(out_sum):
                    module = self._called.get(key)
                    inputs_finite = _finite(in_sum) if in_sum is not None else None
                    self.nonfinite_activation = NonFiniteActivation(
                        iteration=iteration,
                        module=self._module_name(module) if module is not None else "?",
                        type=type(module).__name__,
                        site=self.sites.get(module) if module is not None else None,
                        inputs_finite=inputs_finite,
                    )
                    break
        if stats:
            for key, kind, value in stats:
                module = self._called.get(key)
                if module is None:
                    continue
                name = self._module_name(module)
                entry = self.activations.get(name)
                if entry is None:
                    entry = self.activations[name] = Activation(name=name, kind=kind, type=type(module).__name__,
                                                                site=self.sites.get(module))
                entry.values.append(_num(value))

    def _clear_step(self) -> None:
        self._order = {}
        self._position = 0
        self._depth = 0
        self._called = {}
        self._act_stats = []
        self._finite_checks = []
        self._output_sums = {}

    # ------------------------------------------------------------------ losses and data
    def _on_loss_fn(self, name: str, input, target, out) -> None:
        try:
            x = input.detach().float()
            entry = LossCall(fn=name, site=self._site(), shape=list(x.shape), iteration=self.backward_calls + 1)
            entry.loss = _num(float(out.detach().float().mean())) if out.numel() else None
            entry.min = _num(float(x.min())) if x.numel() else None
            entry.max = _num(float(x.max())) if x.numel() else None
            if x.dim() >= 2 and x.shape[1] > 1:
                entry.classes = int(x.shape[1])
                sums = x.sum(dim=1)
                entry.row_sum_mean = _num(float(sums.mean()))
                entry.row_sum_dev = _num(float((sums - 1).abs().max()))
                entry.exp_row_sum_dev = _num(float((x.exp().sum(dim=1) - 1).abs().max()))
            if isinstance(target, torch.Tensor):
                entry.target_dtype = str(target.dtype).replace("torch.", "")
            self.loss_fns.append(entry)
        except Exception:
            pass

    def _on_batch(self, record: Loader, batch) -> None:
        x, y = split_batch(batch)
        stats = Batch()
        if x is not None:
            xf = x.detach().float()
            if xf.numel() > 1:
                stats.mean, stats.std = _num(float(xf.mean())), _num(float(xf.std()))
                stats.min, stats.max = _num(float(xf.min())), _num(float(xf.max()))
                stats.dtype, stats.shape = str(x.dtype).replace("torch.", ""), list(x.shape)
        if y is not None:
            yy = y.detach().flatten().to("cpu")
            if yy.numel() and int(yy.min()) >= 0 and int(yy.max()) < 100000:
                counts = torch.bincount(yy.long())
                stats.labels = {str(i): int(c) for i, c in enumerate(counts.tolist()) if c}
        stats.backward_before = self.backward_calls
        record.batches.append(stats)

    # ------------------------------------------------------------------ reporting
    def _send_progress(self) -> None:
        if self.progress is None or self.rank != 0:
            return
        try:
            loss = self.losses[-1] if self.losses else None
            line = Progress(steps=self.optimizer_steps, backward=self.backward_calls,
                            loss=_num(loss) if loss is not None else None)
            self.progress.write(json.dumps(line.to_json()) + "\n")
        except Exception:
            pass

    def _internal_error(self, exc: BaseException) -> None:
        if not hasattr(self, "internal_errors"):
            self.internal_errors = []
        if len(self.internal_errors) < 3:
            self.internal_errors.append("".join(traceback.format_exception_only(type(exc), exc)).strip())

    def _layers_in_forward_order(self) -> list[str]:
        """The layers in the order the forward pass calls them (input → output)."""
        return sorted(self.layer_order, key=lambda n: self._layer_position.get(n, 10**9))

    def trained_classes(self) -> list[TrainedClass]:
        """The user's module classes that ran forward in a training step."""
        out = []
        for cls in list(self.trained_types):
            path = getattr(sys.modules.get(cls.__module__), "__file__", None)
            if not path or not self._is_user_file(path):
                continue
            out.append(TrainedClass(file=os.path.realpath(path), name=cls.__qualname__))
        return sorted(out, key=lambda c: (c.file, c.name))

    def project_files(self) -> list[str]:
        files = set()
        for module in list(sys.modules.values()):
            path = getattr(module, "__file__", None)
            if not path or not path.endswith(".py"):
                continue
            real = os.path.realpath(path)
            if real.startswith(self.project_root + os.sep) and self._is_user_file(real):
                files.add(real)
        files.add(self.script)
        return sorted(files)

    def report(self, stopped: str, **extra) -> Report:
        with self.lock:
            # where training ran: the optimizer's parameters; once the script has returned or
            # raised (the optimizer freed), the last loss backward() saw, else the last forward
            where = next((g["params"][0].device for o in self._live_optimizers() for g in o.param_groups
                          if g["params"]), None) or self._last_device or torch.device("cpu")
            device = str(where)
            if where.type == "cuda":
                device += f" ({torch.cuda.get_device_name(where)})"
            optimized = []
            for o in self._live_optimizers():
                for g in o.param_groups:
                    optimized.extend(g["params"])
            names = self._name_map() if optimized else {}
            without = []
            if self.backward_calls:
                seen = set()
                for p in optimized:
                    if id(p) in seen or not p.requires_grad:
                        continue
                    seen.add(id(p))
                    if p not in self.reached:
                        without.append(WithoutGrad(name=names.get(p) or self.param_owners.get(p) or f"<{tuple(p.shape)}>",
                                                   shape=list(p.shape), numel=p.numel()))
            times = self.step_times
            return Report(
                rank=self.rank,
                world_size=self.world_size,
                script=self.script,
                stopped=stopped,
                torch=torch.__version__,
                device=device,
                cuda_available=torch.cuda.is_available(),
                wall_s=time.perf_counter() - self.started,
                step_s=(times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None,
                max_steps=self.max_steps,
                optimizer_steps=self.optimizer_steps,
                backward_calls=self.backward_calls,
                optimizers=self.optimizer_info,
                backward_site=self.backward_site,
                optimizers_after_first_step=self.optimizers_after_first_step,
                losses=[_num(x) for x in self.losses],
                grad_norms=[_num(x) for x in self.grad_norms],
                layers=[Layer(name=n, **self.layer_info.get(n, {}), norms=[_num(v) for _, v in self.layer_norms[n]],
                              zero_rows=self.zero_rows.get(n)) for n in self._layers_in_forward_order()],
                ratios=self.ratios,
                ratio_layers=list(getattr(self, "ratio_layers", ()) or ()),
                activations=list(self.activations.values()),
                nonfinite_loss=self.nonfinite_loss,
                nonfinite_grad=self.nonfinite_grad,
                nonfinite_activation=self.nonfinite_activation,
                not_optimized=list(self.not_optimized.values()),
                without_grad=without,
                lrs=self.lrs,
                loaders=self.loaders,
                loss_fns=self.loss_fns,
                events=self.events,
                grad_carried_over=self.grad_carried_over,
                accumulated_grads_read=self.accumulated_grads_read,
                grad_copy_limit_bytes=MAX_GRAD_COPY_BYTES,
                scaler_overflows=self.scaler_overflows,
                through_eval=self.through_eval,
                eval_passes=self.eval_passes,
                after_eval=self.after_eval,
                scaled=self.scaled,
                steps_without_grad=self.steps_without_grad,
                constant_weights=self.constant_weights,
                huge_weights=self.huge_weights,
                scheduler_warnings=self.scheduler_warnings,
                schedulers=self.schedulers,
                double_steps=self.double_steps,
                redirected=self.redirected,
                project_files=self.project_files(),
                trained_classes=self.trained_classes(),
                stored_graphs=list(self.stored_graphs.values()),
                internal_errors=getattr(self, "internal_errors", []),
                **extra,
            )

    def write_report(self, stopped: str, **extra) -> None:
        if self.report_path is None:
            return
        for _ in range(3):  # the timer thread may race the script's thread
            try:
                text = json.dumps(self.report(stopped, **extra).to_json(), default=str)
                break
            except (RuntimeError, TypeError):  # a race with the script's thread, or a field the schema lacks
                time.sleep(0.01)
        else:
            text = json.dumps(Report(rank=self.rank, stopped=stopped, script=self.script,
                                     internal_errors=["could not serialize the measurements"]).to_json())
        tmp = self.report_path + ".tmp"
        with io.FileIO(tmp, "w") as fh:
            fh.write(text.encode("utf-8"))
        os.replace(tmp, self.report_path)

    def stop(self, reason: str, **extra) -> None:
        """Write the report and end the process now (a bare `except:` cannot swallow it)."""
        with self.lock:
            if self.done:
                return
            self.done = True
            try:
                self.write_report(reason, **extra)
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                except Exception:
                    pass
                os._exit(0)


def _mode_layers(module) -> list[str]:
    """The layer types in `module` whose output depends on train/eval mode."""
    kinds = tuple(k for k in (getattr(torch.nn.modules.dropout, "_DropoutNd", None),
                              getattr(torch.nn.modules.batchnorm, "_BatchNorm", None),
                              getattr(torch.nn.modules.instancenorm, "_InstanceNorm", None)) if k is not None)
    return sorted({type(m).__name__ for m in module.modules() if isinstance(m, kinds)})[:5]


def _active_units(out) -> list:
    """Which units of an activation were non-zero for some sample of the batch: one bool mask per
    reading of its shape. A unit is a feature of (N, F), a channel of (N, C, H, W) or (N, C, D, H, W)
    (a zero pixel before pooling is no dead unit), and either a channel or a feature of (N, C, L) /
    (N, T, F), which the shape alone cannot tell apart (both are read; the smaller share counts)."""
    if out.dim() == 2:
        return [out.amax(dim=0) > 0]
    if out.dim() == 3:
        return [out.amax(dim=(0, 2)) > 0, out.amax(dim=(0, 1)) > 0]
    return [out.transpose(0, 1).flatten(1).amax(dim=1) > 0]


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


def _lr(group: dict) -> float | None:
    lr = group.get("lr")
    try:
        return float(lr)
    except (TypeError, ValueError):
        return None


def _short(site: Site | None) -> str:
    if not site:
        return "?"
    return f"{os.path.basename(site.file)}:{site.line}"


def _module_args(module) -> str | None:
    if module is None:
        return None
    try:
        text = module.extra_repr()
    except Exception:
        return None
    return text[:80] if text else None
