"""The VQ-KD configs: the official recipe, offline build, one train step of
each full config on two 224-px images, and a short Runner run of the tiny
CPU config (train + val with the usage hook and the metric)."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from beit2mm.registry import MODELS, TRANSFORMS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
FULL = {
    'clip': 'configs/vqkd/vqkd_vit-b_clip-b16_100e_in1k.py',
    'dino': 'configs/vqkd/vqkd_vit-b_dino-b16_100e_in1k.py',
}
TINY = 'configs/vqkd/vqkd_vit-tiny_shapes-64px_cpu.py'


def _cfg(path, offline=True):
    cfg = Config.fromfile(osp.join(ROOT, path))
    if offline:  # what --cfg-options model.teacher.pretrained=None does
        cfg.merge_from_dict({'model.teacher.pretrained': None})
    return cfg


def test_official_recipe_and_only_the_teacher_differs():
    cfgs = {k: _cfg(v, offline=False) for k, v in FULL.items()}
    c = cfgs['clip']
    assert c.model.teacher == dict(type='beit2mm.CLIPTeacher',
                                   model_name='ViT-B-16', pretrained='openai')
    assert cfgs['dino'].model.teacher.model_name == \
        'vit_base_patch16_224.dino'
    assert (c.model.arch, c.model.num_codes, c.model.code_dim,
            c.model.decay) == ('base', 8192, 32, 0.99)
    assert c.model.data_preprocessor.mean == [127.5] * 3
    ow = c.optim_wrapper
    assert ow.type == 'AmpOptimWrapper'
    # official: lr = 5e-5 x total batch / 128, always applied
    assert ow.optimizer == dict(type='AdamW', lr=5e-5, betas=(0.9, 0.99),
                                weight_decay=1e-4)
    assert c.auto_scale_lr == dict(base_batch_size=128, enable=True)
    assert c.train_dataloader.batch_size * 8 == 512
    warm, cos = c.param_scheduler
    assert (warm.type, warm.end, cos.type, cos.begin, cos.end, cos.eta_min) \
        == ('LinearLR', 10, 'CosineAnnealingLR', 10, 100, 1e-5)
    assert warm.start_factor <= 1e-3
    assert c.train_cfg.max_epochs == 100
    rrc = c.train_dataloader.dataset.pipeline[1]
    assert (rrc.scale, rrc.crop_ratio_range, rrc.interpolation) == \
        (224, (0.08, 1.0), 'bicubic')
    # official build_vqkd_dataset(is_train=False): Resize(int(224 / 0.875)
    # = 256, bicubic) of the short side, CenterCrop(224)
    resize, crop = c.val_dataloader.dataset.pipeline[1:3]
    assert (resize.type, resize.scale, resize.edge, resize.interpolation,
            resize.backend) == ('ResizeEdge', 256, 'short', 'bicubic',
                                'pillow')
    assert (crop.type, crop.crop_size) == ('CenterCrop', 224)
    assert c.test_dataloader.dataset.pipeline == \
        c.val_dataloader.dataset.pipeline
    d = cfgs['dino'].to_dict()
    c = cfgs['clip'].to_dict()
    d['model'].pop('teacher')
    c['model'].pop('teacher')
    assert c == d


def _effective_lr(cfg, world_size, batch_size):
    """The peak lr mmengine's Runner.scale_lr sets for this run size."""
    from types import SimpleNamespace

    import torch.nn as nn
    from mmengine.logging import MMLogger
    from mmengine.runner import Runner
    ow_cfg = cfg.optim_wrapper.copy()
    ow_cfg.pop('loss_scale')
    ow_cfg['type'] = 'OptimWrapper'
    wrapper = build_optim_wrapper(nn.Linear(2, 2), ow_cfg)
    fake = SimpleNamespace(
        _train_dataloader=dict(batch_size=batch_size), world_size=world_size,
        param_schedulers=None, logger=MMLogger.get_current_instance())
    Runner.scale_lr(fake, wrapper, cfg.auto_scale_lr)
    lrs = {g['lr'] for g in wrapper.optimizer.param_groups}
    assert len(lrs) == 1
    return lrs.pop()


def test_lr_scales_with_total_batch_by_default():
    """lr = 5e-5 x total batch / 128 without --auto-scale-lr, as the
    official script; tools/train.py keeps auto_scale_lr enabled."""
    from beit2mm.tools import train as train_tool
    for name, path in FULL.items():
        args = train_tool.parse_args([osp.join(ROOT, path)])
        cfg = train_tool.merge_args(_cfg(path), args)
        assert cfg.auto_scale_lr.enable, name
        assert _effective_lr(cfg, 8, 64) == pytest.approx(2e-4)
        assert _effective_lr(cfg, 2, 64) == pytest.approx(5e-5)
        assert _effective_lr(cfg, 4, 96) == pytest.approx(1.5e-4)


def test_weight_decay_as_the_official_groups():
    """optim_factory.get_parameter_groups with modeling_vqkd's skip list:
    no decay on 1-D parameters, biases, the tokens and position
    embeddings; every other trained parameter decays."""
    cfg = _cfg(TINY)
    init_default_scope('beit2mm')
    model = MODELS.build(cfg.model)
    ow_cfg = _cfg(FULL['clip']).optim_wrapper.copy()
    ow_cfg.pop('loss_scale')
    ow_cfg['type'] = 'OptimWrapper'
    wrapper = build_optim_wrapper(model, ow_cfg)
    wd = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups
          for p in g['params']}
    skip = {'encoder.cls_token', 'encoder.pos_embed', 'decoder.cls_token',
            'decoder.pos_embed'}
    trained = [(n, p) for n, p in model.named_parameters()
               if p.requires_grad]
    assert {id(p) for _, p in trained} == set(wd)
    for n, p in trained:
        exempt = p.ndim <= 1 or n.endswith('.bias') or n in skip
        assert wd[id(p)] == (0. if exempt else 1e-4), n


def _two_images(root, size=224):
    from PIL import Image
    paths = []
    for i in range(2):
        g = torch.Generator().manual_seed(i)
        img = torch.randint(0, 256, (size + 32, size, 3), generator=g,
                            dtype=torch.uint8).numpy()
        paths.append(osp.join(root, f'{i}.png'))
        Image.fromarray(img).save(paths[-1])
    return paths


@pytest.mark.parametrize('name', sorted(FULL))
def test_full_config_builds_offline_and_trains_one_step(name, tmp_path):
    cfg = _cfg(FULL[name])
    init_default_scope('beit2mm')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    teacher = model.teacher
    assert teacher.embed_dim == {'clip': 512, 'dino': 768}[name]
    # AmpOptimWrapper needs a GPU; the rest of the optimiser cfg is as-is
    ow_cfg = cfg.optim_wrapper.copy()
    ow_cfg.pop('loss_scale')
    ow_cfg['type'] = 'OptimWrapper'
    optim_wrapper = build_optim_wrapper(model, ow_cfg)
    in_opt = {id(p) for g in optim_wrapper.optimizer.param_groups
              for p in g['params']}
    assert not in_opt & {id(p) for p in teacher.parameters()}
    pipeline = [TRANSFORMS.build(t) for t in cfg.train_pipeline]
    samples = []
    for path in _two_images(str(tmp_path)):
        data = dict(img_path=path)
        for t in pipeline:
            data = t(data)
        samples.append(data)
    assert samples[0]['inputs'].shape == (3, 224, 224)
    before = model.encoder.patch_embed.proj.weight.detach().clone()
    teacher_before = next(teacher.parameters()).detach().clone()
    model.train()
    log_vars = model.train_step(pseudo_collate(samples), optim_wrapper)
    assert torch.isfinite(log_vars['loss'])
    assert {'loss_rec', 'loss_commit'} <= set(log_vars)
    assert bool(model.quantize.initted)
    assert not torch.equal(before, model.encoder.patch_embed.proj.weight)
    assert torch.equal(teacher_before, next(teacher.parameters()))
    assert not any(k.startswith('teacher') for k in model.state_dict())


def _val_by_hand(runner):
    """VQKDMetric's rec_cos and codebook_usage recomputed from the model's
    parts: nearest code by cosine, decoder on the code vectors, cosine with
    the teacher's features per token."""
    import torch.nn.functional as F
    model = runner.model.eval()
    codebook = F.normalize(model.quantize.codebook, dim=-1)
    cos, ids = [], []
    with torch.no_grad():
        for batch in runner.val_loop.dataloader:
            x = model.data_preprocessor(batch, False)['inputs']
            code = (F.normalize(model.encode(x), dim=-1) @ codebook.t())
            code = code.argmax(-1)
            rec = model.decode(codebook[code])
            cos += F.cosine_similarity(rec, model.targets(x), dim=-1).mean(1)
            ids.append(code.flatten())
    used = torch.cat(ids).unique().numel()
    return float(torch.stack(cos).mean()), 100. * used / codebook.shape[0]


def test_tiny_config_trains_and_validates_with_runner(tmp_path, image_folder):
    from mmengine.runner import Runner
    cfg = _cfg(TINY)
    for split in ('train', 'val', 'test'):
        dl = cfg[f'{split}_dataloader']
        dl.dataset.data_root = image_folder
        dl.batch_size = 4
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.param_scheduler = []
    cfg.custom_hooks = [dict(type='beit2mm.CodebookUsageHook', interval=1)]
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.interval = 1
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    # the config's CodebookUsageHook logged usage at every iteration
    usage_log = runner.message_hub.get_scalar('train/codebook_usage').data[0]
    assert len(usage_log) == runner.iter
    metrics = runner.val_loop.run()
    rec_cos, usage = _val_by_hand(runner)
    assert metrics['vqkd/rec_cos'] == pytest.approx(rec_cos, abs=1e-5)
    assert metrics['vqkd/codebook_usage'] == pytest.approx(usage)
    ckpt = torch.load(osp.join(cfg.work_dir, 'epoch_1.pth'),
                      weights_only=False)
    keys = ckpt['state_dict']
    assert 'quantize.codebook' in keys and 'quantize.initted' in keys
    assert not any(k.startswith(('teacher', '_teacher')) for k in keys)
