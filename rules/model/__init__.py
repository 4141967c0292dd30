"""model rules."""
