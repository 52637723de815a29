"""tools/visualization: token maps, codebook usage / perplexity, the Fig. 4
patch grid (vis_tokens.py) and the pretraining views and masks
(browse_dataset.py), on images and a tokenizer checkpoint the test writes."""
import importlib
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from beit2mm.visualization.tokens import (distinct_palette, token_map_rgb,
                                          token_statistics)
from beit2mm.visualization.views import apply_pipeline, masked_view

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
VQKD = osp.join(ROOT, 'configs/vqkd/vqkd_vit-tiny_shapes-64px_cpu.py')
PRETRAIN_TINY = osp.join(ROOT, 'projects/tiny_beitv2/configs/'
                         'beitv2_tiny_shapes64.py')
PRETRAIN = osp.join(ROOT, 'configs/beitv2_vit-b_300e.py')


def _tool(name):
    """The module that tools/visualization/<name>.py runs."""
    return importlib.import_module(f'beit2mm.tools.visualization.{name}')


@pytest.fixture(scope='module')
def image_dir(tmp_path_factory):
    """Five JPEGs/PNGs of different sizes in a nested folder."""
    d = tmp_path_factory.mktemp('images')
    (d / 'sub').mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(80, 96), (64, 64), (120, 70), (72, 72),
                                (90, 64)]):
        yy, xx = np.mgrid[:h, :w]
        img = np.stack([xx * 255 / w, yy * 255 / h,
                        ((xx // 16 + yy // 16) % 2) * 200.], -1)
        img = np.clip(img + rng.normal(0, 20, (h, w, 3)), 0, 255)
        ext = 'jpg' if i % 2 == 0 else 'png'
        where = d / 'sub' if i >= 3 else d
        Image.fromarray(img.astype(np.uint8)).save(str(where / f'im{i}.{ext}'))
    return str(d)


def test_token_map_has_one_colour_per_distinct_id():
    palette = distinct_palette(8192)
    assert len(np.unique(palette, axis=0)) == 8192  # no two codes alike
    tokens = np.array([[3, 3, 7], [7, 8190, 0], [3, 0, 0]])
    rgb = token_map_rgb(tokens, palette, patch=4)
    assert rgb.shape == (12, 12, 3)
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) == 4
    # each patch is its code's colour
    assert (rgb[4:8, 4:8] == palette[8190]).all()
    assert (rgb[0:4, 8:12] == palette[7]).all()


def test_perplexity_is_exp_entropy_of_the_histogram():
    tokens = np.array([0] * 4 + [1] * 2 + [5] + [9])  # p = 1/2, 1/4, 1/8, 1/8
    stats = token_statistics(tokens.reshape(2, 4), num_codes=16)
    entropy = -(0.5 * math.log(0.5) + 0.25 * math.log(0.25)
                + 2 * 0.125 * math.log(0.125))
    assert stats['perplexity'] == pytest.approx(math.exp(entropy), rel=1e-6)
    assert stats['codebook_usage'] == pytest.approx(25.0)  # 4 of 16
    assert stats['codes_used'] == 4 and stats['num_tokens'] == 8
    assert stats['counts'][:6] == [4, 2, 0, 0, 0, 1]
    uniform = token_statistics(np.arange(16), 16)
    assert uniform['perplexity'] == pytest.approx(16.0, rel=1e-5)
    with pytest.raises(ValueError, match='num_codes'):
        token_statistics(np.array([16]), 16)


@pytest.mark.parametrize('with_config', [True, False])
def test_vis_tokens_tool(image_dir, tmp_path, with_config):
    from beit2mm.apis import init_model, tokenize
    from beit2mm.models.tokenizers import VQKDTokenizer
    from beit2mm.visualization.tokens import list_images
    cfg = Config.fromfile(VQKD)
    args = {k: v for k, v in cfg.model.to_dict().items()
            if k not in ('type', 'data_preprocessor', 'teacher')}
    torch.manual_seed(0)
    tok = VQKDTokenizer(**args).freeze()
    ckpt = str(tmp_path / 'vqkd.pth')
    # a training checkpoint records the architecture (meta['vqkd']), so the
    # tool needs no config
    torch.save({'state_dict': tok.state_dict(),
                'meta': tok.checkpoint_meta()}, ckpt)
    out = str(tmp_path / 'out')
    argv = [ckpt, image_dir, '--out-dir', out, '--num-codes', '4',
            '--per-code', '3', '--max-maps', '2']
    assert _tool('vis_tokens').main(
        argv + (['--config', VQKD] if with_config else [])) == 0

    images = list_images(image_dir)
    assert len(images) == 5  # nested folder, jpg and png
    stats = json.load(open(osp.join(out, 'token_stats.json')))
    options = None
    if not with_config:  # documented default: short side 64 / 0.875, crop
        options = {'test_dataloader.dataset.pipeline': [
            dict(type='LoadImageFromFile'),
            dict(type='ResizeEdge', scale=73, edge='short',
                 backend='pillow', interpolation='bicubic'),
            dict(type='CenterCrop', crop_size=64), dict(type='PackInputs')]}
    ids = tokenize(init_model(VQKD, ckpt, device='cpu', cfg_options=options),
                   images)
    counts = torch.bincount(ids.flatten(), minlength=tok.num_codes)
    assert stats['counts'] == counts.tolist()
    assert stats['num_tokens'] == 5 * 8 * 8
    assert stats['codebook_usage'] == pytest.approx(
        float((counts > 0).float().mean() * 100))
    p = counts.float() / counts.sum()
    p = p[p > 0]
    assert stats['perplexity'] == pytest.approx(
        float(torch.exp(-(p * p.log()).sum())), rel=1e-5)
    # the grid shows the most used codes, most used first
    top = torch.argsort(-counts, stable=True)[:4].tolist()
    assert stats['codes_shown'] == top
    for name in ('codebook_patches.png', 'codebook_usage.png',
                 'token_maps/im0.png', 'token_maps/im1.png'):
        img = Image.open(osp.join(out, name))
        assert min(img.size) > 200  # a picture, legible
    assert not osp.exists(osp.join(out, 'token_maps', 'im2.png'))  # max 2


def test_masked_view_greys_exactly_the_masked_patches():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    mask = np.zeros((4, 6), bool)
    mask[1, 2] = mask[3, 5] = mask[0, 0] = True
    out = masked_view(img, mask, alpha=1.0)
    full = np.repeat(np.repeat(mask, 8, 0), 8, 1)
    assert (out[full] == 128).all()
    assert (out[~full] == img[~full]).all()
    with pytest.raises(ValueError, match='patch size'):
        masked_view(img[:30], mask)


@pytest.mark.parametrize('config,grid,masked', [
    (PRETRAIN_TINY, 8, 25),  # separate ColorJitter / flip / two-view crop
    (PRETRAIN, 14, 75),      # the recipe's safe loading + fused crop
])
def test_pretraining_views(image_dir, config, grid, masked):
    """The views the config's pipeline makes: the crop box drawn on the
    augmented image is where the views come from (flips included), the mask
    has the recipe's count."""
    from mmengine.registry import init_default_scope

    from beit2mm.registry import TRANSFORMS
    from beit2mm.visualization.views import pretraining_pipeline
    from beit2mm.visualization.tokens import list_images
    init_default_scope('beit2mm')
    transforms = [TRANSFORMS.build(t) for t in
                  pretraining_pipeline(Config.fromfile(config))]
    np.random.seed(1)
    for path in list_images(image_dir) * 2:
        s = apply_pipeline(transforms, path)
        assert s['mask'].shape == (grid, grid)
        assert s['mask'].sum() == masked
        tv = s['tokenizer'].astype(float)
        assert s['student'].shape == s['tokenizer'].shape
        x0, y0, x1, y1 = s['crop_bbox']
        crop = Image.fromarray(np.ascontiguousarray(
            s['before_crop'][y0:y1, x0:x1])).resize(tv.shape[1::-1],
                                                    Image.BICUBIC)
        crop = np.asarray(crop, float).mean(-1)
        corr = np.corrcoef(crop.ravel(), tv.mean(-1).ravel())[0, 1]
        flipped = np.asarray(crop)[:, ::-1]
        corr_flip = np.corrcoef(flipped.ravel(), tv.mean(-1).ravel())[0, 1]
        assert corr > 0.95 and corr > corr_flip + 0.05
    with pytest.raises(ValueError, match='mask generator'):
        pretraining_pipeline(Config.fromfile(VQKD))


def test_browse_dataset_tool(image_dir, tmp_path):
    out = str(tmp_path / 'views')
    assert _tool('browse_dataset').main(
        [PRETRAIN_TINY, image_dir, '--out-dir', out, '--per-figure', '3',
         '--max-images', '5']) == 0
    for name in ('views_0.png', 'views_1.png'):  # 3 + 2 images
        img = Image.open(osp.join(out, name))
        assert img.size[0] > 800
    assert not osp.exists(osp.join(out, 'views_2.png'))
