"""TL1: data — loaders, datasets and transform pipelines."""

PREFIX = "TL1"
TITLE = "data"
