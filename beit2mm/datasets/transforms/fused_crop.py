"""ColorJitter -> flip -> random resized crop (one or two views) in one step,
pixel-exact with the separate transforms but working on the crop."""
from types import SimpleNamespace
from typing import Optional, Sequence, Union

import numpy as np
from mmcv.image.geometric import pillow_interp_codes
from mmcv.transforms import BaseTransform, RandomFlip
from mmpretrain.datasets.transforms import ColorJitter, RandomResizedCrop

from beit2mm.registry import TRANSFORMS
from . import pillow_resize
from .pil_color_ops import apply_ops, jitter_ops, split_at_contrast
from .safe_loading import (EncodedJPEG, decode_pil, fast_jpeg_bgr,
                           pil_to_array)
from .two_view_crop import store_views

# what beit2mm.DeviceDecodePreprocessor resizes (PyTorch, antialiased)
DEVICE_RESIZE = ('bilinear', 'bicubic')


def _size(scale) -> tuple:
    """int or (h, w) -> (h, w)."""
    if isinstance(scale, int):
        scale = (scale, scale)
    if len(scale) != 2 or min(scale) <= 0:
        raise ValueError(f'a view size must be a positive int or (h, w), '
                         f'got {scale!r}')
    return tuple(scale)


@TRANSFORMS.register_module()
class FusedRandomResizedCrop(BaseTransform):
    """The BEiT v2 / VQ-KD augmentation chain at the cost of the crop.

    Equals, pixel for pixel and with the same NumPy random draws:

    * ``flip_before_crop=True`` (pretraining):
      ``ColorJitter(**color_jitter)`` -> ``RandomFlip(flip_prob,
      'horizontal')`` -> ``TwoViewRandomResizedCrop(scale, second_scale,
      ..., backend='pillow')`` (or ``RandomResizedCrop`` if
      ``second_scale`` is None);
    * ``flip_before_crop=False`` (VQ-KD, no jitter):
      ``RandomResizedCrop(scale, ..., backend='pillow')`` -> ``RandomFlip``.

    How: the crop box only depends on the image size and the colour jitter
    is pointwise (see :mod:`.pil_color_ops`), so the image is cropped first
    and jittered, flipped and resized at the crop's size; only the jitter
    ops before contrast run on the full image (contrast needs the whole
    image's mean). A flip before the crop is the mirrored box, cropped then
    flipped. Two views of the same size and interpolation are one resize.
    With colour jitter the crop is jittered in PIL (RGB) and packed to a BGR
    array; without, a BGR array input is cropped as a view. Either way the
    BGR crop is resized channel-wise (as ``mmcv.imresize`` does) by
    :func:`.pillow_resize.resize`, which also mirrors.

    Input ``img``: a PIL RGB image (``SafeLoadImageFromFile(to_pil=True)``)
    or a BGR uint8 array. An :class:`EncodedJPEG`
    (``SafeLoadImageFromFile(defer_jpeg=True)``) gets the same random draws
    and, instead of pixels, a ``device_crop`` plan (box, size,
    interpolation, flip) that ``beit2mm.DeviceDecodePreprocessor`` carries
    out on the device; ``img`` becomes the 1-D JPEG bytes (with jitter or
    two views it is decoded here instead). Output keys as the separate
    transforms: ``img`` (one BGR (H, W, 3) uint8 view or a list of two),
    ``img_shape``, ``flip``, ``flip_direction`` and, with two views,
    ``crop_bbox``.

    Args:
        scale: the (first) view's size, int or (h, w).
        second_scale: the tokenizer view's size, or None for one view.
        crop_ratio_range / aspect_ratio_range / max_attempts: as
            mmpretrain's ``RandomResizedCrop`` (the official
            ``RandomResizedCrop`` sampling).
        interpolation / second_interpolation: Pillow resize modes.
        color_jitter: ``ColorJitter`` arguments (brightness, contrast,
            saturation; hue must be 0) or None for no jitter.
        flip_prob: horizontal flip probability.
        flip_before_crop: draw and apply the flip before the crop (True,
            pretraining order) or after it (False, VQ-KD order).
    """

    def __init__(self,
                 scale: Union[int, Sequence[int]] = 224,
                 second_scale: Optional[Union[int, Sequence[int]]] = None,
                 crop_ratio_range=(0.08, 1.0),
                 aspect_ratio_range=(3. / 4., 4. / 3.),
                 max_attempts: int = 10,
                 interpolation: str = 'bicubic',
                 second_interpolation: str = 'bicubic',
                 color_jitter: Optional[dict] = None,
                 flip_prob: float = 0.5,
                 flip_before_crop: bool = True):
        self.scale = _size(scale)
        self.second_scale = None if second_scale is None \
            else _size(second_scale)
        for interp in (interpolation, second_interpolation):
            if interp not in pillow_interp_codes:
                raise ValueError(f'interpolation {interp!r}: use one of '
                                 f'{sorted(pillow_interp_codes)}.')
        self.interpolation = interpolation
        self.second_interpolation = second_interpolation
        self._crop = RandomResizedCrop(
            self.scale, crop_ratio_range=tuple(crop_ratio_range),
            aspect_ratio_range=tuple(aspect_ratio_range),
            max_attempts=max_attempts, interpolation=interpolation,
            backend='pillow')
        self.jitter = None
        if color_jitter is not None:
            self.jitter = ColorJitter(**color_jitter)
            if self.jitter.hue is not None:
                raise ValueError(
                    'FusedRandomResizedCrop: hue jitter is not fused (PIL '
                    'runs it in HSV); use hue=0 or the separate ColorJitter '
                    '-> RandomFlip -> TwoViewRandomResizedCrop transforms.')
        self._flip = RandomFlip(prob=float(flip_prob),
                                direction='horizontal')
        self.flip_before_crop = flip_before_crop
        pillow_resize.available()  # compile before DataLoader workers fork

    def _flip_direction(self) -> Optional[str]:
        """RandomFlip(prob, 'horizontal')._choose_direction(): the same
        single uniform draw of NumPy's global generator and the same
        outcome (``np.random.choice`` over [horizontal, None] takes one
        ``random_sample()`` and compares it with the normalised cdf),
        without building a probability array per image."""
        p = self._flip.prob
        return 'horizontal' if np.random.random_sample() < p / (
            p + (1. - p)) else None

    def transform(self, results: dict) -> dict:
        img = results['img']
        deferred = isinstance(img, EncodedJPEG)
        if deferred and (self.jitter is not None or self.second_scale
                         or self.interpolation not in DEVICE_RESIZE):
            # the device path covers the one-view chain without jitter
            bgr = fast_jpeg_bgr(img.data)
            img = results['img'] = bgr if bgr is not None else pil_to_array(
                decode_pil(img.data), 'bgr')  # raises BadImageError
            deferred = False
        is_array = isinstance(img, np.ndarray)
        if deferred:
            height, width = img.shape[:2]
        elif is_array:
            if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
                raise TypeError(f'FusedRandomResizedCrop takes a PIL RGB '
                                f'image or a BGR uint8 (H, W, 3) array, got '
                                f'{img.dtype} {img.shape}.')
            height, width = img.shape[:2]
        elif not hasattr(img, 'resize') or img.mode != 'RGB':
            raise TypeError(f'FusedRandomResizedCrop takes a PIL RGB image '
                            f'(SafeLoadImageFromFile(to_pil=True)) or a BGR '
                            f'array, got {type(img).__name__}.')
        else:
            width, height = img.size
        # random draws in the order of the separate transforms
        ops = []
        if self.jitter is not None:
            order, b, c, s, _ = self.jitter._rand_params()
            ops = jitter_ops(order, b, c, s)
        flip = None
        if self.flip_before_crop:
            flip = self._flip_direction()
        top, left, h, w = self._crop.rand_crop_params(  # reads .shape only
            SimpleNamespace(shape=(height, width)))
        if not self.flip_before_crop:
            flip = self._flip_direction()

        # a flip before the crop = the mirrored box, cropped, then mirrored
        x0 = width - left - w if (flip and self.flip_before_crop) else left
        view_flip = None
        if flip is not None:
            view_flip = 'input' if self.flip_before_crop else 'output'
        results['flip'] = flip is not None
        results['flip_direction'] = flip
        if deferred:  # DeviceDecodePreprocessor decodes and cuts it
            results['img'] = np.frombuffer(bytearray(img.data), np.uint8)
            results['device_crop'] = dict(
                box=(top, x0, h, w), size=self.scale,
                interpolation=self.interpolation, flip=view_flip)
            results['img_shape'] = self.scale + (3, )
            return results
        if is_array and not ops:
            # no colour op: the BGR bytes go through the channel-wise resize
            # as they are (what mmcv.imresize does)
            crop = img[top:top + h, x0:x0 + w]
        else:
            if is_array:
                from PIL import Image
                img = Image.fromarray(np.ascontiguousarray(img[..., ::-1]))
            img, rest = split_at_contrast(img, ops)
            crop = pil_to_array(
                apply_ops(img.crop((x0, top, x0 + w, top + h)), rest), 'bgr')
        # planar: PackInputs then packs the views to CHW without a copy
        out = pillow_resize.resize(crop, self.scale, self.interpolation,
                                   view_flip, planar=True)
        if self.second_scale is None:
            results['img'] = out
            results['img_shape'] = out.shape
            return results
        if (self.second_scale == self.scale
                and self.second_interpolation == self.interpolation):
            second = out.copy(order='K')  # keeps the planar memory
        else:
            second = pillow_resize.resize(crop, self.second_scale,
                                          self.second_interpolation,
                                          view_flip, planar=True)
        return store_views(results, [out, second],
                           (left, top, left + w, top + h))

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(scale={self.scale}, second_scale='
                f'{self.second_scale}, crop_ratio_range='
                f'{self._crop.crop_ratio_range}, aspect_ratio_range='
                f'{self._crop.aspect_ratio_range}, interpolation='
                f'{self.interpolation}, second_interpolation='
                f'{self.second_interpolation}, color_jitter={self.jitter}, '
                f'flip_prob={self._flip.prob}, flip_before_crop='
                f'{self.flip_before_crop})')
