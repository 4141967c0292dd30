"""The report between the probed child and the parent is typed on both sides: every record
is a dataclass of trainlint.probe.schema, written by the child and read back by the parent
as the same records."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from trainlint.probe import schema
from trainlint.probe.runner import torch_available
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
    RaisingModule,
    Record,
    Redirect,
    Report,
    SchedulerRecord,
    ScriptException,
    Site,
    StoredGraph,
    TrainedClass,
    WithoutGrad,
)

FIXTURES = Path(__file__).parent / "fixtures" / "probe"


def _full_report() -> Report:
    """A report with every field set to something other than its default."""
    site = Site("/p/train.py", 12)
    return Report(
        rank=1, world_size=2, script="/p/train.py", stopped="exception", exit_code=1,
        exception=ScriptException("RuntimeError", "expected scalar type Half", site,
                                  RaisingModule("Conv2d", "3, 8, kernel_size=(3, 3)", Site("/p/net.py", 7), "cpu",
                                                "float32"), "Traceback ..."),
        torch="2.13.0", device="cpu", cuda_available=True, wall_s=1.5, step_s=0.01, max_steps=20, through_eval=True,
        optimizer_steps=3, backward_calls=4,
        optimizers=[OptimizerRecord("SGD", site, 0, [ParamGroup(4, 0.1), ParamGroup(2, None)])],
        optimizers_after_first_step=1, backward_site=Site("/p/train.py", 30), lrs=[[0.1, None], [0.05, 0.01]],
        schedulers=[SchedulerRecord("StepLR", site, 0, 3, 3)],
        scheduler_warnings=["Detected call of lr_scheduler.step()"],
        double_steps=[DoubleStep("SGD", 1, 2)], steps_without_grad=[1], events=["backward", "step"],
        losses=[2.3, "nan"], grad_norms=["inf", 0.5],
        layers=[Layer("fc1", "Linear", site, [0.1, "nan"], ["nan", 0.25]), Layer("fc2", "Linear", None, [0.2], None)],
        ratios=[0.5], ratio_layers=["fc1", "fc2"], grad_carried_over=[CarriedGradients(2, 4, 4)],
        accumulated_grads_read=True, grad_copy_limit_bytes=1 << 31, scaled=True, scaler_overflows=[1],
        nonfinite_loss=NonFiniteLoss(3, "nan"), nonfinite_grad=NonFiniteGrad(3, ["fc1"], 1),
        nonfinite_activation=NonFiniteActivation(3, "fc1", "Linear", site, False),
        activations=[Activation("relu1", "relu", "ReLU", site, ["nan", 0.1])],
        not_optimized=[NotOptimized("head.weight", [2, 4], 8, "Linear", "in_features=4", site, 3)],
        without_grad=[WithoutGrad("unused.weight", [3, 3], 9)], constant_weights=["fc1.weight"],
        huge_weights=["fc2.weight"], stored_graphs=[StoredGraph("Net", "hidden", [8, 4], 128)],
        trained_classes=[TrainedClass("/p/net.py", "Net")],
        eval_passes=[EvalPass(4, "Net", 2, 2, ["Dropout"])], after_eval=[AfterEval(4, False)],
        loaders=[Loader(site, "SequentialSampler", 8, "TensorDataset",
                        [Batch(0.5, 0.2, 0.0, 1.0, "float32", [8, 3], {"0": 8}, 0), Batch(backward_before=1)])],
        loss_fns=[LossCall("cross_entropy", site, [8, 10], 1, 2.3, 0.0, 1.0, 10, 1.0, 1e-7, 0.9, "int64")],
        redirected=[Redirect("/p/ckpt.pt", "/tmp/x/0-ckpt.pt"),
                    Redirect("/p/runs", "/tmp/x/1-tensorboard", "tensorboard")],
        project_files=["/p/train.py"], internal_errors=["ZeroDivisionError: division by zero"],
        version=schema.VERSION + 1,
    )


def _records(hint) -> set[type]:
    """The Record classes a type annotation names, however deeply nested."""
    if isinstance(hint, type) and issubclass(hint, Record):
        return {hint}
    return {r for arg in typing.get_args(hint) for r in _records(arg)}


def test_every_report_field_travels_and_comes_back_as_its_record():
    report = _full_report()
    defaults = Report()
    unset = [f.name for f in dataclasses.fields(Report) if getattr(report, f.name) == getattr(defaults, f.name)]
    assert not unset, f"set these in _full_report so that the round trip covers them: {unset}"
    text = json.dumps(report.to_json())  # what the child writes
    back = Report.from_json(json.loads(text))  # what the parent reads
    assert back == report
    assert isinstance(back.loaders[0].batches[0], Batch) and isinstance(back.exception.module.site, Site)


def test_every_record_is_in_the_round_trip():
    """A record added to the schema without a place in _full_report would go untested."""
    hints = typing.get_type_hints(Report)
    reachable: set[type] = set()
    todo = [r for h in hints.values() for r in _records(h)]
    while todo:
        record = todo.pop()
        if record not in reachable:
            reachable.add(record)
            todo.extend(r for h in typing.get_type_hints(record).values() for r in _records(h))
    declared = {v for v in vars(schema).values() if isinstance(v, type) and issubclass(v, Record)
                and v not in (Record, Report, Progress)}
    assert declared == reachable


def test_the_json_keeps_the_keys_the_child_wrote_before():
    """Fields measured only sometimes stay out of the JSON while unset (as the dict keys did);
    `class` is a JSON key, not a Python name."""
    assert Batch(backward_before=2).to_json() == {"backward_before": 2}
    assert Redirect("a", "b").to_json() == {"path": "a", "to": "b"}
    assert StoredGraph("Net", "h", [1], 4).to_json() == {"class": "Net", "attr": "h", "shape": [1], "bytes": 4}
    assert set(LossCall("nll_loss").to_json()) == {"fn", "site", "shape", "iteration", "loss", "min", "max"}


def test_an_older_or_newer_report_is_read_with_defaults():
    """Unknown keys (a newer child) are ignored; a missing key or a null where a list is
    expected (an older one) keeps the default, at every level."""
    report = Report.from_json({"losses": None, "exit_code": None, "future_field": 1,
                               "optimizers": [{"type": "SGD", "site": None, "groups": None, "future": True}],
                               "loaders": [{"batches": [{"mean": "nan", "backward_before": 3}]}]})
    assert report.losses == [] and report.exit_code is None
    assert report.optimizers == [OptimizerRecord(type="SGD")]
    assert report.loaders[0].batches[0] == Batch(mean="nan", backward_before=3)


needs_torch = pytest.mark.skipif(not torch_available(), reason="torch is not installed")


@needs_torch
@pytest.mark.probe
@pytest.mark.parametrize("script", ["loop_bugs.py", "raises.py", "checkpoint.py", "eval_in_train_mode.py"])
def test_what_the_child_writes_the_parent_reads_unchanged(tmp_path, script):
    """The probed child's own report file, read as the parent reads it and written again, is
    the same JSON: no field is lost or renamed between the two processes."""
    child = [sys.executable, "-m", "trainlint.probe._child", "--steps", "5", "--timeout", "120",
             "--report-dir", str(tmp_path), "--checkpoint-dir", str(tmp_path),
             *(["--through-eval"] if script.startswith("eval") else []), "--", str(FIXTURES / script)]
    subprocess.run(child, cwd=FIXTURES, capture_output=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"})
    written = json.loads((tmp_path / "rank0.json").read_text())
    report = Report.from_json(written)
    assert report.backward_calls > 0 and not report.internal_errors
    assert report.to_json() == written
    records = [report.exception, *report.optimizers, *report.schedulers, *report.layers, *report.loaders,
               *report.loss_fns, *report.redirected, *report.eval_passes, *report.trained_classes]
    assert all(isinstance(r, Record) for r in records if r is not None)
