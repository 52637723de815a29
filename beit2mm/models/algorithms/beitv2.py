"""BEiT v2 masked image modeling with a frozen VQ-KD tokenizer (Sec. 2.3)."""
import os.path as osp
import warnings
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel

from beit2mm.registry import MODELS
from ..utils import DetachedModulesMixin
from ..utils.checkpoint_formats import read_last_checkpoint
from ..utils.query_rows import MaskedRows
from .frozen_tokenizer import load_tokenizer, tokenizer_record


def _fill(cfg: dict, **defaults) -> dict:
    """``cfg`` with each of ``defaults`` set where it is missing or None."""
    cfg = dict(cfg)
    for key, value in defaults.items():
        if cfg.get(key) is None:
            cfg[key] = value
    return cfg


@MODELS.register_module()
class BEiTv2(DetachedModulesMixin, BaseModel):
    """Masked image modeling on VQ-KD tokens, with patch aggregation.

    Per batch (shapes for B images, N = h * w patches, M masked in total)::

        z = tokenizer.get_tokens(x_tok)              # (B, N) targets, no grad
        h = backbone(x with [MASK] at masked pos.)   # last (B, 1+N, C),
                                                     # layer l (B, 1+N, C)
        a = neck(h_L[CLS], h_l[patches], bias)       # (B, 1+N, C)
        loss = CE(W norm(h_L)_M, z_M) + CE(W norm(a)_M, z_M)      (eq. 3)

    The loss reads only [CLS] and the masked positions of h_L and a, so by
    default the last block of each computes only those outputs
    (``last_blocks_masked_only``; every token stays a key and value): one
    :class:`MaskedRows` per batch, built from the mask, says which.

    The tokenizer is frozen for the whole run and held as a detached module
    (:class:`DetachedModulesMixin`): outside the optimizer, DDP (no
    gradient sync, no buffer broadcast, no ``find_unused_parameters``
    needed) and checkpoints (unless ``save_tokenizer=True``), never in
    train mode, moved with the model. Its quantizer runs in frozen mode (no
    EMA, no k-means, no collectives) and targets are computed under
    ``torch.no_grad()``.

    The final norm of each branch is applied here only
    (:meth:`masked_outputs`): the backbone's ``norm`` for both (shared, as in
    the paper) unless the neck has its own (``with_norm``; official
    ``shared_lm_head=False``).

    Args:
        backbone: :class:`BEiTv2ViT` config (``with_mask_token=True``).
        neck: :class:`BEiTv2Neck` config, or None: no patch aggregation
            (the paper's Table 5 baseline), only the last-layer loss. Its
            ``arch`` and ``drop_path_rate``, when left out (or None), are
            the backbone's (official: one dpr for both).
        head: :class:`MIMHead` config; ``num_codes`` must equal the
            tokenizer's vocabulary; ``embed_dims`` left out (or None): the
            backbone's width. A config thus states the model size once.
        tokenizer: a VQ-KD tokenizer config (``teacher=None`` is enough to
            compute tokens) or module with ``get_tokens`` and ``num_codes``.
        tokenizer_ckpt: the tokenizer checkpoint (ours, or an official
            unilm one), or the work dir of a VQ-KD training run (its
            ``last_checkpoint`` is used). This is the CLIP- vs DINO-distilled
            switch.
        allow_random_tokenizer: allow ``tokenizer_ckpt=None`` (random init,
            seeded identically on every rank) for smoke tests; warns.
        save_tokenizer: also store the tokenizer's weights under
            ``tokenizer.*`` in checkpoints.
        last_blocks_masked_only: the last backbone block and the last
            aggregation block compute only the outputs the loss reads
            ([CLS] and the masked patches; all tokens stay keys and values),
            when every image has the same number of masked patches: the same
            losses and gradients with about 5 % fewer FLOPs per step (ViT-B,
            75 of 196 masked). False computes every output (plain path).
        data_preprocessor: defaults to ``BEiTv2DataPreprocessor``.
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict],
                 head: dict,
                 tokenizer: Union[dict, nn.Module],
                 tokenizer_ckpt: Optional[str] = None,
                 allow_random_tokenizer: bool = False,
                 save_tokenizer: bool = False,
                 last_blocks_masked_only: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='beit2mm.BEiTv2DataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if tokenizer_ckpt is None and not allow_random_tokenizer:
            raise ValueError(
                'BEiTv2 needs a trained tokenizer: set model.tokenizer_ckpt '
                'to a VQ-KD checkpoint (e.g. one trained with configs/vqkd/ '
                'or an official one converted with tools/convert/'
                'vqkd_official_to_beit2mm.py). For a smoke test only, pass '
                'model.allow_random_tokenizer=True to use a random one.')
        if tokenizer_ckpt is not None and osp.isdir(tokenizer_ckpt):
            work_dir, tokenizer_ckpt = tokenizer_ckpt, read_last_checkpoint(
                tokenizer_ckpt)
            if tokenizer_ckpt is None:
                raise FileNotFoundError(
                    f'model.tokenizer_ckpt={work_dir!r} is a directory '
                    f'without a last_checkpoint file; point it to a VQ-KD '
                    f'checkpoint (.pth) or to the work dir of a finished '
                    f'VQ-KD run.')
        if tokenizer_ckpt is not None and not osp.isfile(tokenizer_ckpt):
            raise FileNotFoundError(
                f'tokenizer checkpoint {tokenizer_ckpt!r} does not exist; '
                f'fix model.tokenizer_ckpt (e.g. --cfg-options '
                f'model.tokenizer_ckpt=/path/to/vqkd.pth).')
        self.backbone = MODELS.build(backbone)
        if neck is not None:
            neck = _fill(neck, arch=backbone.get('arch', 'base'),
                         drop_path_rate=backbone.get('drop_path_rate', 0.))
        self.neck = MODELS.build(neck) if neck is not None else None
        self.head = MODELS.build(
            _fill(head, embed_dims=self.backbone.embed_dims))
        self._check_parts()
        if tokenizer_ckpt is None and isinstance(tokenizer, dict):
            warnings.warn('BEiTv2: random-init tokenizer '
                          '(allow_random_tokenizer=True): the targets are '
                          'meaningless; use this for smoke tests only.')
        # not registered: see the class docstring
        self.set_detached('tokenizer',
                          load_tokenizer(tokenizer, tokenizer_ckpt))
        # written into every checkpoint's meta by SafeCheckpointHook
        self.checkpoint_meta = dict(
            tokenizer=tokenizer_record(tokenizer_ckpt))
        self._check_tokenizer()
        self.save_tokenizer = save_tokenizer
        self.last_blocks_masked_only = last_blocks_masked_only
        self._register_state_dict_hook(BEiTv2._add_tokenizer_state)
        self._register_load_state_dict_pre_hook(
            self._pop_tokenizer_state, with_module=False)

    # ------------------------------------------------------------ checks
    def _check_parts(self):
        bb = self.backbone
        if getattr(bb, 'mask_token', None) is None:
            raise ValueError('the backbone has no mask token; build it with '
                             'with_mask_token=True.')
        if self.neck is not None and \
                not 1 <= self.neck.early_layers < bb.num_layers:
            raise ValueError(
                f'neck.early_layers={self.neck.early_layers} must be below the'
                f' backbone depth {bb.num_layers} (9 for base, 21 for large).')
        dims = {bb.embed_dims, self.head.embed_dims} | (
            {self.neck.embed_dims} if self.neck is not None else set())
        if len(dims) != 1:
            raise ValueError(f'backbone, neck and head widths differ: {dims}; '
                             f'give them the same arch / embed_dims.')

    def _check_tokenizer(self):
        tok = self.tokenizer
        num_codes = getattr(tok, 'num_codes', None)
        if num_codes != self.head.num_codes:
            raise ValueError(
                f'the tokenizer has {num_codes} codes but the head predicts '
                f'{self.head.num_codes}; set model.head.num_codes='
                f'{num_codes}.')
        size, patch = getattr(tok, 'img_size', None), getattr(
            tok, 'patch_size', None)
        if size is not None and patch is not None:
            size = (size, size) if isinstance(size, int) else tuple(size)
            grid = (size[0] // patch, size[1] // patch)
            if grid != tuple(self.backbone.patch_resolution):
                raise ValueError(
                    f'the tokenizer gives a {grid} token grid but the student '
                    f'has {tuple(self.backbone.patch_resolution)} patches; '
                    f'match the tokenizer view size (pipeline second_scale) '
                    f'and the tokenizer img_size to the student grid.')

    # ------------------------------------------------------------ tokenizer
    @property
    def tokenizer(self) -> nn.Module:
        """The frozen tokenizer (not a registered submodule)."""
        return self.get_detached('tokenizer')

    @staticmethod
    def _add_tokenizer_state(module, state_dict, prefix, local_metadata):
        if module.save_tokenizer:
            for k, v in module.tokenizer.state_dict().items():
                state_dict[prefix + 'tokenizer.' + k] = v
        return state_dict

    def _pop_tokenizer_state(self, state_dict, prefix, local_metadata, strict,
                             missing_keys, unexpected_keys, error_msgs):
        key = prefix + 'tokenizer.'
        tok_state = {k[len(key):]: state_dict.pop(k)
                     for k in list(state_dict) if k.startswith(key)}
        if tok_state and self.save_tokenizer:
            self.tokenizer.load_state_dict(tok_state)
        elif tok_state:
            warnings.warn('ignoring tokenizer.* weights in the checkpoint '
                          '(save_tokenizer=False: the tokenizer comes from '
                          'model.tokenizer_ckpt).')

    @torch.no_grad()
    def get_targets(self, img_tok: torch.Tensor) -> torch.Tensor:
        """img_tok: (B, 3, H', W') in [-1, 1] -> token ids (B, N)."""
        return self.tokenizer.get_tokens(img_tok).flatten(1)

    # ------------------------------------------------------------ stages
    def encode(self, img: torch.Tensor, mask: torch.Tensor,
               rows: Optional[MaskedRows] = None):
        """Backbone on the masked student view.

        img: (B, 3, H, W); mask: (B, N) -> BackboneOutput(last h_L
        (B, 1+N, C), or (B, 1+Q, C) for ``rows.query_index``; {l: h_l
        (B, 1+N, C)}; bias).
        """
        layers = [self.neck.early_layers] if self.neck is not None else []
        return self.backbone.forward_features(img, mask, return_layers=layers,
                                              rows=rows)

    def aggregate(self, feats,
                  rows: Optional[MaskedRows] = None) -> torch.Tensor:
        """Patch aggregation: [h_L CLS, h_l patches] -> (B, 1+N or 1+Q, C)."""
        early = feats.hidden[self.neck.early_layers]
        return self.neck(feats.last[:, :1], early[:, 1:], feats.rel_pos_bias,
                         rows)

    def loss(self, inputs: List[torch.Tensor], mask: torch.Tensor,
             rows: MaskedRows) -> Dict[str, torch.Tensor]:
        """Eq. 3: CE of both branches' predictions at the masked patches
        against the tokenizer's tokens.

        inputs: [student (B, 3, H, W), tokenizer view (B, 3, H', W')];
        mask: (B, N) bool; rows: the masked positions (and the rows the last
        blocks compute), :class:`MaskedRows`.
        """
        img, img_tok = inputs
        h, w = self.backbone.patch_resolution
        if mask.shape[1] != h * w:
            raise ValueError(
                f'masks have {mask.shape[1]} patches but the student has '
                f'{h * w}; set BlockwiseMaskGenerator input_size to '
                f'{(h, w)}.')
        z = self.get_targets(img_tok)  # (B, N)
        if z.shape != mask.shape:
            raise ValueError(f'tokenizer grid {tuple(z.shape)} does not '
                             f'match the mask {tuple(mask.shape)}.')
        x, x_pt = self.masked_outputs(img, mask, rows)
        return self.head.loss(x, x_pt, z.flatten()[rows.mask_index])

    def masked_outputs(self, img: torch.Tensor, mask: torch.Tensor,
                       rows: Union[MaskedRows, torch.Tensor]):
        """Both branches' final-norm features of the masked patches.

        img: (B, 3, H, W); mask: (B, N); rows: :class:`MaskedRows` or the
        (M,) ``mask_index`` alone (every output computed) -> two (M, C): the
        last layer through the backbone's ``norm``, the aggregation branch
        through the same norm or, with ``neck.with_norm``, the neck's own
        (official ``cls_pt_norm``). This method is the one place either norm
        is applied. Without a neck the second output is None.
        """
        if torch.is_tensor(rows):
            rows = MaskedRows(rows)
        feats = self.encode(img, mask, rows)
        x = self.backbone.norm(rows.select(feats.last))
        if self.neck is None:
            return x, None
        norm_pt = self.backbone.norm if self.neck.norm is None \
            else self.neck.norm
        return x, norm_pt(rows.select(self.aggregate(feats, rows)))

    def forward(self,
                inputs: Union[torch.Tensor, List[torch.Tensor]],
                data_samples: Optional[list] = None,
                mode: str = 'tensor',
                mask: Optional[torch.Tensor] = None,
                mask_index: Optional[torch.Tensor] = None,
                query_index: Optional[torch.Tensor] = None):
        """mode 'loss': losses and accuracies; 'tensor': backbone outputs of
        the (unmasked) student view.

        ``mask`` (B, N), ``mask_index`` (M,) and ``query_index`` (B, 1+Q)
        come from :class:`BEiTv2DataPreprocessor` (computed on the host);
        without ``mask_index`` they are computed here from ``mask`` or the
        data samples' masks.
        """
        if mode == 'tensor':
            img = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            return self.backbone(img)
        if mode != 'loss':
            raise RuntimeError(f'BEiTv2 supports mode "loss" and "tensor", '
                               f'not {mode!r}.')
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError(
                'BEiTv2 needs two views per image [student, tokenizer]; use '
                'TwoViewRandomResizedCrop in the pipeline and '
                'BEiTv2DataPreprocessor.')
        if mask is None:
            if data_samples is None or 'mask' not in data_samples[0]:
                raise ValueError('no mask: add BlockwiseMaskGenerator to the '
                                 'pipeline.')
            mask = torch.stack([s.mask for s in data_samples]).flatten(1)
        mask = mask.bool()
        masked_only = self.last_blocks_masked_only
        if mask_index is None:  # computing it here synchronises with a GPU
            rows = MaskedRows.from_mask(mask, masked_only)
        else:
            rows = MaskedRows(mask_index, query_index if masked_only else None)
        return self.loss(inputs, mask, rows)
