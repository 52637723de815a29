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
from typing import Dict

import torch
import torch.nn.functional as F

from beit2mm.compat.checkpoint import safe_load

ANCHOR = 'encoder.patch_embed.proj.weight'
OURS = ('encoder.', 'encode_task_layer.', 'quantize.', 'decoder.',
        'decode_task_layer.')


def _unwrap(ckpt) -> Dict[str, torch.Tensor]:
    for key in ('state_dict', 'model', 'module'):
        if isinstance(ckpt, dict) and key in ckpt and isinstance(ckpt[key],
                                                                  dict):
            return ckpt[key]
    return ckpt


def strip_prefix(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Find the tokenizer inside a bigger state dict (e.g. 'tokenizer.' or
    'module.' prefix) by the encoder's patch embedding and strip the
    prefix; keys outside it are dropped."""
    anchors = [k for k in state if k.endswith(ANCHOR)]
    if not anchors:
        raise KeyError(f'no "{ANCHOR}" key: this is not a VQ-KD tokenizer '
                       f'checkpoint (first keys: {list(state)[:5]}).')
    prefix = min(anchors, key=len)[:-len(ANCHOR)]
    return OrderedDict((k[len(prefix):], v) for k, v in state.items()
                       if k.startswith(prefix))


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
    q = 'quantize.'
    codes = state[q + 'embedding.weight'].float()
    out[q + 'codebook'] = F.normalize(codes, dim=-1)
    size = state.get(q + 'cluster_size',
                     state.get(q + 'embedding.cluster_size'))
    out[q + 'cluster_size'] = size.float() if size is not None \
        else torch.zeros(codes.shape[0])
    avg = state.get(q + 'embedding.embed_avg')
    out[q + 'embed_avg'] = avg.float() if avg is not None else codes.clone()
    # the file's own flag: an official run saved before its first batch has
    # initted 0 and must still run k-means when trained further
    initted = state.get(q + 'embedding.initted', state.get(q + 'initted'))
    out[q + 'initted'] = torch.tensor(
        True if initted is None else bool(initted.reshape(-1)[0]))
    return out


def load_vqkd_state_dict(path: str,
                         map_location='cpu') -> Dict[str, torch.Tensor]:
    """A VQ-KD checkpoint file (ours or official) -> our tokenizer keys."""
    ckpt = safe_load(path, map_location)  # weights_only, official args ok
    state = strip_prefix(_unwrap(ckpt))
    if is_official(state):
        state = convert_official(state)
    return OrderedDict((k, v) for k, v in state.items() if k.startswith(OURS))
