"""Whether a name, a string or a set of clues says training or evaluation.

`train_loader`, `trainset`, `split="train"` say training; `val_loader`, `transform_test`,
`def evaluate` say evaluation. Clues come in levels (the object's own name first, then
what it is built from, where it lives, how it is used); `decide` weighs them. Shared by
the data facts and by any rule that must tell a training loop from an evaluation one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from trainlint.facts.kinds import DataRole
from trainlint.facts.syntax import last_name
from trainlint.index import MODEL_NAME_PATTERN

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[A-Z]+")
_EVAL_PREFIXES = ("val", "test", "eval", "infer", "predict", "holdout")
_NOT_EVAL = ("value", "values", "valu")


def split_words(name: str) -> list[str]:
    """`trainLoader_v2` -> ["train", "Loader", "v"]."""
    return _WORD.findall(name)


def word_roles(text: str | None) -> set[DataRole]:
    """`train_loader` -> {train}; `valloader`, `transform_test` -> {eval}; `loader` -> {};
    `eval_train_loader` -> {train, eval}."""
    roles: set[DataRole] = set()
    for word in _WORD.findall(text or ""):
        word = word.lower()
        if word == "tta":
            return {DataRole.TRAIN, DataRole.EVAL}  # test-time augmentation is random on purpose
        if word.startswith("train"):
            roles.add(DataRole.TRAIN)
        elif (word.startswith(_EVAL_PREFIXES) and not word.startswith(_NOT_EVAL)) or word in ("dev", "pred"):
            roles.add(DataRole.EVAL)
    return roles



def word_evidence(text: str | None, level: int, reason: str) -> list[RoleEvidence]:
    """What a name or string says: nothing, one role, or a contest (role None)."""
    roles = word_roles(text)
    if not roles:
        return []
    return [RoleEvidence(level, roles.pop() if len(roles) == 1 else None, reason)]


@dataclass(frozen=True)
class RoleEvidence:
    level: int
    role: DataRole | None  # None: this level holds contradicting evidence
    reason: str


def decide(evidence: list[RoleEvidence]) -> RoleEvidence | None:
    """The evidence that decides the role; None when there is none or it is contested.

    A training role read from anything but the object's own name is vetoed by any
    evaluation evidence further down (a loader over `train_set` built in `evaluate()`
    scores the training set). An evaluation role is not vetoed by a `def train()`
    around it: training functions build their validation loaders too.
    """
    if not evidence:
        return None
    evidence = sorted(evidence, key=lambda e: e.level)
    first = evidence[0]
    roles = {e.role for e in evidence if e.level == first.level}
    if len(roles) != 1 or None in roles:
        return None
    if first.role == DataRole.TRAIN and first.level > 1 and any(e.role != DataRole.TRAIN for e in evidence):
        return None
    return first


def says_only(name: str | None, role: DataRole) -> bool:
    """A name whose words say this role and no other (`val_loader`, not `train_val_loader`)."""
    return word_roles(name) == {role}


def names_a_loader(name: str | None) -> bool:
    """`train_loader`, `trainloader`, `self.train_dl`, `valid_queue`, `test_iter`."""
    words = [w.lower() for w in split_words(name or "")]
    return any(w.endswith("loader") or w in ("dl", "queue", "iter", "iterator", "batches") for w in words)


_MODEL_NAME = re.compile(MODEL_NAME_PATTERN, re.I)


def names_a_model(name: str | None) -> bool:
    """`model`, `net`, `netD`, `encoder`, `G`, `self.backbone`: a name training code gives a network."""
    return bool(_MODEL_NAME.search(last_name(name)))


__all__ = ["RoleEvidence", "decide", "names_a_loader", "names_a_model", "says_only", "split_words", "word_roles", "word_evidence"]
