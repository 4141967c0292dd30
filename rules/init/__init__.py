"""TL6: initialization — constant weights, parameters never initialized."""

PREFIX = "TL6"
TITLE = "initialization"
