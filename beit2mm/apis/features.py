"""Tokens and features of images, with the config's test-time preprocessing.

Images may be given as one or a list of: file paths; ``PIL.Image``; numpy
arrays (H, W, 3) uint8 in **RGB** order (what ``np.asarray(Image.open(p))``
gives); tensors (3, H, W) or a batch (B, 3, H, W), RGB, values 0..255 (any
dtype, any device). Every image goes through the config's test pipeline
(files: including its ``LoadImageFromFile``; the others: after it), then the
config's normalisation, in batches of ``batch_size`` on the model's device.

    model = init_model('configs/vqkd/vqkd_vit-b_clip-b16_100e_in1k.py',
                       'checkpoints/vqkd_clip.pth')
    ids = tokenize(model, ['a.jpg', 'b.jpg'])          # (2, 14, 14) long
    feats = extract_features(model, 'a.jpg')           # (1, 768) [CLS]
"""
from typing import List, Optional

import numpy as np
import torch
from mmengine.dataset import Compose, default_collate

POOLINGS = ('cls', 'mean', 'patch')


def _as_list(images) -> list:
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        return list(images)
    if isinstance(images, (list, tuple)):
        return list(images)
    return [images]


def _to_bgr(image) -> np.ndarray:
    """PIL / RGB ndarray / RGB tensor -> (H, W, 3) uint8 BGR (mmcv order)."""
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f'image tensors must be (3, H, W) or '
                             f'(B, 3, H, W) RGB 0..255, got '
                             f'{tuple(image.shape)}')
        image = image.detach().float().round().clamp(0, 255).to(
            torch.uint8).permute(1, 2, 0).cpu().numpy()
    elif hasattr(image, 'convert') and hasattr(image, 'size'):  # PIL
        image = np.asarray(image.convert('RGB'))
    if not isinstance(image, np.ndarray):
        raise TypeError(f'unsupported image type {type(image).__name__}; '
                        f'give a path, PIL image, numpy array or tensor.')
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'numpy images must be (H, W, 3) RGB, got '
                         f'{image.shape}')
    if image.dtype != np.uint8:
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image[..., ::-1])


def _is_load(t: dict) -> bool:
    return 'LoadImage' in str(t.get('type', ''))


class Preprocess:
    """The model's test pipeline as two callables: for files and for
    decoded images."""

    def __init__(self, pipeline: List[dict]):
        from beit2mm.registry import TRANSFORMS
        from mmengine.registry import init_default_scope
        init_default_scope('beit2mm')
        self.from_file = Compose([TRANSFORMS.build(t) for t in pipeline])
        self.from_array = Compose(
            [TRANSFORMS.build(t) for t in pipeline if not _is_load(t)])

    def __call__(self, image) -> dict:
        if isinstance(image, str) or hasattr(image, '__fspath__'):
            return self.from_file(dict(img_path=str(image)))
        img = _to_bgr(image)
        return self.from_array(dict(img=img, img_shape=img.shape[:2],
                                    ori_shape=img.shape[:2]))


def preprocess(model, images, batch_size: int = 32):
    """Yield normalised batches (b, 3, H, W) on the model's device."""
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if getattr(model, '_preprocess', None) is None:
        model._preprocess = Preprocess(model.pipeline)
    items = _as_list(images)
    for start in range(0, len(items), batch_size):
        data = default_collate([model._preprocess(x) for x in
                                items[start:start + batch_size]])
        yield model.data_preprocessor(data, False)['inputs']


def tokenize(model, images, batch_size: int = 32) -> torch.Tensor:
    """VQ-KD code ids, the same as ``VQKDTokenizer.get_tokens`` on the
    preprocessed images: (B, h, w) long on the model's device (h, w the
    tokenizer's grid; ``.flatten(1)`` gives the paper's (B, N) sequence).

    ``model``: an :class:`~.inference.InferenceModel` of a VQ-KD config
    (or a bare ``VQKDTokenizer`` with inputs already in [-1, 1], a tensor).
    """
    tok = getattr(model, 'tokenizer', None)
    if tok is None and hasattr(model, 'get_tokens'):
        return model.get_tokens(images)
    if tok is None:
        raise ValueError(
            f'tokenize needs a tokenizer, but this is a {model.kind!r} model; '
            f'build it with init_model(VQKD_CONFIG, VQKD_CHECKPOINT), e.g. '
            f'configs/vqkd/vqkd_vit-b_clip-b16_100e_in1k.py (the pretraining '
            f'checkpoints do not contain their tokenizer).')
    out = [tok.get_tokens(x) for x in preprocess(model, images, batch_size)]
    return torch.cat(out)


def features_from_tensor(model, x: torch.Tensor, layer: Optional[int] = None,
                         pooling: str = 'cls',
                         norm: bool = True) -> torch.Tensor:
    """Features of normalised images x (B, 3, H, W).

    layer: 1-based block number (the paper's "layer 9"), None or -1 for the
    last; pooling: 'cls' -> (B, C) [CLS] token, 'mean' -> (B, C) mean of
    the patch tokens, 'patch' -> (B, C, h, w) patch tokens as a map.
    norm: at the last layer, apply the model's own final normalisation --
    ``norm`` of the tokens (pretraining / linear probe backbones; the
    tokenizer encoder's ``fc_norm`` on the patches) or, with 'mean',
    ``fc_norm`` of the mean (fine-tuned backbones: the classifier's input).
    Intermediate layers are the raw block outputs (as segmentation reads).
    """
    if pooling not in POOLINGS:
        raise ValueError(f'pooling={pooling!r}; use one of {POOLINGS}')
    bb = model.backbone
    depth = bb.num_layers
    layer = depth if layer in (None, -1) else layer
    if layer < 0:
        layer = depth + 1 + layer
    with torch.no_grad():
        out = bb.forward_features(x, return_layers=[layer])
        tokens = out.hidden[layer]  # (B, 1+N, C)
        last = layer == depth
        tok_norm = getattr(bb, 'norm', None)
        fc_norm = getattr(bb, 'fc_norm', None)
        if norm and last and model.kind == 'tokenizer':
            tokens = torch.cat([tokens[:, :1], fc_norm(tokens[:, 1:])], 1)
        elif norm and last and tok_norm is not None:
            tokens = tok_norm(tokens)
        if pooling == 'cls':
            return tokens[:, 0]
        if pooling == 'mean':
            feat = tokens[:, 1:].mean(1)
            if norm and last and model.kind != 'tokenizer' \
                    and fc_norm is not None:
                feat = fc_norm(feat)
            return feat
        h, w = bb.patch_resolution
        return tokens[:, 1:].transpose(1, 2).reshape(x.shape[0], -1, h, w)


def extract_features(model, images, layer: Optional[int] = None,
                     pooling: str = 'cls', norm: bool = True,
                     batch_size: int = 32) -> torch.Tensor:
    """Backbone features of images (see :func:`features_from_tensor` for
    ``layer`` / ``pooling`` / ``norm``): (B, C) or (B, C, h, w) on the
    model's device, for every model kind (the tokenizer's encoder, the
    pretraining student, a fine-tuned or segmentation backbone)."""
    out = [features_from_tensor(model, x, layer, pooling, norm)
           for x in preprocess(model, images, batch_size)]
    return torch.cat(out)

