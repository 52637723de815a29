"""Block-wise masking of BEiT (Bao et al. 2021, Alg. 1); BEiT v2 Sec. 2.3."""
import math
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform

from beit2mm.registry import TRANSFORMS

MODES = ('official', 'clustered')


@TRANSFORMS.register_module()
class BlockwiseMaskGenerator(BaseTransform):
    """Mask exactly ``num_masking_patches`` patches of an h x w grid in blocks.

    ``mode='official'`` (default) draws the distribution of the official BEiT
    v2 ``MaskingGenerator``. Blocks are drawn while the budget lasts; with
    ``budget = min(remaining, max_num_patches)`` a block's target area ``s``
    is uniform between ``min_num_patches`` and ``budget`` (also when the
    budget is below ``min_num_patches``: then it lies between the two) and its
    aspect ratio ``r`` log-uniform in ``[min_aspect, max_aspect]``; the block
    is ``round(sqrt(s r)) x round(sqrt(s / r))`` at a uniform position. A
    block that fits strictly inside the grid is kept when it masks between 1
    and ``budget`` new patches (overlaps are allowed); ``max_attempts`` tries
    per block, and the block loop ends at the first block that masks nothing.
    The count is then made exactly ``num_masking_patches`` by masking
    uniformly random unmasked patches (or unmasking random masked ones if
    over), so small budgets leave scattered single patches, as in the paper's
    implementation.

    ``mode='clustered'`` is a more clustered variant: the area is never drawn
    below ``min_num_patches``, blocks smaller than ``min_num_patches`` are
    rejected, and the missing patches are added one at a time next to the
    masked area (random ones only if the mask is empty). Its masks are mostly
    one piece; it is not what the official recipe trains on.

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
        min_num_patches: the smallest target block area (16 in the BEiT v2
            recipe).
        max_num_patches: the largest block area (default
            ``num_masking_patches``, i.e. no limit beyond the remaining
            budget, as in the official generator).
        min_aspect: the smallest block aspect ratio (0.3).
        max_aspect: the largest (default ``1 / min_aspect``).
        max_attempts: tries per block before giving up (10).
        mode: ``'official'`` (default) or ``'clustered'``, see above.
    """

    def __init__(self,
                 input_size: Union[int, Sequence[int]] = 14,
                 num_masking_patches: int = 75,
                 min_num_patches: int = 16,
                 max_num_patches: Optional[int] = None,
                 min_aspect: float = 0.3,
                 max_aspect: Optional[float] = None,
                 max_attempts: int = 10,
                 mode: str = 'official'):
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
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}; use 'official' (the official "
                             f"BEiT v2 mask distribution) or 'clustered'.")
        self.num_masking_patches = int(num_masking_patches)
        self.min_num_patches = int(min_num_patches)
        self.max_num_patches = int(max_num_patches)
        self.log_aspect_ratio = (math.log(min_aspect), math.log(max_aspect))
        self.max_attempts = max_attempts
        self.mode = mode

    # ------------------------------------------------------------ stages
    def _draw_block(self, mask: np.ndarray, budget: int, rng
                    ) -> Optional[Tuple[int, int, int, int]]:
        """Try to place one block masking 1..``budget`` new patches.

        Returns (top, left, h, w) of the block it masked, or None.
        """
        clustered = self.mode == 'clustered'
        low = self.min_num_patches
        high = max(budget, low) if clustered else budget
        for _ in range(self.max_attempts):
            # uniform between low and high in either order (official)
            area = low + (high - low) * rng.random_sample()
            aspect = math.exp(rng.uniform(*self.log_aspect_ratio))
            h = int(round(math.sqrt(area * aspect)))
            w = int(round(math.sqrt(area / aspect)))
            if clustered and h * w < self.min_num_patches:
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

    @staticmethod
    def _top_up_adjacent(mask: np.ndarray, count: int, rng) -> None:
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

    def _fix_count_uniform(self, mask: np.ndarray, rng) -> None:
        """Mask (or unmask) uniformly random patches to reach the count."""
        diff = self.num_masking_patches - int(mask.sum())
        if diff != 0:
            # diff > 0: flip unmasked patches on; diff < 0: masked ones off
            pool = np.flatnonzero(~mask if diff > 0 else mask)
            mask.flat[rng.choice(pool, abs(diff), replace=False)] = diff > 0

    def generate(self, rng=None, return_blocks: bool = False
                 ) -> Union[np.ndarray, Tuple[np.ndarray, List[tuple]]]:
        """One mask (h, w) bool with exactly ``num_masking_patches`` True.

        rng: a ``np.random.RandomState`` (default: numpy's global one).
        return_blocks: also return the placed blocks as (top, left, h, w)
            (patches added by the final top-up belong to no block).
        """
        rng = np.random if rng is None else rng
        mask = np.zeros((self.height, self.width), dtype=bool)
        blocks = []
        count = 0
        while count < self.num_masking_patches:
            budget = min(self.num_masking_patches - count,
                         self.max_num_patches)
            block = self._draw_block(mask, budget, rng)
            if block is None:  # a block that adds nothing ends the loop
                break
            blocks.append(block)
            count = int(mask.sum())
        if self.mode == 'official':
            self._fix_count_uniform(mask, rng)
        elif count < self.num_masking_patches:
            self._top_up_adjacent(mask, self.num_masking_patches - count, rng)
        return (mask, blocks) if return_blocks else mask

    def transform(self, results: dict) -> dict:
        results['mask'] = self.generate()
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size=({self.height}, '
                f'{self.width}), num_masking_patches='
                f'{self.num_masking_patches}, min_num_patches='
                f'{self.min_num_patches}, max_num_patches='
                f'{self.max_num_patches}, max_attempts={self.max_attempts}, '
                f'mode={self.mode!r})')
