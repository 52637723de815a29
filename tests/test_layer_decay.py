"""Per-parameter lr scales and weight decay of the layer-decay constructor,
checked against values computed by hand."""
import pytest
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

import beit2mm  # noqa: F401
from beit2mm.models.backbones import BEiTv2ViT
from beit2mm.registry import MODELS

TINY = dict(embed_dims=16, num_layers=3, num_heads=2, mlp_ratio=2.,
            layer_scale_init_value=0.1)
BASE_LR, WD = 1e-3, 0.05


def _classifier(**backbone):
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(type='beit2mm.BEiTv2ViT', arch=TINY, img_size=16,
                      patch_size=8, out_type='avg_featmap',
                      use_shared_rel_pos_bias=False, use_rel_pos_bias=True,
                      **backbone),
        head=dict(type='LinearClsHead', num_classes=5, in_channels=16))
    return MODELS.build(cfg)


def _build(model, **paramwise):
    return build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=BASE_LR, weight_decay=WD),
        constructor='beit2mm.LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.5, **paramwise)))


def _per_param(optim_wrapper):
    """name -> (lr, weight_decay) from the optimizer's param groups."""
    out = {}
    for g in optim_wrapper.optimizer.param_groups:
        assert len(g['params']) == len(g['param_names'])
        for name in g['param_names']:
            out[name] = (g['lr'], g['weight_decay'])
    return out


def test_lr_scales_and_weight_decay_by_hand():
    model = _classifier()
    got = _per_param(_build(model))
    # L = 3 blocks, rate 0.5: scale = 0.5 ** (4 - layer_id)
    expected = {
        'backbone.cls_token': (BASE_LR / 16, 0.),  # layer 0, token
        'backbone.patch_embed.proj.weight': (BASE_LR / 16, WD),
        'backbone.patch_embed.proj.bias': (BASE_LR / 16, 0.),
        'backbone.blocks.0.attn.qkv.weight': (BASE_LR / 8, WD),
        'backbone.blocks.0.attn.q_bias': (BASE_LR / 8, 0.),
        'backbone.blocks.0.gamma_1': (BASE_LR / 8, 0.),
        'backbone.blocks.0.norm1.weight': (BASE_LR / 8, 0.),
        # decayed: only 1-D, biases and the backbone's no_weight_decay()
        'backbone.blocks.0.rel_pos_bias.relative_position_bias_table':
        (BASE_LR / 8, WD),
        'backbone.blocks.1.mlp.fc1.weight': (BASE_LR / 4, WD),
        'backbone.blocks.2.mlp.fc2.weight': (BASE_LR / 2, WD),
        'backbone.blocks.2.mlp.fc2.bias': (BASE_LR / 2, 0.),
        'backbone.fc_norm.weight': (BASE_LR, 0.),  # layer L+1
        'head.fc.weight': (BASE_LR, WD),  # outside the backbone: L+1
        'head.fc.bias': (BASE_LR, 0.),
    }
    for name, (lr, wd) in expected.items():
        assert got[name][0] == pytest.approx(lr), name
        assert got[name][1] == wd, name
    assert set(got) == {n for n, _ in model.named_parameters()}
    # the first group (whose lr mmengine logs) is not decayed
    assert _build(model).optimizer.param_groups[0]['lr_scale'] == 1.0


def test_no_decay_names_configurable_and_official_table_decay():
    # official fine-tuning decays the tables (skip list = cls_token,
    # pos_embed; --disable_weight_decay_on_rel_pos_bias is off by default)
    key = 'backbone.blocks.2.rel_pos_bias.relative_position_bias_table'
    got = _per_param(_build(_classifier()))
    assert got[key] == (pytest.approx(BASE_LR / 2), WD)
    assert got['backbone.cls_token'][1] == 0.  # BEiTv2ViT.no_weight_decay
    # a config's list replaces the model's (the segmentation recipe: [])
    got = _per_param(_build(_classifier(), no_decay_names=[]))
    assert got['backbone.cls_token'][1] == WD
    got = _per_param(_build(_classifier(), no_decay_names=['rel_pos_bias']))
    assert got[key][1] == 0.
    got = _per_param(_build(_classifier(), no_decay_1d=False))
    assert got['backbone.blocks.0.attn.q_bias'][1] == WD


def test_backbone_alone_ddp_style_wrapper_and_frozen_params():
    bb = BEiTv2ViT(arch=TINY, img_size=16, patch_size=8, frozen_stages=1)

    class Wrapped(nn.Module):  # what DDP looks like to the constructor
        def __init__(self, module):
            super().__init__()
            self.module = module

    got = _per_param(_build(Wrapped(bb)))
    assert 'blocks.0.attn.qkv.weight' not in got  # frozen: not optimised
    assert 'cls_token' not in got
    assert got['blocks.1.attn.qkv.weight'][0] == pytest.approx(BASE_LR / 4)
    assert got['norm.weight'][0] == pytest.approx(BASE_LR)


def test_lr_scales_survive_the_schedulers():
    from mmengine.optim import CosineAnnealingLR, LinearLR
    ow = _build(_classifier())
    warm = LinearLR(ow, start_factor=1e-3, by_epoch=False, begin=0, end=2)
    cos = CosineAnnealingLR(ow, eta_min_ratio=0.01, by_epoch=False, begin=2,
                            end=6)
    for _ in range(4):
        ow.optimizer.step()
        warm.step()
        cos.step()
    lrs = [g['lr'] / g['lr_scale'] for g in ow.optimizer.param_groups]
    assert max(lrs) == pytest.approx(min(lrs))


def test_clear_errors():
    with pytest.raises(TypeError, match='get_layer_id'):
        _build(nn.Linear(2, 2))
    with pytest.raises(ValueError, match='custom_keys'):
        _build(_classifier(), custom_keys={'.bias': dict(decay_mult=0.)})
    with pytest.raises(ValueError, match='layer_decay_rate'):
        build_optim_wrapper(_classifier(), dict(
            optimizer=dict(type='AdamW', lr=1e-3),
            constructor='beit2mm.LayerDecayOptimWrapperConstructor',
            paramwise_cfg=dict(layer_decay_rate=1.5)))


def test_step_applies_each_groups_lr():
    """One SGD step moves every parameter by exactly its group's lr times
    its gradient (weight decay off): the scales reach the optimizer."""
    model = _classifier()
    ow = build_optim_wrapper(model, dict(
        optimizer=dict(type='SGD', lr=BASE_LR, weight_decay=0.),
        constructor='beit2mm.LayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.5)))
    lrs = _per_param(ow)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = model.extract_feat(torch.randn(2, 3, 16, 16))[0].pow(2).sum()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    ow.step()
    assert grads
    for n, p in model.named_parameters():
        if n in grads:
            torch.testing.assert_close(before[n] - lrs[n][0] * grads[n],
                                       p.detach())
