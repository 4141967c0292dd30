"""TL4: optimization and the training loop — gradients, optimizer and scheduler steps,
learning rates, clipping, regularization."""

PREFIX = "TL4"
TITLE = "optimization and loop"
