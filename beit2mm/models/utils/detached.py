"""Modules a model uses but does not own (the VQ-KD teacher, the frozen
tokenizer of pretraining)."""
from typing import Dict, Optional

import torch.nn as nn


class DetachedModulesMixin:
    """Hold frozen modules outside the owner's ``parameters()``,
    ``state_dict()`` and DDP.

    Put this mixin before ``nn.Module`` (or mmengine's ``BaseModel``) in the
    bases. A module stored with :meth:`set_detached` is not a registered
    submodule, so the optimizer, checkpoints and DDP (gradient sync, buffer
    broadcast) never see it; it still follows the owner's device and dtype
    moves (``to``, ``cuda``, ``half``: :meth:`_apply`) and stays in eval mode
    whatever ``train()`` the runner calls.
    """

    @property
    def _detached(self) -> Dict[str, Optional[nn.Module]]:
        return self.__dict__.setdefault('_detached_modules', {})

    def set_detached(self, name: str, module: Optional[nn.Module]) -> None:
        """Store ``module`` (or None) under ``name``, unregistered, in eval
        mode."""
        if module is not None:
            module.eval()
        self._detached[name] = module

    def get_detached(self, name: str) -> Optional[nn.Module]:
        return self._detached.get(name)

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        for module in self._detached.values():
            if module is not None:
                module._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self._detached.values():
            if module is not None:
                module.eval()
        return self
