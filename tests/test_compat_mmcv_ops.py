"""The pure-PyTorch ``mmcv.ops`` stand-in (mmcv-lite has no compiled ops)."""
import subprocess
import sys

import pytest
import torch

import beit2mm  # noqa: F401  (installs the stand-in)
from beit2mm.compat import mmcv_ops

needs_lite = pytest.mark.skipif(
    mmcv_ops.compiled_ops_available(),
    reason='full mmcv installed: the stand-in is not used')


def start_python(code):
    return subprocess.Popen([sys.executable, '-c', code], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@needs_lite
def test_mmseg_models_import_needs_the_stand_in():
    # two fresh interpreters, run side by side
    ok = start_python(
        'import beit2mm, mmseg.models, mmcv.ops\n'
        'assert mmcv.ops.IS_BEIT2MM_STANDIN\n'
        'from mmseg.models.decode_heads import UPerHead, FCNHead\n'
        'print("OK")')
    bare = start_python('import mmseg.models')
    ok_out, ok_err = ok.communicate(timeout=300)
    _, bare_err = bare.communicate(timeout=300)
    assert ok.returncode == 0 and 'OK' in ok_out, ok_err[-2000:]
    assert bare.returncode != 0
    assert 'mmcv._ext' in bare_err  # the failure the stand-in fixes


def test_not_installed_when_compiled_ops_exist(monkeypatch):
    import types
    monkeypatch.delitem(sys.modules, 'mmcv.ops', raising=False)
    monkeypatch.setitem(sys.modules, 'mmcv._ext', types.ModuleType('_ext'))
    assert mmcv_ops.compiled_ops_available()
    assert mmcv_ops.install() is False
    assert 'mmcv.ops' not in sys.modules


def test_point_sample_matches_hand_computation():
    # 1 image, 1 channel, 2 x 2 pixels with values [[1, 2], [3, 4]]
    x = torch.tensor([[[[1., 2.], [3., 4.]]]])
    # (x, y) in [0, 1]: pixel centres are at 0.25 and 0.75 (align_corners
    # False); the image centre (0.5, 0.5) averages all four pixels; (0.75,
    # 0.25) is the centre of the top-right pixel; (0.5, 0.25) lies between
    # the top two; (0, 0.25) is the left edge of the top row, half way to the
    # zero padding -> 0.5 * 1.
    pts = torch.tensor([[[0.5, 0.5], [0.75, 0.25], [0.5, 0.25], [0., 0.25]]])
    out = mmcv_ops.point_sample(x, pts)
    assert out.shape == (1, 1, 4)
    torch.testing.assert_close(out[0, 0], torch.tensor([2.5, 2., 1.5, 0.5]))
    # align_corners=True: 0 and 1 are the corner pixel centres
    out = mmcv_ops.point_sample(x, torch.tensor([[[0., 0.], [1., 1.],
                                                  [1., 0.5]]]),
                                align_corners=True)
    torch.testing.assert_close(out[0, 0], torch.tensor([1., 4., 3.]))
    # grid-shaped points keep their grid
    grid = torch.rand(1, 3, 5, 2)
    assert mmcv_ops.point_sample(x, grid).shape == (1, 1, 3, 5)


def test_missing_ops_raise_clear_errors():
    mod = mmcv_ops.build_module()
    with pytest.raises(RuntimeError, match='compiled op'):
        mod.sigmoid_focal_loss(torch.zeros(1, 2), torch.zeros(1).long())
    with pytest.raises(ModuleNotFoundError, match='RoIAlign.*mim install'):
        mod.RoIAlign
    with pytest.raises(AttributeError):
        mod.__wrapped__
    if sys.modules['mmcv.ops'] is not None and getattr(
            sys.modules['mmcv.ops'], 'IS_BEIT2MM_STANDIN', False):
        with pytest.raises(ModuleNotFoundError, match='DeformConv2d'):
            from mmcv.ops import DeformConv2d  # noqa: F401
        # mmseg guards optional ops with `except ModuleNotFoundError`
        from mmseg.models.decode_heads import cc_head
        assert cc_head.CrissCrossAttention is None


def build_tiny_upernet():
    """mmseg's EncoderDecoder + UPerHead on a 2-block beit2mm backbone."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS as SEG_MODELS
    norm = dict(type='BN', requires_grad=True)
    cfg = dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', size=(32, 32),
                               pad_val=0, seg_pad_val=255),
        backbone=dict(type='beit2mm.BEiTv2ViT',
                      arch=dict(embed_dims=16, num_layers=2, num_heads=2),
                      img_size=32, patch_size=8, use_rel_pos_bias=True,
                      use_shared_rel_pos_bias=False, out_indices=[0, 1],
                      out_type='featmap', final_norm=False),
        decode_head=dict(type='UPerHead', in_channels=[16, 16],
                         in_index=[0, 1], pool_scales=(1, 2), channels=16,
                         num_classes=3, norm_cfg=norm, align_corners=False,
                         loss_decode=dict(type='CrossEntropyLoss',
                                          loss_weight=1.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))
    with DefaultScope.overwrite_default_scope('mmseg'):
        return SEG_MODELS.build(cfg)


def test_mmseg_upernet_trains_a_step_on_beit2mm_backbone():
    from mmengine.optim import build_optim_wrapper
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    torch.manual_seed(0)
    model = build_tiny_upernet()
    model.init_weights()
    optim = build_optim_wrapper(model, dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-2)))
    samples = []
    for _ in range(2):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=torch.randint(0, 3, (1, 32, 32)))
        s.set_metainfo(dict(img_shape=(32, 32), ori_shape=(32, 32),
                            pad_shape=(32, 32)))
        samples.append(s)
    data = dict(inputs=[torch.randint(0, 255, (3, 32, 32)).float()
                        for _ in range(2)], data_samples=samples)
    before = model.backbone.blocks[0].attn.qkv.weight.detach().clone()
    losses = model.train_step(data, optim)
    assert torch.isfinite(losses['decode.loss_ce'])
    assert not torch.equal(before, model.backbone.blocks[0].attn.qkv.weight)
