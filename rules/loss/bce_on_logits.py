from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class BceOnLogits(Rule):
    """
    ## What it does
    Finds `nn.BCELoss` / `F.binary_cross_entropy` fed the raw output of a weight layer
    (no sigmoid), and the reverse mistake: a sigmoid applied before
    `nn.BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits`.

    ## Why is this bad?
    `BCELoss` expects probabilities in [0, 1]. Raw logits outside that range make it
    raise on the GPU or produce NaN/garbage losses (seed 000 §2.7). `BCEWithLogitsLoss`
    applies the sigmoid itself: a sigmoid before it squashes twice, the outputs can
    only move within (0.5, 0.73), and the gradients nearly vanish.

    ## How to fix
    Feed logits to `BCEWithLogitsLoss` (numerically stable, the recommended form), or
    put a `sigmoid` before `BCELoss`. Never both.
    """

    code = "TL303"
    name = "bce-on-logits"
    severity = Severity.ERROR
    summary = "BCELoss fed raw logits, or a sigmoid applied before BCEWithLogitsLoss"
    seeds = ("000 §2.7",)

    bad = [
        Bad(
            """
            import torch.nn as nn

            class SpamClassifier(nn.Module):
                def __init__(self, vocab_size, dim=128):
                    super().__init__()
                    self.embed = nn.EmbeddingBag(vocab_size, dim)
                    self.fc = nn.Linear(dim, 1)

                def forward(self, tokens, offsets):
                    return self.fc(self.embed(tokens, offsets)).squeeze(1)

            model = SpamClassifier(30000)
            criterion = nn.BCELoss()
            for tokens, offsets, label in loader:
                loss = criterion(model(tokens, offsets), label.float())
            """,
            15,
        ),
        Bad(
            """
            import torch
            import torch.nn.functional as F

            def training_step(model, batch):
                images, masks = batch
                logits = model(images)
                probs = torch.sigmoid(logits)
                return F.binary_cross_entropy_with_logits(probs, masks)
            """,
            8,
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            class Discriminator(nn.Module):
                def __init__(self, ndf=64):
                    super().__init__()
                    self.main = nn.Sequential(
                        nn.Conv2d(3, ndf, 4, 2, 1, bias=False),
                        nn.LeakyReLU(0.2, inplace=True),
                        nn.Conv2d(ndf, 1, 4, 1, 0, bias=False),
                        nn.Sigmoid(),
                    )

                def forward(self, x):
                    return self.main(x).view(-1, 1).squeeze(1)

            netD = Discriminator()
            criterion = nn.BCELoss()
            output = netD(real_images)
            errD_real = criterion(output, label)
            """,
            note="DCGAN: the discriminator ends in a sigmoid",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 1))
            criterion = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([3.0]))
            for x, y in loader:
                logits = model(x)
                loss = criterion(logits, y)
                preds = torch.sigmoid(logits) > 0.5
            """
        ),
        Good(
            """
            import torch
            import torch.nn.functional as F

            def vae_loss(recon_x, x, mu, logvar):
                bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
                kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
                return bce + kld

            recon, mu, logvar = model(data)
            loss = vae_loss(recon, data, mu, logvar)
            """,
            note="the decoder's output is not known here: nothing to say",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class GatedTagger(nn.Module):
                def __init__(self, dim=256, num_tags=40):
                    super().__init__()
                    self.gate = nn.Linear(dim, dim)
                    self.fc = nn.Linear(dim, num_tags)

                def forward(self, x):
                    gate = torch.sigmoid(self.gate(x))
                    return self.fc(x * gate)

            model = GatedTagger()
            criterion = nn.BCEWithLogitsLoss()
            for features, tags in loader:
                loss = criterion(model(features), tags)
            """,
            note="a sigmoid gate inside the model; the head returns logits",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for use in facts.losses.uses:
            if use.input.kind != "tensor":
                continue
            if use.kind == "bce" and use.input.activation == "":
                yield self.report(
                    use.call,
                    f"{use.fed}, raw logits "
                    f"({use.input.origin}): it expects probabilities; use nn.BCEWithLogitsLoss",
                    first_line_only=True,
                )
            elif use.kind == "bce_logits" and use.input.activation == "sigmoid":
                yield self.report(
                    use.call,
                    f"{use.fed}, already a sigmoid "
                    f"({use.input.origin}): it applies the sigmoid itself; feed it the logits",
                    first_line_only=True,
                )
