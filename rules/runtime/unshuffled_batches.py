from trainlint.finding import Severity
from trainlint.probe.thresholds import Thresholds
from trainlint.rule import Rule


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
    options = Thresholds.defaults("single-class-share", "single-class-batches")
