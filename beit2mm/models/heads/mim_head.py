"""Masked image modeling head of BEiT v2 (Sec. 2.3, eq. 3)."""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from beit2mm.registry import MODELS
from ..utils import trunc_normal_


@MODELS.register_module()
class MIMHead(BaseModule):
    """One linear layer from token features to the visual-token vocabulary.

    Applied to the masked positions only, for the last layer's tokens and
    for the patch-aggregation branch. The paper (and the released models)
    share the layer between both branches; ``shared=False`` gives the
    aggregation branch its own layer (official ``cls_pt_lm_head``).

    Losses (eq. 3, summed with equal weights as the official code):
    ``loss_mim = CE(W h_i^L, z_i)`` and ``loss_cls_pt = CE(W h_i^agg, z_i)``,
    each averaged over the masked positions of the batch. ``acc_mim`` and
    ``acc_cls_pt`` (top-1 token accuracy in %) are returned as tensors, so
    nothing is synchronised with the host here.

    Args:
        embed_dims: token width C.
        num_codes: vocabulary size K (the tokenizer's codebook, 8192).
        shared: one layer for both branches.
        init_std: truncated-normal std (0.02, truncated at one std as in the
            official code).
    """

    def __init__(self,
                 embed_dims: int = 768,
                 num_codes: int = 8192,
                 shared: bool = True,
                 init_std: float = 0.02,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.num_codes = num_codes
        self.shared = shared
        self.init_std = init_std
        self.fc = nn.Linear(embed_dims, num_codes)
        self.fc_cls_pt = None if shared else nn.Linear(embed_dims, num_codes)

    def init_weights(self):
        if self.init_cfg is not None:
            super().init_weights()
            return
        for fc in (self.fc, self.fc_cls_pt):
            if fc is not None:
                trunc_normal_(fc.weight, std=self.init_std,
                              a=-self.init_std, b=self.init_std)
                nn.init.zeros_(fc.bias)
        self._is_init = True

    def forward(self, x: torch.Tensor, x_cls_pt: Optional[torch.Tensor]
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Logits of both branches.

        x, x_cls_pt: (M, C) normed features of the M masked positions of the
        batch -> two (M, K) logits; x_cls_pt None (no patch aggregation)
        -> (logits, None).
        """
        if x_cls_pt is None:
            return self.fc(x), None
        fc_pt = self.fc if self.fc_cls_pt is None else self.fc_cls_pt
        return self.fc(x), fc_pt(x_cls_pt)

    def loss(self, x: torch.Tensor, x_cls_pt: Optional[torch.Tensor],
             target: torch.Tensor) -> Dict[str, torch.Tensor]:
        """x, x_cls_pt: (M, C); target: (M,) token ids -> losses and
        accuracies (both branches; x_cls_pt None: the last layer's only)."""
        logits, logits_pt = self(x, x_cls_pt)
        if logits_pt is None:
            logits = logits.float()
            with torch.no_grad():
                acc = (logits.argmax(-1) == target).float().mean() * 100
            return dict(loss_mim=F.cross_entropy(logits, target),
                        acc_mim=acc)
        # cross-entropy in fp32 under AMP
        logits, logits_pt = logits.float(), logits_pt.float()
        losses = dict(loss_mim=F.cross_entropy(logits, target),
                      loss_cls_pt=F.cross_entropy(logits_pt, target))
        with torch.no_grad():
            losses['acc_mim'] = (
                logits.argmax(-1) == target).float().mean() * 100
            losses['acc_cls_pt'] = (
                logits_pt.argmax(-1) == target).float().mean() * 100
        return losses
