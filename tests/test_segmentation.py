"""ADE20K UperNet: backbone + pyramid, checkpoint loading and export, the two
benchmark configs end to end on a tiny generated ADE20K folder, and mIoU."""
import copy
import json
import os.path as osp
import runpy
import sys

import pytest
import torch

import beit2mm  # noqa: F401
from beit2mm.models.backbones import BEiTv2SegViT, BEiTv2ViT
from beit2mm.models.necks import FeaturePyramid

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG_B = osp.join(ROOT, 'configs/benchmarks/'
                 'upernet_beitv2_vit-b_8xb2-160k_ade20k-512x512.py')
CFG_L = CFG_B.replace('vit-b', 'vit-l')
TINY = dict(embed_dims=32, num_layers=4, num_heads=2, mlp_ratio=2.,
            layer_scale_init_value=0.1)
TABLE = 'relative_position_bias_table'


def pretrained_backbone(seed=0):
    """A pretraining-style student at 48 px (3 x 3 patches, shared bias)."""
    torch.manual_seed(seed)
    m = BEiTv2ViT(arch=TINY, img_size=48, patch_size=16, with_mask_token=True)
    m.init_weights()
    with torch.no_grad():
        m.rel_pos_bias.relative_position_bias_table.normal_()
        for blk in m.blocks:
            blk.gamma_1.uniform_(0.5, 1.5)
    return m.eval()


def save_pretraining_ckpt(path, official=False):
    m = pretrained_backbone()
    sd = m.state_dict()
    if official:  # unilm: keys under 'model', no prefix, with the MIM head
        sd['lm_head.weight'] = torch.zeros(8, 32)
        sd['rel_pos_bias.relative_position_index'] = torch.zeros(10, 10).long()
        ckpt = {'model': sd}
    else:  # beit2mm pretraining algorithm: 'backbone.' under 'state_dict'
        ckpt = {'state_dict': {'backbone.' + k: v for k, v in sd.items()}}
        ckpt['state_dict']['head.fc.weight'] = torch.zeros(8, 32)
    torch.save(ckpt, path)
    return m


def test_feature_pyramid_strides_and_official_names():
    neck = FeaturePyramid(32, norm_cfg=dict(type='BN'))
    feats = [torch.randn(2, 32, 4, 4) for _ in range(4)]
    outs = neck(feats)
    assert [o.shape[-1] for o in outs] == [16, 8, 4, 2]
    assert outs[2] is feats[2]
    keys = set(neck.state_dict())
    assert {'fpn1.0.weight', 'fpn1.1.running_mean', 'fpn1.3.weight',
            'fpn2.0.weight'} <= keys
    with pytest.raises(ValueError, match='4 feature maps'):
        neck(feats[:3])


@pytest.mark.parametrize('official', [False, True])
def test_seg_backbone_loads_pretraining_checkpoint(tmp_path, official):
    path = str(tmp_path / 'pretrain.pth')
    src = save_pretraining_ckpt(path, official)
    # same grid: features equal the pretraining backbone's block outputs
    seg = BEiTv2SegViT(arch=TINY, img_size=48, out_indices=[1, 3],
                       init_cfg=dict(type='Pretrained', checkpoint=path))
    seg.init_weights()
    x = torch.randn(2, 3, 48, 48)
    out = src.forward_features(x, return_layers=[2, 4])
    feats = seg.eval()(x)
    for f, layer in zip(feats, (2, 4)):
        ref = out.hidden[layer][:, 1:].transpose(1, 2).reshape(2, 32, 3, 3)
        torch.testing.assert_close(f, ref, rtol=1e-5, atol=1e-5)
    # larger grid: every block gets the shared table, resized 3x3 -> 4x4
    from beit2mm.compat import resize_rel_pos_bias_table
    seg = BEiTv2SegViT(arch=TINY, img_size=64, out_indices=[0, 1, 2, 3],
                       init_cfg=dict(type='Pretrained', checkpoint=path))
    seg.init_weights()
    shared = src.rel_pos_bias.relative_position_bias_table.detach()
    for blk in seg.blocks:
        torch.testing.assert_close(
            blk.rel_pos_bias.relative_position_bias_table.detach(),
            resize_rel_pos_bias_table(shared, 3, 4))
    torch.testing.assert_close(seg.blocks[0].gamma_1, src.blocks[0].gamma_1)


class CodeTokenizer(torch.nn.Module):
    """Stand-in VQ-KD with the interface BEiTv2 needs (fixed random codes)."""
    num_codes, img_size, patch_size = 16, 32, 8

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Conv2d(3, 4, 8, 8)

    def freeze(self):
        return self.eval().requires_grad_(False)

    def get_tokens(self, x):
        z = self.proj(x)  # (B, 4, h, w)
        return (z.sum(1) * 4).long().remainder(self.num_codes)


def test_seg_backbone_loads_the_pretraining_algorithm_checkpoint(tmp_path):
    """A checkpoint of beit2mm's BEiTv2 (backbone + neck + head, shared bias)
    loads into the segmentation backbone and gives the same block outputs."""
    from beit2mm.models.algorithms import BEiTv2
    torch.manual_seed(0)
    algo = BEiTv2(
        backbone=dict(type='BEiTv2ViT', arch=TINY, img_size=32, patch_size=8,
                      with_mask_token=True),
        neck=dict(type='BEiTv2Neck', arch=TINY, early_layers=2),
        head=dict(type='MIMHead', embed_dims=32, num_codes=16),
        tokenizer=CodeTokenizer(), allow_random_tokenizer=True)
    algo.init_weights()
    with torch.no_grad():
        algo.backbone.rel_pos_bias.relative_position_bias_table.normal_()
    path = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': algo.state_dict()}, path)
    seg = BEiTv2SegViT(arch=TINY, img_size=32, patch_size=8,
                       out_indices=[1, 3],
                       init_cfg=dict(type='Pretrained', checkpoint=path))
    seg.init_weights()
    x = torch.randn(2, 3, 32, 32)
    ref = algo.backbone.eval().forward_features(x, return_layers=[2, 4])
    for f, layer in zip(seg.eval()(x), (2, 4)):
        torch.testing.assert_close(
            f, ref.hidden[layer][:, 1:].transpose(1, 2).reshape(2, 32, 4, 4))


def test_seg_backbone_loading_is_loud(tmp_path):
    path = str(tmp_path / 'pretrain.pth')
    save_pretraining_ckpt(path)
    wrong_prefix = BEiTv2SegViT(
        arch=TINY, img_size=48, out_indices=[3],
        init_cfg=dict(type='Pretrained', checkpoint=path, prefix='encoder.'))
    with pytest.raises(KeyError, match='prefix'):
        wrong_prefix.init_weights()
    bigger = BEiTv2SegViT(arch=dict(TINY, num_layers=5), img_size=48,
                          out_indices=[4],
                          init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(RuntimeError, match='blocks.4'):
        bigger.init_weights()
    with pytest.raises(ValueError, match='final_norm'):
        BEiTv2SegViT(arch=TINY, final_norm=True)
    missing = BEiTv2SegViT(
        arch=TINY, img_size=48, out_indices=[3],
        init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'no.pth')))
    with pytest.raises(FileNotFoundError, match='init_cfg.checkpoint'):
        missing.init_weights()


def test_converter_gives_the_same_features(tmp_path):
    from beit2mm.tools.convert.beit2mm_to_mmseg import main as convert_main
    src_path, dst_path = str(tmp_path / 'pre.pth'), str(tmp_path / 'seg.pth')
    src = save_pretraining_ckpt(src_path)
    # same grid as pretraining: the pretraining backbone's block outputs
    convert_main([src_path, dst_path, '--img-size', '48'])
    seg = BEiTv2SegViT(arch=TINY, img_size=48, out_indices=[0, 1, 2, 3])
    seg.load_state_dict(torch.load(dst_path, weights_only=True)['state_dict'],
                        strict=True)
    x = torch.randn(2, 3, 48, 48)
    ref = src.forward_features(x, return_layers=[1, 2, 3, 4]).hidden
    for layer, feat in zip((1, 2, 3, 4), seg.eval()(x)):
        torch.testing.assert_close(
            feat, ref[layer][:, 1:].transpose(1, 2).reshape(2, 32, 3, 3))
    # 64 px: the bias tables resized once by the converter, as on load
    convert_main([src_path, dst_path, '--img-size', '64'])
    converted = torch.load(dst_path, weights_only=True)['state_dict']
    assert converted[f'blocks.3.rel_pos_bias.{TABLE}'].shape == (7 * 7 + 3, 2)
    assert not any(k.startswith(('norm.', 'mask_token', 'head.', 'rel_pos'))
                   for k in converted)
    kwargs = dict(arch=TINY, img_size=64, out_indices=[0, 1, 2, 3])
    direct = BEiTv2SegViT(**kwargs, init_cfg=dict(type='Pretrained',
                                                  checkpoint=src_path))
    direct.init_weights()
    via_export = BEiTv2SegViT(**kwargs)
    via_export.load_state_dict(converted, strict=True)
    x = torch.randn(1, 3, 64, 64)
    for a, b in zip(direct.eval()(x), via_export.eval()(x)):
        torch.testing.assert_close(a, b)


# ------------------------------------------------------------ configs
def shrink(cfg, ade_root, work_dir, pretrained):
    """The benchmark config at 64 px with a 4-block, 32-wide ViT."""
    cfg.work_dir = work_dir
    m = cfg.model
    m.data_preprocessor.size = (64, 64)
    m.data_preprocessor.test_cfg.size = (64, 64)
    m.backbone.update(arch=TINY, img_size=64, out_indices=[0, 1, 2, 3],
                      drop_path_rate=0.1)
    m.backbone.init_cfg.checkpoint = pretrained
    m.neck.embed_dims = 32
    m.decode_head.update(in_channels=[32] * 4, channels=32)
    m.auxiliary_head.update(in_channels=32, channels=16)
    m.test_cfg.update(crop_size=(64, 64), stride=(43, 43))
    cfg.test_dataloader = copy.deepcopy(cfg.val_dataloader)
    # val: 96 px images -> 2 x 2 sliding 64 px windows (stride 43);
    # test: 48 px images, padded up to one 64 px window
    test_size = dict(val_dataloader=96, test_dataloader=48)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg[loader]
        dl.update(num_workers=0, persistent_workers=False, batch_size=2)
        dl.dataset.data_root = ade_root
        for t in dl.dataset.pipeline:
            if t.type in ('RandomResize', 'Resize'):
                t.scale = (256, 64) if t.type == 'RandomResize' else (
                    256, test_size[loader])
            if t.type == 'RandomCrop':
                t.crop_size = (64, 64)
    cfg.train_cfg.update(max_iters=2, val_interval=2)
    cfg.param_scheduler[0].end = 1
    cfg.param_scheduler[1].update(begin=1, end=2)
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 2
    return cfg


@pytest.fixture
def plain_config_text(monkeypatch):
    """The runner logs and saves ``cfg.pretty_text``, which formats the
    whole config with yapf (most of a tiny run's time on this CPU); plain JSON
    text is enough for these tests."""
    from mmengine.config import Config
    original = Config.pretty_text
    monkeypatch.setattr(Config, 'pretty_text', property(
        lambda self: json.dumps(self.to_dict(), default=str)))
    return original


@pytest.mark.parametrize('config', [CFG_B, CFG_L], ids=['vit-b', 'vit-l'])
def test_config_trains_and_evaluates(config, ade_folder, tmp_path, capsys,
                                     plain_config_text):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(config)
    # the recipe as written (before shrinking)
    large = 'vit-l' in config
    b, opt = cfg.model.backbone, cfg.optim_wrapper
    assert cfg.default_scope == 'mmseg' and b.type == 'beit2mm.BEiTv2SegViT'
    assert b.arch == ('large' if large else 'base')
    assert b.out_indices == ([7, 11, 15, 23] if large else [3, 5, 7, 11])
    assert opt.optimizer.lr == (4e-5 if large else 5e-5)
    assert opt.paramwise_cfg.layer_decay_rate == (0.9 if large else 0.75)
    assert cfg.model.decode_head.channels == (1024 if large else 768)
    assert cfg.model.test_cfg.stride == (341, 341)
    assert cfg.train_cfg.max_iters == 160000
    assert cfg.train_dataloader.batch_size == 2

    pretrained = str(tmp_path / 'pretrain.pth')
    save_pretraining_ckpt(pretrained)
    cfg = shrink(cfg, ade_folder, str(tmp_path / 'work'), pretrained)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    # layer decay on the segmentor: rate^(L + 1 - layer id), L = 4
    rate, base_lr = opt.paramwise_cfg.layer_decay_rate, opt.optimizer.lr
    lr_of = {id(p): g.get('initial_lr', g['lr'])
             for g in runner.optim_wrapper.param_groups for p in g['params']}
    names = {n: lr_of[id(p)] for n, p in runner.model.named_parameters()}
    assert names['backbone.blocks.0.attn.qkv.weight'] == pytest.approx(
        base_lr * rate ** 4)
    assert names['backbone.patch_embed.proj.weight'] == pytest.approx(
        base_lr * rate ** 5)
    assert names['decode_head.conv_seg.weight'] == pytest.approx(base_lr)
    # weight decay as the official constructor: off for 1-D and biases only
    wd_of = {id(p): g['weight_decay']
             for g in runner.optim_wrapper.param_groups for p in g['params']}
    wd = {n: wd_of[id(p)] for n, p in runner.model.named_parameters()}
    assert wd[f'backbone.blocks.0.rel_pos_bias.{TABLE}'] == 0.05
    assert wd['backbone.blocks.0.attn.qkv.weight'] == 0.05
    assert wd['backbone.blocks.0.gamma_1'] == 0
    assert wd['backbone.blocks.0.mlp.fc1.bias'] == 0

    ckpt = osp.join(cfg.work_dir, 'iter_2.pth')
    assert osp.exists(ckpt)
    if large:
        return
    # tools/test.py (what tools/dist_test.sh runs) prints mIoU
    dumped = str(tmp_path / 'tiny_seg.py')
    with open(dumped, 'w') as f:
        f.write(plain_config_text.fget(cfg))
    from beit2mm.tools.test import main as test_main
    capsys.readouterr()
    test_main([dumped, ckpt, '--work-dir', str(tmp_path / 'test')])
    assert 'mIoU' in capsys.readouterr().out
    # and mmseg's own tools/test.py (the plugin comes in through the
    # config's custom_imports; a fresh `import mmseg.models` after beit2mm is
    # covered by test_compat_mmcv_ops)
    import mmseg
    mmseg_test = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools',
                          'test.py')
    if not osp.exists(mmseg_test):
        pytest.skip('mmseg tools not installed')
    argv = sys.argv
    sys.argv = [mmseg_test, dumped, ckpt, '--work-dir',
                str(tmp_path / 'mmseg_test')]
    try:
        runpy.run_path(mmseg_test, run_name='__main__')
    finally:
        sys.argv = argv
    assert 'mIoU' in capsys.readouterr().out


# ------------------------------------------------------------ metric
def iou_of(pred, gt, num_classes=3):
    from mmengine.structures import PixelData
    from mmseg.evaluation import IoUMetric
    from mmseg.structures import SegDataSample
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dict(classes=[str(i) for i in range(num_classes)])
    s = SegDataSample()
    s.pred_sem_seg = PixelData(data=torch.as_tensor(pred)[None])
    s.gt_sem_seg = PixelData(data=torch.as_tensor(gt)[None])
    metric.process({}, [s.to_dict()])
    return metric.compute_metrics(metric.results)


def test_miou_perfect_and_known_confusion():
    gt = torch.zeros(4, 4, dtype=torch.long)
    gt[:, 2:] = 1  # left half class 0, right half class 1 (class 2 absent)
    assert iou_of(gt.clone(), gt)['mIoU'] == pytest.approx(100.0)
    pred = gt.clone()
    pred[0:2, 2] = 0  # 2 pixels of class 1 called class 0
    # class 0: I = 8, U = 8 + 2 = 10 -> 0.8; class 1: I = 6, U = 8 -> 0.75;
    # class 2 has neither prediction nor label and is left out of the mean
    assert iou_of(pred, gt)['mIoU'] == pytest.approx(77.5)
    # ignored pixels (255, reduce_zero_label's "other") do not count
    gt_ign = gt.clone()
    gt_ign[0:2, 2] = 255
    assert iou_of(pred, gt_ign)['mIoU'] == pytest.approx(100.0)
    # a class predicted but never labelled gets IoU 0
    pred2 = gt.clone()
    pred2[3, 3] = 2
    expected = (100 + 100 * 7 / 8 + 0) / 3
    assert iou_of(pred2, gt)['mIoU'] == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize('config', [CFG_B, CFG_L], ids=['vit-b', 'vit-l'])
def test_config_runtime_as_the_official_mmseg_run(config):
    """Official mmseg 0.x `tools/train.py --seed 0`: one seed on every rank
    (data workers still seeded by rank), and a collective timeout as the
    other configs."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    assert cfg.randomness == dict(seed=0)
    assert cfg.env_cfg.dist_cfg == dict(backend='nccl', timeout=1800)
