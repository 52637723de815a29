"""The device-decode VQ-KD recipe (configs/vqkd/*_device-decode.py) gives
what the CPU pipeline gives: the same random crops and flips, pixels within
the stated tolerance (PyTorch's float antialiased resize vs Pillow's fixed
point), the same pixels for files the loader still decodes itself, and a
corrupt JPEG found only by the device decoder is replaced, not fatal. Run
here on CPU tensors (the same code runs on CUDA with nvJPEG)."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from PIL import Image

import beit2mm  # noqa: F401
from beit2mm.registry import MODELS, TRANSFORMS
from beit2mm.tools.benchmark.pipeline import write_photo_jpegs

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEVICE_CFG = osp.join(ROOT, 'configs/vqkd/'
                      'vqkd_vit-b_clip-b16_100e_in1k_device-decode.py')
CPU_CFG = osp.join(ROOT, 'configs/vqkd/vqkd_vit-b_clip-b16_100e_in1k.py')
# measured on these photo-like files: max 3 levels, mean 0.17
MAX_LEVELS, MEAN_LEVELS = 4, 0.3


def pipeline(cfg):
    return Compose([TRANSFORMS.build(dict(t)) for t in cfg.train_pipeline])


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp('imgs')
    paths = write_photo_jpegs(str(d), 6, size=(160, 120))
    # files the loader decodes itself in both recipes: PNG, grayscale JPEG
    Image.open(paths[0]).save(d / 'x.png')
    Image.open(paths[1]).convert('L').save(d / 'gray.jpg', quality=90)
    paths += [str(d / 'x.png'), str(d / 'gray.jpg')]
    device_cfg, cpu_cfg = Config.fromfile(DEVICE_CFG), Config.fromfile(CPU_CFG)
    return (paths, pipeline(device_cfg), pipeline(cpu_cfg),
            MODELS.build(device_cfg.model.data_preprocessor),
            MODELS.build(cpu_cfg.model.data_preprocessor))


def test_device_path_matches_the_cpu_pipeline(setup):
    paths, device, cpu, pre, cpu_pre = setup
    for seed in range(4):
        dev_items, cpu_items = [], []
        for i, p in enumerate(paths):
            np.random.seed(seed * 100 + i)
            dev_items.append(device(dict(img_path=p)))
            np.random.seed(seed * 100 + i)
            cpu_items.append(cpu(dict(img_path=p)))
        encoded = [x['inputs'].ndim == 1 for x in dev_items]
        assert encoded == [p.endswith('.JPEG') for p in paths]
        for a, b in zip(dev_items, cpu_items):
            assert a['data_samples'].flip == b['data_samples'].flip
        batch = pseudo_collate(dev_items)
        views = pre.decode(list(batch['inputs']), batch['data_samples'])
        for view, item, enc in zip(views, cpu_items, encoded):
            ref = item['inputs']
            assert view.shape == ref.shape == (3, 224, 224)
            d = (view.int() - ref.int()).abs()
            if enc:
                assert d.max() <= MAX_LEVELS and d.float().mean() <= \
                    MEAN_LEVELS, (d.max(), d.float().mean())
            else:
                assert d.max() == 0
        # the whole preprocessor = mmpretrain's on the CPU batch (normalised)
        out = pre(batch, training=True)['inputs']
        ref = cpu_pre(pseudo_collate(cpu_items), training=True)['inputs']
        assert out.shape == ref.shape
        assert (out - ref).abs().max() <= MAX_LEVELS / 127.5 + 1e-6


def test_stacked_inputs_pass_through(setup):
    """Validation (default_collate, no encoded images) is untouched."""
    _, _, cpu, pre, cpu_pre = setup
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    data = dict(inputs=x, data_samples=None)
    assert torch.equal(pre(dict(data))['inputs'],
                       cpu_pre(dict(data))['inputs'])


def test_corrupt_jpeg_is_replaced_and_a_missing_plan_is_named(setup):
    paths, device, _, pre, _ = setup
    np.random.seed(0)
    good = device(dict(img_path=paths[2]))
    np.random.seed(0)
    bad = device(dict(img_path=paths[3]))
    # headers fine as far as the loader looks, data no decoder takes
    bad['inputs'] = torch.tensor(list(b'\xff\xd8' + bytes(50) + b'\xff\xd9'),
                                 dtype=torch.uint8)
    batch = pseudo_collate([good, bad])
    views = pre.decode(list(batch['inputs']), batch['data_samples'])
    assert torch.equal(views[0], views[1])  # replaced by the good one
    del bad['data_samples'].device_crop
    with pytest.raises(ValueError, match='meta_keys'):
        pre.decode([bad['inputs']], [bad['data_samples']])


def test_a_tokenizer_trains_on_the_device_decoded_batch(setup):
    """The recipe's preprocessor feeds VQKDTokenizer's loss (tiny sizes)."""
    paths, device, _, _, _ = setup
    cfg = Config.fromfile(DEVICE_CFG)
    arch = dict(embed_dims=16, num_layers=1, num_heads=2, mlp_ratio=2.)
    model = MODELS.build(dict(
        type='beit2mm.VQKDTokenizer', arch=dict(encoder=arch, decoder=arch),
        img_size=224, patch_size=32, num_codes=8, code_dim=4,
        teacher=dict(type='beit2mm.DINOTeacher',
                     model_name='vit_tiny_patch16_224', pretrained=None),
        data_preprocessor=cfg.model.data_preprocessor))
    items = []
    for i, p in enumerate(paths[:3]):
        np.random.seed(i)
        items.append(device(dict(img_path=p)))
    data = model.data_preprocessor(pseudo_collate(items), True)
    assert data['inputs'].shape == (3, 3, 224, 224)
    losses = model(**data, mode='loss')
    assert all(torch.isfinite(v).all() for v in losses.values())
