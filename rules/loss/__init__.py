"""TL3: loss — the loss function against the task and the head that feeds it."""

PREFIX = "TL3"
TITLE = "loss"
