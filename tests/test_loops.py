"""Training-loop facts and the loop/optimizer rules on whole scripts: the story of a user
running `trainlint check` on a training script with the default configuration."""

from __future__ import annotations

import textwrap
from pathlib import Path

from trainlint.config import Config
from trainlint.engine import Engine, parse
from trainlint.facts import EventKind, FileFacts, SchedulerKind

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _facts(code: str) -> FileFacts:
    source = textwrap.dedent(code).lstrip("\n")
    return FileFacts("train.py", source, parse(source))


def _codes(code: str, config: Config | None = None) -> list[tuple[str, int]]:
    source = textwrap.dedent(code).lstrip("\n")
    findings = Engine(config or Config()).check_source(source, "train.py").findings
    return [(f.code, f.location.row) for f in findings if f.code[:3] in ("TL4", "TL5")]


def test_events_of_one_iteration_in_order_through_a_helper():
    facts = _facts(
        """
        import torch

        def train_one_epoch(net, loader, opt, sched, scaler):
            net.train()
            for x, y in loader:
                opt.zero_grad(set_to_none=True)
                with torch.autocast("cuda"):
                    loss = torch.nn.functional.cross_entropy(net(x), y)
                scaler.scale(loss).backward()
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                scaler.step(opt)
                scaler.update()
                sched.step()

        def main():
            model = Net()
            optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.05)
            scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-3, total_steps=1000)
            for epoch in range(10):
                train_one_epoch(model, train_loader, optimizer, scheduler, scaler)
                model.eval()
        """
    )
    loops = facts.loops
    assert loops.optimizers["optimizer"].type_name == "AdamW"
    assert loops.optimizers["optimizer"].lr == 3e-4 and loops.optimizers["optimizer"].weight_decay == 0.05
    assert loops.schedulers["scheduler"].kind == "batch"
    (main,) = [f for f in loops.root_flows if f.root is not None and f.root.name.value == "main"]
    (training,) = main.training_loops
    kinds = [e.kind for e in training.events if e.kind != "bind"]
    assert kinds == [EventKind.ZERO_GRAD, EventKind.FORWARD, EventKind.LOSS, EventKind.BACKWARD, EventKind.UNSCALE, EventKind.CLIP, EventKind.STEP, EventKind.SCHED_STEP]
    # the helper's parameters are renamed to the caller's arguments
    assert {e.target for e in training.events if e.kind in (EventKind.STEP, EventKind.ZERO_GRAD)} == {"optimizer"}
    assert [e.target for e in training.events if e.kind == EventKind.SCHED_STEP] == ["scheduler"]
    assert training.parent is not None and training.parent.parent is None
    assert [e.kind for e in main.events if e.kind in (EventKind.TRAIN, EventKind.EVAL)] == [EventKind.TRAIN, EventKind.EVAL]
    assert all(f.inlined for f in loops.flows if f.root is not None and f.root.name.value == "train_one_epoch")


def test_scheduler_kinds_are_read_from_torch_qualified_names_however_imported():
    """StepLR is an epoch scheduler whether written `lr_scheduler.StepLR`,
    `torch.optim.lr_scheduler.StepLR` or imported by name; a project's own class that
    happens to share a name of torch's is not known to count epochs."""
    loops = _facts(
        """
        import torch
        from torch.optim import lr_scheduler
        from torch.optim.lr_scheduler import OneCycleLR as Cycle
        from mylib.schedules import StepLR

        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        by_module = lr_scheduler.StepLR(opt, 30)
        by_path = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
        by_alias = Cycle(opt, max_lr=0.1, total_steps=100)
        own = StepLR(opt, 30)
        """
    ).loops
    kinds = {name: scheduler.kind for name, scheduler in loops.schedulers.items()}
    assert kinds == {
        "by_module": SchedulerKind.EPOCH,
        "by_path": SchedulerKind.PLATEAU,
        "by_alias": SchedulerKind.BATCH,
        "own": SchedulerKind.OTHER,
    }
    assert str(SchedulerKind.EPOCH) == f"{SchedulerKind.EPOCH}" == "epoch"  # as messages print it


def test_value_of_follows_simple_assignments():
    facts = _facts(
        """
        import torch.nn.functional as F

        for x, y in loader:
            out = model(x)
            probs = F.softmax(out, dim=1)
            loss = ce(probs, y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        """
    )
    (flow,) = facts.loops.flows
    backward = next(e for e in flow.events if e.kind == EventKind.BACKWARD)
    assert facts.code(flow.value_of("loss", backward)) == "ce(probs, y)"
    assert facts.code(flow.value_of("probs", backward)) == "F.softmax(out, dim=1)"
    assert facts.code(flow.value_of("out", backward)) == "model(x)"


PLAIN_LOOP = """
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-2)
    for epoch in range(100):
        for x, y in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
"""


def test_advice_rules_are_silent_by_default_on_a_plain_loop():
    assert _codes(PLAIN_LOOP) == []


def test_advice_rules_report_everywhere_when_selected():
    codes = _codes(PLAIN_LOOP, Config(extend_select=("TL403", "no-lr-scheduler", "TL410")))
    assert sorted(codes) == [("TL403", 9), ("TL404", 9), ("TL410", 3)]


def test_advice_rules_report_a_symptom_without_selection():
    codes = _codes(
        """
        import math
        import torch

        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for epoch in range(100):
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                if not math.isfinite(loss.item()):
                    continue
                loss.backward()
                optimizer.step()
        """
    )
    assert sorted(codes) == [("TL403", 12), ("TL404", 12)]


def test_the_symptom_is_reported_on_the_optimizer_it_is_about():
    # two optimizers in one loop: the SGD at lr=0.1 is the second one stepped
    source = textwrap.dedent(
        """
        import torch

        opt_a = torch.optim.Adam(model_a.parameters(), lr=1e-3)
        opt_b = torch.optim.SGD(model_b.parameters(), lr=0.1, momentum=0.9)
        for epoch in range(100):
            for x, y in loader:
                opt_a.zero_grad()
                model_a(x).sum().backward()
                opt_a.step()
                opt_b.zero_grad()
                model_b(x).sum().backward()
                opt_b.step()
        """
    ).lstrip("\n")
    found = [(f.location.row, f.message) for f in Engine(Config()).check_source(source, "train.py").findings if f.code == "TL404"]
    assert len(found) == 1 and found[0][0] == 12
    assert found[0][1].startswith("`opt_b` trains with a fixed learning rate (SGD at lr=0.1")


def test_the_plateau_symptom_names_the_whole_word_that_watches():
    # a hand-written early stop: the message quotes the word it was read from, whatever its case
    source = textwrap.dedent(
        """
        import torch

        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        stopper = EarlyStoppingMonitor(max_epochs_without_gain=5)
        for epoch in range(100):
            for x, y in loader:
                optimizer.zero_grad()
                model(x).sum().backward()
                optimizer.step()
            if stopper.step(val_loss):
                break
        """
    ).lstrip("\n")
    found = [f.message for f in Engine(Config()).check_source(source, "train.py").findings if f.code == "TL404"]
    assert len(found) == 1 and "watches for a plateau (`EarlyStoppingMonitor`)" in found[0]
    assert not [f for f in Engine(Config()).check_source(source.replace("EarlyStopping", "Gain"), "train.py").findings
                if f.code == "TL404"]  # no symptom: advice not given unless selected


def test_advice_on_symptoms_is_not_given_in_tests_unless_selected():
    # accelerate src/accelerate/test_utils/scripts/test_script.py: mock_training() runs SGD at
    # lr=0.1 for 3 epochs on a toy regression to compare against a baseline
    source = textwrap.dedent(
        """
        import torch

        def mock_training(length, batch_size, generator):
            train_set = RegressionDataset(length=length, seed=42)
            train_dl = generate_baseline_dataloader(train_set, generator, batch_size)
            model = RegressionModel()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for epoch in range(3):
                for batch in train_dl:
                    model.zero_grad()
                    loss = torch.nn.functional.mse_loss(model(batch["x"]), batch["y"])
                    loss.backward()
                    optimizer.step()
            return train_set, model
        """
    ).lstrip("\n")

    def codes(path: str, config: Config) -> list[str]:
        return [f.code for f in Engine(config).check_source(source, path).findings]

    assert "TL404" in codes("train.py", Config())
    assert "TL404" not in codes("src/accelerate/test_utils/scripts/test_script.py", Config())
    assert "TL404" not in codes("tests/test_training.py", Config())
    assert "TL404" in codes("tests/fixtures/probe/train_sgd.py", Config())  # a training script, not a test
    assert "TL404" in codes("tests/test_training.py", Config(extend_select=("TL404",)))


def test_learning_rate_range_is_not_checked_in_test_modules_only():
    source = "import torch\n\noptimizer = torch.optim.SGD(model.parameters(), lr=3.0)\n"

    def codes(path: str) -> list[str]:
        return [f.code for f in Engine(Config()).check_source(source, path).findings]

    assert "TL408" not in codes("tests/test_scheduler.py")
    assert "TL408" in codes("tests/fixtures/probe/exploding.py")  # the probe's fixture scripts train
    assert "TL408" in codes("/home/me/test/project/train.py")


def test_the_overflow_check_of_fp16_loss_scaling_is_no_symptom():
    # improved-diffusion train_util.py: skipping a step on inf/NaN gradients and lowering the
    # loss scale is what GradScaler does; it says nothing about diverging updates
    codes = _codes(
        """
        import torch as th
        from torch.optim import AdamW

        class TrainLoop:
            def __init__(self, model, data, lr):
                self.model = model
                self.data = data
                self.model_params = list(model.parameters())
                self.opt = AdamW(self.model_params, lr=lr)
                self.lg_loss_scale = 20.0

            def run_loop(self):
                for batch in self.data:
                    self.opt.zero_grad()
                    loss = self.model(batch).mean()
                    (loss * 2 ** self.lg_loss_scale).backward()
                    self.optimize_fp16()

            def optimize_fp16(self):
                if any(not th.isfinite(p.grad).all() for p in self.model_params):
                    self.lg_loss_scale -= 1
                    return
                self.opt.step()
                self.lg_loss_scale += 0.001
        """
    )
    assert [c for c in codes if c[0] == "TL403"] == []


def test_buggy_example_reports_the_seed_loop_problems_and_fixed_is_clean():
    engine = Engine(Config(select=("TL4", "TL5")))
    vgg = engine.check_source((EXAMPLES / "buggy" / "train_vgg.py").read_text(), "train_vgg.py").findings
    assert {"TL401", "TL406", "TL408", "TL501"} <= {f.code for f in vgg}
    resnet = engine.check_source((EXAMPLES / "buggy" / "train_resnet.py").read_text(), "train_resnet.py").findings
    assert "TL504" in {f.code for f in resnet}
    default = Engine(Config())
    for path in sorted((EXAMPLES / "fixed").rglob("*.py")):
        findings = default.check_source(path.read_text(), str(path)).findings
        assert [f for f in findings if f.code[:3] in ("TL4", "TL5")] == [], path


def test_eval_mode_matters_only_for_models_that_change_in_eval_mode():
    from trainlint.index import ClassSummary, ProjectIndex

    script = textwrap.dedent(
        """
        import torch
        from model import Net

        model = Net()
        for epoch in range(5):
            for x, y in train_loader:
                optimizer.zero_grad()
                criterion(model(x), y).backward()
                optimizer.step()
            with torch.no_grad():
                for x, y in test_loader:
                    print(criterion(model(x), y).item())
        """
    ).lstrip("\n")
    engine = Engine(Config(select=("TL501",)))

    def findings(mode_dependent):
        index = ProjectIndex()
        facts = {} if mode_dependent is None else {"mode_dependent": mode_dependent}
        index.add(ClassSummary("Net", "model.py", "model", ("torch.nn.Module",), facts))
        return [f.location.row for f in engine.check_source(script, "main.py", index=index, module_name="main").findings]

    assert findings(None) == [11]  # the index does not say: the model may have dropout
    assert findings(True) == [11]
    assert findings(False) == []  # e.g. convolutions and ReLU only (super_resolution's Net)


def test_loss_total_fix_is_unsafe_when_the_total_is_used_as_a_tensor():
    source = textwrap.dedent(
        """
        for epoch in range(10):
            total = 0
            for x, y in train_loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                total += loss
            writer.add_scalar("loss", total.item(), epoch)
        """
    ).lstrip("\n")
    (finding,) = Engine(Config(select=("TL504",))).check_source(source, "train.py").findings
    assert finding.fix is not None and finding.fix.applicability.value == "unsafe"


def test_arms_of_one_if_elif_else_chain_are_exclusive_and_a_guard_around_both_is_shared():
    facts = _facts(
        """
        for epoch in range(epochs):
            if epoch < warm:
                warm_optimizer.step()
            elif epoch < joint:
                joint_optimizer.step()
            else:
                last_scheduler.step()
                last_optimizer.step()
            if scheduler is not None:
                scheduler.step()
        """
    )
    (flow,) = facts.loops.flows
    events = {e.target: e for e in flow.events if e.kind in (EventKind.STEP, EventKind.SCHED_STEP)}
    last = events["last_scheduler"]
    assert events["warm_optimizer"].exclusive_with(last)
    assert events["joint_optimizer"].exclusive_with(last)
    assert not events["last_optimizer"].exclusive_with(last)
    assert last.deciding_guards(flow.loops[0], shared_with=events["last_optimizer"]) == ()
    assert events["scheduler"].deciding_guards(flow.loops[0]) == ()  # only tests that it exists


def test_a_helper_given_literals_is_followed_with_them():
    facts = _facts(
        """
        def set_mode(mode, models):
            for m in models:
                if mode == "train":
                    m.train()
                if mode == "eval":
                    m.eval()

        def fit(encoder, decoder, loader, optimizer):
            for x in loader:
                set_mode("eval", [encoder, decoder])
                optimizer.zero_grad()
                loss_fn(decoder(encoder(x)), x).backward()
                optimizer.step()
        """
    )
    (flow,) = facts.loops.root_flows
    toggles = [(e.kind, e.target) for e in flow.events if e.kind in (EventKind.TRAIN, EventKind.EVAL)]
    assert toggles == [(EventKind.EVAL, "encoder"), (EventKind.EVAL, "decoder")]
