"""Every model registered in beit2mm's MODELS registry builds (defaults, with
tiny sizes where the defaults are huge and teachers without pretrained
weights), runs forward/backward on a tiny input and gives every trainable
parameter a gradient; frozen ones (teachers, the quantizer) have none.
A registered class without an entry here fails the first test."""
import pytest
import torch

import beit2mm  # noqa: F401
from beit2mm.registry import MODELS

ARCH = dict(embed_dims=16, num_layers=2, num_heads=2, mlp_ratio=2.)
VQKD_ARCH = dict(encoder=ARCH, decoder=dict(ARCH, num_layers=1))
TEACHER = dict(type='beit2mm.DINOTeacher', model_name='vit_tiny_patch16_224',
               pretrained=None, img_size=32)


def _img(b=2, size=32):
    return torch.randn(b, 3, size, size)


def _vit(m):
    return m(_img()).__getitem__(-1)


def _seg_vit(m):
    return sum(o.sum() for o in m(_img()))


def _neck(m):
    x = torch.randn(2, 17, 16)
    return m(x[:, :1], x[:, 1:])


def _mim_head(m):
    logits, cls_logits = m(torch.randn(5, 16), torch.randn(5, 16))
    return logits.sum() + cls_logits.sum()


def _pyramid(m):
    return sum(o.sum() for o in m([torch.randn(2, 16, 4, 4)] * 4))


def _subset_head(m):
    return m((torch.randn(2, 16), ))


def _teacher(m):
    return m(_img() / 2, (4, 4))


def _quantizer(m):
    z = torch.randn(2, 8, requires_grad=True)
    return m(z).z_q


def _vqkd(m):
    return m.loss(_img(), None)


def _beitv2(m):
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[:, :6] = True  # 6 of the 4 x 4 patches of every image
    return m([_img(), _img()], mode='loss', mask=mask)


def _preprocessor(m):
    return None


# type -> (config overrides, forward returning something to backprop)
CASES = {
    'BEiTv2ViT': (dict(arch=ARCH, img_size=32, patch_size=8), _vit),
    'BEiTv2SegViT': (dict(arch=ARCH, img_size=32, patch_size=8,
                          out_indices=[0, 1]), _seg_vit),
    'BEiTv2Neck': (dict(arch=ARCH, early_layers=1, num_layers=1), _neck),
    'MIMHead': (dict(embed_dims=16, num_codes=8), _mim_head),
    'FeaturePyramid': (dict(embed_dims=16, norm_cfg=dict(type='BN')),
                       _pyramid),
    'SubsetLinearClsHead': (dict(class_indices=[1, 3], num_classes=5,
                                 in_channels=16), _subset_head),
    'NormEMAQuantizer': (dict(num_codes=4, code_dim=8), _quantizer),
    'DINOTeacher': (dict(model_name='vit_tiny_patch16_224', pretrained=None,
                         img_size=32), _teacher),
    'TimmTeacher': (dict(model_name='vit_tiny_patch16_224', pretrained=None,
                         img_size=32), _teacher),
    'CLIPTeacher': (dict(model_name='ViT-B-16', pretrained=None,
                         img_size=32), _teacher),
    'VQKDTokenizer': (dict(arch=VQKD_ARCH, img_size=32, patch_size=8,
                           num_codes=8, code_dim=4, teacher=TEACHER), _vqkd),
    'BEiTv2': (dict(
        backbone=dict(type='beit2mm.BEiTv2ViT', arch=ARCH, img_size=32,
                      patch_size=8, use_abs_pos_emb=False,
                      use_shared_rel_pos_bias=True, with_mask_token=True,
                      out_type='raw'),
        neck=dict(type='beit2mm.BEiTv2Neck', early_layers=1, num_layers=1),
        head=dict(type='beit2mm.MIMHead', num_codes=8),
        tokenizer=dict(type='beit2mm.VQKDTokenizer', arch=VQKD_ARCH,
                       img_size=32, patch_size=8, num_codes=8, code_dim=4),
        allow_random_tokenizer=True), _beitv2),
    'BEiTv2DataPreprocessor': (dict(), _preprocessor),
    'DeviceDecodePreprocessor': (dict(), _preprocessor),
}


def test_every_registered_model_has_a_case():
    assert set(MODELS.module_dict) == set(CASES)


@pytest.mark.filterwarnings('ignore:BEiTv2. random-init tokenizer')
@pytest.mark.parametrize('name', sorted(CASES))
def test_builds_runs_and_every_trainable_param_gets_a_grad(name):
    torch.manual_seed(0)
    overrides, run = CASES[name]
    model = MODELS.build(dict(type=f'beit2mm.{name}', **overrides))
    model.train()
    out = run(model)
    trainable = {n: p for n, p in model.named_parameters()
                 if p.requires_grad}
    if out is None:  # no parameters: nothing to differentiate
        assert not trainable, name
        return
    if isinstance(out, dict):
        out = sum(v for k, v in out.items() if k.startswith('loss'))
    out = out if torch.is_tensor(out) else out[0]
    assert torch.isfinite(out).all(), name
    if not trainable:  # frozen modules (teachers, EMA quantizer)
        assert not out.requires_grad or name == 'NormEMAQuantizer', name
        return
    out.float().sum().backward()
    missing = [n for n, p in trainable.items()
               if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f'{name}: no gradient for {missing}'
