"""loop rules."""
