"""Autograd: Tensor.backward and torch.autograd.backward (the first calls the second:
a re-entry guard measures each backward once)."""

from __future__ import annotations

import torch


def install(probe) -> None:
    """Wrap both backward entry points."""
    tensor_backward = torch.Tensor.backward
    autograd_backward = torch.autograd.backward

    def patched_tensor_backward(tensor, *args, **kwargs):
        if probe._in_backward or probe.done:
            return tensor_backward(tensor, *args, **kwargs)
        return probe._backward(tensor, lambda: tensor_backward(tensor, *args, **kwargs))

    def patched_autograd_backward(tensors, *args, **kwargs):
        if probe._in_backward or probe.done:
            return autograd_backward(tensors, *args, **kwargs)
        first = tensors[0] if isinstance(tensors, (list, tuple)) and tensors else tensors
        if not isinstance(first, torch.Tensor):
            return autograd_backward(tensors, *args, **kwargs)
        return probe._backward(first, lambda: autograd_backward(tensors, *args, **kwargs))

    torch.Tensor.backward = patched_tensor_backward
    torch.autograd.backward = patched_autograd_backward
