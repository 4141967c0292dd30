from collections.abc import Iterator

from trainlint.finding import Applicability, Edit, Location, Severity
from trainlint.rule import Bad, FixProposal, Good, Report, Rule, SuppressionFacts

OUR_PREFIX = "TL"


class UnusedNoqa(Rule):
    """
    ## What it does
    Finds `# noqa` comments that name trainlint codes (`TL...`) but suppress nothing on
    their line: the rule ran and did not report there (unused), or the code does not exist
    (unknown). As ruff's RUF100, with more restraint: codes of other tools (`E501`, `F401`),
    a bare `# noqa` (it silences every tool), the codes of rules that do not run on the
    file (not selected, or in its per-file-ignores: another config may select them) and
    those of the runtime probe (TL9xx, which reads the same comments) are not judged.

    ## Why is this bad?
    A stale `# noqa` hides the next real finding on that line: after a refactor, the
    comment that once silenced a false alarm silently swallows a true one. An unknown
    code is a typo that suppresses nothing while looking as if it did.

    ## How to fix
    Remove the comment, or the codes of it that suppress nothing (the fix does that,
    and keeps the other tools' codes and any text after the directive).
    """

    code = "TL002"
    name = "unused-noqa"
    severity = Severity.INFO
    summary = "a `# noqa` comment that suppresses nothing, or names a code that does not exist"
    default_enabled = False
    fix_applicability = Applicability.SAFE
    reads_suppressions = True

    bad = [
        Bad(
            """
            import torch

            model = torch.nn.Linear(4, 2)  # noqa: TL202
            """,
            3,
            fixed="""
            import torch

            model = torch.nn.Linear(4, 2)
            """,
        ),
        Bad(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def forward(self, x):
                    layer = nn.Linear(4, 2)  # noqa: TL202, TL299, E501 - built once per call on purpose
                    return layer(x)
            """,
            5,
            fixed="""
            import torch.nn as nn

            class Net(nn.Module):
                def forward(self, x):
                    layer = nn.Linear(4, 2)  # noqa: TL202, E501 - built once per call on purpose
                    return layer(x)
            """,
            note="TL299 does not exist; TL202 and E501 stay",
        ),
    ]
    good = [
        Good(
            """
            import torch.nn as nn

            class Net(nn.Module):
                def forward(self, x):
                    layer = nn.Linear(4, 2)  # noqa: TL202 - a throwaway probe layer
                    return layer(x)
            """
        ),
        Good(
            """
            import torch

            x = torch.zeros(3)  # noqa: E501, F841
            y = torch.ones(3)  # noqa
            """,
            note="other tools' codes and a bare noqa are not trainlint's to judge",
        ),
        Good(
            """
            import torch

            text = "# noqa: TL202"
            loader = make_loader()  # noqa: TL909
            """,
            note="a string is no comment; TL9xx codes are the runtime probe's",
        ),
    ]

    def check_suppressions(self, facts: SuppressionFacts) -> Iterator[Report]:
        lines = facts.source.splitlines()
        for comment in facts.comments:
            if comment.codes is None or not comment.is_comment:
                continue
            ours = [c for c in comment.codes if c.upper().startswith(OUR_PREFIX)]
            if not ours or any(c.upper() == self.code for c in ours):
                continue  # none of ours, or this rule is itself silenced here
            unused, unknown = [], []
            for written in ours:
                code = written.upper()
                if code in comment.suppressed:
                    continue
                if code not in facts.known:
                    unknown.append(written)
                elif code in facts.ran and code not in facts.runtime:
                    unused.append(written)
            stale = unused + unknown
            if not stale:
                continue
            parts = [f"{label}: {', '.join(codes)}" for label, codes in
                     (("unused", unused), ("unknown", unknown)) if codes]
            line = lines[comment.row - 1]
            start, end = Location(comment.row, comment.start), Location(comment.row, comment.end)
            what = "remove the unused codes" if len(stale) < len(comment.codes) else "remove the `# noqa`"
            fix = FixProposal(what, (), Applicability.SAFE, (_edit(line, comment, stale),))
            yield Report(self.code, None, f"unused `# noqa` directive ({'; '.join(parts)})", fix, span=(start, end))


def _edit(line: str, comment, stale: list[str]) -> Edit:
    """The text edit that drops `stale` codes from the comment, or the whole directive when
    it names nothing else (text after it, a reason or another comment, stays a comment)."""
    row = comment.row
    kept = [c for c in comment.codes if c not in stale]
    if kept:
        at = comment.codes_start
        return Edit(", ".join(kept), Location(row, at), Location(row, comment.end))
    start, end = comment.start - 1, comment.end - 1  # 0-based, in `line`
    tail = line[end:]
    before = line[:start].rstrip()
    if not tail.strip():  # nothing after it: drop it and the blanks before it
        return Edit("", Location(row, len(before) + 1), Location(row, len(line) + 1))
    if tail.lstrip().startswith("#"):  # another comment follows: it takes the directive's place
        gap = len(tail) - len(tail.lstrip())
        return Edit("", Location(row, start + 1), Location(row, end + gap + 1))
    return Edit("#", Location(row, start + 1), Location(row, end + 1))  # `# noqa: TL202 why` -> `# why`
