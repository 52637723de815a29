"""Image loading that survives the odd files of real training folders."""
import io
import warnings
from collections import Counter
from typing import NamedTuple, Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.logging import print_log

from beit2mm.registry import TRANSFORMS


class BadImageError(ValueError):
    """An image file that can not be decoded (policy='raise')."""


# info keys through which a JPEG can carry an orientation (EXIF or XMP)
_ORIENTATION_KEYS = ('exif', 'xmp', 'XML:com.adobe.xmp')


def _to_rgb(img):
    """A decoded PIL image of any mode -> the PIL image in mode RGB.

    Grayscale (L, 1, I;16, I, F), CMYK, YCbCr, LAB, palette (P, PA, with or
    without transparency) and alpha modes (RGBA, LA): alpha is dropped, as
    PIL's ``convert('RGB')`` (what torchvision / timm ImageNet loaders do).
    """
    from PIL import Image
    if img.mode in ('I;16', 'I;16B', 'I;16L', 'I', 'F'):
        # wide grayscale: rescale to 8 bit instead of clipping at 255
        arr = np.asarray(img, dtype=np.float64)
        top = 65535. if img.mode.startswith('I;16') else max(arr.max(), 1.)
        if img.mode == 'F' and arr.max() <= 1.:
            top = 1.
        arr = np.clip(arr / top * 255. + .5, 0, 255).astype(np.uint8)
        img = Image.fromarray(arr, mode='L')
    elif img.mode in ('P', 'PA'):
        img = img.convert('RGBA')
    if img.mode != 'RGB':
        img = img.convert('RGB')
    return img


def decode_pil(data: bytes):
    """Bytes -> decoded PIL image in mode RGB, EXIF orientation applied.

    Fast path: a baseline RGB JPEG that carries no EXIF / XMP block (so no
    orientation) is decoded by libjpeg-turbo and returned as is; any other
    file takes the careful path (orientation, mode conversion). Both give
    the same pixels for such a JPEG. Raises :class:`BadImageError` (with the
    reason) for empty, truncated, non-image or otherwise undecodable data.
    """
    from PIL import Image, ImageOps
    if not data:
        raise BadImageError('empty file (0 bytes)')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # palette transparency notes
            img = Image.open(io.BytesIO(data))
            img.load()  # decode now: truncated files fail here
            if not (img.format == 'JPEG' and img.mode == 'RGB'
                    and not any(k in img.info for k in _ORIENTATION_KEYS)):
                img = _to_rgb(ImageOps.exif_transpose(img))
    except Image.DecompressionBombError as err:
        raise BadImageError(f'too large to decode safely ({err})') from None
    except Image.UnidentifiedImageError:
        raise BadImageError('not an image file (unknown format)') from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise BadImageError(f'corrupt or truncated ({err})') from None
    if img.mode != 'RGB' or min(img.size) < 1:
        raise BadImageError(f'unexpected decoded image {img.mode} {img.size}')
    return img


_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _plain_rgb_jpeg_size(data: bytes) -> Optional[tuple]:
    """(H, W) of a 3-component JPEG (Pillow: mode RGB) with no APP1 segment
    (where EXIF and XMP, so any orientation, live), from its markers up to
    the scan; None otherwise. A few microseconds: no Pillow header parse."""
    n, i, size = len(data), 2, None
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker == 0xE1 or marker == 0xD9:
            return None
        if marker == 0xDA:  # start of scan
            return size
        length = (data[i + 2] << 8) | data[i + 3]
        if marker in _SOF:
            if i + 10 > n or data[i + 9] != 3:
                return None
            size = ((data[i + 5] << 8) | data[i + 6],
                    (data[i + 7] << 8) | data[i + 8])
        i += 2 + length
    return None


def good_jpeg_size(data: bytes) -> Optional[tuple]:
    """(H, W) of a complete RGB JPEG without EXIF / XMP (so no
    orientation), the files the fast paths take; None for any other file.
    Files not ending with the JPEG end marker (truncated: OpenCV would pad
    them) are left to Pillow's careful path."""
    if len(data) < 4 or data[:2] != b'\xff\xd8' or \
            data.rstrip(b'\0\r\n ')[-2:] != b'\xff\xd9':
        return None
    size = _plain_rgb_jpeg_size(data)
    return None if size is None or min(size) < 1 else size


class EncodedJPEG(NamedTuple):
    """A good RGB JPEG (:func:`good_jpeg_size`) left encoded by
    ``SafeLoadImageFromFile(defer_jpeg=True)`` for decoding on the device
    (``beit2mm.DeviceDecodePreprocessor``)."""
    data: bytes
    shape: tuple  # (H, W, 3), as an image array's


def fast_jpeg_bgr(data: bytes) -> Optional[np.ndarray]:
    """The fast path for good files: (H, W, 3) uint8 BGR of a
    :func:`good_jpeg_size` JPEG, decoded by OpenCV's libjpeg-turbo straight
    to BGR; None for any other file (the caller then takes
    :func:`decode_pil`). OpenCV and Pillow decode such files to the same
    pixels (tests/test_pipeline_fast.py checks baseline, progressive and
    every chroma subsampling).
    """
    size = good_jpeg_size(data)
    if size is None:
        return None
    import cv2
    out = cv2.imdecode(np.frombuffer(data, np.uint8),
                       cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if out is None or out.shape[:2] != size:
        return None
    return out


def pil_to_array(img, channel_order: str = 'bgr') -> np.ndarray:
    """PIL RGB image -> writable (H, W, 3) uint8 array in ``channel_order``
    (one packing pass in C: no full-size RGB -> BGR copy in numpy)."""
    w, h = img.size
    raw = bytearray(img.tobytes('raw', 'BGR' if channel_order == 'bgr'
                                else 'RGB'))
    return np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 3)


def decode_image(data: bytes) -> np.ndarray:
    """Bytes -> (H, W, 3) uint8 RGB with EXIF orientation applied.

    Raises :class:`BadImageError` (with the reason) for empty, truncated,
    non-image or otherwise undecodable data.
    """
    return pil_to_array(decode_pil(data), 'rgb')


@TRANSFORMS.register_module()
class SafeLoadImageFromFile(BaseTransform):
    """``LoadImageFromFile`` for training folders with bad files.

    Decodes with PIL and converts every colour mode to 3 channels
    (grayscale, 16-bit, CMYK, RGBA / LA, palette with or without
    transparency; EXIF rotation applied); any size, 1 x 1 included. Files
    that can not be decoded (zero bytes, truncated, not an image, missing)
    are handled by ``policy``:

    * ``'skip'``: the transform returns ``None``; mmengine's dataset then
      draws another sample (``BaseDataset.max_refetch``), so training
      continues. Each skip is logged as a warning naming the file, the
      reason and the running count (per process:
      :attr:`skipped` counts skips by reason). Test/val datasets refuse
      ``None`` (mmengine raises), so use ``'raise'`` there.
    * ``'raise'``: raise :class:`BadImageError` naming the file.

    Good RGB JPEGs without EXIF / XMP take a fast path (OpenCV's decoder,
    straight to BGR, or Pillow's with ``to_pil``); every other file the
    careful one, with the same result.

    Same keys as mmcv's ``LoadImageFromFile``: reads ``img_path``, sets
    ``img`` (H, W, 3) uint8 (float32 with ``to_float32``), ``img_shape``,
    ``ori_shape``.

    Args:
        policy: ``'skip'`` or ``'raise'``.
        to_float32: return float32 pixels.
        channel_order: ``'bgr'`` (mmcv's default, what ``to_rgb=True`` data
            preprocessors expect) or ``'rgb'``.
        to_pil: keep ``img`` as the decoded PIL RGB image (no array
            conversion) for transforms that take one
            (:class:`FusedRandomResizedCrop`); ``channel_order`` and
            ``to_float32`` then do not apply.
        defer_jpeg: leave good RGB JPEGs encoded (``img`` an
            :class:`EncodedJPEG`) for ``FusedRandomResizedCrop`` to plan
            their crop and ``beit2mm.DeviceDecodePreprocessor`` to decode
            them on the device; every other file is decoded here as usual.
        backend_args: mmengine file backend arguments (e.g. object stores).
    """

    POLICIES = ('skip', 'raise')
    skipped: Counter = Counter()

    def __init__(self,
                 policy: str = 'skip',
                 to_float32: bool = False,
                 channel_order: str = 'bgr',
                 backend_args: Optional[dict] = None,
                 to_pil: bool = False,
                 defer_jpeg: bool = False):
        if policy not in self.POLICIES:
            raise ValueError(f'SafeLoadImageFromFile policy={policy!r}; use '
                             f'"skip" (drop bad files, keep training) or '
                             f'"raise" (stop at the first bad file).')
        if channel_order not in ('bgr', 'rgb'):
            raise ValueError(f'channel_order must be "bgr" or "rgb", got '
                             f'{channel_order!r}.')
        self.policy = policy
        self.to_float32 = to_float32
        self.channel_order = channel_order
        self.to_pil = to_pil
        self.defer_jpeg = defer_jpeg
        self.backend_args = backend_args.copy() if backend_args else None
        # what fileio.get picks for a plain path without backend_args
        self._local = None if backend_args else fileio.LocalBackend()

    def _read(self, filename: str):
        try:
            if self._local is not None and '://' not in str(filename):
                data = self._local.get(filename)  # = fileio.get, no lookup
            else:
                data = fileio.get(filename, backend_args=self.backend_args)
        except (OSError, FileNotFoundError) as err:
            raise BadImageError(f'can not be read ({err})') from None
        if self.defer_jpeg:
            size = good_jpeg_size(data)
            if size is not None:
                return EncodedJPEG(data, size + (3, ))
        if not self.to_pil:
            bgr = fast_jpeg_bgr(data)
            if bgr is not None:
                return bgr
        return decode_pil(data)

    def transform(self, results: dict) -> Optional[dict]:
        filename = results['img_path']
        try:
            img = self._read(filename)
        except BadImageError as err:
            if self.policy == 'raise':
                raise BadImageError(
                    f'bad image {filename}: {err}. Fix: remove or replace '
                    f'the file, or load with SafeLoadImageFromFile('
                    f'policy="skip") to skip such files.') from None
            reason = str(err).split(' (')[0]
            type(self).skipped[reason] += 1
            total = sum(type(self).skipped.values())
            print_log(f'SafeLoadImageFromFile: skipped bad image {filename}: '
                      f'{err}; {total} image(s) skipped so far in this '
                      f'process ({dict(type(self).skipped)}).',
                      logger='current', level=30)
            return None
        if isinstance(img, np.ndarray):  # the OpenCV fast path: BGR
            if self.channel_order == 'rgb':
                img = np.ascontiguousarray(img[..., ::-1])
        elif not self.to_pil and not isinstance(img, EncodedJPEG):
            img = pil_to_array(img, self.channel_order)
        shape = img.shape[:2] if isinstance(img, (np.ndarray, EncodedJPEG)) \
            else img.size[::-1]  # a PIL image
        if self.to_float32 and isinstance(img, np.ndarray):
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = shape
        results['ori_shape'] = shape
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(policy={self.policy!r}, '
                f'to_float32={self.to_float32}, '
                f'channel_order={self.channel_order!r}, '
                f'to_pil={self.to_pil}, defer_jpeg={self.defer_jpeg})')
