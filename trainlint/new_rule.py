"""Start a new rule: `python -m trainlint.new_rule TL4 some-name` (as ruff's add_rule script).

Writes rules/<group>/<some_name>.py, the folder of the code group, with the next code the
catalog has free in that group (or the code given in full: `TL105`), the class with its docs
sections and Bad/Good examples to fill in, and prints the next steps. Nothing outside that
module needs an edit: the registry discovers the rule, the example tests collect it, and
`python -m trainlint.docs` puts it in the docs.

The codes reserved in ../shared/RULES.md for rules not written yet are not shipped with
trainlint, so the next free code here is the catalog's: name the reserved code in full when
your rule has one.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

from trainlint.registry import RULES_PACKAGE, all_rules

USAGE = "usage: python -m trainlint.new_rule TL<group digit>[<code>] <rule-name>   e.g. TL4 optimizer-never-stepped"
NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
CODE = re.compile(r"TL(\d)(\d\d)?")
# The probe measures runtime findings: they have no check and no static examples.
RUNTIME_GROUP = "TL9"


class ScaffoldError(Exception):
    pass


def groups() -> dict[str, ModuleType]:
    """Code prefix (TL4) -> the rule group's package, as the catalog finds them."""
    package = importlib.import_module(RULES_PACKAGE)
    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg:
            group = importlib.import_module(f"{RULES_PACKAGE}.{info.name}")
            found[group.PREFIX] = group
    return found


def next_free_code(prefix: str) -> str:
    taken = [int(rule.code[len(prefix):]) for rule in all_rules() if re.fullmatch(prefix + r"\d\d", rule.code)]
    number = max(taken, default=0) + 1
    if number > 99:
        raise ScaffoldError(f"the {prefix} group has no code left after {prefix}99")
    return f"{prefix}{number:02d}"


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def plan(code_or_group: str, name: str) -> tuple[str, Path, str]:
    """(code, module path, class name) of the rule to write; ScaffoldError when it cannot be."""
    match = CODE.fullmatch(code_or_group.upper())
    if not match:
        raise ScaffoldError(f"{code_or_group!r} is neither a code group (TL4) nor a code (TL415)\n{USAGE}")
    prefix = f"TL{match.group(1)}"
    known = groups()
    if prefix not in known:
        listed = ", ".join(f"{p} ({g.TITLE})" for p, g in sorted(known.items()))
        raise ScaffoldError(f"no rule group has the prefix {prefix}; the groups are {listed}")
    if prefix == RUNTIME_GROUP:
        raise ScaffoldError(f"{prefix} holds the probe's runtime findings, measured by `trainlint probe`; "
                            "this writes static rules")
    if not NAME.fullmatch(name):
        raise ScaffoldError(f"{name!r} is not a rule name: lowercase words joined by '-', e.g. optimizer-never-stepped")
    for rule in all_rules():
        if rule.name == name:
            raise ScaffoldError(f"{rule.code} is already called {name!r} ({rule.__module__})")
    if match.group(2):
        code = prefix + match.group(2)
        owner = next((rule for rule in all_rules() if rule.code == code), None)
        if owner is not None:
            raise ScaffoldError(f"{code} is {owner.name}'s: rule codes are never reused")
    else:
        code = next_free_code(prefix)
    folder = Path(known[prefix].__file__).parent
    path = folder / f"{name.replace('-', '_')}.py"
    if path.exists():
        raise ScaffoldError(f"{path} exists already")
    return code, path, class_name(name)


TEMPLATE = '''\
from collections.abc import Iterator

from trainlint.facts import FileFacts
from trainlint.finding import Severity
from trainlint.rule import Bad, Good, Report, Rule


class {cls}(Rule):
    """
    ## What it does
    Finds ... (the code it reports, and what it leaves alone).

    ## Why is this bad?
    What goes wrong in training, and the seed that names the problem (seed 00N §N).

    ## How to fix
    What to write instead.
    """

    code = "{code}"
    name = "{name}"
    severity = Severity.WARNING  # ERROR: cannot train as written; WARNING: very likely hurts; INFO: advice
    summary = "..."  # one line: what it finds, as the rule tables show it
    seeds = ()  # the seed documents that name the problem, e.g. ("001 §7",)
    default_enabled = True  # False for advice, as most INFO rules

    # The docs' "Example" and "Use instead" are bad[0] and good[0]. Each bad example is
    # reported on exactly the lines listed after its code; at least 2 bad and 3 good, the
    # good ones shaped like real training code the rule must leave alone.
    bad = [
        Bad(
            """
            import torch

            ...
            """,
            3,
        ),
        Bad(
            """
            import torch

            ...
            """,
            3,
        ),
    ]
    good = [
        Good(
            """
            import torch

            ...
            """
        ),
        Good(
            """
            import torch

            ...
            """
        ),
        Good(
            """
            import torch

            ...
            """
        ),
    ]

    def check(self, facts: FileFacts) -> Iterator[Report]:
        # Read the file through its facts (trainlint.facts), never its text or another rule;
        # report the node the user must change: yield self.report(node, "message").
        yield from ()
'''


def render(code: str, name: str, cls: str) -> str:
    return TEMPLATE.format(code=code, name=name, cls=cls)


def _shown(path: Path) -> str:
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else Path(relative).as_posix()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args in (["-h"], ["--help"]):
        print(__doc__.strip() + "\n\n" + USAGE)
        return 0
    if len(args) != 2 or any(a.startswith("-") for a in args):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        code, path, cls = plan(args[0], args[1])
    except ScaffoldError as problem:
        print(f"trainlint.new_rule: error: {problem}", file=sys.stderr)
        return 2
    try:
        with open(path, "x", encoding="utf-8") as handle:  # "x": never over a module written meanwhile
            handle.write(render(code, args[1], cls))
    except OSError as exc:
        print(f"trainlint.new_rule: error: cannot write {path}: {exc}", file=sys.stderr)
        return 2
    group = code[:3]
    print(f"Wrote {_shown(path)}: {code} {args[1]} (class {cls}).")
    if not CODE.fullmatch(args[0].upper()).group(2):
        print(f"{code} is the next code free in the catalog's {group} rules. Codes reserved in ../shared/RULES.md\n"
              f"are not known here: if your rule has one, or {code} is reserved for another, change `code`.")
    print(
        "Next:\n"
        "  1. Fill in the docs sections, `summary`, `seeds` and the Bad/Good examples.\n"
        "  2. Write `check`: what the rule needs from the file is a property of FileFacts.\n"
        f"  3. Run its tests:      python -m pytest -q tests/test_rule_examples.py -k {code}\n"
        "  4. Regenerate the docs: python -m trainlint.docs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
