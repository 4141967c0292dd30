"""Loss facts: what reaches a loss, followed through the training script and the model."""

from __future__ import annotations

import textwrap

import libcst as cst

from trainlint.engine import Engine
from trainlint.facts import FileFacts
from trainlint.index import ProjectIndex
from trainlint.testing import _module_name


def facts_for(code: str, files: dict[str, str] | None = None, path: str = "train.py") -> FileFacts:
    engine = Engine()
    index = ProjectIndex()
    for other, source in (files or {}).items():
        name, package = _module_name(other)
        for summary in engine.summarize_source(textwrap.dedent(source), other, module_name=name, package=package):
            index.add(summary)
    source = textwrap.dedent(code)
    name, package = _module_name(path)
    return FileFacts(path, source, cst.parse_module(source), module_name=name, package=package, index=index)


def only_use(code: str, **kwargs):
    uses = facts_for(code, **kwargs).losses.uses
    assert len(uses) == 1, uses
    return uses[0]


def test_softmax_followed_through_assignments():
    use = only_use(
        """
        import torch.nn as nn
        import torch.nn.functional as F
        ce = nn.CrossEntropyLoss(label_smoothing=0.1)
        def step(model, x, y):
            out = model(x)
            probs = F.softmax(out, 1)
            loss = ce(probs, y)
            return loss
        """
    )
    assert (use.kind, use.input.activation) == ("cross_entropy", "softmax")
    assert use.option("label_smoothing") is not None


def test_head_of_a_model_class_of_another_file():
    use = only_use(
        """
        import torch.nn as nn
        from models.net import Net
        model = Net(num_classes=10).cuda()
        criterion = nn.BCELoss()
        for x, y in loader:
            loss = criterion(model(x), y)
        """,
        files={
            "models/net.py": """
                import torch.nn as nn
                class Net(nn.Module):
                    def __init__(self, num_classes):
                        super().__init__()
                        self.head = nn.Sequential(nn.Linear(64, num_classes), nn.Softmax(dim=1))
                    def forward(self, x):
                        return self.head(x)
            """
        },
    )
    assert (use.input.activation, use.input.out_features, use.input.layer) == ("softmax", "num_classes", "torch.nn.Linear")
    assert "models/net.py" in use.input.origin


def test_index_carries_the_head():
    engine = Engine()
    [summary] = engine.summarize_source(
        textwrap.dedent(
            """
            import torch.nn as nn
            import torch.nn.functional as F
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.fc = nn.Linear(128, 10)
                def forward(self, x):
                    x = self.fc(x)
                    return F.log_softmax(x, dim=1)
            """
        ),
        "net.py",
        module_name="net",
    )
    assert summary.facts["final_activation"] == "log_softmax"
    assert summary.facts["out_features"] == 10


def test_branches_that_disagree_are_unknown():
    use = only_use(
        """
        import torch.nn.functional as F
        def step(model, x, y, use_probs):
            out = model(x)
            if use_probs:
                out = F.softmax(out, 1)
            return F.cross_entropy(out, y)
        """
    )
    assert not use.input.known


def test_model_and_criterion_passed_to_the_training_function():
    use = only_use(
        """
        import torch.nn as nn
        def train(model, loader, criterion):
            for x, y in loader:
                loss = criterion(model(x), y.long())
        def main():
            model = nn.Sequential(nn.Linear(10, 3), nn.Sigmoid())
            train(model, loader, nn.BCELoss())
        """
    )
    assert (use.kind, use.input.activation, use.target.target) == ("bce", "sigmoid", "index")


def test_lightning_module_calls_itself():
    use = only_use(
        """
        import torch.nn as nn
        import lightning as L
        class Classifier(L.LightningModule):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(32, 5)
                self.criterion = nn.NLLLoss()
            def forward(self, x):
                return self.fc(x)
            def training_step(self, batch, batch_idx):
                x, y = batch
                return self.criterion(self(x), y)
        """
    )
    assert (use.kind, use.input.activation, use.input.out_features) == ("nll", "", 5)


def test_returned_values_of_helpers():
    use = only_use(
        """
        import torch
        import torch.nn.functional as F
        def predict(model, x):
            return torch.sigmoid(model(x))
        def step(model, x, y):
            p = predict(model, x)
            return F.binary_cross_entropy_with_logits(p, y)
        """
    )
    assert (use.kind, use.input.activation) == ("bce_logits", "sigmoid")


def test_tuple_outputs_are_unknown():
    use = only_use(
        """
        import torch.nn.functional as F
        def step(model, x, y):
            logits, aux = model(x)
            return F.cross_entropy(logits, y)
        """
    )
    assert not use.input.known


def test_a_replaced_head_is_unknown():
    use = only_use(
        """
        import torch.nn as nn
        from models.net import Net
        model = Net()
        model.classifier = nn.Linear(512, 2)
        criterion = nn.CrossEntropyLoss()
        loss = criterion(model(x), y)
        """,
        files={
            "models/net.py": """
                import torch.nn as nn
                class Net(nn.Module):
                    def __init__(self):
                        super().__init__()
                        self.classifier = nn.Sequential(nn.Linear(512, 10), nn.Softmax(dim=1))
                    def forward(self, x):
                        return self.classifier(x)
            """
        },
    )
    assert not use.input.known


def test_loss_objects_moved_to_the_gpu():
    use = only_use(
        """
        import torch.nn as nn
        model = nn.Sequential(nn.Linear(784, 10), nn.Softmax(dim=1)).cuda()
        criterion = nn.CrossEntropyLoss().cuda()
        criterion = criterion.to("cuda")
        for x, y in loader:
            loss = criterion(model(x), y)
        """
    )
    assert (use.kind, use.input.activation, use.target.target) == ("cross_entropy", "softmax", "batch")


def test_activation_modules_stored_on_self():
    use = only_use(
        """
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(128, 10)
                self.drop = nn.Dropout(0.5)
                self.softmax = nn.Softmax(dim=1)
            def forward(self, x):
                x = self.drop(self.fc(x))
                return self.softmax(x)
        model = Net()
        loss = nn.CrossEntropyLoss()(model(x), y)
        """
    )
    assert (use.input.activation, use.input.out_features) == ("softmax", 10)


def test_inline_sequential_head_names_its_last_layer():
    # messages read "raw logits (<origin>)": an inline nn.Sequential ending in a Linear had no origin
    use = only_use(
        """
        import torch.nn as nn
        import torch.nn.functional as F
        for x, y in loader:
            loss = F.nll_loss(nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))(x), y)
        """
    )
    assert use.input.activation == ""
    assert use.input.origin == "the raw outputs of nn.Linear at the end of an nn.Sequential"


def test_tuple_returned_by_forward_is_followed_into_unpacked_names():
    files = {
        "network.py": """
            import torch
            import torch.nn as nn
            class D(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.dis = nn.Linear(8, 1)
                    self.aux = nn.Linear(8, 10)
                def forward(self, h):
                    return torch.sigmoid(self.dis(h)), torch.softmax(self.aux(h), dim=1)
        """
    }
    code = """
        import torch
        import torch.nn as nn
        from network import D
        netD = D()
        for h, y in loader:
            realfake, classes = netD(h)
            loss = nn.NLLLoss()(classes, y)
        """
    use = only_use(code, files=files)
    assert (use.input.kind, use.input.activation, use.input.out_features) == ("tensor", "softmax", 10)
    # a tensor unpacked along its first dimension is not an element of a tuple
    use = only_use(code.replace("realfake, classes = netD(h)", "realfake, classes = torch.softmax(h, 1)"), files=files)
    assert not use.input.known


def test_if_else_and_raising_branches_give_one_model():
    use = only_use(
        """
        import torch.nn as nn
        def build(kind):
            if kind == "small":
                model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
            elif kind == "large":
                model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 3), nn.Softmax(dim=1))
            else:
                raise ValueError(kind)
            return nn.BCELoss()(model(x), y)
        """
    )
    assert use.input.activation == "softmax"
    use = only_use(
        """
        import torch.nn as nn
        def build(kind):
            if kind == "small":
                model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(dim=1))
            elif kind == "large":
                model = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 3), nn.Softmax(dim=1))
            return nn.BCELoss()(model(x), y)
        """
    )
    assert not use.input.known  # with neither kind, `model` comes from outside


HELPER_WITH_NET = """
import torch.nn as nn
import torch.nn.functional as F

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return F.log_softmax(self.fc(x), dim=1)
{extra}
def train(model, loader, optimizer):
    for x, y in loader:
        loss = F.nll_loss(model(x), y)
"""


def test_a_model_parameter_no_call_passes_is_the_files_only_model_class():
    use = only_use(HELPER_WITH_NET.format(extra=""))
    assert use.input.activation == "log_softmax" and "Net.forward()" in use.input.origin


def test_a_loss_module_of_the_file_is_not_a_model_class():
    focal = """
class FocalLoss(nn.Module):
    def forward(self, logits, target):
        return F.nll_loss(logits, target)
"""
    assert facts_for(HELPER_WITH_NET.format(extra=focal)).only_model_class.name == "Net"
    second = "\nclass Critic(nn.Module):\n    def forward(self, x):\n        return x\n"
    facts = facts_for(HELPER_WITH_NET.format(extra=second))
    assert facts.only_model_class is None  # two networks: the parameter could be either
    assert [u.input.activation for u in facts.losses.uses if u.function.name == "train"] == [None]


def test_only_the_branch_a_constant_test_runs_reaches_the_loss():
    code = """
    import torch.nn as nn
    import torch.nn.functional as F
    net = nn.Linear(10, 3)
    out = net(x)
    if {test}:  # probabilities for the debugging plots
        out = F.softmax(out, dim=1)
    else:
        out = out.float()
    loss = F.cross_entropy(out, y)
    """
    assert only_use(code.format(test="1")).input.activation == "softmax"
    assert only_use(code.format(test="False")).input.activation == ""  # the raw outputs of the Linear
    assert only_use(code.format(test="debug")).input.activation is None  # either branch: unknown
