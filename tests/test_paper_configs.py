"""The paper-table configs (docs/paper_tables.md): the
200-class logit restriction (hand-made logits and a tools/test.py run);
pretraining without patch aggregation; the VQ-KD encoder as a fine-tuning
backbone; per-epoch codebook statistics. Tiny runs of every config:
tests/test_paper_configs_runs.py (which reuses NEW and _shrink_model; it
also checks that the doc lists every config)."""
import glob
import importlib
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import Runner

import beit2mm  # noqa: F401
from beit2mm.engine.hooks import CodebookUsageHook
from beit2mm.models.heads import SubsetLinearClsHead, subset_indices
from beit2mm.registry import MODELS
from conftest import write_image_folder

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
NEW = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'ablations', '*.py'))
    + glob.glob(osp.join(ROOT, 'configs', 'benchmarks', 'robustness', '*.py'))
    + glob.glob(osp.join(ROOT, 'configs', 'benchmarks', '*in21k*.py'))
    + glob.glob(osp.join(ROOT, 'configs', 'vqkd', 'ablations', '*.py'))
    + glob.glob(osp.join(ROOT, 'configs', 'vqkd', 'small_data', '*.py'))
    + glob.glob(osp.join(ROOT, 'configs', 'vqkd', 'vqkd_vit-[st]_*.py'))
    + glob.glob(osp.join(ROOT, 'configs', 'beitv2', 'beitv2_vit-[st]_*.py')))
TINY = dict(embed_dims=32, num_layers=2, num_heads=2, mlp_ratio=2.,
            layer_scale_init_value=0.1)


def _rel(path):
    return osp.relpath(path, ROOT)


def _shrink_model(m):
    """The config's model with 2-block 32-d ViTs, offline (no checkpoint,
    random tokenizer, small random teacher); everything else as written."""
    if m.type == 'beit2mm.BEiTv2':
        m.backbone.arch = TINY
        if m.neck is not None:
            m.neck.update(arch=TINY, early_layers=1)
        m.head.embed_dims = 32
        m.tokenizer.arch = dict(encoder=TINY, decoder=TINY)
        m.update(tokenizer_ckpt=None, allow_random_tokenizer=True)
    elif m.type == 'beit2mm.VQKDTokenizer':
        enc = dict(TINY, layer_scale_init_value=0.)
        dec = dict(enc, num_layers=m.arch['decoder']['num_layers']
                   if isinstance(m.arch, dict) else 3)
        m.arch = dict(encoder=enc, decoder=dec)
        m.num_codes = min(m.num_codes, 64)
        m.teacher = dict(type='beit2mm.DINOTeacher',
                         model_name='vit_tiny_patch16_224', pretrained=None,
                         img_size=m.get('img_size', 224))
    else:  # ImageClassifier
        m.backbone.update(arch=TINY, init_cfg=None)
        if m.backbone.get('frozen_stages', -1) > 0:
            m.backbone.frozen_stages = TINY['num_layers']
        if m.get('neck'):
            m.neck.input_features = 32
        m.head.in_channels = 32
    return m


# ------------------------------------------------ 200-class restriction
def test_subset_head_returns_only_the_subset_columns():
    head = SubsetLinearClsHead(class_indices=[1, 3], num_classes=5,
                               in_channels=2)
    with torch.no_grad():
        head.fc.weight.zero_()
        head.fc.bias.copy_(torch.tensor([9., 1., 8., 2., 7.]))
    feats = (torch.zeros(3, 2), )
    logits = head(feats)
    assert torch.equal(logits, torch.tensor([[1., 2.]] * 3))
    # the best class of the subset wins, not the best of the 1000
    assert logits.argmax(-1).tolist() == [1, 1, 1]


def test_subset_lists_and_folder_names(tmp_path):
    a, r = subset_indices('imagenet-a'), subset_indices('imagenet-r')
    assert len(a) == len(r) == 200 and a == sorted(a) and r == sorted(r)
    # ImageNet-A's first class is n01498041 (stingray), 1k index 6
    assert a[:3] == [6, 11, 13]
    for wnid in ('n01498041', 'n01440764'):
        os.makedirs(tmp_path / wnid)
    assert subset_indices(str(tmp_path)) == [0, 6]
    os.makedirs(tmp_path / 'not_a_wnid')
    with pytest.raises(ValueError, match='not ImageNet-1k wnids'):
        subset_indices(str(tmp_path))


def _tool(name):
    return importlib.import_module(f'beit2mm.tools.{name}')


def test_robustness_config_tests_on_wnid_folders(tmp_path):
    """tools/test.py with the ImageNet-R config on a wnid-folder tree: all
    images have a 1000-way score that prefers a class outside the subset
    (tench, 10) over the great white shark (label 1 of the subset, 5);
    restricted to the subset every image is predicted shark: 3 of 4 correct
    (unrestricted: index 0 = label 0, 1 of 4)."""
    data = tmp_path / 'imagenet-r'
    write_image_folder(data, classes=('n01443537', 'n01484850'), per_class=1,
                       size=32, splits=('',))
    write_image_folder(data, classes=('n01484850', ), per_class=3, size=32,
                       splits=('',), seed=1)
    bb = MODELS.build(dict(type='beit2mm.BEiTv2ViT', arch=TINY, img_size=32,
                           patch_size=8, out_type='avg_featmap',
                           use_shared_rel_pos_bias=False,
                           use_rel_pos_bias=True))
    state = {'backbone.' + k: v for k, v in bb.state_dict().items()}
    bias = torch.zeros(1000)
    bias[0], bias[2] = 10., 5.   # tench (not in the folder), shark
    state.update({'head.fc.weight': torch.zeros(1000, 32),
                  'head.fc.bias': bias})
    ckpt = str(tmp_path / 'ft.pth')
    torch.save({'state_dict': state}, ckpt)
    tool = _tool('test')
    config = osp.join(ROOT, 'configs', 'benchmarks', 'robustness',
                      'robustness_beitv2_vit-b_1600e-in1k-ft_imagenet-r.py')
    args = tool.parse_args([config, ckpt, '--work-dir', str(tmp_path / 'w'),
                            '--cfg-options', 'launcher=none'])
    cfg = tool.merge_args(Config.fromfile(args.config), args)
    cfg.model.backbone.update(arch=TINY, img_size=32, patch_size=8)
    cfg.model.head.update(in_channels=32, class_indices=str(data))
    cfg.data_preprocessor.num_classes = 2
    cfg.test_dataloader.update(batch_size=4, num_workers=0,
                               persistent_workers=False, pin_memory=False)
    ds = cfg.test_dataloader.dataset
    ds.data_root = str(data)
    ds.pipeline = [dict(type='LoadImageFromFile'),
                   dict(type='CenterCrop', crop_size=32),
                   dict(type='PackInputs')]
    cfg.test_evaluator = dict(type='Accuracy', topk=(1, ))
    metrics = Runner.from_cfg(cfg).test()
    assert metrics['accuracy/top1'] == pytest.approx(75.)


# ------------------------------------------------ no patch aggregation
def test_pretraining_without_aggregation_gives_the_last_layer_loss():
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'beitv2_vit-b_300e.py'))
    m = _shrink_model(cfg.model)
    m.backbone.update(img_size=32, patch_size=8)
    m.tokenizer.update(img_size=32, patch_size=8)
    torch.manual_seed(0)
    full = MODELS.build(m)
    full.init_weights()
    no_agg = MODELS.build(dict(m, neck=None))
    missing, _ = no_agg.load_state_dict(full.state_dict(), strict=False)
    assert not missing
    no_agg.tokenizer.load_state_dict(full.tokenizer.state_dict())
    imgs = [torch.randn(2, 3, 32, 32), torch.rand(2, 3, 32, 32) * 2 - 1]
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[:, :6] = True
    ref = full(imgs, mode='loss', mask=mask)
    out = no_agg(imgs, mode='loss', mask=mask)
    assert set(out) == {'loss_mim', 'acc_mim'}
    torch.testing.assert_close(out['loss_mim'], ref['loss_mim'])
    out['loss_mim'].backward()
    assert no_agg.backbone.blocks[0].attn.qkv.weight.grad is not None


# ------------------------------------------------ VQ-KD encoder fine-tune
def test_vqkd_encoder_loads_as_finetuning_backbone(tmp_path):
    tok = MODELS.build(dict(
        type='beit2mm.VQKDTokenizer',
        arch=dict(encoder=dict(TINY, layer_scale_init_value=0.),
                  decoder=dict(TINY, layer_scale_init_value=0.)),
        img_size=32, patch_size=8, num_codes=16, code_dim=8,
        decoder_out_dim=8))
    ckpt = str(tmp_path / 'vqkd.pth')
    torch.save({'state_dict': tok.state_dict()}, ckpt)
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'ablations',
        'finetune_vqkd-encoder_vit-b_clip-b16_in1k.py'))
    bb = cfg.model.backbone
    bb.update(arch=TINY, img_size=32, patch_size=8)
    bb.init_cfg.checkpoint = ckpt
    backbone = MODELS.build(bb)
    backbone.init_weights()
    enc = tok.encoder.state_dict()
    own = backbone.state_dict()
    assert set(own) == {k for k in enc if not k.startswith('norm.')}
    for k, v in own.items():
        torch.testing.assert_close(v, enc[k], msg=k)


# ------------------------------------------------ per-epoch statistics
def test_codebook_hook_logs_each_epoch_once():
    from beit2mm.models.quantizers import NormEMAQuantizer
    q = NormEMAQuantizer(8, 4, kmeans_init=False)
    model = torch.nn.Sequential(q)
    hub = MessageHub.get_instance('test_paper_configs_hook')
    logs = []
    runner = SimpleNamespace(model=model, message_hub=hub, iter=0, epoch=0,
                             max_iters=100, train_loop=None,
                             logger=SimpleNamespace(info=logs.append))
    hook = CodebookUsageHook(interval=2)
    hook.before_train_epoch(runner)
    q.usage_counts[:2] = 3.          # iterations 1-2: codes 0, 1
    runner.iter = 1
    hook.after_train_iter(runner, 1)  # interval reading
    q.usage_counts[2] = 1.           # iteration 3: code 2, no reading yet
    hook.after_train_epoch(runner)
    assert hub.get_scalar('train/epoch_codebook_usage').current() == 37.5
    assert '37.50 %' in logs[-1]
    # next epoch: code 2's count is read at the interval but not counted
    # for this epoch again
    hook.before_train_epoch(runner)
    q.usage_counts[7] = 1.
    runner.iter, runner.epoch = 3, 1
    hook.after_train_iter(runner, 3)
    assert hub.get_scalar('train/codebook_usage').current() == 25.
    hook.after_train_epoch(runner)
    assert hub.get_scalar('train/epoch_codebook_usage').current() == 12.5


# ------------------------------------------------ architectures as data
def test_huge_patch14_student_builds_with_the_official_size():
    from beit2mm.models.backbones import BEiTv2ViT
    with torch.device('meta'):  # no memory, no init
        m = BEiTv2ViT(arch='huge', patch_size=14, with_mask_token=True)
    assert m.patch_resolution == (16, 16)
    assert (m.embed_dims, m.num_layers, m.num_heads) == (1280, 32, 16)
    # official beit_huge_patch14_224: about 632M parameters with its head
    assert 628e6 < sum(p.numel() for p in m.parameters()) < 633e6
