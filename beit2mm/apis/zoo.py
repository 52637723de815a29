"""The released BEiT v2 weights (``model-index.yml`` -> ``configs/*/metafile.yml``):
look up, download, verify, convert. ``tools/download_checkpoint.py`` runs
:func:`get_checkpoint`."""
import os
import os.path as osp
import shutil
import tempfile
import urllib.request
from typing import Dict, Optional

import yaml

from beit2mm.models.utils.checkpoint_formats import file_sha256 as sha256

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def list_models(root: str = ROOT) -> Dict[str, dict]:
    """{name: metafile entry} of every model in model-index.yml."""
    with open(osp.join(root, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models = {}
    for meta in index['Import']:
        with open(osp.join(root, meta)) as f:
            for m in yaml.safe_load(f)['Models']:
                models[m['Name']] = m
    return models


def _check_structure(path: str, kind: str) -> dict:
    """Load with weights_only and check the keys of the model kind."""
    from beit2mm.compat.checkpoint import safe_load
    ckpt = safe_load(path, map_location='cpu')
    state = ckpt
    for key in ('model', 'state_dict', 'module'):
        if isinstance(ckpt, dict) and isinstance(ckpt.get(key), dict):
            state = ckpt[key]
            break
    need = {'tokenizer': 'quantize.embedding.weight',
            'pretrain': 'lm_head.weight'}.get(kind, 'patch_embed.proj.weight')
    if not any(k.endswith(need) for k in state):
        raise ValueError(f'{path} is not a {kind} checkpoint (no {need!r} '
                         f'key); the download is damaged or the wrong file.')
    return state


def get_checkpoint(name: str, out_dir: str = 'checkpoints',
                   url: Optional[str] = None, sha: Optional[str] = None,
                   root: str = ROOT) -> str:
    """Download the model ``name`` of the zoo into ``out_dir``, verify it
    (sha256 when known, else its structure), convert tokenizers to our
    layout, and return the path. ``url`` / ``sha`` override the metafile
    (mirrors, tests). A file that fails a check is removed."""
    models = list_models(root)
    if name not in models:
        raise KeyError(f'unknown model {name!r}; one of {sorted(models)}')
    entry = models[name]
    meta = entry.get('Metadata', {})
    url = url or entry['Weights']
    sha = sha or (None if str(meta.get('Hash', 'unknown')) == 'unknown'
                  else str(meta['Hash']))
    kind = meta.get('Kind', 'pretrain')
    os.makedirs(out_dir, exist_ok=True)
    dst = osp.join(out_dir, f'{name}.pth')
    fd, tmp = tempfile.mkstemp(suffix='.part', dir=out_dir)
    os.close(fd)
    try:
        with urllib.request.urlopen(url) as r, open(tmp, 'wb') as f:
            shutil.copyfileobj(r, f)
        if sha is not None and sha256(tmp) != sha:
            raise ValueError(f'{url}: sha256 {sha256(tmp)} is not the '
                             f'expected {sha}; the file was removed.')
        state = _check_structure(tmp, kind)
        if kind == 'tokenizer':
            import torch

            from beit2mm.models.tokenizers import load_vqkd_state_dict
            del state
            torch.save({'state_dict': load_vqkd_state_dict(tmp),
                        'meta': {'converted_from': url}}, tmp)
        os.replace(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return dst


def config_line(name: str, path: str, root: str = ROOT) -> str:
    """The override that uses the downloaded file."""
    kind = list_models(root)[name].get('Metadata', {}).get('Kind')
    if kind == 'tokenizer':
        return f'--cfg-options model.tokenizer_ckpt={path}'
    if kind == 'pretrain':
        return f'--cfg-options model.backbone.init_cfg.checkpoint={path}'
    return f'load_from={path}'
