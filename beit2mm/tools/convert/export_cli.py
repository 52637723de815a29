"""What the exporters of a beit2mm / official BEiT v2 checkpoint share
(``beit2mm_to_{mmpretrain,timm,mmseg}``): reading the backbone, writing the
converted file and the command line."""
import argparse
from typing import Callable, Dict, Optional, Tuple

import torch

from beit2mm.models.utils.checkpoint_formats import (backbone_state,
                                                     load_file, patch_grid)


def read_backbone(src: str, img_size: Optional[int] = None,
                  with_head: bool = False
                  ) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor],
                             Optional[Tuple[int, int]]]:
    """``(state, head, window)`` of the checkpoint file ``src``: the backbone
    weights in the official key names, the classifier head (``weight`` /
    ``bias``; empty unless ``with_head``) and the patch grid the bias tables
    are resized to for ``img_size`` (None: keep the checkpoint's)."""
    state, head = backbone_state(load_file(src), with_head=with_head)
    window = patch_grid(state, img_size) if img_size else None
    return state, head, window


def export(src: str, dst: str,
           build: Callable[[Dict[str, torch.Tensor], Dict[str, torch.Tensor],
                            Optional[Tuple[int, int]]], dict],
           img_size: Optional[int] = None, with_head: bool = False) -> dict:
    """Read ``src`` with :func:`read_backbone`, turn ``(state, head,
    window)`` into the target format with ``build`` and ``torch.save`` the
    result at ``dst``; returns it."""
    out = build(*read_backbone(src, img_size, with_head))
    torch.save(out, dst)
    return out


def export_parser(doc: str, dst_help: str, img_size: Optional[int] = None,
                  img_size_help: str = 'resize the bias tables for this '
                  'input size (e.g. 384); default: keep the checkpoint grid',
                  with_head: bool = True) -> argparse.ArgumentParser:
    """``SRC DST [--img-size N] [--with-head]``, described by the first line
    of the exporter's docstring ``doc``."""
    parser = argparse.ArgumentParser(description=doc.split('\n')[0])
    parser.add_argument('src', help='beit2mm or official BEiT v2 checkpoint')
    parser.add_argument('dst', help=dst_help)
    parser.add_argument('--img-size', type=int, default=img_size,
                        help=img_size_help)
    if with_head:
        parser.add_argument('--with-head', action='store_true',
                            help='also export the classifier head of a '
                            'fine-tuned checkpoint')
    return parser
