"""VQ-KD: the BEiT v2 visual tokenizer (arXiv 2208.06366, Sec. 2.2).

encode -> quantize -> decode -> loss, each one callable (``quantize`` is the
quantizer module, official key ``quantize.*``; ``self.quantize(h)`` returns
z_q, ids and the commitment loss):

    h   = task_layer(LN(ViT(x))[patches])           (B, N, d)   encode
    z_q = codebook[argmax_j l2(h) . l2(v_j)]        (B, N, d)   quantize, eq. 1
    o   = task_layer(LN(ViT_dec(z_q))[patches])     (B, N, T)   decode
    L   = mean_i (1 - cos(o_i, t_i)) + ||sg[z_q] - l2(h)||^2     eq. 2

where t = teacher(x) (CLIP or DINO patch features). The codebook term of eq. 2
is replaced by the EMA update of the quantizer.
"""
import copy
import inspect
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel

from beit2mm.registry import MODELS
from ..backbones import BEiTv2ViT
from ..quantizers import NormEMAQuantizer
from ..utils import DetachedModulesMixin
from ..utils.arch import resolve_arch


def _task_layer(in_dim: int, out_dim: int) -> nn.Sequential:
    """Linear - Tanh - Linear (official keys ``*_task_layer.{0,2}``),
    truncated-normal (std 0.02) weights and zero biases as officially."""
    layer = nn.Sequential(nn.Linear(in_dim, in_dim), nn.Tanh(),
                          nn.Linear(in_dim, out_dim))
    for m in (layer[0], layer[2]):
        nn.init.trunc_normal_(m.weight, std=.02)
        nn.init.zeros_(m.bias)
    return layer


@MODELS.register_module()
class VQKDTokenizer(DetachedModulesMixin, BaseModel):
    """VQ-KD visual tokenizer, trainable with mmengine's Runner.

    Args:
        arch: a key of ``arch_zoo`` or dict(encoder=..., decoder=...), each a
            :class:`BEiTv2ViT` arch (name or dict).
        img_size / patch_size: input size and encoder patch size (grid =
            img_size / patch_size).
        num_codes / code_dim: codebook size K and code dim d (8192 x 32).
        teacher: teacher cfg (``CLIPTeacher``/``DINOTeacher``), module, or
            None (tokenize only / load a checkpoint). It is kept out of
            ``parameters()`` and ``state_dict()``.
        decoder_out_dim: T. Derived from the teacher when one is given; with
            no teacher and None, no decoder is built (``get_tokens`` only).
        frozen: build frozen (see :meth:`freeze`).
        data_preprocessor: default scales 0..255 RGB to [-1, 1].
        **quantizer_cfg: the other arguments of :class:`NormEMAQuantizer`
            (``decay``, ``commitment_weight``, ``kmeans_init``,
            ``kmeans_iters``, ``dead_code_threshold``; its defaults are the
            paper's).
    """
    arch_zoo = {
        'tiny': dict(encoder=dict(embed_dims=192, num_layers=12, num_heads=3),
                     decoder=dict(embed_dims=192, num_layers=3, num_heads=3)),
        'small': dict(encoder=dict(embed_dims=384, num_layers=12, num_heads=6),
                      decoder=dict(embed_dims=384, num_layers=3, num_heads=6)),
        # The released tokenizer: vqkd_encoder_base_decoder_3x768x12.
        'base': dict(encoder=dict(embed_dims=768, num_layers=12, num_heads=12),
                     decoder=dict(embed_dims=768, num_layers=3, num_heads=12)),
        'large': dict(
            encoder=dict(embed_dims=1024, num_layers=24, num_heads=16),
            decoder=dict(embed_dims=1024, num_layers=3, num_heads=16)),
    }

    def __init__(self,
                 arch: Union[str, dict] = 'base',
                 img_size: int = 224,
                 patch_size: int = 16,
                 num_codes: int = 8192,
                 code_dim: int = 32,
                 teacher: Union[dict, nn.Module, None] = None,
                 decoder_out_dim: Optional[int] = None,
                 frozen: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **quantizer_cfg):
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='mmpretrain.ClsDataPreprocessor', mean=[127.5] * 3,
                std=[127.5] * 3, to_rgb=True)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        arch = resolve_arch(arch, self.arch_zoo, 'VQKDTokenizer',
                            required=('encoder', 'decoder'))
        if set(arch) != {'encoder', 'decoder'}:
            raise ValueError('VQKDTokenizer arch dict needs exactly the keys '
                             f'encoder and decoder, got {arch!r}.')
        self.img_size = img_size
        self.patch_size = patch_size
        self.num_codes = num_codes
        self.code_dim = code_dim
        # the official encoder and decoder are modeling_finetune's ViT
        vit = dict(use_abs_pos_emb=True, use_shared_rel_pos_bias=False,
                   layer_scale_init_value=0., final_norm=False,
                   weight_init='vit')
        self.encoder = BEiTv2ViT(arch=copy.deepcopy(arch['encoder']),
                                 img_size=img_size, patch_size=patch_size,
                                 **vit)
        self.grid = self.encoder.patch_resolution
        # LayerNorm on the patch tokens (official ``encoder.fc_norm``).
        self.encoder.fc_norm = nn.LayerNorm(self.encoder.embed_dims, eps=1e-6)
        self.encode_task_layer = _task_layer(self.encoder.embed_dims, code_dim)
        unknown = (set(quantizer_cfg)
                   - set(inspect.signature(NormEMAQuantizer).parameters))
        if unknown:
            raise TypeError(
                f'VQKDTokenizer got unknown arguments {sorted(unknown)}; it '
                f'takes its own and those of NormEMAQuantizer.')
        self.quantize = NormEMAQuantizer(num_codes, code_dim, **quantizer_cfg)

        if isinstance(teacher, dict):
            try:
                teacher = MODELS.build(teacher)
            except KeyError as err:
                if 'is not in the' not in str(err):  # not a registry miss
                    raise
                raise KeyError(
                    f'unknown teacher type {teacher.get("type")!r}; set '
                    f'model.teacher.type to beit2mm.CLIPTeacher (the '
                    f'paper\'s CLIP ViT-B/16, T=512) or beit2mm.DINOTeacher '
                    f'(DINO ViT-B/16, T=768), or register your own teacher '
                    f'in beit2mm.registry.MODELS.') from None
        self.set_detached('teacher', teacher)
        if teacher is not None:
            size = getattr(teacher, 'input_size', None)
            if size is not None and tuple(size) != self.encoder.img_size:
                raise ValueError(
                    f'the teacher takes {tuple(size)} images but the '
                    f'tokenizer {self.encoder.img_size}; build the teacher '
                    f'with img_size={img_size} (teachers see the same input '
                    f'as the tokenizer).')
            if decoder_out_dim not in (None, teacher.embed_dim):
                raise ValueError(
                    f'decoder_out_dim={decoder_out_dim} but the teacher gives '
                    f'{teacher.embed_dim}-d targets; drop decoder_out_dim '
                    f'(it is derived from the teacher).')
            decoder_out_dim = teacher.embed_dim
        self.decoder_out_dim = decoder_out_dim
        if decoder_out_dim:
            self.decoder = BEiTv2ViT(arch=copy.deepcopy(arch['decoder']),
                                     img_size=self.grid, patch_size=1,
                                     in_channels=code_dim, **vit)
            self.decoder.fc_norm = nn.LayerNorm(self.decoder.embed_dims,
                                                eps=1e-6)
            self.decode_task_layer = _task_layer(self.decoder.embed_dims,
                                                 decoder_out_dim)
        else:
            self.decoder = self.decode_task_layer = None
        self.frozen = False
        if frozen:
            self.freeze()

    # ------------------------------------------------------------ plumbing
    @property
    def teacher(self) -> Optional[nn.Module]:
        """The frozen teacher (not a registered submodule)."""
        return self.get_detached('teacher')

    def freeze(self) -> 'VQKDTokenizer':
        """Eval mode, no gradients, quantizer frozen (no EMA, k-means or
        collectives) -- permanently: later ``train()`` calls keep it in eval.
        For use as the pretraining target."""
        self.frozen = True
        self.quantize.freeze()
        self.requires_grad_(False)
        return self.train(False)

    def train(self, mode: bool = True) -> 'VQKDTokenizer':
        return super().train(mode and not self.frozen)

    # ------------------------------------------------------------ stages
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> pre-quantization features h.

        x: (B, 3, H, W) -> (B, N, d).

        Under autocast the patch embedding and the task layer run in fp32,
        the blocks in the autocast dtype: the bf16 patch projection is what
        flips most token ids (a trained tiny tokenizer: 99.77% of ids agree
        with fp32 with it in bf16, 99.98% with it in fp32, at no measurable
        cost; see docs/faults.md, mixed precision).
        """
        enc = self.encoder
        with torch.autocast(device_type=x.device.type, enabled=False):
            tokens = enc.embed(x.float())  # (B, 1+N, D)
        bias = enc.shared_rel_pos_bias()
        for blk in enc.blocks:
            tokens = enc.run_block(blk, tokens, bias)
        tokens = enc.fc_norm(tokens[:, 1:])
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.encode_task_layer(tokens.float())

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """Codes -> reconstructed teacher features o.

        z_q: (B, N, d) -> (B, N, T).
        """
        if self.decoder is None:
            raise RuntimeError(
                'this VQKDTokenizer has no decoder (built with teacher=None '
                'and decoder_out_dim=None); pass a teacher or '
                'decoder_out_dim.')
        B, N, d = z_q.shape
        grid = z_q.transpose(1, 2).reshape(B, d, *self.grid)
        tokens = self.decoder.forward_features(grid).last
        return self.decode_task_layer(self.decoder.fc_norm(tokens[:, 1:]))

    @staticmethod
    def rec_cosine(rec: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """cos(o_i, t_i) per token in fp32. (B, N, T) x2 -> (B, N)."""
        return F.cosine_similarity(rec.float(), target.float(), dim=-1)

    def targets(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher features t on our grid. x: (B, 3, H, W) -> (B, N, T)."""
        if self.teacher is None:
            raise RuntimeError('no teacher: build VQKDTokenizer with '
                               'teacher=dict(type="beit2mm.CLIPTeacher") or '
                               'DINOTeacher to train or evaluate it.')
        return self.teacher(x, self.grid)

    def loss(self, inputs: torch.Tensor,
             data_samples: Optional[list] = None) -> Dict[str, torch.Tensor]:
        """Eq. 2. inputs: (B, 3, H, W) in [-1, 1] -> dict(loss_rec,
        loss_commit)."""
        target = self.targets(inputs)
        z_q, _, loss_commit = self.quantize(self.encode(inputs))
        rec = self.decode(z_q)
        loss_rec = (1 - self.rec_cosine(rec, target)).mean()
        return dict(loss_rec=loss_rec, loss_commit=loss_commit)

    def get_tokens(self, images: torch.Tensor,
                   fast: bool = True) -> torch.Tensor:
        """Token ids of images in [-1, 1]: (B, 3, H, W) -> (B, H/p, W/p).

        Fast path (``fast=True`` and a quantizer that does not update: frozen
        or eval): the encoder under ``torch.inference_mode`` and the
        quantizer's id lookup only (:meth:`NormEMAQuantizer.ids`). Plain path:
        the full quantizer forward under ``no_grad`` (in training it also
        updates the codebook, as before). Both give the same ids.
        """
        q = self.quantize
        if not fast or (q.training and not q.frozen):
            with torch.no_grad():
                ids = q(self.encode(images)).ids
        else:
            # inference tensors cannot pass through torch.compile'd code
            mode = torch.no_grad if torch.compiler.is_compiling() \
                else torch.inference_mode
            with mode():
                ids = q.ids(self.encode(images))
            ids = ids.clone()  # a normal tensor, usable as a loss target
        return ids.view(images.shape[0], *self.grid)

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[list] = None) -> List:
        """Per image: ``tokens`` (h, w) and, with a teacher, ``rec_cos``
        (mean cosine of the reconstruction)."""
        from mmpretrain.structures import DataSample
        z_q, ids, _ = self.quantize(self.encode(inputs))
        cos = None
        if self.teacher is not None and self.decoder is not None:
            cos = self.rec_cosine(self.decode(z_q),
                                  self.targets(inputs)).mean(1)
        if data_samples is None:
            data_samples = [DataSample() for _ in range(inputs.shape[0])]
        for i, sample in enumerate(data_samples):
            sample.set_field(ids[i].view(*self.grid).detach(), 'tokens',
                             field_type='data')
            if cos is not None:
                sample.set_field(cos[i].detach(), 'rec_cos',
                                 field_type='metainfo')
        return data_samples

    def forward(self, inputs: torch.Tensor, data_samples=None,
                mode: str = 'tensor'):
        """mmengine entry: 'loss' -> losses, 'predict' -> data samples,
        'tensor' -> token ids (B, h, w)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.get_tokens(inputs)
        raise ValueError(f'Invalid mode {mode!r}; use loss/predict/tensor.')

    # ------------------------------------------------------------ loading
    @classmethod
    def from_checkpoint(cls, path: str, map_location='cpu',
                        **cfg) -> 'VQKDTokenizer':
        """Build from ``cfg`` and load one of our checkpoints or an official
        unilm one (keys under 'state_dict' or 'model', any prefix such as
        'tokenizer.'; teacher keys ignored). With no teacher and no
        ``decoder_out_dim`` only the encoder and quantizer are loaded."""
        from .vqkd_convert import (check_meta, config_from_meta,
                                   load_vqkd_checkpoint)
        cfg.pop('type', None)
        state, meta = load_vqkd_checkpoint(path, map_location)
        # architecture / codebook the config leaves out: from the file
        cfg = config_from_meta(cfg, meta)
        codes = state.get('quantize.codebook')
        params = inspect.signature(cls).parameters
        want = tuple(cfg.get(k, params[k].default)
                     for k in ('num_codes', 'code_dim'))
        if codes is not None and tuple(codes.shape) != want:
            k, d = codes.shape
            raise ValueError(
                f'tokenizer checkpoint {path!r} has a {k} x {d} codebook but '
                f'the tokenizer config asks for {want[0]} x {want[1]}; set '
                f'model.tokenizer.num_codes={k} and code_dim={d} (and the '
                f'MIM head\'s model.head.num_codes={k}), or use the '
                f'checkpoint trained with this config.')
        if cfg.get('teacher') is None and cfg.get('decoder_out_dim') is None:
            state = {k: v for k, v in state.items()
                     if not k.startswith(('decoder.', 'decode_task_layer.'))}
        model = cls(**cfg)
        check_meta(model, meta, path)
        model.load_state_dict(state, strict=True)
        return model

    def no_weight_decay(self) -> set:
        """Exempt from weight decay besides 1-D parameters and biases: the
        official VQ-KD list (its codebook is a buffer here, never decayed)."""
        return {f'{part}.{name}' for part in ('encoder', 'decoder')
                for name in ('cls_token', 'pos_embed')}

    def checkpoint_meta(self) -> dict:
        """What our training checkpoints record (``meta['vqkd']``, written
        by ``SafeCheckpointHook``): architecture, codebook, teacher."""
        from .vqkd_convert import vqkd_meta
        return dict(vqkd=vqkd_meta(self))
