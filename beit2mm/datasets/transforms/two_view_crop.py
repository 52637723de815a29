"""One random crop resized twice: the student's and the tokenizer's view."""
from typing import Sequence, Union

import mmcv
import numpy as np
from mmpretrain.datasets.transforms import RandomResizedCrop

from beit2mm.registry import TRANSFORMS


def store_views(results: dict, views: list, box: tuple) -> dict:
    """Write a two-view crop's output into ``results``: ``img`` = the
    [student, tokenizer] views (each (H, W, 3)), ``img_shape`` = the student
    view's (H, W) and ``crop_bbox`` = ``box`` (left, top, right, bottom) in
    the input image, as TwoViewRandomResizedCrop and FusedRandomResizedCrop
    both give them (ConfigCheckHook and browse_dataset read them)."""
    results['img'] = views
    results['img_shape'] = views[0].shape[:2]
    results['crop_bbox'] = box
    return results


@TRANSFORMS.register_module()
class TwoViewRandomResizedCrop(RandomResizedCrop):
    """RandomResizedCrop whose single crop box is resized to two sizes.

    BEiT v2 (Sec. 3.1, official ``datasets.py``) feeds the student and the
    tokenizer the *same* crop: the student at 224 px, the tokenizer at its own
    resolution (also 224 for the released tokenizers). Both resizes are
    bicubic with Pillow by default, as the official torchvision pipeline.
    Normalisation is left to the data preprocessor (ImageNet mean/std for the
    student, ``x / 127.5 - 1`` for the tokenizer; see
    ``configs/_base_/datasets/imagenet_beitv2.py``).

    Required keys: ``img``. Modified keys: ``img`` becomes
    ``[student_view, tokenizer_view]`` (both HWC uint8), ``img_shape`` is the
    student view's shape. mmpretrain's ``PackInputs`` packs the list into a
    list of two tensors.

    Args:
        scale: the student view's size (int or (h, w)); 224.
        second_scale: the tokenizer view's size; 224.
        crop_ratio_range: crop area / image area range; (0.2, 1.0) in BEiT v2.
        aspect_ratio_range: crop aspect ratio range; (3/4, 4/3).
        interpolation / second_interpolation: resize modes of the two views.
        backend: 'pillow' (as the official code) or 'cv2'.
    """

    def __init__(self,
                 scale: Union[int, Sequence[int]] = 224,
                 second_scale: Union[int, Sequence[int]] = 224,
                 crop_ratio_range=(0.2, 1.0),
                 aspect_ratio_range=(3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bicubic',
                 second_interpolation: str = 'bicubic',
                 backend: str = 'pillow'):
        super().__init__(scale, crop_ratio_range=crop_ratio_range,
                         aspect_ratio_range=aspect_ratio_range,
                         max_attempts=max_attempts,
                         interpolation=interpolation, backend=backend)
        if isinstance(second_scale, int):
            second_scale = (second_scale, second_scale)
        if len(second_scale) != 2 or min(second_scale) <= 0:
            raise ValueError(f'second_scale must be a positive int or (h, w),'
                             f' got {second_scale!r}')
        self.second_scale = tuple(second_scale)
        self.second_interpolation = second_interpolation

    def transform(self, results: dict) -> dict:
        img = results['img']
        if isinstance(img, list):
            raise TypeError('TwoViewRandomResizedCrop expects one image in '
                            '`img`; put it once in the pipeline, after '
                            'ColorJitter and RandomFlip.')
        top, left, h, w = self.rand_crop_params(img)
        crop = mmcv.imcrop(img, np.array([left, top, left + w - 1,
                                          top + h - 1]))
        views = [
            mmcv.imresize(crop, tuple(size[::-1]), interpolation=interp,
                          backend=self.backend)
            for size, interp in ((self.scale, self.interpolation),
                                 (self.second_scale,
                                  self.second_interpolation))
        ]
        return store_views(results, views, (left, top, left + w, top + h))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(scale={self.scale}, '
                f'second_scale={self.second_scale}, crop_ratio_range='
                f'{self.crop_ratio_range}, aspect_ratio_range='
                f'{self.aspect_ratio_range}, interpolation='
                f'{self.interpolation}, second_interpolation='
                f'{self.second_interpolation}, backend={self.backend})')
