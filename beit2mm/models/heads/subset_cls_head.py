"""Classifier head restricted to a subset of ImageNet-1k classes, for the
200-class robustness benchmarks ImageNet-A and ImageNet-R (paper Table 3).

A model fine-tuned on ImageNet-1k keeps its 1000-way layer (so the
fine-tuned checkpoint loads unchanged); the head returns only the columns
of the subset's classes, in ImageNet-1k order. The official evaluation
(``run_class_finetuning.py --robust_test``) does the same by keeping those
rows of the fine-tuned ``head.weight`` / ``head.bias``.

The class lists are not copied into this project: they are read from the
files timm ships (``timm/data/_info/imagenet_{a,r}_indices.txt``, the same
lists as the official ``imagenet_a_r_indices.py``) or from the dataset's
own folder names (one WordNet-id folder per class, the public layout),
mapped to ImageNet-1k indices through timm's ``imagenet_synsets.txt`` (the
sorted 1k wnids, the ImageNet-1k class order).
"""
import os
import os.path as osp
import pkgutil
from typing import List, Sequence, Union

import torch
from mmpretrain.models.heads import LinearClsHead

from beit2mm.registry import MODELS

SUBSETS = ('imagenet-a', 'imagenet-r')


def _timm_list(name: str) -> List[str]:
    data = pkgutil.get_data('timm.data', osp.join('_info', name))
    if data is None:
        raise FileNotFoundError(
            f'timm does not ship _info/{name}; install timm >= 0.9 '
            f'(requirements.txt) or give class_indices as a list or as the '
            f'dataset folder (wnid sub-folders).')
    return data.decode('utf-8').split()


def imagenet_wnids() -> List[str]:
    """The 1000 ImageNet-1k WordNet ids in class-index order."""
    wnids = _timm_list('imagenet_synsets.txt')
    if len(wnids) != 1000:
        raise ValueError(f'timm imagenet_synsets.txt has {len(wnids)} '
                         f'entries, expected 1000.')
    return wnids


def subset_indices(source: Union[str, Sequence[int]]) -> List[int]:
    """ImageNet-1k indices of a class subset, ascending.

    Args:
        source: 'imagenet-a' / 'imagenet-r' (timm's lists); a folder whose
            sub-folders are wnids (e.g. ``data/imagenet-r``: the classes
            ImageFolder / CustomDataset will label 0..n-1 in sorted order);
            or a list of indices.
    """
    if isinstance(source, str) and source.lower() in SUBSETS:
        tag = source.lower()[-1]
        idx = [int(i) for i in _timm_list(f'imagenet_{tag}_indices.txt')]
    elif isinstance(source, str):
        if not osp.isdir(source):
            raise FileNotFoundError(
                f'class_indices={source!r} is neither one of {SUBSETS} nor a '
                f'folder of wnid sub-folders (e.g. data/imagenet-r).')
        position = {w: i for i, w in enumerate(imagenet_wnids())}
        folders = sorted(d for d in os.listdir(source)
                         if osp.isdir(osp.join(source, d)))
        unknown = [d for d in folders if d not in position]
        if unknown or not folders:
            raise ValueError(
                f'{source}: sub-folders {unknown[:5] or "(none)"} are not '
                f'ImageNet-1k wnids; the folder must hold one n0xxxxxxx '
                f'folder per class (the public ImageNet-A/R layout).')
        idx = [position[d] for d in folders]
    else:
        idx = [int(i) for i in source]
    if sorted(set(idx)) != idx:
        raise ValueError('class indices must be ascending and unique (the '
                         'dataset labels its sorted wnid folders 0..n-1).')
    if idx and not 0 <= idx[0] <= idx[-1] < 1000:
        raise ValueError('class indices must lie in 0..999.')
    return idx


@MODELS.register_module()
class SubsetLinearClsHead(LinearClsHead):
    """:class:`mmpretrain.models.LinearClsHead` over ``num_classes`` (1000)
    outputs, of which only ``class_indices`` are returned.

    feats -> logits (B, num_classes) -> logits[:, class_indices] (B, S);
    label i of the dataset is class ``class_indices[i]`` of ImageNet-1k.

    Args:
        class_indices: see :func:`subset_indices` ('imagenet-a',
            'imagenet-r', a wnid folder, or a list).
        **kwargs: :class:`LinearClsHead` arguments (``num_classes=1000``).
    """

    def __init__(self, class_indices: Union[str, Sequence[int]], **kwargs):
        super().__init__(**kwargs)
        idx = subset_indices(class_indices)
        if idx[-1] >= self.num_classes:
            raise ValueError(f'class index {idx[-1]} >= num_classes '
                             f'{self.num_classes}.')
        self.register_buffer('class_index', torch.tensor(idx),
                             persistent=False)

    def forward(self, feats) -> torch.Tensor:
        """feats: backbone outputs -> (B, len(class_indices)) logits."""
        return super().forward(feats).index_select(-1, self.class_index)
