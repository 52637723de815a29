"""Build, load and freeze the VQ-KD tokenizer used as the MIM target."""
import os.path as osp
from typing import Optional, Union

import torch
import torch.nn as nn

from beit2mm.models.utils.checkpoint_formats import (file_sha256, load_file,
                                                     unwrap)
from beit2mm.registry import MODELS

# Weights get_tokens() does not use: a tokenizer checkpoint may lack them
# (e.g. an official 1-layer-decoder tokenizer loaded into a 3-layer config).
OPTIONAL_PREFIXES = ('decoder.', 'decode_task_layer.', 'teacher.')


def _state_dict_from_file(path: str) -> dict:
    state = unwrap(load_file(path))  # also strips a DDP 'module.'
    return {k[len('tokenizer.'):] if k.startswith('tokenizer.') else k: v
            for k, v in state.items()}


def tokenizer_record(path: Optional[str]) -> Optional[dict]:
    """Which tokenizer produced the MIM targets: file, sha256 and the
    teacher its VQ-KD training distilled (from the file's meta, if any);
    recorded in every pretraining checkpoint (``meta['tokenizer']``)."""
    if path is None:
        return None
    ckpt = load_file(path)
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    vqkd = meta.get('vqkd') if isinstance(meta, dict) else None
    return dict(path=osp.abspath(path), sha256=file_sha256(path),
                teacher=(vqkd or {}).get('teacher'))


def load_tokenizer(tokenizer: Union[dict, nn.Module],
                   checkpoint: Optional[str] = None,
                   seed: int = 0) -> nn.Module:
    """Build ``tokenizer`` (config or module), load ``checkpoint`` and freeze.

    Without a checkpoint the tokenizer is initialised under ``seed`` with a
    forked RNG, so every rank of a distributed run gets the same random
    tokenizer and the global RNG stream is untouched.

    A config whose class has ``from_checkpoint`` (``VQKDTokenizer``) is
    loaded with it: our training checkpoints and official unilm ones; with
    ``teacher=None`` only the encoder and quantizer are built and loaded.
    Otherwise (e.g. a module) the state dict under ``state_dict``/``model``
    is loaded; every weight ``get_tokens`` needs must be present (a clear
    error lists the missing ones), decoder and teacher weights may be
    absent.

    Returns the tokenizer in eval mode with ``requires_grad=False`` and, if
    it has ``freeze()``, in its frozen mode (quantizer without EMA,
    k-means or collectives, staying in eval even if ``train()`` is called).
    """
    loaded = False
    if isinstance(tokenizer, nn.Module):
        tok = tokenizer
    else:
        cls = MODELS.get(tokenizer['type'])
        if cls is None:
            raise KeyError(f'unknown tokenizer type {tokenizer["type"]!r}')
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if checkpoint is not None and hasattr(cls, 'from_checkpoint'):
                # VQKDTokenizer: our checkpoints and official unilm ones
                cfg = {k: v for k, v in tokenizer.items() if k != 'type'}
                tok, loaded = cls.from_checkpoint(checkpoint, **cfg), True
            else:
                tok = MODELS.build(tokenizer)
                if checkpoint is None and hasattr(tok, 'init_weights'):
                    tok.init_weights()
    if not hasattr(tok, 'get_tokens'):
        raise TypeError(f'{type(tok).__name__} has no get_tokens(images); '
                        f'the BEiT v2 tokenizer must be a VQ-KD tokenizer '
                        f'(type="beit2mm.VQKDTokenizer").')
    if checkpoint is not None and not loaded:
        state = _state_dict_from_file(checkpoint)
        missing, _ = tok.load_state_dict(state, strict=False)
        needed = [k for k in missing if not k.startswith(OPTIONAL_PREFIXES)]
        if needed:
            raise KeyError(
                f'tokenizer checkpoint {checkpoint!r} lacks {len(needed)} '
                f'weights the tokenizer needs, e.g. {needed[:5]}; is it a '
                f'VQ-KD checkpoint for this tokenizer config (official ones '
                f'need tools/convert/vqkd_official_to_beit2mm.py first)?')
    if hasattr(tok, 'freeze'):
        tok.freeze()
    tok.eval()
    tok.requires_grad_(False)
    return tok
