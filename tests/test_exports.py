"""Exports to mmpretrain's BEiTViT and timm's Beit give the same features as
our backbone on the same input."""
import sys

import pytest
import torch

import beit2mm  # noqa: F401
from beit2mm.models.backbones import BEiTv2ViT
from beit2mm.models.utils import relative_position_index

from beit2mm.models.utils.checkpoint_exports import to_mmpretrain, to_timm
from beit2mm.models.utils.checkpoint_formats import backbone_state
from beit2mm.tools.convert import beit2mm_to_mmpretrain, beit2mm_to_timm

# the code of tools/convert/beit2mm_to_{mmpretrain,timm}.py
to_mmpretrain_file = beit2mm_to_mmpretrain.convert
to_timm_file = beit2mm_to_timm.convert


def split_backbone_state(ckpt, with_head=False):
    return backbone_state(ckpt, with_head=with_head)


D, L, H = 32, 3, 4
TINY = dict(embed_dims=D, num_layers=L, num_heads=H, mlp_ratio=2.,
            layer_scale_init_value=0.1)


def _randomise(module):
    """Random values everywhere (tables, gammas, norms included) so that a
    misplaced tensor changes the output."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.2)


@pytest.fixture
def pretrained(tmp_path):
    """Our pretraining checkpoint: 'backbone.*' with a shared bias and a mask
    token, plus neck / MIM head keys that exports must ignore."""
    m = BEiTv2ViT(arch=TINY, img_size=32, patch_size=8, with_mask_token=True)
    _randomise(m)
    sd = {'backbone.' + k: v for k, v in m.state_dict().items()}
    sd['neck.blocks.0.norm1.weight'] = torch.ones(D)
    sd['head.fc.weight'] = torch.zeros(64, D)  # the MIM head, not a classifier
    path = tmp_path / 'pretrain.pth'
    torch.save({'state_dict': sd}, path)
    return m.eval(), str(path)


def _mmpretrain_beit(**kw):
    from mmpretrain.models import BEiTViT
    m = BEiTViT(arch=dict(embed_dims=D, num_layers=L, num_heads=H,
                          feedforward_channels=2 * D),
                img_size=kw.pop('img_size', 32), patch_size=8,
                use_rel_pos_bias=True, use_shared_rel_pos_bias=False,
                layer_scale_init_value=0.1, **kw)
    m.eval()  # mmpretrain's train() returns None
    return m


def _timm_beit(**kw):
    from timm.models.beit import Beit
    return Beit(img_size=kw.pop('img_size', 32), patch_size=8, embed_dim=D,
                depth=L, num_heads=H, mlp_ratio=2., use_abs_pos_emb=False,
                use_rel_pos_bias=True, init_values=0.1, **kw).eval()


def _strip(sd, prefix='backbone.'):
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def test_mmpretrain_export_same_features(pretrained, tmp_path):
    ours, path = pretrained
    out = tmp_path / 'mmpretrain.pth'
    ckpt = to_mmpretrain_file(path, str(out))
    assert not any(k.startswith('head.') for k in ckpt['state_dict'])
    theirs = _mmpretrain_beit(final_norm=True, out_type='raw')
    theirs.load_state_dict(_strip(torch.load(out)['state_dict']), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x)[0], ours(x)[0])
    # the index we write is the one mmpretrain builds itself
    fresh = _mmpretrain_beit()
    torch.testing.assert_close(
        fresh.layers[0].attn.relative_position_index,
        relative_position_index((4, 4)))


def test_timm_export_same_features(pretrained, tmp_path):
    ours, path = pretrained
    sd = to_timm_file(path, str(tmp_path / 'timm.pth'))
    theirs = _timm_beit(num_classes=0, use_fc_norm=False)
    theirs.load_state_dict(sd, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(theirs.forward_features(x), ours(x)[0])


def test_finetuned_classifier_exports_with_head():
    """A fine-tuned beit2mm classifier (mean pooling + fc_norm + head) ->
    the same logits in timm and the same pooled features in mmpretrain."""
    ours = BEiTv2ViT(arch=TINY, img_size=32, patch_size=8,
                     use_shared_rel_pos_bias=False, use_rel_pos_bias=True,
                     out_type='avg_featmap')
    head = torch.nn.Linear(D, 5)
    _randomise(ours)
    _randomise(head)
    ours.eval()
    sd = {'backbone.' + k: v for k, v in ours.state_dict().items()}
    sd.update({'head.fc.weight': head.weight, 'head.fc.bias': head.bias})
    state, cls_head = split_backbone_state({'state_dict': sd}, with_head=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feats = ours(x)[0]
        timm_model = _timm_beit(num_classes=5)  # global_pool='avg', fc_norm
        timm_model.load_state_dict(to_timm(state, cls_head), strict=True)
        torch.testing.assert_close(timm_model(x), head(feats))
        mmp = _mmpretrain_beit(final_norm=False, out_type='avg_featmap')
        mmp.load_state_dict(to_mmpretrain(state), strict=True)
        torch.testing.assert_close(mmp(x)[0], feats)
    with pytest.raises(ValueError, match='classifier'):
        split_backbone_state({'state_dict': {'backbone.' + k: v for k, v in
                                             ours.state_dict().items()}},
                             with_head=True)


def test_official_checkpoint_and_resize(pretrained, tmp_path):
    """An official unilm pretraining checkpoint ('model', unprefixed keys,
    index buffer, lm_head, cls_pt_layers), exported for a larger input."""
    from beit2mm.compat.rel_pos_resize import resize_rel_pos_bias_table
    ours, _ = pretrained
    official = dict(ours.state_dict())
    official['rel_pos_bias.relative_position_index'] = \
        relative_position_index((4, 4))
    official['lm_head.weight'] = torch.zeros(64, D)
    official['cls_pt_layers.0.norm1.weight'] = torch.ones(D)
    path = tmp_path / 'official.pth'
    torch.save({'model': official}, path)
    sd = to_timm_file(str(path), str(tmp_path / 'timm48.pth'), img_size=48)
    theirs = _timm_beit(img_size=48, num_classes=0, use_fc_norm=False)
    theirs.load_state_dict(sd, strict=True)
    expected = resize_rel_pos_bias_table(
        ours.rel_pos_bias.relative_position_bias_table.detach(), 4, 6)
    torch.testing.assert_close(
        theirs.blocks[2].attn.relative_position_bias_table.detach(), expected)
    # our fine-tuning backbone at 48 px loads the same checkpoint through its
    # own hook and agrees with timm
    ft = BEiTv2ViT(arch=TINY, img_size=48, patch_size=8,
                   use_shared_rel_pos_bias=False, use_rel_pos_bias=True).eval()
    ft.load_state_dict(official, strict=False)
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(theirs.forward_features(x), ft(x)[0])


@pytest.mark.parametrize('arch,variant', [
    ('base', 'beitv2_base_patch16_224'),
    ('large', 'beitv2_large_patch16_224')])
def test_full_size_keys_match_timm_and_mmpretrain(arch, variant):
    """Key names and shapes of the real sizes (built on the meta device, no
    memory or init cost)."""
    import timm
    from mmpretrain.models import BEiTViT
    with torch.device('meta'):
        ours = BEiTv2ViT(arch=arch, with_mask_token=True)
        mmp = BEiTViT(arch=arch, use_rel_pos_bias=True,
                      use_shared_rel_pos_bias=False, final_norm=True,
                      out_type='cls_token')
    timm_model = timm.create_model(variant, pretrained=False, num_classes=0,
                                   use_fc_norm=False, device='meta')
    state, _ = split_backbone_state({'state_dict': {
        'backbone.' + k: v for k, v in ours.state_dict().items()}})
    for exported, ref in ((to_timm(state), timm_model.state_dict()),
                          (to_mmpretrain(state), mmp.state_dict())):
        assert set(exported) == set(ref)
        for k, v in exported.items():
            assert v.shape == ref[k].shape, k


def test_cli(pretrained, tmp_path, monkeypatch, capsys):
    _, path = pretrained
    for mod, name in ((beit2mm_to_timm, 'timm.pth'),
                      (beit2mm_to_mmpretrain, 'mmp.pth')):
        out = tmp_path / name
        monkeypatch.setattr(sys, 'argv', ['x', path, str(out),
                                          '--img-size', '64'])
        mod.main()
        assert out.exists()
    printed = capsys.readouterr().out
    assert 'use_fc_norm=False' in printed and '3 layers' in printed
    table = torch.load(tmp_path / 'mmp.pth')['state_dict'][
        'backbone.layers.0.attn.relative_position_bias_table']
    assert table.shape == (15 * 15 + 3, H)
