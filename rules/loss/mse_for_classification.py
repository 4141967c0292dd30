from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class MseForClassification(Rule):
    """
    ## What it does
    Finds `nn.MSELoss` / `F.mse_loss` used for classification: trained against
    class-index or one-hot targets, or fed softmax or sigmoid probabilities and compared
    with the labels of the batch (`for images, labels in loader`; a batch tensor that is
    also the model's input, as in an autoencoder, is not labels).

    ## Why is this bad?
    Squared error on probabilities has vanishing gradients exactly where the model is
    most wrong (the softmax saturates), so classification trains slowly and gets
    stuck; against class indices it treats class 7 as "closer" to class 8 than to
    class 1 (seed 001 §4: classification uses cross-entropy, regression uses MSE).

    ## How to fix
    Use `nn.CrossEntropyLoss` on the logits with class-index targets (`nn.BCEWithLogitsLoss`
    for a binary or multi-label sigmoid output). Keep MSE for
    regression and for matching two distributions or feature maps (distillation).
    """

    code = "TL305"
    name = "mse-for-classification"
    severity = Severity.WARNING
    summary = "MSELoss used on class targets or softmax outputs"
    seeds = ("001 §4",)

    bad = [
        Bad(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10), nn.Softmax(dim=1))
            criterion = nn.MSELoss()
            for images, labels in train_loader:
                outputs = model(images)
                loss = criterion(outputs, F.one_hot(labels, num_classes=10).float())
            """,
            8,
        ),
        Bad(
            """
            import torch.nn.functional as F

            def train(model, loader, optimizer):
                for x, y in loader:
                    probs = F.softmax(model(x), dim=1)
                    loss = F.mse_loss(probs, y.float())
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            """,
            6,
        ),
        Bad(
            """
            import torch
            import torch.nn as nn

            class BinaryClassifier(nn.Module):
                def __init__(self, dim):
                    super().__init__()
                    self.net = nn.Sequential(nn.Linear(dim, 64), nn.ReLU(), nn.Linear(64, 1))

                def forward(self, x):
                    return torch.sigmoid(self.net(x).squeeze(-1))

            model = BinaryClassifier(16)
            loss_fn = nn.MSELoss()
            for x, y in loader:
                probability = model(x)
                loss = loss_fn(probability, y)
            """,
            16,
            note="a sigmoid probability against 0/1 labels",
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            model = nn.Linear(1, 1)
            criterion = nn.MSELoss()
            for x, y in loader:
                loss = criterion(model(x), y)
            """,
            note="regression",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class AutoEncoder(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.encoder = nn.Linear(784, 32)
                    self.decoder = nn.Linear(32, 784)

                def forward(self, x):
                    return torch.sigmoid(self.decoder(torch.relu(self.encoder(x))))

            model = AutoEncoder()
            criterion = nn.MSELoss()
            for images, _ in loader:
                images = images.view(images.size(0), -1)
                recon = model(images)
                loss = criterion(recon, images)
            """,
            note="a sigmoid reconstruction of the input pixels",
        ),
        Good(
            """
            import torch.nn.functional as F

            def distill(student_logits, teacher_logits, T=2.0):
                return F.mse_loss(F.softmax(student_logits / T, dim=1), F.softmax(teacher_logits / T, dim=1))
            """,
            note="matching two distributions",
        ),
        Good(
            """
            import torch.nn.functional as F

            def mae_loss(pred_pixel_values, masked_patches, features_y, features_x):
                recon = F.mse_loss(pred_pixel_values, masked_patches)
                return recon + F.mse_loss(features_y.relu2_2, features_x.relu2_2)
            """
        ),
        Good(
            """
            import torch
            import torch.nn as nn
            import torch.nn.functional as F

            class ConsistencyLoss(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.criterion = nn.MSELoss(reduction="none")

                def forward(self, preds, teacher_logits):
                    soft_labels = torch.softmax(teacher_logits, dim=-1).mean(dim=0)
                    return self.criterion(F.softmax(preds, dim=-1), soft_labels).sum()
            """,
            note="mean-teacher consistency: probabilities against soft labels",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for use in facts.losses.uses:
            if use.kind != "mse":
                continue
            if use.target.target in ("index", "onehot"):
                kind = "class indices" if use.target.target == "index" else "one-hot labels"
                yield self.report(
                    use.call,
                    f"{use.loss_name} (`{use.spelled}`) is trained against {kind}: a classification problem; "
                    "use nn.CrossEntropyLoss on the logits",
                    first_line_only=True,
                )
            elif use.input.kind == "tensor" and use.input.activation == "softmax" and use.target.target == "batch":
                yield self.report(
                    use.call,
                    f"{use.fed}, softmax probabilities "
                    f"({use.input.origin}): squared error on a saturating softmax trains slowly; use "
                    "nn.CrossEntropyLoss on the logits",
                    first_line_only=True,
                )
            elif (
                use.input.kind == "tensor"
                and use.input.activation == "sigmoid"
                and use.target.target == "batch"
                and not use.target_is_input  # an autoencoder's sigmoid reconstruction of its own input
            ):
                yield self.report(
                    use.call,
                    f"{use.fed}, a sigmoid probability "
                    f"({use.input.origin}), against the batch's labels: squared error on a saturating sigmoid "
                    "trains slowly; use nn.BCEWithLogitsLoss on the logits",
                    first_line_only=True,
                )
