"""``frozen_stages`` of a ViT backbone (linear probing, partial fine-tuning)."""


class FrozenStagesMixin:
    """Freeze the embeddings and the first ``frozen_stages`` blocks (and,
    with all of them, the final norms): no gradients, eval mode kept through
    ``train()`` (no dropout / drop path). For :class:`BEiTv2ViT`, whose
    attributes it reads (``frozen_stages``, ``patch_embed``, ``blocks`` ...).
    """

    def _frozen_modules(self):
        """Modules (and loose tokens) that ``frozen_stages`` freezes."""
        if self.frozen_stages <= 0:
            return [], []
        modules = [self.patch_embed, self.pos_drop]
        if self.rel_pos_bias is not None:
            modules.append(self.rel_pos_bias)
        modules += list(self.blocks[:self.frozen_stages])
        if self.frozen_stages == self.num_layers:
            modules += [m for m in (self.norm, self.fc_norm) if m is not None]
        tokens = [t for t in (self.cls_token, self.mask_token, self.pos_embed)
                  if t is not None]
        return modules, tokens

    def _freeze_stages(self):
        modules, tokens = self._frozen_modules()
        for t in tokens:
            t.requires_grad = False
        for m in modules:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True):
        """Keep frozen stages in eval mode (no dropout / drop path)."""
        super().train(mode)
        if mode:
            for m in self._frozen_modules()[0]:
                m.eval()
        return self
