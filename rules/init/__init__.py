"""init rules."""
