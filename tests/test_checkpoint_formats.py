"""Checkpoint files as the official BEiT v2 scripts write them load into
every entry point (converters, tokenizer loader, --trust rewriter), with
weights_only=True."""
import argparse
import importlib
import os.path as osp
import subprocess
import sys

import pytest
import torch

import beit2mm  # noqa: F401
from beit2mm.compat.checkpoint import UnsafeCheckpointError, safe_load
from beit2mm.models.backbones import BEiTv2ViT
from beit2mm.models.tokenizers import VQKDTokenizer
from beit2mm.models.tokenizers.vqkd_convert import convert_official

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ARCH = dict(encoder=dict(embed_dims=32, num_layers=2, num_heads=2),
            decoder=dict(embed_dims=32, num_layers=1, num_heads=2))
TOK = dict(arch=ARCH, img_size=32, patch_size=8, num_codes=16, code_dim=8,
           decoder_out_dim=24)
D, L, H = 32, 2, 4
VIT = dict(embed_dims=D, num_layers=L, num_heads=H, mlp_ratio=2.,
           layer_scale_init_value=0.1)


def _tool(name):
    return importlib.import_module(f'beit2mm.tools.convert.{name}')


# -- what the official scripts write ----------------------------------------
# Field names and value types of the official argparse command lines
# (run_vqkd_training.py / run_beitv2_pretraining.py get_args), plus what
# utils.init_distributed_mode and main() add to ``args`` before saving.
_COMMON = dict(
    batch_size=64, epochs=100, save_ckpt_freq=20, input_size=224,
    opt='adamw', opt_eps=1e-8, opt_betas=[0.9, 0.99], clip_grad=None,
    weight_decay=1e-4, weight_decay_end=1e-4, lr=2e-4, warmup_lr=1e-6,
    min_lr=1e-5, warmup_epochs=10, warmup_steps=-1, color_jitter=0.,
    train_interpolation='bicubic', min_crop_scale=0.08,
    data_path='/datasets/imagenet/train', eval_data_path='',
    data_set='image_folder', imagenet_default_mean_and_std=False,
    output_dir='/out', log_dir=None, device='cuda', seed=0, resume='',
    auto_resume=True, start_epoch=0, num_workers=10, pin_mem=True,
    world_size=8, local_rank=-1, dist_on_itp=False, dist_url='env://',
    rank=0, gpu=0, distributed=True, dist_backend='nccl')
VQKD_ARGS = dict(
    _COMMON, model='vqkd_encoder_base_decoder_3x768x12_clip',
    rec_loss_type='cosine', codebook_n_emd=8192, codebook_emd_dim=32,
    ema_decay=0.99, quantize_kmeans_init=True, process_type='default',
    teacher_model_type='clip', teacher_input_size=224, dist_eval=True,
    disable_eval=False, eval=False, calculate_codebook_usage=False)
PRETRAIN_ARGS = dict(
    _COMMON, epochs=300, lr=1.5e-3, opt_betas=[0.9, 0.98], clip_grad=3.0,
    weight_decay=0.05, tokenizer_weight='/ckpt/vqkd.pth',
    tokenizer_model='vqkd_encoder_base_decoder_3x768x12_clip',
    model='beit_base_patch16_224_8k_vocab_cls_pt', rel_pos_bias=False,
    shared_rel_pos_bias=True, abs_pos_emb=False, layer_scale_init_value=0.1,
    num_mask_patches=75, max_mask_patches_per_block=None,
    min_mask_patches_per_block=16, second_input_size=224, drop_path=0.,
    early_layers=9, head_layers=2, shared_lm_head=True, codebook_size=8192,
    codebook_dim=32, momentum=0.9, decoupling_aug=False, color_jitter=0.4,
    second_interpolation='bicubic', window_size=(14, 14),
    patch_size=(16, 16))


def official_file(path, model_state, args):
    """A file as ``utils.save_model`` writes it: model, optimizer, epoch,
    scaler and the command line as an ``argparse.Namespace``."""
    params = [torch.nn.Parameter(v.float().clone())
              for v in model_state.values() if v.is_floating_point()][:3]
    opt = torch.optim.AdamW(params, lr=1e-3)
    sum(p.sum() for p in params).backward()
    opt.step()
    torch.save({'model': model_state, 'optimizer': opt.state_dict(),
                'epoch': 99, 'scaler': {'scale': 65536.0,
                                        'growth_factor': 2.0,
                                        'backoff_factor': 0.5,
                                        'growth_interval': 2000,
                                        '_growth_tracker': 17},
                'args': argparse.Namespace(**args)}, path)
    return str(path)


def _official_vqkd_state(initted=1.):
    """A tiny tokenizer in the official unilm key layout (REFERENCE.md)."""
    torch.manual_seed(0)
    ours = VQKDTokenizer(**TOK).state_dict()
    out = {}
    for k, v in ours.items():
        if k == 'quantize.codebook':
            out['quantize.embedding.weight'] = v
        elif k == 'quantize.embed_avg':
            out['quantize.embedding.embed_avg'] = v
        elif k == 'quantize.initted':
            out['quantize.embedding.initted'] = torch.tensor([initted])
        else:
            out[k] = v
    out['teacher_model.visual.proj'] = torch.zeros(3, 3)
    return out


def _official_pretrain_state():
    """A tiny official pretraining model: shared bias, [MASK], patch
    aggregation (cls_pt_layers) and lm_head."""
    torch.manual_seed(0)
    m = BEiTv2ViT(arch=VIT, img_size=32, patch_size=8, with_mask_token=True)
    state = dict(m.state_dict())
    for k, v in m.state_dict().items():
        if k.startswith('blocks.0.'):
            state['cls_pt_layers.0.' + k[len('blocks.0.'):]] = v.clone()
    state['lm_head.weight'] = torch.randn(16, D)
    state['lm_head.bias'] = torch.zeros(16)
    return state


# -- tests -----------------------------------------------------------------
def test_official_training_file_needs_only_a_plain_namespace(tmp_path):
    path = official_file(tmp_path / 'checkpoint-99.pth',
                         _official_vqkd_state(), VQKD_ARGS)
    ckpt = safe_load(path, map_location='cpu')
    assert isinstance(ckpt['args'], argparse.Namespace)
    assert vars(ckpt['args']) == VQKD_ARGS
    # a namespace holding anything else is still refused
    evil = dict(VQKD_ARGS, hook=torch.zeros(1))
    bad = official_file(tmp_path / 'bad.pth', {'w': torch.ones(1)}, evil)
    with pytest.raises(UnsafeCheckpointError, match='bad.pth'):
        safe_load(bad)


def test_official_tokenizer_file_loads_and_converts(tmp_path):
    state = _official_vqkd_state()
    path = official_file(tmp_path / 'vqkd.pth', state, VQKD_ARGS)
    tok = VQKDTokenizer.from_checkpoint(path, **TOK)
    torch.testing.assert_close(
        tok.state_dict()['encoder.patch_embed.proj.weight'],
        state['encoder.patch_embed.proj.weight'])
    out = tmp_path / 'ours.pth'
    _tool('vqkd_official_to_beit2mm').main([path, str(out)])
    saved = torch.load(out, weights_only=True)
    VQKDTokenizer(**TOK).load_state_dict(saved['state_dict'], strict=True)


def test_official_pretraining_file_converts(tmp_path):
    path = official_file(tmp_path / 'pt.pth', _official_pretrain_state(),
                         PRETRAIN_ARGS)
    out = tmp_path / 'ours.pth'
    _tool('beitv2_official_to_beit2mm').main([path, str(out)])
    sd = torch.load(out, weights_only=True)['state_dict']
    assert 'head.fc.weight' in sd and 'neck.blocks.0.norm1.weight' in sd


def test_trust_rewriter_accepts_official_training_file(tmp_path):
    path = official_file(tmp_path / 'pt.pth', _official_pretrain_state(),
                         PRETRAIN_ARGS)
    out = tmp_path / 'out.pth'
    res = subprocess.run(
        [sys.executable, '-m', 'beit2mm.compat.checkpoint', path, str(out),
         '--trust'], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stderr[-2000:]
    assert vars(safe_load(str(out))['args']) == PRETRAIN_ARGS


@pytest.mark.parametrize('flag', [0., 1.])
def test_convert_official_keeps_the_files_initted(flag):
    state = convert_official(_official_vqkd_state(initted=flag))
    assert state['quantize.initted'].dim() == 0
    assert bool(state['quantize.initted']) is bool(flag)


# -- downstream configs load every layout -----------------------------------
def _layouts(tmp_path):
    """The same tiny pretrained backbone in each layout a user starts from:
    official pretraining (shared bias), official fine-tuned (per-block
    tables, fc_norm, head), ours, timm."""
    from timm.models.beit import Beit
    pre = _official_pretrain_state()
    torch.manual_seed(1)
    timm_model = Beit(img_size=32, patch_size=8, embed_dim=D, depth=L,
                      num_heads=H, mlp_ratio=2., use_abs_pos_emb=False,
                      use_rel_pos_bias=True, init_values=0.1, num_classes=5)
    fine = {k: v for k, v in timm_model.state_dict().items()}
    fine['blocks.0.attn.relative_position_index'] = torch.zeros(
        17, 17, dtype=torch.long)  # official files keep the index buffer
    ours = {'backbone.' + k: v for k, v in pre.items()
            if not k.startswith(('lm_head', 'cls_pt_layers'))}
    ours['head.fc.weight'] = pre['lm_head.weight']
    files = {
        'official_pretrain': official_file(tmp_path / 'pt.pth', pre,
                                           PRETRAIN_ARGS),
        'official_finetuned': official_file(tmp_path / 'ft.pth', fine,
                                            PRETRAIN_ARGS),
        'ours': str(tmp_path / 'ours.pth'),
        'timm': str(tmp_path / 'timm.pth'),
    }
    torch.save({'state_dict': ours, 'meta': {}}, files['ours'])
    torch.save(timm_model.state_dict(), files['timm'])
    expected = {'official_pretrain': pre, 'ours': pre,
                'official_finetuned': fine, 'timm': fine}
    return files, expected


def _config_backbone(config, checkpoint):
    from mmengine.config import Config
    from beit2mm.registry import MODELS
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'benchmarks', config))
    bb = cfg.model.backbone
    bb.update(arch=VIT, img_size=32, patch_size=8, drop_path_rate=0.)
    if 'upernet' in config:
        bb.update(out_indices=[1])
    bb.init_cfg.checkpoint = checkpoint
    return MODELS.build(bb)


CONFIGS = ['finetune_beitv2_vit-b_300e_in1k.py',
           'finetune_beitv2_vit-l_1600e_in1k.py',
           'upernet_beitv2_vit-b_8xb2-160k_ade20k-512x512.py']


@pytest.mark.parametrize('config', CONFIGS)
def test_downstream_configs_load_every_layout(tmp_path, config):
    files, expected = _layouts(tmp_path)
    for layout, path in files.items():
        backbone = _config_backbone(config, path)
        backbone.init_weights()
        got = backbone.state_dict()
        src = expected[layout]
        for key in ('cls_token', 'patch_embed.proj.weight',
                    'blocks.1.attn.qkv.weight', 'blocks.1.gamma_2'):
            assert torch.equal(got[key], src[key]), (layout, key)
        table = src.get('rel_pos_bias.relative_position_bias_table',
                        src.get('blocks.1.attn.relative_position_bias_table'))
        assert torch.equal(
            got['blocks.1.rel_pos_bias.relative_position_bias_table'],
            table), layout
        if 'fc_norm.weight' in got and layout in ('official_finetuned',
                                                  'timm'):
            assert torch.equal(got['fc_norm.weight'], src['fc_norm.weight'])


@pytest.mark.parametrize('config', CONFIGS[::2])
def test_backbone_init_that_matches_nothing_raises(tmp_path, config):
    path = str(tmp_path / 'other.pth')
    torch.save({'model': {'encoder.layer.0.weight': torch.zeros(2)}}, path)
    with pytest.raises(KeyError, match='other.pth.*Fix'):
        _config_backbone(config, path).init_weights()
    # a backbone of another architecture: nothing fits, nothing is loaded
    wrong = {k.replace('blocks.', 'layer.'): v
             for k, v in _official_pretrain_state().items()}
    torch.save({'model': wrong}, path)
    with pytest.raises(RuntimeError, match=r'other\.pth.*looked for.*Fix'):
        _config_backbone(config, path).init_weights()


# -- self-describing checkpoints ---------------------------------------------
def test_vqkd_meta_builds_the_tokenizer_and_checks_a_restating_config(
        tmp_path):
    from beit2mm.models.algorithms.frozen_tokenizer import tokenizer_record
    torch.manual_seed(0)
    tok = VQKDTokenizer(**TOK)
    path = str(tmp_path / 'vqkd.pth')
    torch.save({'state_dict': tok.state_dict(),
                'meta': dict(tok.checkpoint_meta())}, path)
    meta = safe_load(path)['meta']['vqkd']
    assert meta['num_codes'] == 16 and meta['code_dim'] == 8
    assert meta['arch']['encoder'] == dict(embed_dims=32, num_layers=2,
                                           num_heads=2, mlp_ratio=4.)
    # the pretraining side: no architecture in the config at all
    built = VQKDTokenizer.from_checkpoint(path)
    assert (built.num_codes, built.code_dim, built.img_size) == (16, 8, 32)
    torch.testing.assert_close(built.state_dict()['quantize.codebook'],
                               tok.state_dict()['quantize.codebook'])
    with pytest.raises(ValueError, match='num_codes'):
        VQKDTokenizer.from_checkpoint(path, num_codes=32)
    with pytest.raises(ValueError, match='arch.encoder'):
        VQKDTokenizer.from_checkpoint(path, arch=dict(
            ARCH, encoder=dict(embed_dims=32, num_layers=3, num_heads=2)))
    record = tokenizer_record(path)
    import hashlib
    with open(path, 'rb') as f:
        assert record['sha256'] == hashlib.sha256(f.read()).hexdigest()
    assert record['path'] == osp.abspath(path)


def test_checkpoint_hook_writes_the_models_record():
    from types import SimpleNamespace

    from beit2mm.engine.hooks.checkpoint_hook import SafeCheckpointHook
    torch.manual_seed(0)
    tok = VQKDTokenizer(**TOK)
    hook = SafeCheckpointHook.__new__(SafeCheckpointHook)
    ckpt = {'meta': {'iter': 3}, 'state_dict': {}}
    hook.before_save_checkpoint(SimpleNamespace(model=tok), ckpt)
    assert ckpt['meta']['iter'] == 3
    assert ckpt['meta']['vqkd']['num_codes'] == 16
    model = torch.nn.Module()
    model.checkpoint_meta = dict(tokenizer=dict(path='/t.pth', sha256='ab',
                                                teacher=None))
    ckpt = {'meta': {}}
    hook.before_save_checkpoint(SimpleNamespace(model=model), ckpt)
    assert ckpt['meta']['tokenizer']['sha256'] == 'ab'
