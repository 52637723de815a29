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
    state = find_tokenizer(unwrap(load_file(path, map_location)))
    if is_official(state):
        state = convert_official(state)
    return OrderedDict((k, v) for k, v in state.items() if k.startswith(OURS))
