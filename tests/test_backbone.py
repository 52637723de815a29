import pytest
import torch
import torch.nn.functional as F

from beit2mm.models.backbones import BEiTv2ViT

TINY = dict(embed_dims=32, num_layers=3, num_heads=4, mlp_ratio=2.)


def test_fused_and_plain_attention_agree(monkeypatch):
    torch.manual_seed(0)
    fused = BEiTv2ViT(arch=TINY, img_size=32, patch_size=8,
                      with_mask_token=True)
    fused.init_weights()
    with torch.no_grad():
        fused.rel_pos_bias.relative_position_bias_table.normal_()
    plain = BEiTv2ViT(arch=TINY, img_size=32, patch_size=8,
                      with_mask_token=True, fused_attn=False)
    plain.load_state_dict(fused.state_dict())
    x = torch.randn(2, 3, 32, 32)
    mask = torch.rand(2, 16) > 0.5
    sdpa, calls = F.scaled_dot_product_attention, []

    def spy(*args, **kwargs):
        calls.append(1)
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(F, 'scaled_dot_product_attention', spy)
    # no grad: on a CPU with autograd on, the fused path runs the plain one
    with torch.no_grad():
        out_fused = fused(x, mask)[0]
        assert len(calls) == fused.num_layers  # SDPA did run
        out_plain = plain(x, mask)[0]
    assert len(calls) == fused.num_layers  # and the plain path did not
    torch.testing.assert_close(out_fused, out_plain)


def test_forward_features_returns_hidden_and_bias():
    m = BEiTv2ViT(arch=TINY, img_size=32, patch_size=8, with_mask_token=True)
    out = m.forward_features(torch.randn(2, 3, 32, 32), return_layers=[2])
    assert out.last.shape == (2, 17, 32)
    assert out.hidden[2].shape == (2, 17, 32)
    assert out.rel_pos_bias.shape == (4, 17, 17)
    with pytest.raises(ValueError, match='blocks'):
        m.forward_features(torch.randn(1, 3, 32, 32), return_layers=[4])


def test_mask_token_replaces_masked_patches_only():
    m = BEiTv2ViT(arch=TINY, img_size=32, patch_size=8, with_mask_token=True)
    m.init_weights()
    x = torch.randn(1, 3, 32, 32)
    mask = torch.zeros(1, 16, dtype=torch.bool)
    mask[0, 3] = True
    e0, e1 = m.embed(x), m.embed(x, mask)
    torch.testing.assert_close(e1[0, 4], m.mask_token[0, 0])
    torch.testing.assert_close(e1[0, 5:], e0[0, 5:])


def test_out_types_and_layer_ids():
    for out_type, shape in [('raw', (2, 17, 32)), ('cls_token', (2, 32)),
                            ('featmap', (2, 32, 4, 4)),
                            ('avg_featmap', (2, 32))]:
        m = BEiTv2ViT(arch=TINY, img_size=32, patch_size=8, out_type=out_type)
        assert m(torch.randn(2, 3, 32, 32))[0].shape == shape
    m = BEiTv2ViT(arch=TINY, img_size=32, patch_size=8)
    assert m.get_layer_id('cls_token') == 0
    assert m.get_layer_id('rel_pos_bias.relative_position_bias_table') == 0
    assert m.get_layer_id('blocks.0.attn.qkv.weight') == 1
    assert m.get_layer_id('blocks.2.mlp.fc2.bias') == 3
    assert m.get_layer_id('norm.weight') == 4
    assert m.get_layer_id('backbone.blocks.1.norm1.weight',
                          prefix='backbone.') == 2


def test_bad_sizes_raise_clear_errors():
    with pytest.raises(ValueError, match='divisible'):
        BEiTv2ViT(arch=TINY, img_size=30, patch_size=8)
    m = BEiTv2ViT(arch=TINY, img_size=32, patch_size=8)
    with pytest.raises(ValueError, match='img_size'):
        m(torch.randn(1, 3, 64, 64))


def test_official_init_rescales_output_projections():
    torch.manual_seed(0)
    m = BEiTv2ViT(arch=dict(embed_dims=64, num_layers=8, num_heads=4),
                  img_size=32, patch_size=8)
    m.init_weights()
    s1 = m.blocks[0].mlp.fc2.weight.std()
    s8 = m.blocks[7].mlp.fc2.weight.std()
    assert abs(float(s1 / s8) - 8 ** 0.5) < 0.3
    assert m.cls_token.abs().max() <= 0.02


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('layer_scale', [0., 0.1])
def test_residual_stream_stays_fp32_under_autocast(dtype, layer_scale):
    """Under AMP only the matmuls run in low precision: every block gets an
    fp32 residual stream (the official fp32 [CLS] concatenation promotes
    the autocast patch embedding), with and without layer scale (the VQ-KD
    encoder and decoder have none)."""
    m = BEiTv2ViT(arch=TINY, img_size=32, patch_size=8, with_mask_token=True,
                  use_abs_pos_emb=True, layer_scale_init_value=layer_scale)
    m.init_weights()
    seen = []
    for blk in m.blocks:
        blk.register_forward_pre_hook(lambda mod, args: seen.append(
            args[0].dtype))
    mask = torch.rand(2, 16) > 0.5
    with torch.autocast('cpu', dtype=dtype):
        assert m.patch_embed.proj(torch.randn(1, 3, 32, 32)).dtype == dtype
        out = m.forward_features(torch.randn(2, 3, 32, 32), mask)
    assert seen == [torch.float32] * len(m.blocks)
    assert out.last.dtype == torch.float32
