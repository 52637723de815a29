"""Linear-probe and fine-tuning configs: the recipe as the issue states it, the
real-size models build offline, and every config trains 2 iterations and
evaluates on a tiny generated ImageNet folder (model and images shrunk by
config overrides)."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import beit2mm  # noqa: F401
from beit2mm.models.backbones import BEiTv2ViT
from beit2mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
BENCH = osp.join(ROOT, 'configs', 'benchmarks')
FT = {  # config -> (arch, lr, layer decay, drop path, epochs, warmup)
    'finetune_beitv2_vit-b_300e_in1k.py': ('base', 5e-4, 0.65, 0.1, 100, 20),
    'finetune_beitv2_vit-b_1600e_in1k.py': ('base', 5e-4, 0.6, 0.2, 100, 20),
    'finetune_beitv2_vit-l_300e_in1k.py': ('large', 5e-4, 0.8, 0.2, 50, 5),
    'finetune_beitv2_vit-l_1600e_in1k.py': ('large', 2e-4, 0.8, 0.2, 50, 5),
}
LP = {'linear-probe_beitv2_vit-b_in1k.py': 'base',
      'linear-probe_beitv2_vit-l_in1k.py': 'large'}
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=2.,
            layer_scale_init_value=0.1)
SIZE = 32


def _cfg(name):
    return Config.fromfile(osp.join(BENCH, name))


@pytest.mark.parametrize('name', sorted(FT))
def test_finetune_recipe(name):
    arch, lr, decay, dpr, epochs, warmup = FT[name]
    cfg = _cfg(name)
    bb = cfg.model.backbone
    assert (bb.arch, bb.drop_path_rate, bb.out_type) == (arch, dpr,
                                                          'avg_featmap')
    assert bb.use_rel_pos_bias and not bb.use_shared_rel_pos_bias
    assert bb.init_cfg.prefix is None  # detected: ours, official, timm
    ow = cfg.optim_wrapper
    assert (ow.optimizer.type, ow.optimizer.lr, ow.optimizer.weight_decay) == (
        'AdamW', lr, 0.05)
    assert ow.paramwise_cfg.layer_decay_rate == decay
    warm, cos = cfg.param_scheduler
    assert warm.end == cos.begin == warmup and cos.end == epochs
    assert cos.eta_min_ratio * lr == pytest.approx(1e-6)  # min lr 1e-6
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.train_dataloader.batch_size * 8 == 1024
    augments = {a.type: a.alpha for a in cfg.model.train_cfg.augments}
    assert augments == {'Mixup': 0.8, 'CutMix': 1.0}
    assert cfg.model.head.loss.label_smooth_val == 0.1
    steps = {t.type: t for t in cfg.train_pipeline}
    assert steps['RandAugment'].magnitude_level == 9
    assert steps['RandAugment'].magnitude_std == 0.5
    assert steps['RandAugment'].policies == 'timm_increasing'
    assert steps['RandomErasing'].erase_prob == 0.25
    test = {t.type: t for t in cfg.test_pipeline}
    assert test['ResizeEdge'].scale == 256
    assert test['ResizeEdge'].interpolation == 'bicubic'
    assert test['CenterCrop'].crop_size == 224


def test_linear_probe_recipe():
    for name, arch in LP.items():
        cfg = _cfg(name)
        bb = cfg.model.backbone
        depth = BEiTv2ViT.arch_zoo[arch]['num_layers']
        assert (bb.arch, bb.out_type, bb.frozen_stages) == (arch, 'cls_token',
                                                             depth)
        assert cfg.model.neck.type == 'ClsBatchNormNeck'
        assert cfg.optim_wrapper.optimizer.type == 'LARS'
        assert cfg.optim_wrapper.optimizer.lr == 6.4
        assert cfg.train_dataloader.batch_size * 8 == 16384


@pytest.mark.parametrize('arch', ['b', 'l'])
def test_finetune_384px(arch):
    """The 384 px Table 7 rows: the 224 px recipe with the backbone, the
    training crop and the evaluation resize + crop at 384, the loaders using
    the same pipelines as the top-level ones."""
    name = f'finetune_beitv2_vit-{arch}_1600e-in21k-ft_in1k'
    cfg, base = _cfg(f'{name}-384px.py'), _cfg(f'{name}.py')
    assert cfg.model.backbone.img_size == 384
    assert cfg.model.backbone.arch == base.model.backbone.arch
    assert cfg.train_dataloader.dataset.pipeline == cfg.train_pipeline
    assert cfg.val_dataloader.dataset.pipeline == cfg.test_pipeline
    assert cfg.test_dataloader.dataset.pipeline == cfg.test_pipeline
    want = {'RandomResizedCrop': dict(scale=384),
            'ResizeEdge': dict(scale=384), 'CenterCrop': dict(crop_size=384)}
    for ours, theirs in zip(cfg.train_pipeline + cfg.test_pipeline,
                            base.train_pipeline + base.test_pipeline):
        assert ours == dict(theirs, **want.get(theirs.type, {}))
    assert len(cfg.train_pipeline + cfg.test_pipeline) == len(
        base.train_pipeline + base.test_pipeline)
    assert cfg.optim_wrapper == base.optim_wrapper


def test_linear_probe_avg_pooling_option():
    """The documented option out_type='avg_featmap' gives pooled features
    from a still fully frozen backbone."""
    from mmengine.registry import DefaultScope
    cfg = _cfg('linear-probe_beitv2_vit-b_in1k.py')
    cfg.model.backbone.update(arch=TINY, img_size=SIZE, patch_size=8,
                              frozen_stages=TINY['num_layers'],
                              out_type='avg_featmap', init_cfg=None)
    cfg.model.neck.input_features = cfg.model.head.in_channels = 32
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(cfg.model)
    model.train()
    assert not any(p.requires_grad for p in model.backbone.parameters())
    feats = model.extract_feat(torch.randn(4, 3, SIZE, SIZE))
    assert feats[0].shape == (4, 32)


@pytest.mark.parametrize('name,params_m', [
    ('finetune_beitv2_vit-b_300e_in1k.py', 86.5),
    ('finetune_beitv2_vit-l_300e_in1k.py', 304.3),
    ('linear-probe_beitv2_vit-l_in1k.py', 304.2)])
def test_real_size_models_build(name, params_m):
    """The full-size models and their optimizers build from the configs
    (on the meta device: shapes and wiring without the memory)."""
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    cfg = _cfg(name)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.data_preprocessor = dict(type='ClsDataPreprocessor',
                                       **cfg.data_preprocessor)
    ow = copy.deepcopy(cfg.optim_wrapper)
    ow.type = 'OptimWrapper'
    ow.pop('loss_scale', None)
    # the runner sets the config's default scope; so do we
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        with torch.device('meta'):
            model = MODELS.build(model_cfg)
        optim = build_optim_wrapper(model, ow).optimizer
    n = sum(p.numel() for p in model.parameters()) / 1e6
    assert n == pytest.approx(params_m, abs=0.5)
    trained = sum(p.numel() for g in optim.param_groups for p in g['params']
                  if p.requires_grad)
    if 'linear-probe' in name:  # only the linear head is trained
        assert trained == 1024 * 1000 + 1000
    else:
        scales = sorted({g['lr_scale'] for g in optim.param_groups})
        depth = model.backbone.num_layers
        rate = cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
        assert len(scales) == depth + 2
        assert scales[0] == pytest.approx(rate**(depth + 1))


# ---------------------------------------------------------------- training
@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory):
    from conftest import write_image_folder
    root = tmp_path_factory.mktemp('cls')
    data = write_image_folder(root / 'imagenet', per_class=4, size=SIZE)
    torch.manual_seed(0)
    pre = BEiTv2ViT(arch=TINY, img_size=SIZE, patch_size=8,
                    with_mask_token=True)
    pre.init_weights()
    with torch.no_grad():
        pre.rel_pos_bias.relative_position_bias_table.normal_()
    ckpt = str(root / 'pretrain.pth')
    torch.save({'state_dict': {'backbone.' + k: v
                               for k, v in pre.state_dict().items()}}, ckpt)
    return data, ckpt, pre.state_dict()


def _shrink(cfg, data_root, ckpt, work_dir):
    """Tiny backbone at 32 px, tiny folder, CPU, 1 epoch = 2 iterations."""
    bb = cfg.model.backbone
    bb.update(arch=TINY, img_size=SIZE, patch_size=8)
    bb.init_cfg.checkpoint = ckpt
    if bb.get('frozen_stages', -1) > 0:
        bb.frozen_stages = TINY['num_layers']
    if cfg.model.get('neck'):
        cfg.model.neck.input_features = TINY['embed_dims']
    cfg.model.head.in_channels = TINY['embed_dims']
    for pipeline in (cfg.train_pipeline, cfg.test_pipeline):
        for t in pipeline:
            if t.type == 'RandomResizedCrop':
                t.scale = SIZE
            elif t.type == 'ResizeEdge':
                t.scale = SIZE * 256 // 224
            elif t.type == 'CenterCrop':
                t.crop_size = SIZE
    for split, loader in (('train', cfg.train_dataloader),
                          ('val', cfg.val_dataloader)):
        pipeline = cfg.train_pipeline if split == 'train' else \
            cfg.test_pipeline
        loader.update(batch_size=4, num_workers=0, persistent_workers=False,
                      pin_memory=False)
        loader.dataset = dict(type='CustomDataset', data_root=data_root,
                              data_prefix=split, pipeline=pipeline)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU
    cfg.optim_wrapper.pop('loss_scale', None)
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    return cfg


@pytest.fixture
def no_yapf(monkeypatch):
    """The runner pretty-prints the config (log, dump, checkpoint meta) with
    yapf, most of a tiny run's time; skip the reformatting."""
    import mmengine.config.config as config_module
    monkeypatch.setattr(config_module, 'FormatCode',
                        lambda text, **kwargs: (text, None))


def _top1_by_hand(runner) -> float:
    """Top-1 (%) of the trained model on the val loader, counted here."""
    model = runner.model.eval()
    hits = total = 0
    with torch.no_grad():
        for batch in runner.val_loop.dataloader:
            for sample in model.val_step(batch):
                hits += int(sample.pred_label.item() == sample.gt_label.item())
                total += 1
    return 100. * hits / total


def _train(name, tiny_data, tmp_path):
    data_root, ckpt, _ = tiny_data
    cfg = _shrink(_cfg(name), data_root, ckpt, str(tmp_path / 'work'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    top1 = runner.message_hub.get_scalar('val/accuracy/top1').current()
    assert top1 == pytest.approx(_top1_by_hand(runner))
    assert runner.iter == 2
    return runner


@pytest.mark.parametrize('name', sorted(FT))
def test_finetune_trains_and_evaluates(name, tiny_data, tmp_path, no_yapf):
    runner = _train(name, tiny_data, tmp_path)
    _, _, pretrained = tiny_data
    bb = runner.model.backbone
    shared = pretrained['rel_pos_bias.relative_position_bias_table']
    for blk in bb.blocks:  # per-block tables start from the shared one
        torch.testing.assert_close(
            blk.rel_pos_bias.relative_position_bias_table.detach(), shared,
            atol=1e-4, rtol=0)
    torch.testing.assert_close(bb.blocks[1].attn.qkv.weight.detach(),
                               pretrained['blocks.1.attn.qkv.weight'],
                               atol=1e-4, rtol=0)
    rate = runner.cfg.optim_wrapper.paramwise_cfg.layer_decay_rate
    scales = {g['layer_id']: g['lr_scale']
              for g in runner.optim_wrapper.optimizer.param_groups}
    assert scales == pytest.approx({i: rate**(3 - i) for i in range(4)})


@pytest.mark.parametrize('name', sorted(LP))
def test_linear_probe_trains_and_evaluates(name, tiny_data, tmp_path,
                                           no_yapf):
    runner = _train(name, tiny_data, tmp_path)
    _, _, pretrained = tiny_data
    model = runner.model
    for k, v in model.backbone.state_dict().items():  # frozen, as loaded
        torch.testing.assert_close(v, pretrained[k], atol=0, rtol=0)
    assert model.neck.bn.running_mean.abs().sum() > 0  # BN statistics moved
    names = [n for g in runner.optim_wrapper.optimizer.param_groups
             for p, n in zip(g['params'], g.get('param_names', []))
             if p.requires_grad] or [
                 n for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(names) == ['head.fc.bias', 'head.fc.weight']


def _rank_seed(cfg, rank, monkeypatch):
    """The torch seed mmengine's Runner gives ``rank`` under this config."""
    import random

    import numpy as np
    from mmengine.runner import utils as runner_utils
    monkeypatch.setattr(runner_utils, 'get_rank', lambda: rank)
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    r = cfg.randomness
    try:
        return runner_utils.set_random_seed(
            r.seed, r.get('deterministic', False),
            r.get('diff_rank_seed', False))
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


@pytest.mark.parametrize('name', sorted(FT) + sorted(LP) + [
    '../beitv2_vit-b_300e.py', '../vqkd/vqkd_vit-b_clip-b16_100e_in1k.py',
    '../vqkd/vqkd_vit-b_dino-b16_100e_in1k.py'])
def test_every_rank_gets_seed_plus_rank(name, monkeypatch):
    """Official run_class_finetuning / run_beitv2_pretraining /
    run_vqkd_training: seed = args.seed + rank, so drop path, Mixup/CutMix,
    random erasing and masks differ between GPUs."""
    cfg = _cfg(name)
    assert [_rank_seed(cfg, r, monkeypatch) for r in range(3)] == [0, 1, 2]
