"""Block-wise masking of BEiT (Bao et al. 2021, Alg. 1); BEiT v2 Sec. 2.3."""
import math
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from beit2mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class BlockwiseMaskGenerator(BaseTransform):
    """Mask exactly ``num_masking_patches`` patches of an h x w grid in blocks.

    Blocks are drawn until the budget is used: each block's area ``s`` is
    uniform in ``[min_num_patches, min(remaining, max_num_patches)]`` and its
    aspect ratio ``r`` log-uniform in ``[min_aspect, max_aspect]``; the block
    is ``round(sqrt(s r)) x round(sqrt(s / r))`` at a uniform position. A block
    is accepted if its area is at least ``min_num_patches``, it fits strictly
    inside the grid and it masks between 1 and ``remaining`` new patches
    (overlaps are allowed); ``max_attempts`` tries per block. When no block
    fits any more, the count is topped up to exactly ``num_masking_patches``
    with unmasked patches next to masked ones (random ones only if the mask is
    empty), so the result stays clustered.

    Randomness comes from numpy's global generator, which mmengine seeds per
    process and per dataloader worker (``randomness=dict(seed=...)``), so
    seeded runs are reproducible and workers draw different masks. Pass
    ``rng`` (a ``np.random.RandomState``) to :meth:`generate` for a private
    stream.

    Required keys: none. Added keys: ``mask`` (np.ndarray (h, w) bool), packed
    by mmpretrain's ``PackInputs`` into ``DataSample.mask``.

    Args:
        input_size: the patch grid (h, w) or an int for a square grid
            (14 = 224 px / 16 px).
        num_masking_patches: patches to mask per image (75 of 196 in BEiT v2).
        min_num_patches: the smallest block area (16).
        max_num_patches: the largest block area (default: no limit beyond
            the remaining budget, as in the official generator).
        min_aspect: the smallest block aspect ratio (0.3).
        max_aspect: the largest (default ``1 / min_aspect``).
        max_attempts: tries per block before giving up (10).
    """

    def __init__(self,
                 input_size: Union[int, Sequence[int]] = 14,
                 num_masking_patches: int = 75,
                 min_num_patches: int = 16,
                 max_num_patches: Optional[int] = None,
                 min_aspect: float = 0.3,
                 max_aspect: Optional[float] = None,
                 max_attempts: int = 10):
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        if len(input_size) != 2 or min(input_size) < 1:
            raise ValueError(f'input_size must be a positive int or (h, w), '
                             f'got {input_size!r}')
        self.height, self.width = int(input_size[0]), int(input_size[1])
        self.num_patches = self.height * self.width
        if not 0 <= num_masking_patches <= self.num_patches:
            raise ValueError(
                f'num_masking_patches={num_masking_patches} but the '
                f'{self.height}x{self.width} grid has {self.num_patches} '
                f'patches; use at most {self.num_patches} (BEiT v2 masks '
                f'about 40%, 75 of 196).')
        if max_num_patches is None:
            max_num_patches = num_masking_patches
        if min_num_patches < 1 or min_num_patches > max_num_patches:
            raise ValueError(
                f'min_num_patches={min_num_patches} must be >= 1 and <= '
                f'max_num_patches={max_num_patches} (which defaults to '
                f'num_masking_patches); lower min_num_patches.')
        max_aspect = max_aspect or 1. / min_aspect
        if not 0 < min_aspect <= max_aspect:
            raise ValueError(f'need 0 < min_aspect <= max_aspect, got '
                             f'{min_aspect}, {max_aspect}')
        if max_attempts < 1:
            raise ValueError('max_attempts must be >= 1')
        self.num_masking_patches = int(num_masking_patches)
        self.min_num_patches = int(min_num_patches)
        self.max_num_patches = int(max_num_patches)
        self.log_aspect_ratio = (math.log(min_aspect), math.log(max_aspect))
        self.max_attempts = max_attempts

    # ------------------------------------------------------------ stages
    def _draw_block(self, mask: np.ndarray, budget: int, rng
                    ) -> Optional[Tuple[int, int, int, int]]:
        """Try to place one block masking 1..``budget`` new patches.

        Returns (top, left, h, w) of the block it masked, or None.
        """
        for _ in range(self.max_attempts):
            area = rng.uniform(self.min_num_patches,
                               max(budget, self.min_num_patches))
            aspect = math.exp(rng.uniform(*self.log_aspect_ratio))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if h * w < self.min_num_patches:
                continue
            if h >= self.height or w >= self.width:
                continue
            top = rng.randint(0, self.height - h + 1)
            left = rng.randint(0, self.width - w + 1)
            window = mask[top:top + h, left:left + w]
            new = h * w - int(window.sum())
            if 0 < new <= budget:
                window[...] = True
                return top, left, h, w
        return None

    def _top_up(self, mask: np.ndarray, count: int, rng) -> None:
        """Mask ``count`` more patches, each adjacent to the masked area."""
        for _ in range(count):
            if mask.any():
                grown = mask.copy()
                grown[1:] |= mask[:-1]
                grown[:-1] |= mask[1:]
                grown[:, 1:] |= mask[:, :-1]
                grown[:, :-1] |= mask[:, 1:]
                candidates = np.flatnonzero(grown & ~mask)
            else:
                candidates = np.flatnonzero(~mask)
            mask.flat[candidates[rng.randint(len(candidates))]] = True

    def generate(self, rng=None, return_blocks: bool = False
                 ) -> Union[np.ndarray, Tuple[np.ndarray, List[tuple]]]:
        """One mask (h, w) bool with exactly ``num_masking_patches`` True.

        rng: a ``np.random.RandomState`` (default: numpy's global one).
        return_blocks: also return the placed blocks as (top, left, h, w).
        """
        rng = np.random if rng is None else rng
        mask = np.zeros((self.height, self.width), dtype=bool)
        blocks = []
        count = 0
        while count < self.num_masking_patches:
            budget = min(self.num_masking_patches - count,
                         self.max_num_patches)
            block = self._draw_block(mask, budget, rng)
            if block is None:
                break
            blocks.append(block)
            count = int(mask.sum())
        if count < self.num_masking_patches:
            self._top_up(mask, self.num_masking_patches - count, rng)
        return (mask, blocks) if return_blocks else mask

    def transform(self, results: dict) -> dict:
        results['mask'] = self.generate()
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size=({self.height}, '
                f'{self.width}), num_masking_patches='
                f'{self.num_masking_patches}, min_num_patches='
                f'{self.min_num_patches}, max_num_patches='
                f'{self.max_num_patches}, max_attempts={self.max_attempts})')
