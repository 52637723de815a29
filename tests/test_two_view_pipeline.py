import copy
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate

import beit2mm  # noqa: F401
from beit2mm.registry import DATASETS, MODELS, TRANSFORMS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def pipeline(scale=64, second_scale=32, grid=4, masked=6):
    """The config's pipeline with small sizes."""
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/datasets/imagenet_beitv2.py'))
    pipe = copy.deepcopy(cfg.train_pipeline)
    pipe[1].update(scale=scale, second_scale=second_scale)
    pipe[2].update(input_size=grid, num_masking_patches=masked,
                   min_num_patches=2)
    return pipe


def test_same_crop_resized_twice():
    """The tokenizer view is the student's crop at another size."""
    crop = TRANSFORMS.build(dict(type='TwoViewRandomResizedCrop', scale=64,
                                 second_scale=32))
    yy, xx = np.mgrid[0:120, 0:160]
    img = np.stack([xx * 255 // 159, yy * 255 // 119,
                    (xx + yy) * 255 // 278], -1).astype(np.uint8)
    for seed in range(5):
        np.random.seed(seed)
        out = crop({'img': img})
        student, tok = out['img']
        assert student.shape == (64, 64, 3) and tok.shape == (32, 32, 3)
        small = torch.nn.functional.avg_pool2d(
            torch.from_numpy(student).permute(2, 0, 1)[None].float(), 2)
        diff = (small[0].permute(1, 2, 0) - torch.from_numpy(tok).float())
        assert diff.abs().mean() < 3  # same content, resampled
        left, top, right, bottom = out['crop_bbox']
        area = (right - left) * (bottom - top) / (120 * 160)
        assert 0.19 < area <= 1.0


@pytest.mark.parametrize('kind', ['CustomDataset', 'ImageNet'])
def test_pipeline_with_mmpretrain_datasets(kind, image_folder):
    """Both dataset types read the class-folder layout; ImageNet through its
    meta/train.txt list (a folder scan would expect 1000 classes)."""
    ds_cfg = dict(type=kind, data_root=image_folder, data_prefix='train',
                  pipeline=pipeline())
    if kind == 'ImageNet':
        os.makedirs(osp.join(image_folder, 'meta'), exist_ok=True)
        with open(osp.join(image_folder, 'meta', 'train.txt'), 'w') as f:
            for c, cls in enumerate(('a', 'b')):
                for i in range(4):
                    f.write(f'{cls}/{cls}_{i}.JPEG {c}\n')
        ds_cfg['ann_file'] = 'meta/train.txt'
    dataset = DATASETS.build(ds_cfg)
    assert len(dataset) == 8
    batch = default_collate([dataset[i] for i in range(3)])
    student, tok = batch['inputs']
    assert student.shape == (3, 3, 64, 64) and tok.shape == (3, 3, 32, 32)
    masks = [s.mask for s in batch['data_samples']]
    assert all(m.shape == (4, 4) and m.sum() == 6 for m in masks)

    pre = MODELS.build(dict(type='beit2mm.BEiTv2DataPreprocessor'))
    out = pre(batch, training=True)
    x, x_tok = out['inputs']
    # tokenizer view: RGB / 127.5 - 1 in [-1, 1]
    raw = batch['inputs'][1].float().flip(1)  # BGR -> RGB
    torch.testing.assert_close(x_tok, raw / 127.5 - 1)
    assert x_tok.min() >= -1 and x_tok.max() <= 1
    # student view: ImageNet mean / std
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    torch.testing.assert_close(
        x, (batch['inputs'][0].float().flip(1) - mean) / std)
    mask = out['mask']
    assert mask.shape == (3, 16) and mask.dtype == torch.bool
    assert torch.equal(mask.flatten().nonzero().squeeze(1),
                       out['mask_index'])
    assert out["mask_index"].numel() == 18
    # equal counts (BlockwiseMaskGenerator): [CLS] + masked positions + 1
    q = out["query_index"]
    assert q.shape == (3, 7) and (q[:, 0] == 0).all()
    torch.testing.assert_close(
        (q[:, 1:] - 1 + 16 * torch.arange(3)[:, None]).flatten(),
        out["mask_index"])
