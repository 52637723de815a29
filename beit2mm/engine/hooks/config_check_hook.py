"""Cross-checks between the data pipeline and the model, before iteration 1.

Each component already rejects its own bad arguments when it is built
(image size not divisible by the patch size, more masked patches than the
mask grid holds, early layer index >= depth, tokenizer vocabulary != head
classes, missing tokenizer checkpoint, unknown teacher). What no single
component can see is whether the *pipeline* feeds the *model* what it was
built for; a mismatch would otherwise surface as a shape error in the first
forward pass, after the whole run has been set up on every GPU.
"""
from typing import List, Optional, Sequence, Tuple

from mmcv.transforms import CenterCrop
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.datasets.transforms import (EfficientNetCenterCrop,
                                            EfficientNetRandomCrop,
                                            RandomResizedCrop)

from beit2mm.datasets.transforms import (BlockwiseMaskGenerator,
                                         FusedRandomResizedCrop,
                                         TwoViewRandomResizedCrop)
from beit2mm.models.backbones import BEiTv2ViT
from beit2mm.models.tokenizers import VQKDTokenizer
from beit2mm.registry import HOOKS


def _hw(size) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    return tuple(int(s) for s in size)


def _same(a: Tuple[int, int], b: Tuple[int, int]) -> bool:
    """Equal sizes; (h, w) vs (w, h) conventions differ between transforms,
    so a swapped pair of a non-square size is accepted too."""
    return a == b or a == b[::-1]


def _size_mismatch(made: Optional[Tuple[int, int]], module, name: str,
                   what: str, fix: str) -> Optional[str]:
    """The message for a pipeline that makes ``made`` (h, w) ``what`` for
    ``module`` (called ``name``) built at another ``img_size``, or None when
    they agree or either size is unknown. ``fix`` names the change and may
    use ``{want}`` (the module's side) and ``{made}``."""
    want = _hw(getattr(module, 'img_size', None))
    if made is None or want is None or _same(made, want):
        return None
    return (f'makes {made[0]}x{made[1]} {what} but the '
            f'{name} is built for {want[0]}x{want[1]}; '
            + fix.format(want=want[0], made=made[0]) + '.')


def _transforms(loop) -> Sequence:
    dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
    pipeline = getattr(dataset, 'pipeline', None)
    return getattr(pipeline, 'transforms', None) or []


def _output_sizes(transforms) -> Tuple[Optional[tuple], Optional[tuple],
                                       Optional[object]]:
    """(image size, second view size, mask generator) the pipeline makes:
    the last crop / resize-to-size transform decides the image size."""
    size = second = mask = None
    for t in transforms:
        if isinstance(t, TwoViewRandomResizedCrop):
            size, second = _hw(t.scale), _hw(t.second_scale)
        elif isinstance(t, FusedRandomResizedCrop):
            size = _hw(t.scale)
            second = _hw(t.second_scale) if t.second_scale else None
        elif isinstance(t, (RandomResizedCrop, EfficientNetRandomCrop)):
            size = _hw(getattr(t, 'scale', None))
        elif isinstance(t, (CenterCrop, EfficientNetCenterCrop)):
            size = _hw(getattr(t, 'crop_size', None))
        elif isinstance(t, BlockwiseMaskGenerator):
            mask = t
    return size, second, mask


def _check(model, transforms, split: str) -> List[str]:
    size, second, mask = _output_sizes(transforms)
    errors = []
    backbone = getattr(model, 'backbone', None)
    tokenizer = getattr(model, 'tokenizer', None)
    if isinstance(model, VQKDTokenizer):
        backbone, tokenizer = model.encoder, None
    # only our ViT: it has a fixed patch grid (shared relative position
    # bias) and rejects other sizes; other backbones may resize on the fly
    if not isinstance(backbone, BEiTv2ViT):
        backbone = None
    checks = (
        (backbone, size, 'model', 'images',
         'set the crop size (e.g. RandomResizedCrop scale / '
         'TwoViewRandomResizedCrop scale) to {want} or the model img_size '
         'to {made}'),
        (tokenizer, second, 'tokenizer', 'tokenizer views',
         'set TwoViewRandomResizedCrop second_scale={want}'))
    for module, made, name, what, fix in checks:
        message = _size_mismatch(made, module, name, what, fix)
        if message is not None:
            errors.append(f'the {split} pipeline {message}')
    if mask is not None and backbone is not None:
        grid = tuple(backbone.patch_resolution)
        if (mask.height, mask.width) != grid:
            errors.append(
                f'BlockwiseMaskGenerator masks a {mask.height}x{mask.width} '
                f'grid but the student has {grid[0]}x{grid[1]} patches; set '
                f'its input_size={grid} (image size / patch size) and keep '
                f'num_masking_patches <= {grid[0] * grid[1]} (BEiT v2: about '
                f'40%, 75 of 196).')
    return errors


@HOOKS.register_module()
class ConfigCheckHook(Hook):
    """Before the first iteration, check that the train (and val) pipelines
    produce what the model was built for: image size vs the backbone's /
    tokenizer encoder's ``img_size``, the tokenizer view vs the tokenizer,
    the mask generator's grid vs the student's patch grid. All mismatches
    are reported at once in a ``ValueError`` naming the fix."""

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        # Runner.train() has built both loops by now (before_run also runs
        # for test-only runs, where runner.train_loop would build one)
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        errors = []
        for split, loop in (('train', runner.train_loop),
                            ('val', runner.val_loop)):
            if loop is not None:
                errors += _check(model, _transforms(loop), split)
        if errors:
            raise ValueError('config mistakes found before training:\n  - ' +
                             '\n  - '.join(errors))
