"""trainlint: find the bugs that keep PyTorch training from converging."""

__version__ = "0.1.0"
