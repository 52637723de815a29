"""Image loading that survives the odd files of real training folders."""
import io
import warnings
from collections import Counter
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio
from mmengine.logging import print_log

from beit2mm.registry import TRANSFORMS


class BadImageError(ValueError):
    """An image file that can not be decoded (policy='raise')."""


def _to_rgb(img) -> np.ndarray:
    """A decoded PIL image of any mode -> (H, W, 3) uint8 RGB.

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
    return np.asarray(img, dtype=np.uint8)


def decode_image(data: bytes) -> np.ndarray:
    """Bytes -> (H, W, 3) uint8 RGB with EXIF orientation applied.

    Raises :class:`BadImageError` (with the reason) for empty, truncated,
    non-image or otherwise undecodable data.
    """
    from PIL import Image, ImageOps
    if not data:
        raise BadImageError('empty file (0 bytes)')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # palette transparency notes
            img = Image.open(io.BytesIO(data))
            img.load()  # decode now: truncated files fail here
            img = ImageOps.exif_transpose(img)
            rgb = _to_rgb(img)
    except Image.DecompressionBombError as err:
        raise BadImageError(f'too large to decode safely ({err})') from None
    except Image.UnidentifiedImageError:
        raise BadImageError('not an image file (unknown format)') from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise BadImageError(f'corrupt or truncated ({err})') from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise BadImageError(f'unexpected decoded shape {rgb.shape}')
    return rgb


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

    Same keys as mmcv's ``LoadImageFromFile``: reads ``img_path``, sets
    ``img`` (H, W, 3) uint8 (float32 with ``to_float32``), ``img_shape``,
    ``ori_shape``.

    Args:
        policy: ``'skip'`` or ``'raise'``.
        to_float32: return float32 pixels.
        channel_order: ``'bgr'`` (mmcv's default, what ``to_rgb=True`` data
            preprocessors expect) or ``'rgb'``.
        backend_args: mmengine file backend arguments (e.g. object stores).
    """

    POLICIES = ('skip', 'raise')
    skipped: Counter = Counter()

    def __init__(self,
                 policy: str = 'skip',
                 to_float32: bool = False,
                 channel_order: str = 'bgr',
                 backend_args: Optional[dict] = None):
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
        self.backend_args = backend_args.copy() if backend_args else None

    def _read(self, filename: str) -> np.ndarray:
        try:
            data = fileio.get(filename, backend_args=self.backend_args)
        except (OSError, FileNotFoundError) as err:
            raise BadImageError(f'can not be read ({err})') from None
        return decode_image(data)

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
        if self.channel_order == 'bgr':
            img = np.ascontiguousarray(img[..., ::-1])
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(policy={self.policy!r}, '
                f'to_float32={self.to_float32}, '
                f'channel_order={self.channel_order!r})')
