"""core rules."""
