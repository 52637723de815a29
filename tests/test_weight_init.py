"""Each model starts as its official counterpart does (std of every
initialised tensor within 10 % of the official rule).

Official rules (microsoft/unilm beit2/):
- VQ-KD encoder/decoder = ``modeling_finetune.VisionTransformer``: timm's
  ``trunc_normal_(std=.02)`` (cut-offs +-2 absolute: a plain N(0, 0.02^2))
  for tokens and Linear weights, zero Linear biases, LayerNorm 1/0, Conv2d
  patch embedding at PyTorch's default (kaiming-uniform: U(-b, b),
  b = 1/sqrt(fan_in), for weight and bias), then ``attn.proj`` / ``mlp.fc2``
  divided by sqrt(2 layer_id); task layers ``trunc_normal_(std=.02)``.
- MIM student = ``modeling_pretrain.py``: N(0, 0.02^2) truncated at +-1 std
  (actual std 0.02 * 0.5396) for tokens, Linear and Conv2d, zero biases,
  the same rescaling.
"""
import math

import pytest
import torch

from beit2mm.models.backbones import BEiTv2ViT
from beit2mm.models.tokenizers import VQKDTokenizer

# std of N(0, s^2) truncated to [-s, s]
ONE_SIGMA = math.sqrt(1 - 2 * math.exp(-0.5) / math.sqrt(2 * math.pi)
                      / math.erf(1 / math.sqrt(2)))
BASE = dict(embed_dims=768, num_layers=4, num_heads=12)


def _check_std(name, t, want):
    got = t.float().std().item()
    assert abs(got - want) <= 0.1 * want, (name, got, want)


def _check_vit(prefix, vit, named):
    """Official modeling_finetune rule for one ViT of the tokenizer."""
    conv = vit.patch_embed.proj
    fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
    bound = 1 / math.sqrt(fan_in)
    for p in (conv.weight, conv.bias):
        _check_std(prefix + 'patch_embed', p, bound / math.sqrt(3))
        assert p.abs().max() <= bound  # uniform, not normal
    _check_std(prefix + 'cls_token', vit.cls_token, .02)
    _check_std(prefix + 'pos_embed', vit.pos_embed, .02)
    for i, blk in enumerate(vit.blocks, start=1):
        _check_std(f'{prefix}{i}.qkv', blk.attn.qkv.weight, .02)
        _check_std(f'{prefix}{i}.fc1', blk.mlp.fc1.weight, .02)
        for lin in (blk.attn.proj, blk.mlp.fc2):
            _check_std(f'{prefix}{i}.out', lin.weight, .02 / math.sqrt(2 * i))
            assert not lin.bias.any()
        assert not blk.attn.q_bias.any() and not blk.attn.v_bias.any()
        assert (blk.norm1.weight == 1).all() and not blk.norm1.bias.any()
    # N(0, .02) has ~1e-3 of its mass beyond 3.3 std; +-1 std cuts it all
    w = vit.blocks[0].mlp.fc1.weight
    assert w.abs().max() > 3 * .02


def test_vqkd_tokenizer_starts_as_official():
    torch.manual_seed(0)
    tok = VQKDTokenizer(arch=dict(encoder=BASE, decoder=dict(BASE,
                                                             num_layers=1)),
                        num_codes=64, decoder_out_dim=512, kmeans_init=False)
    tok.init_weights()
    _check_vit('encoder.', tok.encoder, None)
    _check_vit('decoder.', tok.decoder, None)
    # the decoder's patch embedding is a 1x1 conv over the 32-d codes
    assert tok.decoder.patch_embed.proj.in_channels == 32
    for layer in (tok.encode_task_layer, tok.decode_task_layer):
        for lin in (layer[0], layer[2]):
            _check_std('task_layer', lin.weight, .02)
            assert not lin.bias.any()


def test_pretraining_student_starts_as_official():
    torch.manual_seed(0)
    m = BEiTv2ViT(arch=dict(BASE, layer_scale_init_value=0.1),
                  with_mask_token=True)
    m.init_weights()
    s = .02 * ONE_SIGMA  # ~0.0108
    for name in ('cls_token', 'mask_token'):
        _check_std(name, getattr(m, name), s)
    _check_std('patch_embed', m.patch_embed.proj.weight, s)
    assert not m.patch_embed.proj.bias.any()
    for i, blk in enumerate(m.blocks, start=1):
        _check_std('qkv', blk.attn.qkv.weight, s)
        assert blk.attn.qkv.weight.abs().max() <= .02
        _check_std('fc2', blk.mlp.fc2.weight, s / math.sqrt(2 * i))


def test_unknown_weight_init_is_refused():
    with pytest.raises(ValueError, match='weight_init'):
        BEiTv2ViT(arch=BASE, weight_init='xavier')
