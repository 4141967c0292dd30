"""The runtime probe: each fixture script under tests/fixtures/probe/ shows one symptom.

The scripts run for a few steps in child processes (all started at once, on CPU); the
tests assert verdicts and the direction of the measured numbers, never exact values.
Deselect the slow part with `-m "not probe"`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from trainlint.finding import Finding, Location, Severity
from trainlint.probe import static_evidence as evidence
from trainlint.probe.analyze import Measurements, runtime_findings, verdict_for
from trainlint.probe.numbers import fmt
from trainlint.probe.runner import ProbeResult, run_probe, torch_available
from trainlint.probe.schema import Report
from trainlint.config import ConfigError, config_from_table, load_config
from trainlint.probe.thresholds import Thresholds, load_thresholds, parse_assignments

FIXTURES = Path(__file__).parent / "fixtures" / "probe"
STEPS = 8
SCRIPTS = {
    # name: (steps, timeout, nproc)
    "healthy": (STEPS, 120, None),
    "exploding": (STEPS, 120, None),
    "raw_inputs": (STEPS, 120, None),
    "sigmoid_deep": (STEPS, 120, None),
    "conv_in_forward": (STEPS, 120, None),
    "unshuffled": (STEPS, 120, None),
    "resnet_seed004": (5, 120, None),
    "raises": (STEPS, 120, None),
    "exits": (STEPS, 120, None),
    "swallow": (5, 120, None),
    "checkpoint": (5, 120, None),
    "hang": (STEPS, 8, None),
    "loop_bugs": (5, 120, None),
    "nan_module": (5, 120, None),
    "constant_inputs": (STEPS, 120, None),
    "grad_reach": (4, 120, None),
    "cast_in_forward": (4, 120, None),
    "amp_overflow": (6, 120, None),
    "tensorboard_logs": (5, 120, None),
    "amp_double_step": (6, 120, None),
    "eval_in_train_mode": (2, 120, None),
    "eval_mode_not_restored": (2, 120, None),
    "probe_resnet": (5, 120, None),
    "sigmoid_cnn_unseeded": (STEPS, 120, None),
    "masked_lr": (20, 120, None),
    "dropout_cnn": (20, 120, None),
    "eval_with_grad": (2, 120, None),
    "eval_with_grad_ok": (2, 120, None),
    "gan_huge_lr": (20, 120, None),
}
#: Scripts whose findings depend on the clock (stopped by the time limit): never compared run to run.
TIMED = {"hang"}
#: Scripts probed with --through-eval (on to their first evaluation pass).
THROUGH_EVAL = {"eval_in_train_mode", "eval_mode_not_restored", "eval_with_grad", "eval_with_grad_ok"}
#: Scripts that live outside tests/fixtures/probe/.
BENCHMARK = Path(__file__).parent.parent / "benchmarks"
PATHS = {"probe_resnet": Path(__file__).parent.parent / "examples" / "buggy" / "probe_resnet.py",
         # two networks of equal size: which one is "the model" (plain layer names) must not change run to run
         "gan_huge_lr": BENCHMARK / "probe_cases" / "gan_huge_lr.py"}

needs_torch = pytest.mark.skipif(not torch_available(), reason="the probe needs torch")


def _probe_all(names) -> dict[str, ProbeResult]:
    """These fixtures probed concurrently (each is a child process)."""
    env_threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # small models: threads only contend
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {name: pool.submit(run_probe, PATHS.get(name, FIXTURES / f"{name}.py"), [], steps=steps, timeout=timeout,
                                         nproc_per_node=nproc, through_eval=name in THROUGH_EVAL)
                       for name, (steps, timeout, nproc) in SCRIPTS.items() if name in names}
            return {name: future.result() for name, future in futures.items()}
    finally:
        if env_threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = env_threads


@pytest.fixture(scope="module")
def results() -> dict[str, ProbeResult]:
    """Every fixture probed once."""
    return _probe_all(SCRIPTS)


@pytest.fixture(scope="module")
def second_results() -> dict[str, ProbeResult]:
    """Every fixture that the clock does not stop, probed a second time."""
    return _probe_all(set(SCRIPTS) - TIMED)


def codes(result: ProbeResult) -> set[str]:
    return {f.code for f in result.runtime}


def runtime(result: ProbeResult, code: str) -> Finding:
    found = [f for f in result.runtime if f.code == code]
    assert found, f"{code} not reported; got {[(f.code, f.message) for f in result.runtime]}"
    return found[0]


def _line(f: Finding) -> str:
    return Path(f.path).read_text().splitlines()[f.location.row - 1]


def static(result: ProbeResult, code: str) -> list[Finding]:
    return [f for f in result.static if f.code == code]


# the symptoms --------------------------------------------------------------------------
@needs_torch
@pytest.mark.probe
def test_healthy_script_reports_nothing(results):
    r = results["healthy"]
    assert r.report.stopped == "steps" and r.report.optimizer_steps == STEPS
    assert r.runtime == [], [(f.code, f.message) for f in r.runtime]
    assert not any(f.details["verdict"] == "confirmed" for f in r.static)
    assert not r.failed
    losses = r.report.losses
    assert losses[-1] < losses[0]
    assert 1e-2 < Measurements(r.report, Thresholds()).measure("TL903").numbers["ratio"] < 10


@needs_torch
@pytest.mark.probe
def test_huge_learning_rate_explodes(results):
    r = results["exploding"]
    assert {"TL907", "TL902"} & codes(r) or "TL901" in codes(r)
    growth = Measurements(r.report, Thresholds()).measure("TL907")
    assert growth.present and growth.numbers["growth"] > 10
    assert r.failed
    for f in static(r, "TL408"):  # once the optim rules land
        assert f.details["verdict"] == "confirmed"


@needs_torch
@pytest.mark.probe
def test_raw_pixels_are_not_normalized(results):
    r = results["raw_inputs"]
    f = runtime(r, "TL909")
    assert f.details["measurement"]["mean"] > 100 and f.details["measurement"]["max"] == 255
    assert runtime(r, "TL908").details["measurement"]["loss"] > 3 * runtime(r, "TL908").details["measurement"]["expected"]
    assert "TL904" in codes(r)  # the huge pre-activations kill ReLUs
    assert f.path.endswith("raw_inputs.py") and "DataLoader(" in _line(f)
    assert "TL909" not in codes(results["healthy"])


@needs_torch
@pytest.mark.probe
def test_deep_sigmoid_stack_vanishes(results):
    r = results["sigmoid_deep"]
    f = runtime(r, "TL903")
    assert f.details["measurement"]["ratio"] < 1e-4
    healthy = Measurements(results["healthy"].report, Thresholds()).measure("TL903").numbers["ratio"]
    assert f.details["measurement"]["ratio"] < healthy / 100
    for v in static(r, "TL201"):
        assert v.details["verdict"] == "confirmed"


@needs_torch
@pytest.mark.probe
def test_conv_built_in_forward_is_not_optimized(results):
    r = results["conv_in_forward"]
    f = runtime(r, "TL905")
    assert f.severity is Severity.WARNING
    assert f.path.endswith("conv_in_forward.py") and "nn.Conv2d(16, 32" in _line(f)
    assert sorted(f.details["measurement"]["parameters"]) == ["conv2.bias", "conv2.weight"]
    (tl202,) = static(r, "TL202")
    assert tl202.details["verdict"] == "confirmed"
    assert tl202.details["measurement"]["count"] == 2
    assert r.failed


@needs_torch
@pytest.mark.probe
def test_sorted_labels_without_shuffle(results):
    r = results["unshuffled"]
    f = runtime(r, "TL910")
    m = f.details["measurement"]
    assert m["single_class_batches"] > m["batches"] / 2 and m["sampler"] == "SequentialSampler"
    for v in static(r, "TL101"):
        assert v.details["verdict"] == "confirmed"
    healthy = Measurements(results["healthy"].report, Thresholds()).measure("TL910")
    assert healthy.observable and not healthy.present and healthy.numbers["single_class_batches"] == 0


@needs_torch
@pytest.mark.probe
def test_mixed_precision_is_measured_unscaled(results):
    """GradScaler multiplies the loss by its scale before backward(), and skips the steps
    whose scaled gradients overflow: neither is a problem of the script."""
    r = results["amp_overflow"]
    report = r.report
    assert codes(r) == set() and not r.failed
    assert report.scaled and report.scaler_overflows[:1] == [1]
    assert report.optimizer_steps == 6 and report.backward_calls == 6 + len(report.scaler_overflows)
    assert all(40 < x < 50 for x in report.losses[:3])  # 32 samples × ln 4, summed; not × the scale
    assert report.grad_norms and max(report.grad_norms) < 1e3


@needs_torch
@pytest.mark.probe
def test_layer_built_in_forward_dies_when_the_model_is_cast(results):
    r = results["cast_in_forward"]
    assert r.report.stopped == "exception" and r.report.backward_calls == 0
    (tl202,) = static(r, "TL202")
    assert tl202.details["verdict"] == "confirmed"
    message = tl202.details["verdict_message"]
    assert "inside the Linear(in_features=32, out_features=4, bias=True) built at cast_in_forward.py:20" in message
    # the model went to float64 (and to the GPU under TRAINLINT_FIXTURE_DEVICE=cuda); the Linear stayed
    assert "on cpu as float32" in message
    assert ("same device" if r.report.device.startswith("cuda") else "same dtype") in message
    assert tl202.details["measurement"]["module"] == "Linear" and r.failed


@needs_torch
@pytest.mark.probe
def test_seed_004_resnet_is_confirmed_with_numbers(results):
    r = results["resnet_seed004"]
    (tl202,) = [f for f in static(r, "TL202") if f.path.endswith("models/resnet.py")]
    if os.environ.get("TRAINLINT_FIXTURE_DEVICE", "cpu").startswith("cuda"):
        # on a GPU the shortcut conv forward() builds stays on the CPU: the first call dies
        assert tl202.details["verdict"] == "confirmed" and r.report.stopped == "exception"
        assert "Conv2d(16, 32" in tl202.details["verdict_message"] and "on cpu" in tl202.details["verdict_message"]
        return
    assert tl202.details["verdict"] == "confirmed"
    assert {"adjBlock.weight", "adjBlock.bias"} <= set(tl202.details["measurement"]["parameters"])
    assert tl202.details["measurement"]["numel"] > 0
    assert "received gradients but are in no optimizer param group" in tl202.details["verdict_message"]
    tl905 = runtime(r, "TL905")
    assert tl905.path.endswith("models/resnet.py") and tl905.location.row == tl202.location.row
    # the optimizer holds the Conv2d of the warm-up forward, which later forwards replace
    tl906 = runtime(r, "TL906")
    assert tl906.details["measurement"]["count"] == 2 and "resnet.py:50" in tl906.message


@needs_torch
@pytest.mark.probe
def test_bundled_example_confirms_tl202(results):
    """`trainlint probe examples/buggy/probe_resnet.py`, as docs/probe.md shows it."""
    r = results["probe_resnet"]
    assert r.report.stopped == "steps" and r.report.optimizer_steps == 5
    (tl202,) = static(r, "TL202")
    assert tl202.details["verdict"] == "confirmed" and tl202.path.endswith("models/resnet.py")
    assert sorted(tl202.details["measurement"]["parameters"]) == ["adjBlock.bias", "adjBlock.weight"]
    assert codes(r) == {"TL905", "TL906"} and r.failed


@needs_torch
@pytest.mark.probe
def test_nan_is_traced_to_the_module_that_made_it(results):
    r = results["nan_module"]
    f = runtime(r, "TL901")
    assert f.details["measurement"]["activation"]["type"] == "LogFeatures"
    assert f.details["measurement"]["activation"]["inputs_finite"] is True
    assert codes(r) == {"TL901"}  # no echo of the same NaN as TL902/TL907/TL908


@needs_torch
@pytest.mark.probe
def test_loop_bugs_are_measured(results):
    m = Measurements(results["loop_bugs"].report, Thresholds())
    carried = evidence.grad_carried(m, _static("TL401"))
    assert carried.present and carried.numbers["params"] == carried.numbers["of"] == 4
    assert evidence.scheduler_order(m, _static("TL406")).present
    assert not evidence.step_without_grad(m, _static("TL402")).present
    granularity = evidence.scheduler_granularity(m, _static("TL409"))  # StepLR(step_size=100) stepped every batch
    assert granularity.present and granularity.numbers["calls"] >= granularity.numbers["optimizer_steps"] - 1
    for code in ("TL401", "TL406", "TL409"):
        (f,) = static(results["loop_bugs"], code)
        assert f.details["verdict"] == "confirmed"
    assert "StepLR.step() ran" in static(results["loop_bugs"], "TL409")[0].details["verdict_message"]
    healthy = Measurements(results["healthy"].report, Thresholds())
    assert not evidence.grad_carried(healthy, _static("TL401")).present
    assert not evidence.scheduler_order(healthy, _static("TL406")).present


@needs_torch
@pytest.mark.probe
def test_each_step_s_own_gradient_is_measured(results):
    """SGD lr=5 and no zero_grad(): from the fifth step on every backward adds exactly 0,
    while .grad keeps the stale sum of the first four. The norms are each step's own, so the
    stall is seen, TL408 is confirmed by it and the accumulation by TL401."""
    r = results["masked_lr"]
    norms = r.report.grad_norms
    assert max(norms[:4]) > 100 and norms[-6:] == [0.0] * 6
    verdicts = {f.code: f.details["verdict"] for f in r.static}
    assert verdicts["TL408"] == verdicts["TL401"] == "confirmed"
    from trainlint.probe.output import _measured_line

    assert "gradients accumulate in .grad" in _measured_line(r)
    assert "gradients accumulate" not in _measured_line(results["healthy"])


@needs_torch
def test_gradients_too_large_to_copy_are_read_as_their_sum(monkeypatch):
    import weakref

    import torch

    import trainlint.probe.hooks.autograd as autograd
    import trainlint.probe.instrument as instrument

    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.randn(2, 4)).sum().backward()  # .grad set, never cleared
    probe = instrument.Probe(steps=None, report_path=None, project_root=".", script=__file__)
    probe.optim.refs.append(weakref.ref(optimizer))
    copies = [old for _, _, _, old in probe.grads.grads_before()]
    assert all(old is not None for old in copies) and not probe.grads.accumulated_grads_read
    assert torch.equal(copies[0], model.weight.grad) and copies[0] is not model.weight.grad
    probe.optim.on_zero_grad(model.parameters())  # cleared since: nothing to copy
    assert all(old is None for _, _, _, old in probe.grads.grads_before())
    monkeypatch.setattr(autograd, "MAX_GRAD_COPY_BYTES", 16)  # the bias fits, the weight does not
    copies = [old for _, _, _, old in probe.grads.grads_before()]
    assert [c is None for c in copies] == [True, False] and probe.grads.accumulated_grads_read
    from trainlint.probe.output import _measured_line

    result = ProbeResult("a.py", [], Report(grad_norms=[1.0], accumulated_grads_read=True,
                                      grad_copy_limit_bytes=2 << 30), [])
    assert "too large to copy (> 2 GiB)" in _measured_line(result)


@needs_torch
@pytest.mark.probe
def test_stalled_training_is_named_with_its_cause(results):
    r = results["masked_lr"]
    f = runtime(r, "TL912")
    m = f.details["measurement"]
    assert m["grad_norm"] == 0 and m["loss_change"] == 0 and abs(m["loss"] - 2.3026) < 1e-3
    assert "likely cause: a learning rate far out of range (TL408" in f.message
    assert [c["code"] for c in f.details["causes"]] == ["TL408"]
    assert "backward()" in _line(f)
    for name, result in results.items():
        if name not in ("masked_lr",):
            assert "TL912" not in codes(result), name


def test_stall_confirms_the_static_findings_that_explain_it():
    flat = [2.3026] * 8
    m = Measurements(_report(losses=[2.29, 3.1, 2.5, 2.3026] + flat, grad_norms=[0.8, 30.0, 12.0, 0.0] + [0.0] * 8),
                     Thresholds())
    assert m.measure("TL912").present
    v = verdict_for(_static("TL302"), m)  # no cross_entropy call was recorded, yet the stall it predicts was
    assert v.details["verdict"] == "confirmed" and "training stalled (TL912)" in v.details["verdict_message"]
    assert verdict_for(_static("TL401"), m).details["verdict"] != "confirmed"  # not a cause of a stall
    # a run that learned and converged: a flat loss far below its start is not a stall
    done = Measurements(_report(losses=[2.3, 1.0, 0.1] + [1e-4] * 9, grad_norms=[1.0, 0.5, 0.1] + [1e-6] * 9),
                        Thresholds())
    assert not done.measure("TL912").present and "converged" in done.measure("TL912").message
    # a loss that still moves is not stalled, however small the gradients
    moving = Measurements(_report(losses=[2.3 - 0.01 * i for i in range(12)], grad_norms=[1.0] + [1e-5] * 11),
                          Thresholds())
    assert not moving.measure("TL912").present
    assert not Measurements(_report(losses=[2.0] * 4, grad_norms=[0.0] * 4), Thresholds()).measure("TL912").observable
    from trainlint.probe.analyze import explain_causes

    (named,) = explain_causes([Finding("TL912", "training-stalled", Severity.WARNING, "stalled", "train.py",
                                      Location(9, 1), Location(9, 2), details={"kind": "runtime"})],
                             [_static("TL201", row=3), _static("TL201", row=4), _static("TL408", row=7),
                              _static("TL401", row=8)])
    assert named.message == ("stalled; likely cause: a saturated sigmoid stack (TL201 x at train.py:3 and 1 more); "
                             "a learning rate far out of range (TL408 x at train.py:7)")


@needs_torch
@pytest.mark.probe
def test_dropout_zeros_are_not_dead_units(results):
    r = results["dropout_cnn"]
    assert r.report.stopped == "steps" and r.runtime == [] and not r.failed, [f.message for f in r.runtime]
    fc1 = next(layer for layer in r.report.layers if layer.name == "fc1")
    assert fc1.zero_rows[:2] == ["nan", "nan"] and max(fc1.zero_rows[2:]) < 0.5  # judged from the third batch


@needs_torch
def test_a_unit_is_dead_when_zero_for_every_sample_of_the_last_batches():
    import torch

    from trainlint.probe.hooks.modules import DEAD_WINDOW, active_units
    from trainlint.probe.instrument import Probe

    probe = Probe(steps=None, report_path=None, project_root=".", script=__file__)
    torch.manual_seed(0)
    shares = []
    for _ in range(DEAD_WINDOW + 2):
        out = torch.relu(torch.randn(16, 64)) * (torch.rand(16, 64) > 0.5)  # dropout zeros half of them
        out[:, :8] = 0  # eight units never fire
        shares.append(float(probe.modules.dead_share("fc", active_units(out))))
    assert all(s != s for s in shares[:DEAD_WINDOW - 1])  # not judged before the window is full
    assert shares[-1] == 8 / 64
    # ReLU before pooling: a channel with zero pixels is alive if any pixel of any sample fires
    image = torch.zeros(8, 4, 6, 6)
    image[0, :3, 2, 2] = 1.0
    (channels,) = active_units(image)
    assert channels.tolist() == [True, True, True, False]
    # (N, T, F) or (N, C, L): a unit counts as dead under both readings only
    sequence = torch.zeros(8, 5, 7)
    sequence[:, :, 0] = 1.0
    assert [m.shape[0] for m in active_units(sequence)] == [5, 7]


@needs_torch
@pytest.mark.probe
def test_black_images_are_constant_inputs(results):
    r = results["constant_inputs"]
    f = runtime(r, "TL911")
    assert f.details["measurement"]["constant_batches"] == f.details["measurement"]["batches"] > 0
    assert f.path.endswith("constant_inputs.py") and "DataLoader(" in _line(f)
    assert codes(r) == {"TL911"}  # the dead units that identical inputs imply are not reported again as TL904
    assert "TL911" not in codes(results["healthy"])


# how it runs ------------------------------------------------------------------------------
def _outcome(result: ProbeResult) -> list[tuple]:
    """What a user reads from a probe: every finding with its message, verdict and numbers."""
    return sorted((f.code, f.path, f.location.row, f.message, str(f.details.get("verdict")),
                   str(f.details.get("verdict_message")), json.dumps(f.details.get("measurement"), sort_keys=True,
                                                                     default=str))
                  for f in result.findings)


@needs_torch
@pytest.mark.probe
def test_two_probes_of_a_script_agree(results, second_results):
    """The child seeds random, numpy and torch before the script starts: a script that seeds
    nothing (sigmoid_cnn_unseeded) gives the same numbers, findings and verdicts twice."""
    for name, second in second_results.items():
        first = results[name]
        assert _outcome(first) == _outcome(second), name
        assert (first.report and first.report.losses) == (second.report and second.report.losses), name
    unseeded = results["sigmoid_cnn_unseeded"]
    assert unseeded.report.stopped == "steps" and {v.details["verdict"] for v in static(unseeded, "TL201")} == {
        "confirmed"}


@needs_torch
@pytest.mark.probe
def test_the_script_s_own_seed_wins(tmp_path):
    script = tmp_path / "draw.py"
    script.write_text("import random, sys\nimport numpy, torch\n"
                      "first = (random.random(), float(numpy.random.rand()), float(torch.rand(1)))\n"
                      "torch.manual_seed(123)\n"
                      "print('DRAW', first, float(torch.rand(1)), flush=True)\nsys.exit(0)\n")
    runs = [run_probe(script, [], steps=1, timeout=60, static=False) for _ in range(2)]
    draws = [r.output_tail.split("DRAW ")[1].splitlines()[0] for r in runs]
    assert draws[0] == draws[1]
    import torch

    torch.manual_seed(123)
    assert draws[0].endswith(str(float(torch.rand(1))))


@needs_torch
@pytest.mark.probe
def test_parameters_reached_are_read_from_their_gradients(results):
    r = results["grad_reach"]
    assert r.report.optimizer_steps == 4 and r.report.backward_calls == 8
    f = runtime(r, "TL906")
    assert sorted(f.details["measurement"]["parameters"]) == ["aux_head.bias", "aux_head.weight"]
    assert codes(r) == {"TL906"}  # the frozen teacher is neither optimized nor reported
    assert len(r.report.grad_norms) == 8 and all(n > 0 for n in r.report.grad_norms)
    assert not r.report.internal_errors


@needs_torch
@pytest.mark.probe
def test_script_that_raises_gets_a_clear_report(results):
    r = results["raises"]
    assert r.report.stopped == "exception"
    exc = r.report.exception
    assert exc.type == "ValueError" and exc.site.line == 14
    assert r.report.optimizer_steps == 2


@needs_torch
@pytest.mark.probe
def test_script_that_exits_before_training(results):
    r = results["exits"]
    assert r.report.stopped == "exit" and r.report.exit_code == 3
    assert r.report.backward_calls == 0 and r.runtime == []
    assert "data folder not found" in r.output_tail
    for f in r.static:
        assert f.details["verdict"] != "confirmed"
    assert r.exit_code == 2 and r.to_json()["summary"]["not_measured"] == (
        "the script exited (code 3) before its first training step")
    assert results["raises"].exit_code == 0  # it raised after two steps: those were measured
    assert results["cast_in_forward"].exit_code == 1  # raised before a step, yet TL202 is confirmed


@needs_torch
@pytest.mark.probe
def test_a_script_that_raises_before_its_first_step_exits_2(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("import torch\n\n\ndef load():\n    raise FileNotFoundError('data/train.csv')\n\n\nload()\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    text = subprocess.run([sys.executable, "-m", "trainlint", "probe", str(script)], capture_output=True, text=True,
                          env=env, timeout=180)
    assert text.returncode == 2, text.stdout + text.stderr
    assert "FileNotFoundError: data/train.csv" in text.stdout and "line 5, in load" in text.stdout
    assert "Nothing measured: the script raised FileNotFoundError before its first training step" in text.stdout
    data = json.loads(subprocess.run([sys.executable, "-m", "trainlint", "probe", str(script), "--output-format",
                                      "json"], capture_output=True, text=True, env=env, timeout=180).stdout)
    summary = data["summary"]
    assert summary["measured"] is False and summary["probe_exit_code"] == 2
    assert summary["not_measured"] == "the script raised FileNotFoundError before its first training step"
    assert summary["exception"]["type"] == "FileNotFoundError"


@needs_torch
@pytest.mark.probe
def test_bare_except_cannot_swallow_the_stop(results):
    r = results["swallow"]
    assert r.report.stopped == "steps" and r.report.optimizer_steps == 5


@needs_torch
@pytest.mark.probe
def test_time_limit_ends_script_and_its_children(results):
    r = results["hang"]
    assert r.report.stopped == "timeout"
    assert r.wall_s < 8 + 15
    pid = int(r.output_tail.split("helper pid ")[1].split()[0])
    assert _gone(pid)


def _gone(pid: int) -> bool:
    """Dead: no such process, or a zombie waiting for init to reap it."""
    for _ in range(50):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


@needs_torch
@pytest.mark.probe
def test_checkpoints_are_redirected_and_removed(results):
    r = results["checkpoint"]
    assert r.report.stopped == "steps"  # the script's torch.load of its own checkpoint worked
    written = {os.path.basename(x.path) for x in r.report.redirected}
    assert written == {"probe_checkpoint_test.pt", "probe_last_test.ckpt"}
    assert not (FIXTURES / "probe_checkpoint_test.pt").exists()
    assert not (FIXTURES / "probe_last_test.ckpt").exists()
    assert not os.path.exists(os.path.dirname(r.report.redirected[0].to))


@needs_torch
@pytest.mark.probe
def test_tensorboard_runs_are_redirected_and_removed(results):
    r = results["tensorboard_logs"]
    assert r.report.stopped == "steps"
    (entry,) = r.report.redirected
    assert entry.kind == "tensorboard" and entry.path == str(FIXTURES / "probe_runs_test")
    assert not (FIXTURES / "probe_runs_test").exists()
    assert not os.path.exists(os.path.dirname(entry.to))


@needs_torch
@pytest.mark.probe
def test_double_optimizer_step_is_measured(results):
    r = results["amp_double_step"]
    (tl414,) = static(r, "TL414")
    assert tl414.details["verdict"] == "confirmed"
    assert "SGD.step() ran again on the gradients of backward() call 1" in tl414.details["verdict_message"]
    # the healthy loop steps once per backward
    assert not evidence.double_step(Measurements(results["healthy"].report, Thresholds()), _static("TL414")).present


@needs_torch
@pytest.mark.probe
def test_evaluation_in_training_mode_is_measured(results):
    r = results["eval_in_train_mode"]
    (tl501,) = static(r, "TL501")
    assert tl501.details["verdict"] == "confirmed"
    m = tl501.details["measurement"]
    assert m["after_step"] == 4 and m["in_train_mode"] == m["forwards"] == 2  # 4 batches, then 2 val batches
    assert m["mode_layers"] == ["BatchNorm1d", "Dropout"]
    # --through-eval ran past --steps 2 to the evaluation and three steps after it
    assert r.report.optimizer_steps == 7 and r.report.stopped == "steps"


@needs_torch
@pytest.mark.probe
def test_training_in_eval_mode_after_the_evaluation_is_measured(results):
    r = results["eval_mode_not_restored"]
    (tl502,) = static(r, "TL502")
    assert tl502.details["verdict"] == "confirmed"
    assert tl502.details["measurement"]["in_eval_mode"] == tl502.details["measurement"]["training_forwards"] == 3
    # the evaluation itself was in eval mode: TL501 has nothing to say
    assert evidence.eval_mode(Measurements(r.report, Thresholds()), _static("TL501")).present is False


@needs_torch
@pytest.mark.probe
def test_an_evaluation_without_no_grad_is_measured(results):
    """A forward pass of the trained model whose output gets no gradient from the next two
    backward() calls is an evaluation, with or without no_grad."""
    r = results["eval_with_grad"]
    (tl501,) = static(r, "TL501")
    assert tl501.details["verdict"] == "confirmed"
    m = tl501.details["measurement"]
    assert m["after_step"] == 4 and m["in_train_mode"] == m["forwards"] == 2
    assert r.report.optimizer_steps == 7 and len(r.report.eval_passes) == 1
    ok = Measurements(results["eval_with_grad_ok"].report, Thresholds())
    in_eval = evidence.eval_mode(ok, _static("TL501"))
    restored = evidence.train_mode_restored(ok, _static("TL502"))
    assert in_eval.observable and not in_eval.present
    assert restored.observable and not restored.present
    assert results["eval_with_grad_ok"].exit_code == 0


@needs_torch
@pytest.mark.probe
def test_layers_are_listed_in_forward_order(results):
    """The layer forward() builds (after a warm-up forward without backward) sits where it runs."""
    names = [layer.name for layer in results["probe_resnet"].report.layers]
    assert names.index("conv2block.7") < names.index("adjBlock") < names.index("conv3block.0")
    assert names[0] == "conv1block.0" and names[-1] == "linear_block.3"


@needs_torch
@pytest.mark.probe
def test_json_shape(results):
    data = json.loads(json.dumps(results["conv_in_forward"].to_json()))
    assert set(data) == {"findings", "summary"}
    for item in data["findings"]:
        assert {"code", "name", "severity", "message", "filename", "location", "end_location", "fix", "url",
                "kind", "verdict", "verdict_message", "measurement"} <= set(item)
        assert item["kind"] in ("runtime", "static")
        assert (item["verdict"] is None) == (item["kind"] == "runtime")
    summary = data["summary"]
    for key in ("script", "stopped", "device", "optimizer_steps", "backward_calls", "losses", "grad_norms", "layers",
                "verdicts", "thresholds", "wall_s"):
        assert key in summary
    assert summary["verdicts"].get("confirmed") == 1


@needs_torch
@pytest.mark.probe
def test_gradient_flow_plot(results, tmp_path):
    pytest.importorskip("matplotlib")
    from trainlint.probe.output import write_plot

    path = write_plot(results["sigmoid_deep"], tmp_path / "grad_flow.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_torch
@pytest.mark.probe
def test_cli_json_and_exit_code(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "trainlint", "probe", str(FIXTURES / "conv_in_forward.py"),
                           "--steps", "3", "--output-format", "json", "--plot", str(tmp_path / "g.png")],
                          capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert "TL905" in {f["code"] for f in data["findings"]}
    assert (tmp_path / "g.png").is_file()


@needs_torch
@pytest.mark.probe
def test_check_probe_option():
    from typer.testing import CliRunner

    from trainlint.cli import app

    result = CliRunner().invoke(app, ["check", "--probe", str(FIXTURES / "exits.py")])
    assert result.exit_code == 2, result.output  # nothing measured
    assert "the script exited (code 3)" in result.output and "data folder not found" in result.output


@needs_torch
@pytest.mark.probe
def test_torchrun_two_cpu_ranks():
    r = run_probe(FIXTURES / "ddp.py", [], steps=4, timeout=150, nproc_per_node=2)
    assert r.report is not None and r.report.world_size == 2
    assert sorted(x.rank for x in r.ranks) == [0, 1]
    assert all(x.optimizer_steps == 4 for x in r.ranks)
    assert r.runtime == []


# without a child process ---------------------------------------------------------------------
def test_probe_benchmark_scores_findings_and_verdicts(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARK))
    import probe_accuracy

    cases = {c.name: c for c in probe_accuracy.load_cases([])}
    assert len(cases) >= 12 and sum(c.healthy for c in cases.values()) >= 6
    assert cases["cnn_sigmoid_deep"].runtime == {"TL903"} and cases["cnn_sigmoid_deep"].verdicts == {"TL201": "confirmed"}

    def result(runtime, static, message="m"):
        found = [Finding(code, "x", Severity.WARNING, message, "a.py", Location(1, 1), Location(1, 2),
                         details={"verdict": None}) for code in runtime]
        found += [Finding(code, "x", Severity.WARNING, "m", "a.py", Location(2, 1), Location(2, 2),
                          details={"verdict": verdict}) for code, verdict in static]
        return ProbeResult("a.py", [], Report(stopped="steps"), [], runtime=found[:len(runtime)],
                           static=found[len(runtime):], wall_s=1.0)

    case = cases["cnn_sigmoid_deep"]
    good = probe_accuracy.judge(case, [result(["TL903"], [("TL201", "confirmed")])] * 3)
    assert (good.right, good.false, good.missed, good.verdicts_right, good.identical) == ({"TL903"}, set(), set(), 1, True)
    bad = probe_accuracy.judge(case, [result(["TL904"], [("TL201", "inconclusive"), ("TL302", "confirmed")]),
                                      result(["TL904"], [], message="other")])
    assert bad.false == {"TL904", "TL302"} and bad.missed == {"TL903"} and not bad.identical
    assert bad.verdicts_wrong == ["TL201: inconclusive"]
    totals = probe_accuracy.totals([good, bad])
    assert totals["right"] == 2 and totals["expected"] == 4 and totals["identical"] == 1


def test_importing_trainlint_never_imports_torch():
    code = "import sys, trainlint.cli, trainlint.probe, trainlint.probe.output; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_torch_says_how_to_install(monkeypatch):
    from typer.testing import CliRunner

    import trainlint.probe.runner as runner
    from trainlint.cli import app

    monkeypatch.setattr(runner, "torch_available", lambda: False)
    result = CliRunner().invoke(app, ["probe", str(FIXTURES / "healthy.py")])
    assert result.exit_code == 2
    assert "pip install 'trainlint[probe]'" in result.output


def test_thresholds_from_rule_options_probe_table_and_cli(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.trainlint.probe]\nmax-batches = 4\n"
        "[tool.trainlint.rules.TL902]\ngrad-growth = 20\n"
        "[tool.trainlint.rules.inputs-not-normalized]\ninput-mean = 50\n")
    config = load_config(start=tmp_path)
    t = load_thresholds(config, parse_assignments(["loss-growth=5"]))
    assert (t.grad_growth, t.max_batches, t.loss_growth, t.input_mean, t.input_std) == (20.0, 4, 5.0, 50.0, 10.0)
    assert load_thresholds(config, {"grad-growth": "30"}).grad_growth == 30.0  # the command line wins
    (tmp_path / "pyproject.toml").write_text("[tool.trainlint.probe]\ngrad-growth = 20\n")
    with pytest.raises(ValueError, match=r"option of TL902: set it in \[tool.trainlint.rules.TL902\]"):
        load_thresholds(load_config(start=tmp_path))
    (tmp_path / "pyproject.toml").write_text("[tool.trainlint.rules.TL902]\ngrad-grwoth = 20\n")
    with pytest.raises(ConfigError, match="unknown option 'grad-grwoth' for TL902"):
        load_config(start=tmp_path)
    with pytest.raises(ValueError, match="unknown probe threshold"):
        Thresholds().with_values({"no-such": 1})
    # a runtime rule's options are its thresholds: the rule module declares them, nothing else
    from trainlint.probe.catalog import runtime_rules

    assert Thresholds().stall_grad_ratio == runtime_rules()["TL912"].options["stall-grad-ratio"]
    t = Thresholds()
    assert t.with_values({"grad-growth": "20"}).grad_growth == 20.0 and t.grad_growth == 10.0  # immutable
    with pytest.raises(AttributeError):
        t.grad_growth = 5.0
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_assignments(["grad-growth"])


def _report(**changes) -> dict:
    base = {"backward_calls": 10, "optimizer_steps": 10, "optimizers": [{"type": "SGD", "site": None}],
            "losses": [2.0] * 10, "grad_norms": [1.0] * 10, "loaders": [], "ratios": [0.5] * 10,
            "not_optimized": [], "without_grad": [], "loss_fns": []}
    base.update(changes)
    return base


def _static(code: str, path: str = "train.py", row: int = 3) -> Finding:
    return Finding(code, "x", Severity.WARNING, "m", path, Location(row, 1), Location(row, 10))


def test_verdicts_follow_the_measurements():
    t = Thresholds()
    healthy = Measurements(_report(), t)
    assert verdict_for(_static("TL201"), healthy).details["verdict"] == "not confirmed"
    vanishing = Measurements(_report(ratios=[1e-9] * 5), t)
    assert verdict_for(_static("TL201"), vanishing).details["verdict"] == "confirmed"
    assert verdict_for(_static("TL504"), healthy).details["verdict"] == "not observable"
    never = Measurements(_report(backward_calls=0, optimizer_steps=0, losses=[], grad_norms=[], ratios=[]), t)
    assert verdict_for(_static("TL202"), never).details["verdict"] == "not observable"
    assert verdict_for(_static("TL408"), never).details["verdict"] == "not observable"
    # gradients 18.7x their first value while the loss falls (pytorch/examples' LSTM language
    # model on an H100): learning, not exploding; the same growth with a rising loss is
    learning = Measurements(_report(losses=[7.6, 7.55, 7.5, 7.45, 7.4, 7.36], grad_norms=[0.094, 0.3, 1.76, 1.2, 0.9, 0.066]), t)
    assert not learning.measure("TL902").present and "growth, not explosion" in learning.measure("TL902").message
    diverging = Measurements(_report(losses=[7.6, 7.7, 7.9, 8.4, 9.0, 9.9], grad_norms=[0.094, 0.3, 1.76, 1.2, 0.9, 0.066]), t)
    assert diverging.measure("TL902").present
    exploding = Measurements(_report(losses=[2.0, 5.0, 80.0]), t)
    v = verdict_for(_static("TL408"), exploding)
    assert v.details["verdict"] == "confirmed" and v.details["measurement"]["growth"] == 40.0


@pytest.mark.parametrize(
    "ratio, verdict",
    [
        (9.1e-5, "confirmed"),  # below TL903's own threshold too
        (1.8e-4, "confirmed"),  # above TL903's 1e-4, far below the healthy 0.02-3: the prediction holds
        (3e-3, "inconclusive"),
        (0.05, "not confirmed"),
    ],
)
def test_a_static_finding_is_confirmed_by_weaker_evidence_than_the_runtime_rule_needs(ratio, verdict):
    m = Measurements(_report(ratios=[ratio] * 8), Thresholds())
    assert m.measure("TL903").present is (ratio < 1e-4)
    v = verdict_for(_static("TL201"), m)
    assert v.details["verdict"] == verdict
    assert fmt(ratio) in v.details["verdict_message"] and "confirmed < 0.001, not confirmed >= 0.01" in v.details["verdict_message"]
    assert (("TL903" in {f.code for f in runtime_findings(m, "train.py")}) is (ratio < 1e-4))


def test_verdict_bands_are_configurable_and_read_every_number():
    m = Measurements(_report(ratios=[3e-3] * 8), Thresholds().with_values({"vanishing-confirm": 5e-3}))
    assert verdict_for(_static("TL204"), m).details["verdict"] == "confirmed"
    batches = lambda mean, std: [{"sampler": "RandomSampler", "site": None, "batches": [  # noqa: E731
        {"mean": mean, "std": std, "min": 0.0, "max": 1.0, "backward_before": i} for i in range(4)]}]
    pixels = Measurements(_report(loaders=batches(0.45, 0.25)), Thresholds())  # ToTensor() without Normalize
    assert not pixels.measure("TL909").present and verdict_for(_static("TL102"), pixels).details["verdict"] == "confirmed"
    centered = Measurements(_report(loaders=batches(0.02, 1.0)), Thresholds())
    assert verdict_for(_static("TL102"), centered).details["verdict"] == "not confirmed"
    unsure = Measurements(_report(loaders=batches(0.2, 1.0)), Thresholds())
    assert verdict_for(_static("TL102"), unsure).details["verdict"] == "inconclusive"
    assert verdict_for(_static("TL408"), Measurements(_report(losses=[2.0, 2.5, 4.0]), Thresholds())).details[
        "verdict"] == "inconclusive"


@pytest.mark.parametrize(
    "scheduler, calls, verdict",
    [
        ("StepLR", 19, "confirmed"),  # per batch: step_size counts batches
        ("StepLR", 0, "not confirmed"),  # per epoch, the probe stopped inside the first epoch
        ("OneCycleLR", 20, "not confirmed"),  # per batch, as it must be
        ("OneCycleLR", 0, "confirmed"),  # per epoch: the cycle never moves within an epoch
        ("ReduceLROnPlateau", 0, "not observable"),  # not a scheduler TL409 is about
    ],
)
def test_scheduler_granularity_verdicts(scheduler, calls, verdict):
    report = _report(schedulers=[{"type": scheduler, "site": None, "created_after_step": 0, "calls": calls,
                                  "steps": 20}])
    assert verdict_for(_static("TL409"), Measurements(report, Thresholds())).details["verdict"] == verdict


def _evaluated(in_train_mode: int, after: list[bool], layers=("BatchNorm1d", "Dropout"), through_eval=True) -> Measurements:
    passes = [{"after_step": 4, "module": "Net", "forwards": 2, "in_train_mode": in_train_mode,
               "mode_layers": list(layers)}] if in_train_mode >= 0 else []
    return Measurements(_report(eval_passes=passes, after_eval=[{"after_step": 5, "training": t} for t in after],
                                through_eval=through_eval), Thresholds())


@pytest.mark.parametrize(
    "measured, tl501, tl502",
    [
        (_evaluated(0, [True, True]), "not confirmed", "not confirmed"),  # eval() then train(): as it should be
        (_evaluated(2, [True]), "confirmed", "not confirmed"),
        (_evaluated(0, [False, False]), "not confirmed", "confirmed"),
        (_evaluated(2, [True], layers=()), "not confirmed", "not confirmed"),  # no dropout/BN: mode is moot
        (_evaluated(0, []), "not confirmed", "not observable"),  # stopped right after the evaluation
        (_evaluated(-1, [], through_eval=False), "not observable", "not observable"),
    ],
)
def test_eval_mode_verdicts(measured, tl501, tl502):
    assert verdict_for(_static("TL501"), measured).details["verdict"] == tl501
    assert verdict_for(_static("TL502"), measured).details["verdict"] == tl502


def test_model_findings_need_their_class_trained():
    resnet = Path(__file__).parent.parent / "examples" / "buggy" / "models" / "resnet.py"
    rel = os.path.relpath(resnet)
    trained = [{"file": str(resnet), "name": "ResNet"}]
    stored = [{"class": "ResNet", "attr": "conv1Out", "shape": [16, 16, 8, 8], "bytes": 65536}]
    m = Measurements(_report(trained_classes=trained, stored_graphs=stored), Thresholds())
    line = next(i for i, text in enumerate(resnet.read_text().splitlines(), 1) if "self.conv1Out =" in text)
    v = verdict_for(_static("TL203", rel, line), m)
    assert v.details["verdict"] == "confirmed" and v.details["measurement"]["attributes"] == ["conv1Out"]
    other = next(i for i, text in enumerate(resnet.read_text().splitlines(), 1) if "self.res3 =" in text)
    assert verdict_for(_static("TL203", rel, other), m).details["verdict"] == "not confirmed"
    idle = Measurements(_report(trained_classes=[]), Thresholds())
    v = verdict_for(_static("TL201", rel, line), idle)
    assert v.details["verdict"] == "not observable" and "ResNet" in v.details["verdict_message"]


def test_softmax_fed_to_cross_entropy_is_measured():
    probs = {"fn": "cross_entropy", "min": 0.01, "max": 0.4, "classes": 7, "row_sum_dev": 1e-7, "loss": 1.94,
             "site": None, "shape": [16, 7]}
    m = Measurements(_report(loss_fns=[probs]), Thresholds())
    assert verdict_for(_static("TL302"), m).details["verdict"] == "confirmed"
    assert not m.measure("TL908").present  # ln(7) = 1.95: probabilities hide the problem from TL908
    logits = dict(probs, min=-3.0, max=4.0, row_sum_dev=2.5, loss=30.0)
    m = Measurements(_report(loss_fns=[logits]), Thresholds())
    assert verdict_for(_static("TL302"), m).details["verdict"] == "not confirmed"
    assert "TL908" in {f.code for f in runtime_findings(m, "train.py")}


def test_noqa_silences_a_runtime_finding(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import torch\nloader = make()  # noqa: TL909\n")
    batch = {"mean": 120.0, "std": 70.0, "min": 0, "max": 255, "backward_before": 0}
    site = {"file": str(script), "line": 2}
    loaders = [{"sampler": "RandomSampler", "site": site,
                "batches": [dict(batch, backward_before=i) for i in range(4)]}]
    m = Measurements(_report(loaders=loaders), Thresholds())
    assert m.measure("TL909").present
    assert "TL909" not in {f.code for f in runtime_findings(m, str(script))}
    script.write_text("import torch\nloader = make()\n")
    assert "TL909" in {f.code for f in runtime_findings(m, str(script))}


def test_eval_loader_before_training_is_not_a_training_loader():
    batch = {"mean": 120.0, "std": 70.0, "min": 0, "max": 255, "labels": {"0": 32}, "backward_before": 0}
    loaders = [{"sampler": "SequentialSampler", "batches": [dict(batch) for _ in range(4)], "site": None}]
    m = Measurements(_report(loaders=loaders), Thresholds())
    assert not m.measure("TL909").observable and not m.measure("TL910").observable


def _raw_pixels(script: Path) -> Measurements:
    batch = {"mean": 120.0, "std": 70.0, "min": 0, "max": 255, "backward_before": 0}
    loaders = [{"sampler": "RandomSampler", "site": {"file": str(script), "line": 2},
                "batches": [dict(batch, backward_before=i) for i in range(4)]}]
    return Measurements(_report(loaders=loaders, losses=[2.0, 2.5, 40.0]), Thresholds())


def test_config_selects_runtime_findings_and_sets_their_severity(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import torch\nloader = make()\n")
    m = _raw_pixels(script)

    def found(**table):
        config = config_from_table(table, root=tmp_path)
        return {f.code: f.severity for f in runtime_findings(m, str(script), config)}

    assert found() == {"TL909": Severity.WARNING, "TL907": Severity.WARNING}
    assert found(ignore=["TL909"]) == {"TL907": Severity.WARNING}
    assert found(ignore=["TL9"]) == {}
    assert found(select=["TL2"]) == {}  # a selection without TL9xx selects no runtime finding
    assert found(select=["TL909"]) == {"TL909": Severity.WARNING}
    assert found(**{"per-file-ignores": {"train.py": ["inputs-not-normalized"]}}) == {"TL907": Severity.WARNING}
    assert found(**{"per-file-ignores": {"other.py": ["TL909"]}})["TL909"] is Severity.WARNING
    assert found(severity={"TL909": "error", "TL907": "info"}) == {"TL909": Severity.ERROR, "TL907": Severity.INFO}


def test_runtime_rules_are_the_registry_s(tmp_path):
    from trainlint.probe.catalog import runtime_rules

    rules = runtime_rules()
    assert list(rules) == [f"TL9{i:02d}" for i in range(1, 13)]
    # each rule module owns its evidence: the runtime findings are the rules' own measure()
    m = Measurements(_report(), Thresholds())
    for code, rule in rules.items():
        assert rule.measure.__module__ == rule.__module__ and m.measure(code) is m.measure(code)
    assert rules["TL901"].severity is Severity.ERROR
    assert all(r.severity is Severity.WARNING for code, r in rules.items() if code != "TL901")
    owned = {key for r in rules.values() for key in r.options}
    assert owned | {"max-batches"} == set(Thresholds().keys())  # every threshold is a rule's option, or the probe's
    for rule in rules.values():
        for key, default in rule.options.items():
            assert getattr(Thresholds(), key.replace("-", "_")) == default


def test_runtime_rules_say_which_static_findings_their_evidence_confirms():
    """Each static code has one source of evidence: the runtime rule that `confirms` it, or
    trainlint.probe.static_evidence; a rule that reads codes on a band has a band."""
    from trainlint.probe.analyze import STATIC_EVIDENCE, static_evidence
    from trainlint.probe.catalog import runtime_rules
    from trainlint.registry import rules_by_code

    static_codes = {code for code, rule in rules_by_code().items() if not rule.runtime}
    confirmed = [code for rule in runtime_rules().values() for code in rule.confirms]
    assert len(confirmed) == len(set(confirmed)) and not set(confirmed) & set(evidence.EVIDENCE)
    assert set(STATIC_EVIDENCE) == set(confirmed) | set(evidence.EVIDENCE) <= static_codes
    m = Measurements(_report(), Thresholds())
    for rule in runtime_rules().values():
        assert set(rule.banded) | set(rule.explains) <= static_codes
        if rule.banded:
            assert all(b.verdict() in ("confirmed", "not confirmed", "inconclusive", "not observable")
                       for b in rule.band(m))
        for code in rule.confirms:  # the verdict reads this rule's evidence
            assert static_evidence(code)(m, _static(code)) == (
                rule.evidence_for(m, _static(code)) if rule.evidence_for else m.measure(rule.code))


@needs_torch
@pytest.mark.probe
def test_probe_reads_ignore_severity_and_options_from_the_config(tmp_path):
    script = tmp_path / "raw_inputs.py"
    script.write_text((FIXTURES / "raw_inputs.py").read_text())
    (tmp_path / "pyproject.toml").write_text(
        "[tool.trainlint]\nignore = [\"TL904\", \"TL907\"]\n"
        "[tool.trainlint.severity]\nTL909 = \"error\"\n"
        "[tool.trainlint.rules.TL908]\ninitial-loss-factor = 1000.0\n")
    env_threads = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        r = run_probe(script, [], steps=4, timeout=120)
    finally:
        if env_threads is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = env_threads
    assert {f.code: f.severity for f in r.runtime} == {"TL909": Severity.ERROR}
    assert r.thresholds.initial_loss_factor == 1000.0
    assert r.to_json()["summary"]["thresholds"]["initial-loss-factor"] == 1000.0
