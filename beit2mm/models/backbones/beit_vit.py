"""The BEiT v2 Vision Transformer: one backbone for the tokenizer's encoder and
decoder, the pretraining student, fine-tuning and segmentation."""
import math
from typing import Dict, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmengine.model import BaseModule

from beit2mm.registry import MODELS
from ..utils import RelativePositionBias, TransformerBlock, trunc_normal_
from ..utils.arch import resolve_arch
from ..utils.query_rows import MaskedRows
from .frozen_stages import FrozenStagesMixin
from .rel_pos_loading import adapt_rel_pos_bias


class BackboneOutput(NamedTuple):
    """What :meth:`BEiTv2ViT.forward_features` hands to necks and heads.

    Attributes:
        last: output of the last block, before the final norm, (B, 1+N, C)
            (or (B, Q, C): the rows of ``forward_features``'s ``rows``).
        hidden: the outputs of the blocks asked for in ``return_layers``
            (1-based block numbers, as in the paper's "layer 9"), each
            (B, 1+N, C) and before any norm.
        rel_pos_bias: the shared relative position bias (H, 1+N, 1+N), or None.
    """
    last: torch.Tensor
    hidden: Dict[int, torch.Tensor]
    rel_pos_bias: Optional[torch.Tensor]


@MODELS.register_module()
class BEiTv2ViT(FrozenStagesMixin, BaseModule):
    """Vision Transformer with BEiT's options.

    Sizes come from ``arch_zoo`` (or a dict with the same keys).

    Args:
        arch: 'tiny', 'small', 'base', 'large', 'huge' or a dict with
            ``embed_dims``, ``num_layers``, ``num_heads``, ``mlp_ratio`` (and
            optionally ``layer_scale_init_value``).
        img_size: input size (int or (H, W)); fixes the patch grid.
        patch_size: patch size (16; 1 for the tokenizer's decoder).
        in_channels: input channels (3; 32 for the tokenizer's decoder).
        drop_rate / attn_drop_rate: dropout rates.
        drop_path_rate: stochastic depth, linearly increasing over blocks.
        layer_scale_init_value: None for the arch default (0.1 up to base,
            1e-5 for large); 0 disables layer scale.
        use_abs_pos_emb: learnable absolute position embedding (tokenizer).
        use_shared_rel_pos_bias: one relative position bias shared by all
            blocks (BEiT v2 pretraining).
        use_rel_pos_bias: one relative position bias per block (fine-tuning,
            segmentation; initialised from the shared one by the converters).
        with_mask_token: learn a [MASK] embedding; ``forward(x, mask)`` then
            replaces masked patches: ``x * (1 - w) + mask_token * w``.
        out_indices: block indices (0-based, negative allowed) whose outputs
            ``forward`` returns.
        out_type: 'raw' (B, 1+N, C), 'cls_token' (B, C), 'featmap'
            (B, C, h, w) or 'avg_featmap' (B, C; mean of patch tokens followed
            by ``fc_norm``, the fine-tuning head input).
        final_norm: apply ``norm`` to the last block's output in ``forward``.
        fused_attn: SDPA attention (False: plain softmax path).
        with_cp: activation checkpointing of every block while training.
        frozen_stages: freeze (no grad, eval mode) the embeddings and the
            first ``frozen_stages`` blocks; ``num_layers`` also freezes the
            final ``norm`` / ``fc_norm`` (linear probing). -1: nothing.
        weight_init: 'pretrain' (the MIM student) or 'vit' (the VQ-KD
            encoder and decoder); see :meth:`init_weights`.

    Loading a state dict (any ``prefix``) adapts the relative position
    bias: shared -> per-block copies, official names renamed, tables of
    another grid resized (:func:`.rel_pos_loading.adapt_rel_pos_bias`).
    """
    arch_zoo = {
        'tiny': dict(embed_dims=192, num_layers=12, num_heads=3,
                     mlp_ratio=4., layer_scale_init_value=0.1),
        'small': dict(embed_dims=384, num_layers=12, num_heads=6,
                      mlp_ratio=4., layer_scale_init_value=0.1),
        'base': dict(embed_dims=768, num_layers=12, num_heads=12,
                     mlp_ratio=4., layer_scale_init_value=0.1),
        'large': dict(embed_dims=1024, num_layers=24, num_heads=16,
                      mlp_ratio=4., layer_scale_init_value=1e-5),
        # official beit_huge_patch14_224_8k_vocab (use with patch_size=14);
        # layer scale as large (no official BEiT v2 huge recipe)
        'huge': dict(embed_dims=1280, num_layers=32, num_heads=16,
                     mlp_ratio=4., layer_scale_init_value=1e-5),
    }
    OUT_TYPES = ('raw', 'cls_token', 'featmap', 'avg_featmap')
    WEIGHT_INITS = ('pretrain', 'vit')

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: Union[int, Tuple[int, int]] = 224,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 layer_scale_init_value: Optional[float] = None,
                 use_abs_pos_emb: bool = False,
                 use_shared_rel_pos_bias: bool = True,
                 use_rel_pos_bias: bool = False,
                 with_mask_token: bool = False,
                 out_indices: Union[int, Sequence[int]] = -1,
                 out_type: str = 'raw',
                 final_norm: bool = True,
                 fused_attn: bool = True,
                 with_cp: bool = False,
                 frozen_stages: int = -1,
                 weight_init: str = 'pretrain',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if weight_init not in self.WEIGHT_INITS:
            raise ValueError(f'weight_init {weight_init!r} not in '
                             f'{self.WEIGHT_INITS}')
        self.weight_init = weight_init
        arch = resolve_arch(arch, self.arch_zoo, 'BEiTv2ViT',
                            required=('embed_dims', 'num_layers', 'num_heads'))
        self.embed_dims = arch['embed_dims']
        self.num_layers = arch['num_layers']
        self.num_heads = arch['num_heads']
        mlp_ratio = arch.get('mlp_ratio', 4.)
        if layer_scale_init_value is None:
            layer_scale_init_value = arch.get('layer_scale_init_value', 0.)
        self.img_size = (img_size, img_size) if isinstance(img_size, int) \
            else tuple(img_size)
        if self.img_size[0] % patch_size or self.img_size[1] % patch_size:
            raise ValueError(
                f'img_size {self.img_size} is not divisible by patch_size '
                f'{patch_size}; use a size that is a multiple of it (e.g. '
                f'{patch_size * (self.img_size[0] // patch_size)}).')
        self.patch_size = patch_size
        self.patch_resolution = (self.img_size[0] // patch_size,
                                 self.img_size[1] // patch_size)
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        if out_type not in self.OUT_TYPES:
            raise ValueError(f'out_type {out_type!r} not in {self.OUT_TYPES}')
        self.out_type = out_type
        self.with_cp = with_cp

        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(
            in_channels, self.embed_dims, kernel_size=patch_size,
            stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        self.mask_token = nn.Parameter(torch.zeros(
            1, 1, self.embed_dims)) if with_mask_token else None
        self.pos_embed = nn.Parameter(torch.zeros(
            1, num_patches + 1, self.embed_dims)) if use_abs_pos_emb else None
        self.pos_drop = nn.Dropout(drop_rate)
        self.rel_pos_bias = RelativePositionBias(
            self.patch_resolution,
            self.num_heads) if use_shared_rel_pos_bias else None

        dpr = torch.linspace(0, drop_path_rate, self.num_layers,
                             device='cpu').tolist()  # also under meta
        self.drop_path_rates = dpr
        self.layer_scale_init_value = layer_scale_init_value
        self.blocks = nn.ModuleList([
            TransformerBlock(
                self.embed_dims, self.num_heads, mlp_ratio, qkv_bias=True,
                drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                drop_path=dpr[i],
                layer_scale_init_value=layer_scale_init_value,
                fused_attn=fused_attn,
                window_size=self.patch_resolution if use_rel_pos_bias else None)
            for i in range(self.num_layers)
        ])

        if isinstance(out_indices, int):
            out_indices = [out_indices]
        self.out_indices = []
        for i in out_indices:
            j = i + self.num_layers if i < 0 else i
            if not 0 <= j < self.num_layers:
                raise ValueError(f'out index {i} is out of range for a '
                                 f'{self.num_layers}-layer backbone')
            self.out_indices.append(j)
        self.final_norm = final_norm
        self.norm = nn.LayerNorm(self.embed_dims, eps=1e-6) \
            if final_norm and out_type != 'avg_featmap' else None
        self.fc_norm = nn.LayerNorm(self.embed_dims, eps=1e-6) \
            if out_type == 'avg_featmap' else None

        if not -1 <= frozen_stages <= self.num_layers:
            raise ValueError(
                f'frozen_stages={frozen_stages} is out of range; use -1 '
                f'(train everything) up to num_layers={self.num_layers} '
                f'(freeze the whole backbone, as for linear probing).')
        self.frozen_stages = frozen_stages
        self._freeze_stages()
        self._register_load_state_dict_pre_hook(self._adapt_rel_pos_bias)

    # ------------------------------------------------------------ init
    def init_weights(self):
        """The official initialisations (std 0.02 throughout; LayerNorm 1/0;
        zero Linear biases; each block's output projections ``attn.proj``
        and ``mlp.fc2`` then divided by sqrt(2 * layer_id)):

        - 'pretrain' (``modeling_pretrain.py``, the MIM student): tokens,
          Linear and Conv2d weights from a normal truncated at one std
          (+-0.02, an actual std of ~0.0108), Conv2d biases zero.
        - 'vit' (``modeling_finetune.py``, the VQ-KD encoder and decoder):
          tokens and Linear weights from timm's ``trunc_normal_(std=.02)``,
          whose cut-offs are absolute (+-2), i.e. a plain normal of std 0.02;
          the Conv2d patch embedding keeps PyTorch's default init.
        """
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            # random init first (tensors the file may lack, e.g. fc_norm),
            # then any checkpoint layout, loudly (pretrained_loading.py)
            from .pretrained_loading import load_pretrained_backbone
            if not cfg.get('checkpoint'):
                raise ValueError('init_cfg type Pretrained needs '
                                 '`checkpoint`.')
            self.init_cfg = None
            try:
                self.init_weights()
            finally:
                self.init_cfg = cfg
            load_pretrained_backbone(self, cfg['checkpoint'],
                                     cfg.get('prefix'))
            self._is_init = True
            return
        std = .02
        cut = (-std, std) if self.weight_init == 'pretrain' else (-2., 2.)

        def trunc_(t):
            trunc_normal_(t, std=std, a=cut[0], b=cut[1])

        for t in (self.cls_token, self.mask_token, self.pos_embed):
            if t is not None:
                trunc_(t)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and self.weight_init == 'vit':
                m.reset_parameters()
            elif isinstance(m, (nn.Linear, nn.Conv2d)):
                trunc_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for layer_id, blk in enumerate(self.blocks, start=1):
            blk.attn.proj.weight.data.div_(math.sqrt(2.0 * layer_id))
            blk.mlp.fc2.weight.data.div_(math.sqrt(2.0 * layer_id))
        self._is_init = True

    # ------------------------------------------------------------ stages
    def embed(self,
              x: torch.Tensor,
              mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Patchify, replace masked patches by [MASK], prepend [CLS].

        x: (B, C_in, H, W); mask: (B, N) bool/0-1 or (B, h, w) -> (B, 1+N, C).
        """
        if x.shape[-2:] != self.img_size:
            raise ValueError(
                f'input size {tuple(x.shape[-2:])} does not match the '
                f'backbone img_size {self.img_size}; resize the input or build '
                f'the backbone with img_size={tuple(x.shape[-2:])}.')
        # residual stream in the parameters' dtype (fp32 under AMP), as the
        # official fp32 [CLS] concatenation promotes it
        dtype = self.cls_token.dtype
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2).to(dtype)
        B, N, _ = x.shape  # (B, N, C)
        if mask is not None:
            if self.mask_token is None:
                raise ValueError('a mask was given but the backbone has no '
                                 'mask token; build it with '
                                 'with_mask_token=True.')
            w = mask.reshape(B, N, 1).to(dtype)
            x = x * (1 - w) + self.mask_token * w
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], 1)
        if self.pos_embed is not None:
            x = x + self.pos_embed
        return self.pos_drop(x)

    def shared_rel_pos_bias(self) -> Optional[torch.Tensor]:
        """The shared relative position bias (H, 1+N, 1+N) or None."""
        return self.rel_pos_bias() if self.rel_pos_bias is not None else None

    def run_block(self, blk, x: torch.Tensor,
                  bias: Optional[torch.Tensor]) -> torch.Tensor:
        """One block (a callable ``(x, bias)``), with activation
        checkpointing if ``with_cp``."""
        if self.with_cp and self.training and x.requires_grad:
            return cp.checkpoint(blk, x, bias, use_reentrant=False)
        return blk(x, bias)

    def forward_features(self,
                         x: torch.Tensor,
                         mask: Optional[torch.Tensor] = None,
                         return_layers: Sequence[int] = (),
                         rows: Optional[MaskedRows] = None) -> BackboneOutput:
        """Run all blocks; return the last output, the requested hidden
        outputs (1-based block numbers) and the shared bias.

        x: (B, C_in, H, W); mask: (B, N) -> BackboneOutput. With ``rows``
        whose ``query_index`` (B, Q) is set, the last block computes only
        those rows, so ``last`` is (B, Q, C) (:mod:`..utils.query_rows`).
        """
        for layer in return_layers:
            if not 1 <= layer <= self.num_layers:
                raise ValueError(
                    f'layer {layer} asked for, but the backbone has '
                    f'{self.num_layers} blocks (valid: 1..{self.num_layers}).')
        x = self.embed(x, mask)
        bias = self.shared_rel_pos_bias()
        blocks = self.blocks if rows is None else \
            rows.last_block_rows_only(self.blocks)
        hidden = {}
        for i, blk in enumerate(blocks, start=1):
            x = self.run_block(blk, x, bias)
            if i in return_layers:
                hidden[i] = x
        return BackboneOutput(x, hidden, bias)

    def format_output(self, x: torch.Tensor, is_last: bool) -> torch.Tensor:
        """Turn block tokens (B, 1+N, C) into the configured ``out_type``."""
        if self.out_type == 'avg_featmap':
            return self.fc_norm(x[:, 1:].mean(1))
        if is_last and self.norm is not None:
            x = self.norm(x)
        if self.out_type == 'raw':
            return x
        if self.out_type == 'cls_token':
            return x[:, 0]
        h, w = self.patch_resolution
        return x[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, h, w)

    def forward(self,
                x: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor]:
        """OpenMMLab backbone interface: a tuple with one output per
        ``out_indices`` entry, each formatted by ``out_type``."""
        x = self.embed(x, mask)
        bias = self.shared_rel_pos_bias()
        outs = []
        last = self.num_layers - 1
        for i, blk in enumerate(self.blocks):
            x = self.run_block(blk, x, bias)
            if i in self.out_indices:
                outs.append(self.format_output(x, i == last))
            if i >= max(self.out_indices):
                break
        return tuple(outs)

    # ------------------------------------------------------------ loading
    def _adapt_rel_pos_bias(self, state_dict, prefix, *args, **kwargs):
        """Load-state-dict pre-hook; see :func:`adapt_rel_pos_bias`."""
        adapt_rel_pos_bias(self, state_dict, prefix)

    # ------------------------------------------------------------ hooks
    def get_layer_id(self, param_name: str, prefix: str = '') -> int:
        """Layer id for layer-wise lr decay: 0 embeddings and shared bias,
        i+1 block i, num_layers+1 after the blocks. ``prefix`` (e.g.
        'backbone.') is stripped from ``param_name`` first."""
        if prefix:
            if not param_name.startswith(prefix):
                return self.num_layers + 1
            param_name = param_name[len(prefix):]
        if param_name.startswith(('cls_token', 'mask_token', 'pos_embed',
                                  'patch_embed', 'rel_pos_bias')):
            return 0
        if param_name.startswith('blocks.'):
            return int(param_name.split('.')[1]) + 1
        return self.num_layers + 1

    def no_weight_decay(self) -> set:
        """Exempt from weight decay besides 1-D parameters and biases, as the
        official ``no_weight_decay()`` (the bias tables and [MASK] decay)."""
        return {'pos_embed', 'cls_token'}
