from trainlint.finding import Severity
from trainlint.probe.measurements import Evidence, Measurements
from trainlint.probe.numbers import fmt
from trainlint.rule import Rule


def measure(m: Measurements) -> Evidence:
    """TL910's evidence: what the probe measured for it."""
    for loader in m.train_loaders:
        labelled = [b.labels for b in loader.batches if b.labels]
        labelled = [h for h in labelled if sum(h.values()) >= 2]
        if len(labelled) < 2:
            continue
        shares, majors = [], []
        for hist in labelled:
            total = sum(hist.values())
            cls, count = max(hist.items(), key=lambda kv: kv[1])
            shares.append(count / total)
            majors.append(cls)
        single = sum(1 for s in shares if s >= m.t.single_class_share)
        sequential = loader.sampler in ("SequentialSampler", "_InfiniteConstantSampler")
        present = single > m.t.single_class_batches * len(shares) and (sequential or len(set(majors)) > 1)
        classes = sorted({c for h in labelled for c in h}, key=lambda c: int(c) if c.isdigit() else 0)
        text = (f"{single} of the first {len(shares)} training batches hold ≥{fmt(m.t.single_class_share * 100)}% "
                f"one class (majority classes in order: {', '.join(majors[:8])}; sampler {loader.sampler}; "
                f"{len(classes)} classes seen)")
        return Evidence(True, present, text, {"single_class_batches": single, "batches": len(shares),
                                               "majority_classes": majors, "sampler": loader.sampler},
                        loader.site)
    return Evidence(False, message="no training DataLoader batch with class labels was seen")


class UnshuffledBatches(Rule):
    """
    ## What it does
    Measured by `trainlint probe` while the script trains, never by `trainlint check`.
    Records the label histogram of the first training batches and reports when more than
    `single-class-batches` of them hold at least `single-class-share` of a single class,
    and the sampler is sequential or the majority class changes from batch to batch (an
    imbalanced but shuffled dataset is not reported). The finding points at the
    DataLoader's construction.

    ## Why is this bad?
    A dataset stored sorted by class and read in order gives batches of one class: every
    step pulls the model toward that class, the loss swings each time the class changes
    and the model forgets the earlier classes (seed 000 §2.4, seed 001 §9, seed 003 §12).

    ## How to fix
    Pass `shuffle=True` to the training `DataLoader` (or a `RandomSampler` /
    `DistributedSampler`, with `set_epoch` each epoch).

    ## Evidence
    `trainlint probe tests/fixtures/probe/unshuffled.py` (a class-sorted dataset read in
    order) reports it; the shuffled fixtures do not. The same measurement confirms TL101
    dataloader-no-shuffle.
    """

    code = "TL910"
    name = "unshuffled-batches"
    severity = Severity.WARNING
    summary = "the first batches each hold a single class"
    seeds = ("000 §2.4", "001 §9", "003 §12")
    runtime = True
    options = {
        "single-class-share": 0.9,  # a batch holds at least this share of one class ...
        "single-class-batches": 0.5,  # ... in more than this share of the first training batches
    }
    measure = staticmethod(measure)
    confirms = ("TL101",)  # a training DataLoader without shuffle
