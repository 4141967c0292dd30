import re
from collections.abc import Iterator

import libcst as cst

from trainlint.facts import FileFacts, dotted
from trainlint.finding import Applicability, Severity
from trainlint.rule import Bad, Good, Replacement, Report, Rule

#: Variables that hold a model in training scripts (`model`, `net`, `ddp_model`, `netG`, ...).
MODEL_NAME = re.compile(r"^(\w+_)?(model|net|network|netG|netD|generator|discriminator|classifier)$", re.IGNORECASE)
#: Factories whose result is an nn.Module.
MODEL_FACTORIES = ("torchvision.models.", "timm.create_model", "timm.models.create_model")


class DirectForwardCall(Rule):
    """
    ## What it does
    Finds `model.forward(x)` called on a module instance (a variable that holds a model,
    or a sub-module of the class), where `model(x)` is meant.

    `super().forward(x)` in an override, `self.forward(...)` inside the class itself,
    and other methods such as timm's `forward_features` / `forward_head` are not
    reported.

    ## Why is this bad?
    `nn.Module.__call__` runs the forward pre-hooks and hooks around `forward()`:
    `weight_norm`/`spectral_norm` recompute the weight there, pruning applies its mask,
    quantization observers and activation checkpointing wrappers attach there, and
    `DistributedDataParallel`/`FSDP` wrappers of a sub-module rely on them. Calling
    `forward` directly silently skips all of that, so training and inference no longer
    compute the same function.

    ## How to fix
    Call the module: `model(x)`.

    ## Fix safety
    Safe: the call goes through `__call__`, which runs the same `forward` plus its hooks.
    """

    code = "TL206"
    name = "direct-forward-call"
    severity = Severity.WARNING
    summary = "model.forward(x) called directly instead of model(x)"
    fix_applicability = Applicability.SAFE

    bad = [
        Bad(
            """
            import torch
            import torchvision

            model = torchvision.models.resnet18(num_classes=10)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for images, labels in loader:
                logits = model.forward(images)
                loss = torch.nn.functional.cross_entropy(logits, labels)
            """,
            7,
            fixed="""
            import torch
            import torchvision

            model = torchvision.models.resnet18(num_classes=10)
            optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
            for images, labels in loader:
                logits = model(images)
                loss = torch.nn.functional.cross_entropy(logits, labels)
            """,
        ),
        Bad(
            """
            import torch.nn as nn

            class Encoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.backbone = nn.utils.spectral_norm(nn.Linear(128, 64))
                    self.proj = nn.Linear(64, 32)

                def forward(self, x):
                    return self.proj.forward(self.backbone.forward(x))
            """,
            10,
            fixed="""
            import torch.nn as nn

            class Encoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.backbone = nn.utils.spectral_norm(nn.Linear(128, 64))
                    self.proj = nn.Linear(64, 32)

                def forward(self, x):
                    return self.proj(self.backbone(x))
            """,
        ),
        Bad(
            """
            def evaluate(net, loader):
                correct = 0
                for x, y in loader:
                    correct += (net.forward(x).argmax(1) == y).sum().item()
                return correct
            """,
            4,
        ),
        Bad(
            """
            import torch.nn as nn

            class Decoder(nn.Module):
                def __init__(self, dims):
                    super().__init__()
                    self.ups = nn.ModuleList([nn.ConvTranspose2d(d, d // 2, 2, 2) for d in dims])

                def forward(self, x):
                    for i in range(len(self.ups)):
                        up = self.ups[i]
                        x = up.forward(x)
                    return x
            """,
            11,
            note="an item of a ModuleList",
        ),
    ]
    good = [
        Good(
            """
            import torch

            from models.unet import UNet

            def test_output_shape():
                model = UNet(in_channels=3, num_classes=2)
                out = model.forward(torch.randn(1, 3, 64, 64))
                assert out.shape == (1, 2, 64, 64)
            """,
            filename="tests/test_unet.py",
            note="a unit test's shape check",
        ),
        Good(
            """
            import torch.nn as nn

            class SplitBatchNorm2d(nn.BatchNorm2d):
                def forward(self, x):
                    if not self.training:
                        return super().forward(x)
                    return super(SplitBatchNorm2d, self).forward(x)
            """,
            note="an override calling its parent's forward",
        ),
        Good(
            """
            import timm

            model = timm.create_model("resnet50", pretrained=False)
            features = model.forward_features(images)
            logits = model.forward_head(features, pre_logits=False)
            """
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class Layer(nn.Linear):
                def train_step(self, x_pos, x_neg):
                    g_pos = self.forward(x_pos).pow(2).mean(1)
                    g_neg = self.forward(x_neg).pow(2).mean(1)
                    return torch.log1p(torch.exp(torch.cat([-g_pos + 2, g_neg - 2]))).mean()
            """,
            note="a class calling its own forward",
        ),
        Good(
            """
            from torch.distributed.nn import RemoteModule

            remote_emb = RemoteModule("ps", torch.nn.EmbeddingBag, args=(100, 16))
            emb = remote_emb.forward(indices, offsets)
            y_rref = stage_rref.remote().forward(x_rref)
            """,
            note="RPC remote modules are called through forward",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        if facts.test_code or facts.is_test_module:
            return  # unit tests call forward() on purpose: a shape check that bypasses the hooks
        classes = {mc.info.node: mc for mc in facts.module_classes}
        for call in facts.calls:
            func = call.node.func
            if not (isinstance(func, cst.Attribute) and func.attr.value == "forward"):
                continue
            receiver = func.value
            if not self._is_module_instance(facts, receiver, call, classes):
                continue
            yield self.report(
                call.node,
                f"`{facts.code(receiver)}.forward(...)` skips the module's hooks; call `{facts.code(receiver)}(...)`",
                fix=self.fix(f"Call `{facts.code(receiver)}(...)`", Replacement(func, receiver)),
                first_line_only=True,
            )

    @staticmethod
    def _is_module_instance(facts: FileFacts, receiver: cst.BaseExpression, call, classes) -> bool:
        name = dotted(receiver)
        if name is None or name == "self":
            return False
        if name.startswith("self.") and name.count(".") == 1:
            # a sub-module built in __init__
            function = call.function
            module_class = classes.get(function.cls.node) if function and function.cls else None
            return module_class is not None and name[5:] in module_class.stacks
        if "." in name:
            return False
        if MODEL_NAME.match(name):
            return True
        # `m = SomeModule(...)` / `m = torchvision.models.resnet18()` in the same scope
        function = call.function.node if call.function else None
        module_class = classes.get(call.function.cls.node) if call.function and call.function.cls else None
        for assign in facts.assigns_in(function):
            node = assign.node
            if not isinstance(node, cst.Assign):
                continue
            if not any(isinstance(t.target, cst.Name) and t.target.value == name for t in node.targets):
                continue
            value = node.value
            if isinstance(value, cst.Subscript) and module_class is not None:
                # `down = self.downsamples[i]`: an item of a ModuleList built in __init__
                attr = dotted(value.value) or ""
                if attr.startswith("self.") and attr[5:] in module_class.stacks:
                    return True
            if not isinstance(value, cst.Call):
                continue
            qualname = facts.qualname(value.func) or ""
            if qualname.startswith(MODEL_FACTORIES) or (
                facts.is_module_class(qualname) and not qualname.startswith("torch.distributed")
            ):
                return True
        return False
