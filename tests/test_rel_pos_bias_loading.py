"""Loading a shared relative position bias into per-block tables (and
resizing tables of another grid) through BEiTv2ViT's load-state-dict hook."""
import pytest
import torch
from mmengine.model import BaseModule

from beit2mm.models.backbones import BEiTv2ViT

TINY = dict(embed_dims=32, num_layers=3, num_heads=4, mlp_ratio=2.)
TABLE = 'relative_position_bias_table'


def _pretrained(img_size=32):
    """A 'pretraining' backbone: shared bias (non-zero), mask token."""
    torch.manual_seed(0)
    m = BEiTv2ViT(arch=TINY, img_size=img_size, patch_size=8,
                  with_mask_token=True)
    m.init_weights()
    with torch.no_grad():
        m.rel_pos_bias.relative_position_bias_table.normal_()
    return m.eval()


def _finetune(img_size=32, **kw):
    return BEiTv2ViT(arch=TINY, img_size=img_size, patch_size=8,
                     use_shared_rel_pos_bias=False, use_rel_pos_bias=True,
                     **kw).eval()


def test_shared_bias_is_copied_into_every_block():
    src = _pretrained()
    dst = _finetune()
    res = dst.load_state_dict(src.state_dict(), strict=False)
    assert res.missing_keys == []
    assert res.unexpected_keys == ['mask_token']
    shared = src.rel_pos_bias.relative_position_bias_table
    for blk in dst.blocks:
        torch.testing.assert_close(
            blk.rel_pos_bias.relative_position_bias_table, shared)
    # the tables are copies, not one tensor
    ptrs = {b.rel_pos_bias.relative_position_bias_table.data_ptr()
            for b in dst.blocks}
    assert len(ptrs) == len(dst.blocks)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(dst(x)[0], src(x)[0])


def test_shared_bias_resized_to_a_larger_grid():
    from beit2mm.compat.rel_pos_resize import resize_rel_pos_bias_table
    src = _pretrained(32)  # 4 x 4 patches
    dst = _finetune(48)  # 6 x 6 patches
    dst.load_state_dict(src.state_dict(), strict=False)
    shared = src.rel_pos_bias.relative_position_bias_table.detach()
    expected = resize_rel_pos_bias_table(shared, 4, 6)
    assert expected.shape == (11 * 11 + 3, 4)
    for blk in dst.blocks:
        torch.testing.assert_close(
            blk.rel_pos_bias.relative_position_bias_table.detach(), expected)
    # the 3 extra rows (cls<->token, cls->cls) are carried over unchanged
    torch.testing.assert_close(expected[-3:], shared[-3:])


def test_per_block_tables_of_another_grid_and_official_names():
    from beit2mm.compat.rel_pos_resize import resize_rel_pos_bias_table
    src = _finetune(32)
    with torch.no_grad():
        for blk in src.blocks:
            blk.rel_pos_bias.relative_position_bias_table.normal_()
    state = src.state_dict()
    # official / timm checkpoints name per-block tables 'attn.<table>' and
    # store the index buffer
    state['blocks.1.attn.' + TABLE] = state.pop(
        'blocks.1.rel_pos_bias.' + TABLE)
    state['blocks.1.attn.relative_position_index'] = torch.zeros(17, 17)
    dst = _finetune(48)
    res = dst.load_state_dict(state, strict=True)
    assert not res.missing_keys and not res.unexpected_keys
    for src_blk, dst_blk in zip(src.blocks, dst.blocks):
        torch.testing.assert_close(
            dst_blk.rel_pos_bias.relative_position_bias_table.detach(),
            resize_rel_pos_bias_table(
                src_blk.rel_pos_bias.relative_position_bias_table.detach(),
                4, 6))


def test_hook_works_under_a_prefix_and_pretrained_init(tmp_path):
    """A classifier-style checkpoint ('state_dict' with 'backbone.*' keys)
    loaded by ``init_cfg=Pretrained`` with ``prefix='backbone.'`` and as a
    submodule of a bigger model."""
    src = _pretrained()
    ckpt = tmp_path / 'pretrain.pth'
    torch.save({'state_dict': {'backbone.' + k: v
                               for k, v in src.state_dict().items()}}, ckpt)
    dst = _finetune(init_cfg=dict(type='Pretrained', checkpoint=str(ckpt),
                                  prefix='backbone.'))
    dst.init_weights()
    shared = src.rel_pos_bias.relative_position_bias_table
    for blk in dst.blocks:
        torch.testing.assert_close(
            blk.rel_pos_bias.relative_position_bias_table, shared)

    class Wrapper(BaseModule):
        def __init__(self):
            super().__init__()
            self.backbone = _finetune()

    w = Wrapper()
    w.load_state_dict(torch.load(ckpt)['state_dict'], strict=False)
    torch.testing.assert_close(
        w.backbone.blocks[2].rel_pos_bias.relative_position_bias_table, shared)


def test_shared_to_shared_resize_and_wrong_heads_error():
    src = _pretrained(32)
    dst = BEiTv2ViT(arch=TINY, img_size=64, patch_size=8, with_mask_token=True)
    dst.load_state_dict(src.state_dict())
    assert dst.rel_pos_bias.relative_position_bias_table.shape == (15 * 15 + 3,
                                                                   4)
    other = BEiTv2ViT(arch=dict(TINY, num_heads=2), img_size=32, patch_size=8,
                      use_shared_rel_pos_bias=False, use_rel_pos_bias=True)
    with pytest.raises(ValueError, match='heads'):
        other.load_state_dict(src.state_dict(), strict=False)


def test_frozen_stages_freeze_and_stay_in_eval():
    m = BEiTv2ViT(arch=TINY, img_size=32, patch_size=8, out_type='cls_token',
                  drop_path_rate=0.5, frozen_stages=3)
    assert not any(p.requires_grad for p in m.parameters())
    m.train()
    assert all(not mod.training for mod in m.blocks)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(m(x)[0], m(x)[0])  # drop path is off
    part = BEiTv2ViT(arch=TINY, img_size=32, patch_size=8, frozen_stages=1)
    part.train()
    assert not part.cls_token.requires_grad
    assert not any(p.requires_grad for p in part.blocks[0].parameters())
    assert all(p.requires_grad for p in part.blocks[1].parameters())
    assert part.norm.weight.requires_grad and part.blocks[1].training
    with pytest.raises(ValueError, match='frozen_stages'):
        BEiTv2ViT(arch=TINY, img_size=32, patch_size=8, frozen_stages=4)
