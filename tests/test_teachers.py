"""CLIP and DINO teachers: the features the paper distils, their input
normalisation, freezing, local weights and grid resampling."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from beit2mm.models.teachers import CLIPTeacher, DINOTeacher
from beit2mm.models.teachers.clip import CLIP_MEAN, CLIP_STD
from beit2mm.models.tokenizers import VQKDTokenizer
from beit2mm.registry import MODELS


def _images(n=2, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator()
                      .manual_seed(0)) * 2 - 1


def _assert_frozen(t):
    assert not any(p.requires_grad for p in t.parameters())
    t.train()
    assert not t.training and not any(m.training for m in t.modules())


def test_clip_teacher_is_ln_post_then_proj_of_patch_tokens():
    # ViT-S-16 keeps the test fast; the configs' ViT-B-16 is built in
    # test_vqkd_configs.py
    t = MODELS.build(dict(type='beit2mm.CLIPTeacher', model_name='ViT-S-16',
                          pretrained=None, img_size=32))
    assert isinstance(t, CLIPTeacher) and t.embed_dim == t.model.output_dim
    _assert_frozen(t)
    x = _images()
    out = t(x, (2, 2))
    assert out.shape == (2, 4, t.embed_dim) and not out.requires_grad
    # reference: open_clip's own token output (after ln_post), projected,
    # fed with the CLIP normalisation of the [0, 1] image
    v = t.model
    v.output_tokens = True
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        _, tokens = v(((x + 1) / 2 - mean) / std)
    assert torch.allclose(out, tokens @ v.proj, atol=1e-4)


def test_dino_teacher_final_norm_patch_tokens_and_local_file(tmp_path):
    t = DINOTeacher('vit_tiny_patch16_224', pretrained=None, img_size=32)
    assert t.embed_dim == 192
    _assert_frozen(t)
    x = _images()
    # the model's own normalisation (timm's pretrained cfg of the name)
    assert t.model.pretrained_cfg['mean'] == (0.5, 0.5, 0.5)
    mean = torch.tensor((0.5, 0.5, 0.5)).view(1, 3, 1, 1)
    std = torch.tensor((0.5, 0.5, 0.5)).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = t.model.forward_features(((x + 1) / 2 - mean) / std)[:, 1:]
    assert torch.allclose(t(x, (2, 2)), ref, atol=1e-5)
    # a local weights file is loaded (not random init)
    path = tmp_path / 'dino.pth'
    torch.save(t.model.state_dict(), path)
    t2 = DINOTeacher('vit_tiny_patch16_224', pretrained=str(path),
                     img_size=32)
    assert torch.allclose(t2(x, (2, 2)), ref, atol=1e-5)
    # a tokenizer checkpoint records which weights its teacher had
    from beit2mm.models.tokenizers.vqkd_convert import vqkd_meta
    tok = VQKDTokenizer(arch=dict(encoder=dict(embed_dims=32, num_layers=1,
                                               num_heads=2),
                                  decoder=dict(embed_dims=32, num_layers=1,
                                               num_heads=2)),
                        img_size=32, num_codes=8, code_dim=4, teacher=t2)
    assert vqkd_meta(tok)['teacher'] == dict(
        type='DINOTeacher', model='vit_tiny_patch16_224', tag=str(path))


def test_other_patch_grid_is_resampled_to_the_student_grid():
    # e.g. a patch-14 teacher on a patch-16 student: here a 3 x 3 teacher
    # grid (48 px, patch 16) resampled to a 2 x 2 student grid
    t = DINOTeacher('vit_tiny_patch16_224', pretrained=None, img_size=48)
    x = _images(size=48)
    out = t(x, (2, 2))
    assert out.shape == (2, 4, t.embed_dim)
    raw = t.extract(t.normalize(x))  # (B, 3, 3, T)
    assert raw.shape[1:3] == (3, 3)
    ref = F.interpolate(raw.permute(0, 3, 1, 2), size=(2, 2),
                        mode='bilinear').permute(0, 2, 3, 1).flatten(1, 2)
    assert torch.allclose(out, ref, atol=1e-5)


def test_non_vit_teacher_is_rejected():
    with pytest.raises(ValueError, match='ViT'):
        DINOTeacher('resnet18', pretrained=None)


# --- the activation the weights were trained with -----------------------

VQKD_CLIP = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                    'configs/vqkd/vqkd_vit-b_clip-b16_100e_in1k.py')


def _clip_reference(sd, x, patch=16, head_dim=64):
    """A QuickGELU CLIP image tower written out by hand from a state dict:
    conv patch embed, [cls] + pos, ln_pre, pre-norm blocks (MHA, QuickGELU
    MLP), ln_post and proj of the patch tokens. (B, 3, H, W) -> (B, N, T)."""
    def p(k):
        return sd['visual.' + k].float()

    def ln(t, name):
        return F.layer_norm(t, t.shape[-1:], p(name + '.weight'),
                            p(name + '.bias'), eps=1e-5)

    b = x.shape[0]
    t = F.conv2d(x, p('conv1.weight'), stride=patch).flatten(2).transpose(1, 2)
    width = t.shape[-1]
    t = torch.cat([p('class_embedding').expand(b, 1, width), t], 1)
    t = ln(t + p('positional_embedding'), 'ln_pre')
    n_heads = width // head_dim
    depth = 1 + max(int(k.split('.')[3]) for k in sd
                    if k.startswith('visual.transformer.resblocks.'))
    for i in range(depth):
        blk = f'transformer.resblocks.{i}.'
        h = ln(t, blk + 'ln_1')
        qkv = (h @ p(blk + 'attn.in_proj_weight').T
               + p(blk + 'attn.in_proj_bias'))
        q, k, v = (z.reshape(b, -1, n_heads, head_dim).transpose(1, 2)
                   for z in qkv.chunk(3, -1))
        a = (q @ k.transpose(-1, -2) / head_dim ** 0.5).softmax(-1) @ v
        a = a.transpose(1, 2).reshape(b, -1, width)
        t = t + a @ p(blk + 'attn.out_proj.weight').T \
            + p(blk + 'attn.out_proj.bias')
        h = ln(t, blk + 'ln_2') @ p(blk + 'mlp.c_fc.weight').T \
            + p(blk + 'mlp.c_fc.bias')
        h = h * torch.sigmoid(1.702 * h)  # QuickGELU
        t = t + h @ p(blk + 'mlp.c_proj.weight').T + p(blk + 'mlp.c_proj.bias')
    return ln(t[:, 1:], 'ln_post') @ p('proj')


def test_clip_config_teacher_runs_quick_gelu_of_the_openai_weights(
        tmp_path, monkeypatch):
    import open_clip
    from mmengine.config import Config
    from open_clip.pretrained import _PRETRAINED
    from open_clip.transformer import QuickGELU
    teacher_cfg = Config.fromfile(VQKD_CLIP).model.teacher
    name, tag = teacher_cfg.model_name, teacher_cfg.pretrained
    # random weights in the layout of the tag's file; the text tower is not
    # used by the teacher, so it is stored as (stride-0) zeros
    torch.manual_seed(0)
    sd = open_clip.create_model(name).state_dict()
    g = torch.Generator().manual_seed(1)
    for k, v in sd.items():
        if not k.startswith('visual.'):
            sd[k] = torch.zeros((), dtype=v.dtype).expand(v.shape)
        elif k.endswith(('ln_1.weight', 'ln_2.weight', 'ln_pre.weight',
                         'ln_post.weight')):
            sd[k] = 1 + 0.2 * torch.randn(v.shape, generator=g)
        elif '.ln_' in k or k.startswith('visual.ln_'):
            sd[k] = 0.1 * torch.randn(v.shape, generator=g)
    path = tmp_path / 'openai-random.pt'
    torch.save(sd, path)
    # open_clip resolves the tag to this file (its own 'file' entry of a
    # pretrained cfg) instead of downloading it; loading stays open_clip's
    pcfg = open_clip.get_pretrained_cfg(name, tag)
    assert pcfg['quick_gelu'], 'open_clip records OpenAI CLIP as QuickGELU'
    monkeypatch.setitem(_PRETRAINED[name], tag, dict(pcfg, file=str(path)))

    t = MODELS.build(teacher_cfg)
    mlp_acts = [blk.mlp.gelu for blk in t.model.transformer.resblocks]
    assert mlp_acts and all(isinstance(a, QuickGELU) for a in mlp_acts)
    assert t.quick_gelu and t.embed_dim == 512
    x = _images(n=1, size=224)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = _clip_reference(sd, ((x + 1) / 2 - mean) / std)
        out = t(x, (14, 14))
    assert out.shape == ref.shape == (1, 196, 512)
    err = (out - ref).abs().max().item()
    assert err < 1e-5 * max(1.0, ref.abs().max().item()), err


def test_every_open_clip_tag_gets_its_trained_activation():
    """For every open_clip ViT model/tag pair whose model config and tag
    disagree (open_clip only warns), the arguments the teacher passes build
    the tag's activation (built on the meta device: no memory, no weights)."""
    import open_clip
    from beit2mm.models.teachers.clip import (check_activation,
                                              quick_gelu_kwargs)
    checked = set()
    for name, tag in open_clip.list_pretrained():
        cfg = open_clip.get_model_config(name)
        tag_qg = open_clip.get_pretrained_cfg(name, tag).get('quick_gelu',
                                                             False)
        vision = cfg['vision_cfg']
        if (tag_qg == cfg.get('quick_gelu', False) or 'layers' not in vision
                or isinstance(vision['layers'], (list, tuple))
                or 'timm_model_name' in vision
                or 'hf_model_name' in cfg['text_cfg']):
            continue  # agree already, or not an open_clip ViT
        want, kwargs = quick_gelu_kwargs(name, tag)
        assert want == tag_qg
        if (name, want) in checked:
            continue
        checked.add((name, want))
        with torch.device('meta'):
            m = open_clip.create_model(name, device='meta', **kwargs)
        check_activation(m.visual, want, name, tag)
    assert ('ViT-B-16', True) in checked and len(checked) >= 5


def test_quick_gelu_that_contradicts_the_tag_is_an_error():
    from beit2mm.models.teachers.clip import resolve_quick_gelu
    assert resolve_quick_gelu('ViT-B-16', 'openai') == (True, False)
    assert resolve_quick_gelu('ViT-B-16-quickgelu', 'openai') == (True, True)
    # no tag: the model config (or an explicit choice) decides
    assert resolve_quick_gelu('ViT-B-16', None) == (False, False)
    assert resolve_quick_gelu('ViT-B-16', '/some/file.pt', True)[0]
    with pytest.raises(ValueError, match='trained with QuickGELU'):
        resolve_quick_gelu('ViT-B-16', 'openai', quick_gelu=False)
    with pytest.raises(ValueError, match='trained with nn.GELU'):
        resolve_quick_gelu('ViT-B-16', 'laion2b_s34b_b88k', quick_gelu=True)


# --- any teacher, one config line ----------------------------------------

NEW_TEACHERS = {  # config -> (teacher type, width T, patch)
    'vqkd_vit-b_dinov2-b14_100e_in1k.py': ('TimmTeacher', 768, 14),
    'vqkd_vit-b_eva02-clip-b16_100e_in1k.py': ('CLIPTeacher', 512, 16),
    'vqkd_vit-b_siglip-b16_100e_in1k.py': ('CLIPTeacher', 768, 16),
    'vqkd_vit-b_siglip2-b16_100e_in1k.py': ('CLIPTeacher', 768, 16),
}


def _teacher_cfg(name):
    from mmengine.config import Config
    return Config.fromfile(osp.join(osp.dirname(VQKD_CLIP), name))


@pytest.mark.parametrize('name', sorted(NEW_TEACHERS))
def test_new_teacher_config_builds_offline_on_the_student_grid(name):
    import open_clip
    cfg = _teacher_cfg(name)
    # the CLIP config with only the teacher changed
    mine = cfg.to_dict()
    clip = _teacher_cfg('vqkd_vit-b_clip-b16_100e_in1k.py').to_dict()
    assert mine['model'].pop('teacher') != clip['model'].pop('teacher')
    assert mine == clip
    kind, width, patch = NEW_TEACHERS[name]
    teacher_cfg = cfg.model.teacher
    assert teacher_cfg.type == f'beit2mm.{kind}'
    tag = teacher_cfg.pretrained
    # offline: random weights, a 2 x 2 grid of the teacher's own patch size
    teacher_cfg.update(pretrained=None, img_size=2 * patch)
    t = MODELS.build(teacher_cfg)
    _assert_frozen(t)
    assert t.embed_dim == width
    x = _images(n=2, size=32)  # a 2 x 2 student grid of 16-px patches
    if patch != 16:  # fed at 28 px: the teacher's grid is the student's
        assert t.resize_input and t.input_size is None
        assert t.extract(t.normalize(x)).shape[1:3] == (2, 2)
    out = t(x, (2, 2))
    assert out.shape == (2, 4, width) and torch.isfinite(out).all()
    # the normalisation of the configured weights, not CLIP's constants
    own = (t.model.pretrained_cfg if kind == 'TimmTeacher' else
           open_clip.get_pretrained_cfg(teacher_cfg.model_name, tag))
    assert torch.allclose(t.mean.flatten(), torch.tensor(own['mean']))
    assert torch.allclose(t.std.flatten(), torch.tensor(own['std']))


def test_siglip_teacher_takes_the_patch_tokens_before_the_attention_pool():
    cfg = _teacher_cfg('vqkd_vit-b_siglip-b16_100e_in1k.py').model.teacher
    cfg.update(pretrained=None, img_size=32)
    t = MODELS.build(cfg)
    trunk = t.model.trunk
    assert trunk.attn_pool is not None and t.embed_dim == trunk.num_features
    x = _images(n=2, size=32)
    with torch.no_grad():
        xn = t.normalize(x)
        tokens = trunk.forward_features(xn)  # (B, N, W): no prefix tokens
        pooled = t.model(xn)
        out = t(x, (2, 2))
        assert trunk.num_prefix_tokens == 0 and tokens.shape == out.shape
        assert torch.allclose(out, tokens, atol=1e-5)
        # the pool does not take part: changing it changes the pooled
        # embedding but not the targets
        for p in trunk.attn_pool.parameters():
            p.add_(torch.randn_like(p))
        assert not torch.allclose(t.model(xn), pooled, atol=1e-3)
        assert torch.equal(t(x, (2, 2)), out)
