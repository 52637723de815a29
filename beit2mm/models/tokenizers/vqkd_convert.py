"""Reading VQ-KD checkpoints: ours (mmengine 'state_dict', any prefix) and the
official unilm ones ('model'; keys ``encoder.*``, ``encode_task_layer.*``,
``quantize.embedding.weight``, ``decoder.*``, ``decode_task_layer.*``).

Only the quantizer keys differ from ours:

    quantize.embedding.weight        -> quantize.codebook   (re-normalised)
    quantize.cluster_size            -> quantize.cluster_size
    quantize.embedding.embed_avg     -> quantize.embed_avg
    quantize.embedding.initted (1,)  -> quantize.initted    (0-dim bool, the
                                        file's value; True if absent)

Teacher keys (``teacher_model.*``, ``scaling_layer.*``) and unused official
buffers (``quantize.embedding.cluster_size``) are dropped.
"""
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from beit2mm.models.utils.checkpoint_formats import (VQKD_OFFICIAL_QUANTIZER,
                                                     find_prefix, load_file,
                                                     strip_prefix, unwrap)

ANCHOR = 'encoder.patch_embed.proj.weight'
OURS = ('encoder.', 'encode_task_layer.', 'quantize.', 'decoder.',
        'decode_task_layer.')


def find_tokenizer(state: Dict[str, torch.Tensor]
                   ) -> Dict[str, torch.Tensor]:
    """Find the tokenizer inside a bigger state dict (e.g. 'tokenizer.' or
    'module.' prefix) by the encoder's patch embedding and strip the
    prefix; keys outside it are dropped."""
    prefix = find_prefix(state, ANCHOR)
    if prefix is None:
        raise KeyError(f'no "{ANCHOR}" key: this is not a VQ-KD tokenizer '
                       f'checkpoint (first keys: {list(state)[:5]}).')
    return OrderedDict(strip_prefix(state, prefix))


def is_official(state: Dict[str, torch.Tensor]) -> bool:
    return 'quantize.embedding.weight' in state


def convert_official(
        state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Official unilm VQ-KD keys -> ours (see module docstring)."""
    out = OrderedDict()
    for k, v in state.items():
        if not k.startswith(OURS) or k.startswith('quantize.'):
            continue  # teacher_model.*, scaling_layer.*, quantizer below
        out[k] = v
    q = {dst[len('quantize.'):]: state[src]
         for src, dst in VQKD_OFFICIAL_QUANTIZER if src in state}
    codes = q['codebook'].float()
    out['quantize.codebook'] = F.normalize(codes, dim=-1)
    size = q.get('cluster_size', state.get('quantize.embedding.cluster_size'))
    out['quantize.cluster_size'] = size.float() if size is not None \
        else torch.zeros(codes.shape[0])
    avg = q.get('embed_avg')
    out['quantize.embed_avg'] = avg.float() if avg is not None \
        else codes.clone()
    # the file's own flag: an official run saved before its first batch has
    # initted 0 and must still run k-means when trained further
    initted = q.get('initted')
    out['quantize.initted'] = torch.tensor(
        True if initted is None else bool(initted.reshape(-1)[0]))
    return out


def load_vqkd_state_dict(path: str,
                         map_location='cpu') -> Dict[str, torch.Tensor]:
    """A VQ-KD checkpoint file (ours or official) -> our tokenizer keys."""
    return load_vqkd_checkpoint(path, map_location)[0]


# -- what a VQ-KD checkpoint says about itself (checkpoint['meta']['vqkd']) --
META_KEYS = ('arch', 'img_size', 'patch_size', 'num_codes', 'code_dim')


def _vit_arch(vit) -> Optional[dict]:
    if vit is None:
        return None
    mlp = vit.blocks[0].mlp.fc1.out_features / vit.embed_dims
    return dict(embed_dims=vit.embed_dims, num_layers=vit.num_layers,
                num_heads=vit.num_heads, mlp_ratio=float(mlp))


def vqkd_meta(tok) -> dict:
    """Architecture, codebook and teacher (model, tag) of a tokenizer, as
    plain data for ``checkpoint['meta']['vqkd']``."""
    teacher = tok.teacher
    return dict(
        arch=dict(encoder=_vit_arch(tok.encoder),
                  decoder=_vit_arch(tok.decoder)),
        img_size=int(tok.img_size), patch_size=int(tok.patch_size),
        num_codes=int(tok.num_codes), code_dim=int(tok.code_dim),
        decoder_out_dim=tok.decoder_out_dim,
        teacher=None if teacher is None else dict(
            type=type(teacher).__name__,
            model=getattr(teacher, 'model_name', None),
            tag=getattr(teacher, 'pretrained', None)))


def load_vqkd_checkpoint(path: str, map_location='cpu'
                         ) -> Tuple[Dict[str, torch.Tensor], Optional[dict]]:
    """(our tokenizer keys, the file's ``meta['vqkd']`` or None)."""
    ckpt = load_file(path, map_location)
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    meta = meta.get('vqkd') if isinstance(meta, dict) else None
    state = find_tokenizer(unwrap(ckpt))
    if is_official(state):
        state = convert_official(state)
    return OrderedDict((k, v) for k, v in state.items()
                       if k.startswith(OURS)), meta


def config_from_meta(cfg: dict, meta: Optional[dict]) -> dict:
    """``cfg`` with what it leaves out taken from the file's record."""
    if not meta:
        return cfg
    cfg = dict(cfg)
    for key in META_KEYS:
        cfg.setdefault(key, meta[key])
    return cfg


def check_meta(tok, meta: Optional[dict], path: str) -> None:
    """A config that restates the architecture must match the file's."""
    if not meta:
        return
    mine = vqkd_meta(tok)
    wrong = {k: (mine[k], meta[k]) for k in META_KEYS
             if k != 'arch' and mine[k] != meta[k]}
    if mine['arch']['encoder'] != meta['arch']['encoder']:
        wrong['arch.encoder'] = (mine['arch']['encoder'],
                                 meta['arch']['encoder'])
    if wrong:
        raise ValueError(
            f'the tokenizer config does not match the tokenizer in {path!r} '
            f'(config vs file): {wrong}. Fix: drop these keys from '
            f'model.tokenizer (they are read from the file) or set them to '
            f"the file's values.")
