"""Data preprocessor of BEiT v2 pretraining: two normalisations + the mask."""
from typing import Optional, Sequence

import torch
from mmpretrain.models.utils.data_preprocessor import TwoNormDataPreprocessor

from beit2mm.registry import MODELS
from ..utils.query_rows import masked_query_index

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class BEiTv2DataPreprocessor(TwoNormDataPreprocessor):
    """mmpretrain's ``TwoNormDataPreprocessor`` plus the stacked mask.

    ``inputs`` is the two-view list ``[student, tokenizer_view]`` from
    :class:`~beit2mm.datasets.transforms.TwoViewRandomResizedCrop`. The
    student view gets ImageNet mean/std (``mean``/``std``), the tokenizer
    view ``x / 127.5 - 1`` (``second_mean``/``second_std`` = 127.5), i.e.
    [-1, 1] as the tokenizer expects.

    The masks of the data samples (``DataSample.mask``, (h, w) from
    :class:`~beit2mm.datasets.transforms.BlockwiseMaskGenerator`) are stacked
    into ``mask`` (B, N) bool and their flat positions into ``mask_index``
    (M,) long, computed on the host *before* the batch is moved to the
    device, so the model can gather the masked tokens with a known length
    (no device-to-host synchronisation as boolean indexing would need).
    When every image has the same number of masked patches (always with
    :class:`BlockwiseMaskGenerator`) it also gives ``query_index``
    (:func:`masked_query_index`), the outputs the last blocks compute.
    All are passed to the model's ``forward`` as keyword arguments.

    Host-to-device copies are ``non_blocking`` by default: the pretraining
    loaders pin memory, so the copy of batch i overlaps the work queued
    before it (safe for pageable memory too, where CUDA stages it first).
    """

    def __init__(self,
                 mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD,
                 second_mean: Sequence[float] = (127.5, 127.5, 127.5),
                 second_std: Sequence[float] = (127.5, 127.5, 127.5),
                 to_rgb: bool = True,
                 non_blocking: Optional[bool] = True,
                 **kwargs):
        super().__init__(mean=mean, std=std, second_mean=second_mean,
                         second_std=second_std, to_rgb=to_rgb,
                         non_blocking=non_blocking, **kwargs)

    def forward(self, data: dict, training: bool = False) -> dict:
        samples = data.get('data_samples')
        mask = None
        if samples is not None and len(samples) and 'mask' in samples[0]:
            mask = torch.stack([torch.as_tensor(s.mask) for s in samples])
            mask = mask.flatten(1).bool()
        out = super().forward(data, training)
        if mask is not None:
            index = mask.flatten().nonzero().squeeze(1)
            out['mask'] = self.cast_data(mask)
            out['mask_index'] = self.cast_data(index)
            query_index = masked_query_index(mask)
            if query_index is not None:
                out['query_index'] = self.cast_data(query_index)
        return out
