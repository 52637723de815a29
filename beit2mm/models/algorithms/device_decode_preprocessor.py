"""Decode, crop and resize JPEGs on the training device (an option)."""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmpretrain.models.utils.data_preprocessor import ClsDataPreprocessor

from beit2mm.registry import MODELS

# metainfo key of the crop that FusedRandomResizedCrop planned for an image
# the loader left encoded (SafeLoadImageFromFile(defer_jpeg=True))
PLAN_KEY = 'device_crop'


def crop_resize(img: torch.Tensor, plan: dict) -> torch.Tensor:
    """One planned view of a decoded image.

    Args:
        img: (3, H, W) uint8 RGB, on any device.
        plan: ``box`` (top, left, h, w) in ``img``, ``size`` (h, w),
            ``interpolation`` ('bilinear' / 'bicubic', antialiased as
            Pillow), ``flip`` (None, ``'input'``: mirror the crop before
            the resize, ``'output'``: after).

    Returns:
        (3, h, w) uint8 BGR, the channel order of the CPU pipeline's arrays.
    """
    top, left, h, w = plan['box']
    x = img[:, top:top + h, left:left + w]
    if plan['flip'] == 'input':
        x = x.flip(-1)
    x = F.interpolate(x[None].float(), size=tuple(plan['size']),
                      mode=plan['interpolation'], antialias=True,
                      align_corners=False)[0]
    x = x.round_().clamp_(0, 255).to(torch.uint8)
    if plan['flip'] == 'output':
        x = x.flip(-1)
    return x.flip(0)


@MODELS.register_module()
class DeviceDecodePreprocessor(ClsDataPreprocessor):
    """mmpretrain's ``ClsDataPreprocessor`` that first decodes the JPEGs a
    loader left encoded, on the device it runs on (nvJPEG on CUDA through
    ``torchvision.io.decode_jpeg``, libjpeg-turbo on CPU), and cuts the
    crops planned for them.

    The loader (``SafeLoadImageFromFile(defer_jpeg=True)`` ->
    ``FusedRandomResizedCrop`` -> ``PackInputs`` with ``'device_crop'`` in
    ``meta_keys``, ``pseudo_collate``) gives a list: (3, h, w) uint8 BGR
    tensors for the images it decoded itself (every file but good RGB
    JPEGs, which keeps the bad-image policy), 1-D uint8 JPEG bytes with a
    ``device_crop`` plan (:func:`crop_resize`) for the rest. The random
    draws stay on the host, in the separate transforms' order; the resize
    is PyTorch's antialiased one in float, rounded to uint8, within a few
    levels of Pillow's (``tests/test_device_decode.py`` states the
    tolerance). Stacked inputs (``default_collate``, validation) pass
    through unchanged. Arguments: as ``ClsDataPreprocessor``.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)) and any(
                x.ndim == 1 for x in inputs):
            samples = data.get('data_samples')
            data = dict(data, inputs=self.decode(list(inputs), samples))
        return super().forward(data, training)

    def decode(self, inputs: List[torch.Tensor],
               samples: Optional[Sequence]) -> torch.Tensor:
        """inputs: (3, h, w) uint8 BGR tensors or 1-D JPEG bytes -> (B, 3,
        h, w) uint8 BGR on this preprocessor's device."""
        from torchvision.io import ImageReadMode, decode_jpeg
        encoded = [i for i, x in enumerate(inputs) if x.ndim == 1]
        plans = [getattr(samples[i], PLAN_KEY, None) if samples else None
                 for i in encoded]
        if any(p is None for p in plans):
            raise ValueError(
                f'DeviceDecodePreprocessor: {len(encoded)} encoded image(s) '
                f'came without a {PLAN_KEY!r} plan. Fix: put '
                f'FusedRandomResizedCrop after SafeLoadImageFromFile('
                f'defer_jpeg=True) and {PLAN_KEY!r} in PackInputs meta_keys.')
        batch = [inputs[i].cpu() for i in encoded]
        try:
            decoded = decode_jpeg(batch, mode=ImageReadMode.RGB,
                                  device=self._device)
        except RuntimeError:  # one file the batch decoder refuses
            decoded = [self._decode_one(x) for x in batch]
        bad = []
        for i, img, plan in zip(encoded, decoded, plans):
            if img is None:
                bad.append(i)
            else:
                inputs[i] = crop_resize(img, plan)
        if bad:
            inputs = self._replace(inputs, bad, samples)
        return torch.stack([x.to(self._device, non_blocking=True)
                            for x in inputs])

    def _decode_one(self, data: torch.Tensor) -> Optional[torch.Tensor]:
        """One JPEG on the device, else with libjpeg-turbo on the CPU (a
        variant nvJPEG does not take), else None (corrupt data)."""
        from torchvision.io import ImageReadMode, decode_jpeg
        for device in dict.fromkeys((self._device, torch.device('cpu'))):
            try:
                return decode_jpeg(data, mode=ImageReadMode.RGB,
                                   device=device)
            except RuntimeError:
                continue
        return None

    @staticmethod
    def _replace(inputs: list, bad: List[int], samples) -> list:
        """A JPEG whose headers were fine but whose data is corrupt is only
        found here: its view is replaced by another image's, with a
        warning naming the file (the loader's policy='skip' in spirit)."""
        good = [i for i in range(len(inputs)) if i not in bad]
        names = [getattr(samples[i], 'img_path', '?') for i in bad]
        if not good:
            raise ValueError(f'DeviceDecodePreprocessor: no image of the '
                             f'batch decodes: {names}. Fix: remove those '
                             f'files, or train without defer_jpeg.')
        from mmengine.logging import print_log
        print_log(f'DeviceDecodePreprocessor: corrupt JPEG(s) {names} '
                  f'replaced by other images of the batch.',
                  logger='current', level=30)
        for k, i in enumerate(bad):
            inputs[i] = inputs[good[k % len(good)]].clone()
        return inputs
