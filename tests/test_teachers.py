"""CLIP and DINO teachers: the features the paper distils, their input
normalisation, freezing, local weights and grid resampling."""
import pytest
import torch
import torch.nn.functional as F

from beit2mm.models.teachers import CLIPTeacher, DINOTeacher
from beit2mm.models.teachers.clip import CLIP_MEAN, CLIP_STD
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
    mean = torch.tensor((0.485, 0.456, 0.406)).view(1, 3, 1, 1)
    std = torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = t.model.forward_features(((x + 1) / 2 - mean) / std)[:, 1:]
    assert torch.allclose(t(x, (2, 2)), ref, atol=1e-5)
    # a local weights file is loaded (not random init)
    path = tmp_path / 'dino.pth'
    torch.save(t.model.state_dict(), path)
    t2 = DINOTeacher('vit_tiny_patch16_224', pretrained=str(path),
                     img_size=32)
    assert torch.allclose(t2(x, (2, 2)), ref, atol=1e-5)


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
