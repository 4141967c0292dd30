"""nn.Module: where each module is built (Module.__init__) and the global forward
pre-hook and hook (never a backward hook: those break ReLU(inplace=True))."""

from __future__ import annotations

import torch


def install(probe) -> None:
    """Wrap Module.__init__ and register the global forward hooks."""
    module_init = torch.nn.Module.__init__

    def patched_module_init(module, *args, **kwargs):
        module_init(module, *args, **kwargs)
        try:
            probe.modules.add(module)
            probe._built[module] = len(probe._built)
            site = probe._site(skip_self=module)
            if site is not None:
                probe.sites[module] = site
        except Exception:  # never break the user's model
            pass

    torch.nn.Module.__init__ = patched_module_init
    torch.nn.modules.module.register_module_forward_pre_hook(probe._forward_pre_hook)
    torch.nn.modules.module.register_module_forward_hook(probe._forward_hook)
