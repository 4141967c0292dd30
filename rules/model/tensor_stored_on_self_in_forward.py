from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class TensorStoredOnSelfInForward(Rule):
    """
    ## What it does
    Finds `self.<name> = <tensor>` inside `forward()` (or a method it calls) where the
    tensor carries the autograd graph: the output of a layer, of a `torch` function or of
    tensor arithmetic on the input.

    Values that carry no graph are not reported: `.detach()`ed or `.item()` values,
    shapes and Python scalars, modules, assignments under `torch.no_grad()` /
    `torch.inference_mode()`, and caches filled only in eval mode
    (`if not self.training:`).

    ## Why is this bad?
    The attribute keeps the last batch's tensor, and through it the whole graph of that
    forward pass, alive until the next call overwrites it: memory grows, and an attribute
    that is read again in the next step (a hidden state, a running value) links the
    graphs of two batches, so `backward()` fails with "Trying to backward through the
    graph a second time" or silently backpropagates into the previous batch. Seed 004's
    ResNet kept every intermediate output on `self`.

    ## How to fix
    Keep intermediate results in local variables. If the value must outlive the call
    (a recurrent state, a visualization), store `tensor.detach()`.
    """

    code = "TL203"
    name = "tensor-stored-on-self-in-forward"
    severity = Severity.WARNING
    summary = "a tensor with its autograd graph is stored on self inside forward()"
    seeds = ("004",)

    bad = [
        Bad(
            """
            import torch.nn as nn

            class ResNet(nn.Module):
                def __init__(self, c):
                    super().__init__()
                    self.conv1 = nn.Conv2d(c, c, 3, padding=1)
                    self.conv2 = nn.Conv2d(c, c, 3, padding=1)

                def forward(self, x):
                    self.conv1_out = self.conv1(x)
                    self.res1 = self.conv2(self.conv1_out) + self.conv1_out
                    return self.res1
            """,
            10, 11,
        ),
        Bad(
            """
            import torch
            import torch.nn as nn

            class CharRNN(nn.Module):
                def __init__(self, vocab, hidden):
                    super().__init__()
                    self.embed = nn.Embedding(vocab, hidden)
                    self.rnn = nn.GRU(hidden, hidden, batch_first=True)
                    self.head = nn.Linear(hidden, vocab)
                    self.hidden = None

                def forward(self, tokens):
                    out, self.hidden = self.rnn(self.embed(tokens), self.hidden)
                    self.attn = torch.softmax(out @ out.transpose(1, 2), dim=-1)
                    return self.head(out)
            """,
            13, 14,
            note="a recurrent state carried over batches links their graphs",
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            class CharRNN(nn.Module):
                def __init__(self, vocab, hidden):
                    super().__init__()
                    self.rnn = nn.GRU(vocab, hidden, batch_first=True)
                    self.head = nn.Linear(hidden, vocab)
                    self.hidden = None

                def forward(self, x):
                    out, hidden = self.rnn(x, self.hidden)
                    self.hidden = hidden.detach()
                    self.last_batch_size = x.shape[0]
                    self.calls = 1
                    return self.head(out)
            """,
            note="detached state, shapes and counters",
        ),
        Good(
            """
            import torch
            import torch.nn as nn

            class VectorQuantizer(nn.Module):
                def __init__(self, n, dim):
                    super().__init__()
                    self.embedding = nn.Embedding(n, dim)
                    self.register_buffer("usage", torch.zeros(n))

                def forward(self, z):
                    d = torch.cdist(z, self.embedding.weight)
                    idx = d.argmin(-1)
                    with torch.no_grad():
                        self.usage = 0.99 * self.usage + 0.01 * torch.bincount(idx, minlength=self.usage.numel())
                    return self.embedding(idx)
            """,
            note="a statistic updated under no_grad",
        ),
        Good(
            """
            import torch.nn as nn
            import torch.nn.functional as F

            class RelPosBias(nn.Module):
                def __init__(self, heads):
                    super().__init__()
                    self.table = nn.Linear(2, heads)
                    self.cached = None

                def forward(self, coords):
                    if not self.training:
                        if self.cached is None:
                            self.cached = self.table(coords)
                        return self.cached
                    self.act = nn.GELU()
                    return F.gelu(self.table(coords))
            """,
            note="an eval-mode cache; a parameter-free module",
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        for module_class in facts.module_classes:
            for store in module_class.forward_paths.stores:
                if store.tensor and not store.guarded:
                    yield self.report(
                        store.statement,
                        f"`self.{store.attr}` keeps a tensor with the autograd graph of the last batch alive "
                        f"in {module_class.name}.forward(); use a local variable, or store `.detach()`",
                        first_line_only=True,
                    )
