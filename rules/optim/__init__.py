"""optim rules."""
