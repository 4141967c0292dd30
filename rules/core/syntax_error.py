from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Rule


class SyntaxErrorRule(Rule):
    """
    ## What it does
    Reports a file that trainlint cannot read or parse: a syntax error, Python 2 code,
    bytes that are not valid in the file's encoding, NUL bytes, or a file nested too
    deeply to analyse.

    ## Why is this bad?
    What does not parse cannot be checked. Reporting it keeps a broken file from looking
    clean; the rest of the run goes on. Where only some statements are rejected (Python 2
    `print x` or `except E, e:`, `.cuda(async=True)` from PyTorch < 0.4, a line half
    typed), trainlint takes each rejected statement out (its lines left blank, up to 20
    statements) and checks the rest of the file: its other findings come too, none on a
    line that was taken out, and none with a fix, since the file on disk still does not
    parse.

    ## How to fix
    Fix the syntax (or the encoding) at the reported position, or exclude generated
    files with `extend-exclude` in `[tool.trainlint]`.
    """

    code = "TL000"
    name = "syntax-error"
    severity = Severity.ERROR
    summary = "the file cannot be read or parsed"
    engine_reported = True

    bad = [
        Bad(
            """
            import torch

            def train(model:
                pass
            """,
            3,
        ),
        Bad(
            """
            import torch
            print "loss", loss
            """,
            2,
            note="Python 2 code",
        ),
    ]
    good = [
        Good("import torch\n"),
        Good(""),
        Good(
            """
            import torch

            def train(model: torch.nn.Module, *, epochs: int = 10) -> None:
                match epochs:
                    case 0:
                        return
            """,
            note="modern syntax parses",
        ),
    ]
