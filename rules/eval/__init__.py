"""TL5: evaluation and bookkeeping — eval/train mode, no_grad, losses kept with their
graphs, checkpoints."""

PREFIX = "TL5"
TITLE = "evaluation and bookkeeping"
