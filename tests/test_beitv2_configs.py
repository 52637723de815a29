import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from conftest import write_image_folder

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'beitv2_vit-b_300e': ('base', 9, 0., (0.9, 0.98), 300),
    'beitv2_vit-b_1600e': ('base', 9, 0.1, (0.9, 0.999), 1600),
    'beitv2_vit-l_300e': ('large', 21, 0., (0.9, 0.98), 300),
    'beitv2_vit-l_1600e': ('large', 21, 0.1, (0.9, 0.999), 1600),
}


def load(name):
    return Config.fromfile(osp.join(ROOT, 'configs', name + '.py'))


@pytest.mark.parametrize('name', sorted(CONFIGS))
def test_recipe(name):
    arch, early, dpr, betas, epochs = CONFIGS[name]
    cfg = load(name)
    m = cfg.model
    assert m.type == 'beit2mm.BEiTv2' and cfg.default_scope == 'beit2mm'
    # the neck and head take the backbone's size and drop path (BEiTv2)
    assert m.backbone.arch == arch and 'arch' not in m.neck
    assert 'embed_dims' not in m.head and 'arch' not in m.tokenizer
    assert m.backbone.with_mask_token and m.backbone.use_shared_rel_pos_bias
    assert not m.backbone.use_abs_pos_emb
    assert m.neck.early_layers == early and m.neck.num_layers == 2
    assert m.backbone.drop_path_rate == dpr
    assert 'drop_path_rate' not in m.neck and 'drop_path_rate' not in cfg
    assert m.head.num_codes == 8192
    assert m.head.shared
    assert m.tokenizer.teacher is None
    assert m.tokenizer_ckpt.endswith('_clip-d5036aa7.pth')
    opt = cfg.optim_wrapper
    assert opt.type == 'AmpOptimWrapper'
    assert opt.optimizer.lr == 1.5e-3 and opt.optimizer.betas == betas
    assert opt.optimizer.eps == 1e-8 and opt.optimizer.weight_decay == 0.05
    assert opt.clip_grad.max_norm == 3.0
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end) == ('LinearLR', 10)
    assert (cosine.type, cosine.eta_min, cosine.end) == (
        'CosineAnnealingLR', 1e-5, epochs)
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.train_dataloader.batch_size * 8 == 2048
    assert cfg.auto_scale_lr.base_batch_size == 2048
    assert not cfg.get('find_unused_parameters', False)
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    # FusedRandomResizedCrop = ColorJitter -> RandomFlip ->
    # TwoViewRandomResizedCrop (tests/test_pipeline_fast.py)
    assert types == ['beit2mm.SafeLoadImageFromFile',
                     'beit2mm.FusedRandomResizedCrop',
                     'beit2mm.BlockwiseMaskGenerator', 'PackInputs']
    crop, mask = cfg.train_dataloader.dataset.pipeline[1:3]
    assert crop.crop_ratio_range == (0.2, 1.0)
    assert (mask.num_masking_patches, mask.min_num_patches) == (75, 16)


def test_weight_decay_groups():
    """The official groups (optim_factory.get_parameter_groups with the skip
    list {pos_embed, cls_token} of modeling_pretrain.py): no decay on 1-D
    parameters, biases, cls_token and pos_embed only; the mask token and the
    shared relative position bias table are decayed."""
    import beit2mm  # noqa: F401
    from beit2mm.registry import MODELS
    cfg = load('beitv2_vit-b_300e')
    tiny = dict(embed_dims=32, num_layers=3, num_heads=4, mlp_ratio=2.,
                layer_scale_init_value=0.1)
    m = copy.deepcopy(cfg.model)
    m.backbone.update(arch=tiny, img_size=32, patch_size=8)
    m.neck.update(arch=tiny, early_layers=2)
    m.head.update(embed_dims=32, num_codes=16)
    m.tokenizer.update(
        arch=dict(encoder=dict(embed_dims=32, num_layers=1, num_heads=4),
                  decoder=dict(embed_dims=32, num_layers=1, num_heads=4)),
        img_size=32, patch_size=8, num_codes=16, code_dim=8)
    m.update(tokenizer_ckpt=None, allow_random_tokenizer=True)
    with pytest.warns(UserWarning, match='random-init tokenizer'):
        model = MODELS.build(m)
    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    wrapper_cfg.type = 'OptimWrapper'
    wrapper = build_optim_wrapper(model, wrapper_cfg)
    wd = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            wd[id(p)] = group['weight_decay']
    names = dict(model.named_parameters())
    assert len(wd) == len(names)  # the tokenizer is not in the optimizer
    for n, p in names.items():
        # the official rule, on names without our 'backbone.' prefix
        no_decay = (p.ndim <= 1 or n.endswith('.bias')
                    or n.split('.', 1)[-1] in ('cls_token', 'pos_embed'))
        assert wd[id(p)] == (0. if no_decay else 0.05), n
    assert wd[id(names['backbone.cls_token'])] == 0.
    assert wd[id(names['backbone.mask_token'])] == 0.05
    table = 'backbone.rel_pos_bias.relative_position_bias_table'
    assert wd[id(names[table])] == 0.05
    assert wd[id(names['backbone.blocks.0.gamma_1'])] == 0.
    assert wd[id(names['backbone.blocks.0.attn.q_bias'])] == 0.
    assert wd[id(names['head.fc.weight'])] == 0.05


def test_vit_b_300e_runs_two_iterations_on_cpu(tmp_path):
    """The real config, offline: random tokenizer, 2 images of a generated
    folder, batch 1 -> 2 iterations; the tokenizer does not change."""
    from mmengine.runner import Runner
    from beit2mm.tools import train as train_tool
    data = write_image_folder(tmp_path / 'data', classes=('a',),
                              per_class=2, size=48, splits=('train',))
    args = train_tool.parse_args([
        osp.join(ROOT, 'configs', 'beitv2_vit-b_300e.py'),
        '--work-dir', str(tmp_path / 'work'), '--cfg-options',
        'model.tokenizer_ckpt=None', 'model.allow_random_tokenizer=True',
        'optim_wrapper.type=OptimWrapper', 'train_dataloader.batch_size=1',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.pin_memory=False',
        'train_dataloader.dataset.type=CustomDataset',
        f'train_dataloader.dataset.data_root={data}',
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint=None'])
    cfg = train_tool.merge_args(Config.fromfile(args.config), args)
    runner = Runner.from_cfg(cfg)
    tok = runner.model.tokenizer
    before = {k: v.clone() for k, v in tok.state_dict().items()}
    student = runner.model.head.fc.weight.detach().clone()
    runner.train()
    assert runner.iter == 2
    for k, v in tok.state_dict().items():
        assert torch.equal(before[k], v), k
    assert not tok.training
    assert not torch.equal(student, runner.model.head.fc.weight)
    scalars = runner.message_hub.log_scalars
    loss = scalars['train/loss'].current()
    assert torch.isfinite(torch.tensor(loss))
    assert 'train/acc_mim' in scalars and 'train/loss_cls_pt' in scalars


def test_tiny_cpu_config_builds_and_matches_the_tiny_tokenizer():
    import beit2mm  # noqa: F401
    from beit2mm.registry import MODELS
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs/beitv2/beitv2_vit-tiny_shapes-64px_cpu.py'))
    vqkd = Config.fromfile(osp.join(
        ROOT, 'configs/vqkd/vqkd_vit-tiny_shapes-64px_cpu.py'))
    tok = cfg.model.tokenizer
    assert tok.arch == vqkd.model.arch
    assert tok.num_codes == vqkd.model.num_codes
    assert (tok.img_size, tok.patch_size) == (vqkd.model.img_size,
                                              vqkd.model.patch_size)
    cfg.model.update(tokenizer_ckpt=None, allow_random_tokenizer=True)
    with pytest.warns(UserWarning, match='random-init tokenizer'):
        model = MODELS.build(cfg.model)
    mask_cfg = cfg.train_pipeline[4]
    assert (mask_cfg.input_size, ) * 2 == model.backbone.patch_resolution
