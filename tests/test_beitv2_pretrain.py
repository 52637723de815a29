import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from beit2mm.models.algorithms import BEiTv2
from beit2mm.models.heads import MIMHead
from beit2mm.models.necks import BEiTv2Neck
from beit2mm.registry import TRANSFORMS

ARCH = dict(embed_dims=32, num_layers=4, num_heads=4, mlp_ratio=2.,
            layer_scale_init_value=0.1)
CODES = 16


class StandInTokenizer(nn.Module):
    """Tiny tokenizer with the VQ-KD interface. In train mode its
    get_tokens moves its codebook (like an EMA would), so a test can tell
    whether it was ever run un-frozen."""

    def __init__(self, num_codes=CODES, img_size=32, patch_size=8):
        super().__init__()
        self.num_codes, self.img_size, self.patch_size = \
            num_codes, img_size, patch_size
        self.proj = nn.Conv2d(3, 8, patch_size, patch_size)
        self.register_buffer('codes', torch.randn(num_codes, 8))

    def freeze(self):
        self.eval()
        self.requires_grad_(False)
        return self

    def get_tokens(self, x):
        z = self.proj(x).flatten(2).transpose(1, 2)  # (B, N, 8)
        if self.training:
            self.codes.add_(0.1)
        ids = (z @ self.codes.t()).argmax(-1)
        h = x.shape[-2] // self.patch_size
        return ids.view(x.shape[0], h, -1)


def build(tokenizer=None, **kw):
    cfg = dict(
        backbone=dict(type='BEiTv2ViT', arch=ARCH, img_size=32, patch_size=8,
                      with_mask_token=True, use_shared_rel_pos_bias=True),
        neck=dict(type='BEiTv2Neck', arch=ARCH, early_layers=2),
        head=dict(type='MIMHead', embed_dims=32, num_codes=CODES),
        tokenizer=tokenizer if tokenizer is not None else StandInTokenizer(),
        allow_random_tokenizer=True)
    cfg.update(kw)
    torch.manual_seed(0)
    model = BEiTv2(**cfg)
    model.init_weights()
    return model


def batch(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(b, 3, 32, 32, generator=g)
    img_tok = torch.rand(b, 3, 32, 32, generator=g) * 2 - 1
    mask = torch.zeros(b, 16, dtype=torch.bool)
    for i in range(b):
        mask[i, torch.randperm(16, generator=g)[:6]] = True
    return [img, img_tok], mask


def test_neck_and_head_shapes_and_init():
    neck = BEiTv2Neck(arch='base', early_layers=9, drop_path_rate=0.1)
    assert len(neck.blocks) == 2
    # drop path continues the backbone's schedule: linspace(0, .1, 12)[9:11]
    rates = [blk.drop_path.drop_prob for blk in neck.blocks]
    torch.testing.assert_close(torch.tensor(rates),
                               torch.linspace(0, .1, 12)[9:11])
    assert neck.blocks[0].gamma_1[0].item() == pytest.approx(0.1)
    large = BEiTv2Neck(arch='large', early_layers=21)
    assert large.blocks[0].gamma_1[0].item() == pytest.approx(1e-5)
    tiny = BEiTv2Neck(arch=ARCH, early_layers=2)
    w = tiny.blocks[1].mlp.fc2.weight.clone()
    tiny.init_weights()
    torch.testing.assert_close(tiny.blocks[1].mlp.fc2.weight, w / 8 ** 0.5)
    out = tiny(torch.randn(2, 1, 32), torch.randn(2, 16, 32),
               torch.randn(4, 17, 17))
    assert out.shape == (2, 17, 32)
    with pytest.raises(ValueError, match='early_layers'):
        BEiTv2Neck(arch=ARCH, early_layers=4)

    head = MIMHead(32, CODES)
    a, b = head(torch.randn(7, 32), torch.randn(7, 32))
    assert a.shape == b.shape == (7, CODES)
    unshared = MIMHead(32, CODES, shared=False)
    assert unshared.fc_cls_pt is not None


def test_loss_is_sum_of_two_ce_on_masked_positions_only():
    model = build()
    model.eval()  # no drop path: compare against a manual computation
    with torch.no_grad():
        model.backbone.rel_pos_bias.relative_position_bias_table.normal_()
    inputs, mask = batch()
    losses = model(inputs, mode='loss', mask=mask)
    assert set(losses) == {'loss_mim', 'loss_cls_pt', 'acc_mim',
                           'acc_cls_pt'}

    # manual: all positions through the head, then pick the masked ones
    bb = model.backbone
    feats = bb.forward_features(inputs[0], mask, return_layers=[2])
    agg = model.neck(feats.last[:, :1], feats.hidden[2][:, 1:],
                     feats.rel_pos_bias)
    logits = model.head.fc(bb.norm(feats.last)[:, 1:])
    logits_pt = model.head.fc(bb.norm(agg)[:, 1:])
    target = model.tokenizer.get_tokens(inputs[1]).flatten(1)
    ce = F.cross_entropy(logits[mask], target[mask])
    ce_pt = F.cross_entropy(logits_pt[mask], target[mask])
    torch.testing.assert_close(losses['loss_mim'], ce)
    torch.testing.assert_close(losses['loss_cls_pt'], ce_pt)
    loss, _ = model.parse_losses(losses)
    torch.testing.assert_close(loss, ce + ce_pt)
    acc = (logits[mask].argmax(-1) == target[mask]).float().mean() * 100
    torch.testing.assert_close(losses['acc_mim'], acc)
    # unmasked positions do not matter: cross-entropy over all positions
    # would differ
    assert not torch.allclose(ce, F.cross_entropy(logits.flatten(0, 1),
                                                  target.flatten()))
    # the preprocessor's mask_index path gives the same result
    idx = mask.flatten().nonzero().squeeze(1)
    again = model(inputs, mode='loss', mask=mask, mask_index=idx)
    torch.testing.assert_close(again['loss_mim'], losses['loss_mim'])


def test_tokenizer_frozen_and_outside_optimizer_and_checkpoint():
    model = build()
    tok = model.tokenizer
    before = copy.deepcopy(tok.state_dict())
    assert not any(n.startswith('tokenizer') or n.startswith('_tokenizer')
                   for n, _ in model.named_parameters())
    assert not any('tokenizer' in k for k in model.state_dict())
    assert all(not p.requires_grad for p in tok.parameters())
    model.train()
    assert not tok.training and model.backbone.training
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    trained = {n: p.detach().clone() for n, p in model.named_parameters()}
    for step in range(3):
        inputs, mask = batch(seed=step)
        samples = [type('S', (), {})() for _ in range(2)]
        losses = model(inputs, samples, mode='loss', mask=mask)
        loss, _ = model.parse_losses(losses)
        optim.update_params(loss)
    after = tok.state_dict()
    for k in before:
        assert torch.equal(before[k], after[k]), k
    assert any(not torch.equal(trained[n], p)
               for n, p in model.named_parameters())
    # every student parameter gets a gradient (no find_unused_parameters)
    model.zero_grad()
    inputs, mask = batch()
    loss, _ = model.parse_losses(model(inputs, mode='loss', mask=mask))
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert no_grad == []
    assert all(p.grad is None for p in tok.parameters())
    # device/dtype moves reach the tokenizer
    model.double()
    assert tok.codes.dtype == torch.float64
    model.float()


def test_save_tokenizer_flag_round_trip():
    model = build(save_tokenizer=True)
    state = model.state_dict()
    assert 'tokenizer.codes' in state
    other = build(tokenizer=StandInTokenizer(), save_tokenizer=True)
    other.load_state_dict(state)
    assert torch.equal(other.tokenizer.codes, model.tokenizer.codes)
    plain = build()
    with pytest.warns(UserWarning, match='ignoring tokenizer'):
        plain.load_state_dict(state)


def test_tokenizer_checkpoint_loading(tmp_path):
    torch.manual_seed(1)
    src = StandInTokenizer()
    path = str(tmp_path / 'tok.pth')
    torch.save({'state_dict': src.state_dict()}, path)
    model = build(tokenizer=StandInTokenizer(), tokenizer_ckpt=path,
                  allow_random_tokenizer=False)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(model.get_targets(x), src.get_tokens(x).flatten(1))
    # a work dir: its last_checkpoint is used
    with open(tmp_path / 'last_checkpoint', 'w') as f:
        f.write('/elsewhere/' + osp.basename(path))
    in_dir = build(tokenizer=StandInTokenizer(), tokenizer_ckpt=str(tmp_path),
                   allow_random_tokenizer=False)
    assert torch.equal(in_dir.tokenizer.codes, model.tokenizer.codes)
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match='last_checkpoint'):
        build(tokenizer_ckpt=str(empty))
    torch.save({'model': {'proj.weight': src.proj.weight}}, path)
    with pytest.raises(KeyError, match='lacks'):
        build(tokenizer=StandInTokenizer(), tokenizer_ckpt=path)


def test_build_errors_are_clear(tmp_path):
    with pytest.raises(ValueError, match='tokenizer_ckpt'):
        build(allow_random_tokenizer=False)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        build(tokenizer_ckpt=str(tmp_path / 'missing.pth'))
    with pytest.raises(ValueError, match='codes'):
        build(tokenizer=StandInTokenizer(num_codes=32))
    with pytest.raises(ValueError, match='token grid'):
        build(tokenizer=StandInTokenizer(img_size=64))
    with pytest.raises(ValueError, match='early_layers'):
        build(neck=dict(type='BEiTv2Neck', arch=dict(ARCH, num_layers=8),
                        early_layers=6))
    with pytest.raises(ValueError, match='mask token'):
        build(backbone=dict(type='BEiTv2ViT', arch=ARCH, img_size=32,
                            patch_size=8))
    with pytest.raises(ValueError, match='has 16 patches'):
        TRANSFORMS.build(dict(type='BlockwiseMaskGenerator', input_size=4,
                          num_masking_patches=17))


def test_fast_trunc_normal_matches_the_truncated_distribution():
    from beit2mm.models.utils import trunc_normal_
    torch.manual_seed(0)
    w = trunc_normal_(torch.empty(200_000), std=0.02, a=-0.02, b=0.02)
    assert w.min() >= -0.02 and w.max() <= 0.02
    # std of N(0, s^2) truncated at +-1 s: s * sqrt(1 - 2 phi(1) / (2 Phi(1) - 1))
    assert abs(w.std().item() / 0.02 - 0.5376) < 0.005
    assert abs(w.mean().item()) < 1e-4
    ref = torch.nn.init.trunc_normal_(torch.empty(200_000), std=0.02,
                                      a=-0.02, b=0.02)
    assert abs(ref.std().item() - w.std().item()) < 2e-4


def test_real_vqkd_tokenizer_from_checkpoint_stays_frozen(tmp_path):
    """VQKDTokenizer (tiny, random) saved with a decoder by its own training,
    loaded for pretraining with teacher=None: same tokens, frozen through
    training steps (codebook, EMA buffers and weights bit-identical)."""
    from beit2mm.models.tokenizers import VQKDTokenizer
    arch = dict(encoder=dict(embed_dims=32, num_layers=1, num_heads=4),
                decoder=dict(embed_dims=32, num_layers=1, num_heads=4))
    cfg = dict(type='beit2mm.VQKDTokenizer', arch=arch, img_size=32,
               patch_size=8, num_codes=CODES, code_dim=8, teacher=None)
    torch.manual_seed(3)
    src = VQKDTokenizer(**{k: v for k, v in cfg.items() if k != 'type'},
                        decoder_out_dim=24)
    src.init_weights()
    path = str(tmp_path / 'vqkd.pth')
    torch.save({'state_dict': src.state_dict(), 'meta': {}}, path)
    model = build(tokenizer=cfg, tokenizer_ckpt=path,
                  allow_random_tokenizer=False)
    tok = model.tokenizer
    assert tok.decoder is None and tok.frozen
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    src.freeze()  # in train mode its quantizer would k-means init first
    assert torch.equal(model.get_targets(x), src.get_tokens(x).flatten(1))
    before = {k: v.clone() for k, v in tok.state_dict().items()}
    model.train()
    optim = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    for step in range(2):
        inputs, mask = batch(seed=step)
        loss, _ = model.parse_losses(model(inputs, mode='loss', mask=mask))
        optim.update_params(loss)
    for k, v in tok.state_dict().items():
        assert torch.equal(before[k], v), k
    assert not tok.training and not tok.quantize.training


def _official_index(wh, ww):
    """The official relative_position_index, written out with loops."""
    n = wh * ww
    num_rel = (2 * wh - 1) * (2 * ww - 1)
    index = torch.zeros(n + 1, n + 1, dtype=torch.long)
    for i in range(n):
        for j in range(n):
            dy = i // ww - j // ww + wh - 1
            dx = i % ww - j % ww + ww - 1
            index[i + 1, j + 1] = dy * (2 * ww - 1) + dx
    index[0, :] = num_rel
    index[:, 0] = num_rel + 1
    index[0, 0] = num_rel + 2
    return index


def _official_forward(sd, x, mask, heads, early, depth, eps=1e-6):
    """Official VisionTransformerForMaskedImageModelingCLS.forward, written
    functionally on the official key names."""
    def block(p, x, bias):
        B, N, C = x.shape
        h = F.layer_norm(x, (C,), sd[p + 'norm1.weight'],
                         sd[p + 'norm1.bias'], eps)
        qkv_b = torch.cat([sd[p + 'attn.q_bias'],
                           torch.zeros_like(sd[p + 'attn.v_bias']),
                           sd[p + 'attn.v_bias']])
        qkv = F.linear(h, sd[p + 'attn.qkv.weight'], qkv_b)
        q, k, v = qkv.reshape(B, N, 3, heads, -1).permute(2, 0, 3, 1, 4)
        attn = (q * (C // heads) ** -0.5) @ k.transpose(-2, -1) + bias
        h = (attn.softmax(-1) @ v).transpose(1, 2).reshape(B, N, C)
        h = F.linear(h, sd[p + 'attn.proj.weight'], sd[p + 'attn.proj.bias'])
        x = x + sd[p + 'gamma_1'] * h
        h = F.layer_norm(x, (C,), sd[p + 'norm2.weight'],
                         sd[p + 'norm2.bias'], eps)
        h = F.linear(F.gelu(F.linear(h, sd[p + 'mlp.fc1.weight'],
                                     sd[p + 'mlp.fc1.bias'])),
                     sd[p + 'mlp.fc2.weight'], sd[p + 'mlp.fc2.bias'])
        return x + sd[p + 'gamma_2'] * h

    pw = sd['patch_embed.proj.weight']
    t = F.conv2d(x, pw, sd['patch_embed.proj.bias'], stride=pw.shape[-1])
    t = t.flatten(2).transpose(1, 2)
    w = mask.unsqueeze(-1).float()
    t = t * (1 - w) + sd['mask_token'] * w
    t = torch.cat([sd['cls_token'].expand(len(t), -1, -1), t], 1)
    idx = sd['rel_pos_bias.relative_position_index']
    bias = sd['rel_pos_bias.relative_position_bias_table'][idx.view(-1)]
    bias = bias.view(*idx.shape, -1).permute(2, 0, 1)
    for i in range(depth):
        t = block(f'blocks.{i}.', t, bias)
        if i + 1 == early:
            early_states = t[:, 1:]
    a = torch.cat([t[:, :1], early_states], 1)
    for i in range(2):
        a = block(f'cls_pt_layers.{i}.', a, bias)
    C = t.shape[-1]

    def norm(y, p=''):
        return F.layer_norm(y, (C,), sd[p + 'norm.weight'],
                            sd[p + 'norm.bias'], eps)

    def head(y, p=''):
        return F.linear(y, sd[p + 'lm_head.weight'], sd[p + 'lm_head.bias'])
    # shared_lm_head=False: the aggregation branch has its own norm and head
    pt = 'cls_pt_' if 'cls_pt_norm.weight' in sd else ''
    return head(norm(t)[:, 1:][mask]), head(norm(a, pt)[:, 1:][mask], pt)


@pytest.mark.parametrize('shared_lm_head', [True, False])
def test_official_checkpoint_converter_reproduces_logits(tmp_path,
                                                         shared_lm_head):
    from beit2mm.tools.convert import beitv2_official_to_beit2mm as conv

    # an official-style checkpoint with random weights (all non-trivial)
    torch.manual_seed(0)
    unshared = {} if shared_lm_head else dict(
        neck=dict(type='BEiTv2Neck', arch=ARCH, early_layers=2,
                  with_norm=True),
        head=dict(type='MIMHead', embed_dims=32, num_codes=CODES,
                  shared=False))
    ref = build(**unshared)
    sd = {}
    for k, v in ref.state_dict().items():
        k = (k.replace('backbone.', '', 1).replace('neck.blocks.',
                                                   'cls_pt_layers.')
             .replace('neck.norm.', 'cls_pt_norm.')
             .replace('head.fc_cls_pt.', 'cls_pt_lm_head.')
             .replace('head.fc.', 'lm_head.'))
        sd[k] = torch.randn_like(v) * 0.1 + (v if 'norm' in k else 0)
    sd['rel_pos_bias.relative_position_index'] = _official_index(4, 4)
    src, dst = str(tmp_path / 'official.pth'), str(tmp_path / 'ours.pth')
    torch.save({'model': sd, 'epoch': 1}, src)
    conv.main([src, dst])

    model = build(**unshared)
    ckpt = torch.load(dst, weights_only=True)
    model.load_state_dict(ckpt['state_dict'], strict=True)
    model.eval()
    inputs, mask = batch()
    logits, logits_pt = _official_forward(sd, inputs[0], mask, heads=4,
                                          early=2, depth=4)
    idx = mask.flatten().nonzero().squeeze(1)
    ours, ours_pt = model.head(*model.masked_outputs(inputs[0], mask, idx))
    torch.testing.assert_close(ours, logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours_pt, logits_pt, rtol=1e-4, atol=1e-4)
    with pytest.raises(KeyError, match='unexpected keys'):
        conv.convert({'foo.weight': torch.zeros(1)})
