"""Config mistakes are caught before training starts, with a message that
names the fix."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import beit2mm  # noqa: F401
from beit2mm.registry import MODELS, TRANSFORMS
from conftest import write_image_folder

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PROJECT = osp.join(ROOT, 'projects', 'tiny_beitv2', 'configs')

TOK_ARCH = dict(encoder=dict(embed_dims=16, num_layers=1, num_heads=2),
                decoder=dict(embed_dims=16, num_layers=1, num_heads=2))
ARCH = dict(embed_dims=16, num_layers=3, num_heads=2, mlp_ratio=2.)


def _tokenizer(**kw):
    cfg = dict(type='beit2mm.VQKDTokenizer', arch=TOK_ARCH, img_size=32,
               patch_size=8, num_codes=16, teacher=None)
    cfg.update(kw)
    return cfg


def _mim(**kw):
    cfg = dict(
        type='beit2mm.BEiTv2',
        backbone=dict(type='beit2mm.BEiTv2ViT', arch=ARCH, img_size=32,
                      patch_size=8, use_abs_pos_emb=False,
                      use_shared_rel_pos_bias=True, with_mask_token=True,
                      out_type='raw'),
        neck=dict(type='beit2mm.BEiTv2Neck', arch=ARCH, num_layers=1,
                  early_layers=2),
        head=dict(type='beit2mm.MIMHead', embed_dims=16, num_codes=16),
        tokenizer=_tokenizer(), tokenizer_ckpt=None,
        allow_random_tokenizer=True)
    for key, value in kw.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


@pytest.fixture(scope='module')
def tokenizer_ckpt_32(tmp_path_factory):
    """A trained-tokenizer checkpoint with a 32-code codebook."""
    path = str(tmp_path_factory.mktemp('tok') / 'vqkd_32.pth')
    tok = MODELS.build(_tokenizer(num_codes=32, decoder_out_dim=8))
    torch.save({'state_dict': tok.state_dict()}, path)
    return path


def test_unknown_teacher():
    with pytest.raises(KeyError) as err:
        MODELS.build(_tokenizer(teacher=dict(type='beit2mm.SigLIPTeacher')))
    msg = str(err.value)
    assert 'SigLIPTeacher' in msg
    assert 'beit2mm.CLIPTeacher' in msg and 'beit2mm.DINOTeacher' in msg


def test_tokenizer_checkpoint_missing():
    with pytest.raises(FileNotFoundError,
                       match='model.tokenizer_ckpt=/path/to/vqkd.pth'):
        MODELS.build(_mim(tokenizer_ckpt='/no/such/vqkd.pth',
                          allow_random_tokenizer=False))
    with pytest.raises(ValueError, match='model.tokenizer_ckpt'):
        MODELS.build(_mim(allow_random_tokenizer=False))


def test_tokenizer_checkpoint_codebook_differs_from_config(
        tokenizer_ckpt_32):
    with pytest.raises(ValueError) as err:
        MODELS.build(_mim(tokenizer_ckpt=tokenizer_ckpt_32))
    msg = str(err.value)
    assert '32' in msg and '16' in msg and 'num_codes=32' in msg


def test_tokenizer_vocabulary_differs_from_head(tokenizer_ckpt_32):
    with pytest.raises(ValueError, match='model.head.num_codes=32'):
        MODELS.build(_mim(tokenizer=_tokenizer(num_codes=32),
                          tokenizer_ckpt=tokenizer_ckpt_32))


def test_more_masked_patches_than_patches():
    with pytest.raises(ValueError, match='use at most 16'):
        TRANSFORMS.build(dict(type='beit2mm.BlockwiseMaskGenerator',
                              input_size=4, num_masking_patches=17,
                              min_num_patches=2))


def test_image_size_not_divisible_by_patch_size():
    with pytest.raises(ValueError, match='not divisible by patch_size 8'):
        MODELS.build(_mim(backbone=dict(img_size=36)))
    with pytest.raises(ValueError, match='not divisible by patch_size 8'):
        MODELS.build(_tokenizer(img_size=36))


def test_early_layer_index_not_below_depth():
    with pytest.raises(ValueError, match=r'early_layers=3 must be in 1\.\.2'):
        MODELS.build(_mim(neck=dict(early_layers=3)))


MIM_CFG = f'''
_base_ = [{osp.join(PROJECT, 'beitv2_tiny_shapes64.py')!r}]
arch = dict(embed_dims=16, num_layers=3, num_heads=2, mlp_ratio=2.,
            layer_scale_init_value=0.1)
model = dict(
    backbone=dict(arch=dict(_delete_=True, **arch), img_size=32),
    neck=dict(arch=dict(_delete_=True, **arch), num_layers=1,
              early_layers=2),
    head=dict(embed_dims=16, num_codes=16),
    tokenizer=dict(arch=dict(_delete_=True,
                             encoder=dict(embed_dims=16, num_layers=1,
                                          num_heads=2),
                             decoder=dict(embed_dims=16, num_layers=1,
                                          num_heads=2)),
                   img_size=32, num_codes=16),
    tokenizer_ckpt=None, allow_random_tokenizer=True)
# the mistakes: 64 px crops (the model is built for 32), a 64 px tokenizer
# view, and masks for a 14 x 14 grid (the student has 4 x 4 patches)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='beit2mm.TwoViewRandomResizedCrop', scale=64, second_scale=64,
         interpolation='bicubic', second_interpolation='bicubic'),
    dict(type='beit2mm.BlockwiseMaskGenerator', input_size=14,
         num_masking_patches=75, min_num_patches=16),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(data_root=DATA,
                                                   pipeline=train_pipeline))
train_cfg = dict(max_iters=2)
'''


def test_pipeline_model_mismatch_caught_before_iteration_one(tmp_path,
                                                              monkeypatch):
    monkeypatch.setattr(Config, 'pretty_text', property(
        lambda self: json.dumps(self.to_dict(), default=str)))
    data = write_image_folder(tmp_path / 'data', per_class=1, size=32,
                              splits=('train', ))
    path = tmp_path / 'mim.py'
    path.write_text(f'DATA = {data!r}\n' + MIM_CFG)
    cfg = Config.fromfile(str(path))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = 'faults_config_mismatch'
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as err:
        runner.train()
    msg = str(err.value)
    assert 'before training' in msg
    assert 'makes 64x64 images but the model is built for 32x32' in msg
    assert 'second_scale=32' in msg
    assert 'input_size=(4, 4)' in msg
    assert runner.iter == 0


def test_vqkd_crop_size_checked_and_correct_pipelines_pass():
    from beit2mm.engine.hooks.config_check_hook import _check
    tok = MODELS.build(_tokenizer(decoder_out_dim=8))

    def crop(scale):
        return [TRANSFORMS.build(dict(type='LoadImageFromFile')),
                TRANSFORMS.build(dict(type='RandomResizedCrop',
                                      scale=scale))]
    assert _check(tok, crop(32), 'train') == []
    (msg, ) = _check(tok, crop(64), 'train')
    assert 'makes 64x64 images but the model is built for 32x32' in msg
    mim = MODELS.build(_mim())
    good = [TRANSFORMS.build(dict(
        type='beit2mm.TwoViewRandomResizedCrop', scale=32, second_scale=32)),
        TRANSFORMS.build(dict(type='beit2mm.BlockwiseMaskGenerator',
                              input_size=4, num_masking_patches=6,
                              min_num_patches=2))]
    assert _check(mim, good, 'train') == []
