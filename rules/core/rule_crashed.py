from trainlint.finding import Severity
from trainlint.rule import Rule


class RuleCrashed(Rule):
    """
    ## What it does
    Reports that a rule raised an exception while checking this file. The message
    names the rule and the exception; the other rules' findings for the file still
    come, and the run goes on.

    ## Why is this bad?
    A crashed rule cannot say whether the file has the problem it looks for, so its
    silence means nothing. This is a bug in trainlint: please report it with the file.

    ## How to fix
    Report the bug. Meanwhile `# trainlint: noqa` on the file or `ignore = ["TL001"]`
    hides the message, and `ignore` with the crashing rule's code skips that rule.
    """

    code = "TL001"
    name = "rule-crashed"
    severity = Severity.ERROR
    summary = "a rule raised while checking this file"
    engine_reported = True
    # A correct catalog never crashes, so no example can show this rule firing; the
    # engine's tests inject a raising rule instead.
